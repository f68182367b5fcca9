"""Property test (issue 14): what ``inventory.load`` accepts, the daemons accept.

1. Random VALID inventories -- networks with IPv4 and/or IPv6 prefixes of several sizes and
   domains (the customer's, its subdomains, another one), hw and vm machines in mixed states,
   roles dhcp/dns/hypervisor, both service choices of each, MACs and addresses pinned in the
   file or generated (planned machines) and pinned by ``inventory.pin`` (staged and later) --
   load, and every rendered DHCP/DNS file passes ``dnsmasq --test``, ``named-checkzone``
   (each zone) and ``kea-dhcp4 -t``/``kea-dhcp6 -t``.
2. Random SINGLE MUTATIONS of such an inventory (the fault classes of issue 14 and more):
   either ``load`` raises InventoryError, or the rendered files still pass the daemons.
   No mutation may produce a file a daemon rejects while load says ok.

Bounded: a few dozen examples; identical files (every DHCP server gets the same config)
are checked once per example.
"""

from __future__ import annotations

import copy
import ipaddress
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import inventory
from inventory.lifecycle import MUST_BE_PINNED
from payloads import ROLE_NAMES, render_customer
from tests.helpers import hostile as H
from tests.helpers.daemons import kea_test, run, tool

pytestmark = pytest.mark.slow

SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

#: state -> a history that reaches it (lifecycle.TRANSITIONS)
HISTORY = {
    "planned": [],
    "staged": ["planned"],
    "active": ["planned", "staged"],
    "offline": ["planned", "staged", "active"],
    "failed": ["planned", "staged"],
    "decommissioning": ["planned", "staged", "active"],
    "retired": ["planned"],
}
DOMAIN = "acme.example"


@st.composite
def networks(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i in range(draw(st.integers(1, 3))):
        net: dict[str, Any] = {}
        family = draw(st.sampled_from(["4", "6", "46"]))
        if "4" in family:
            length = draw(st.sampled_from([22, 24, 25, 27]))
            prefix = ipaddress.ip_network(f"10.{i}.0.0/{length}")
            net["ipv4"] = str(prefix)
            hosts = list(prefix.hosts())
            if draw(st.booleans()):
                net["gateway4"] = str(hosts[0])
            if draw(st.booleans()):
                net["dhcp_pool"] = f"{hosts[-6]}-{hosts[-1]}"
            if draw(st.booleans()):
                net["dns_servers"] = [str(hosts[1])]
            if draw(st.booleans()):
                net["boot_filename"] = "pxelinux.0"
        if "6" in family:
            length = draw(st.sampled_from([64, 112, 120]))
            net["ipv6"] = f"fd00:{i}::/{length}"
            if draw(st.booleans()):
                net["gateway6"] = f"fd00:{i}::1"
        domain = draw(st.sampled_from([None, f"n{i}.{DOMAIN}", f"n{i}.other.example", DOMAIN]))
        if domain:
            net["domain"] = domain
        if draw(st.booleans()):
            net["bridge"] = f"br{i}"
        if draw(st.booleans()):
            net["mtu"] = draw(st.sampled_from([1500, 9000]))
        out[f"net{i}"] = net
    return out


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    """A valid customer as {"customer.yaml": ..., "machines/<name>.yaml": ...}."""
    nets = draw(networks())
    names = list(nets)
    dhcp, dns = draw(st.sampled_from(["dnsmasq", "kea"])), draw(st.sampled_from(["bind", "dnsmasq"]))
    customer = {
        "customer": "acme",
        "domain": DOMAIN,
        "services": {"dhcp": dhcp, "dns": dns},
        "ssh": {"authorized_keys": [H.KEY]},
        "networks": nets,
    }
    doc: dict[str, Any] = {"customer.yaml": customer}

    macs = iter(range(1, 1 << 16))

    def nic(name: str, on: list[str], pin_mac: bool, addressed: bool = False) -> dict[str, Any]:
        """``addressed``: its first attachment keeps an address (a DNS server's name must resolve)."""
        out: dict[str, Any] = {"name": name, "networks": [{"network": n} for n in on]}
        if pin_mac:  # unique, in another range than the generated ones (52:54:00:xx:xx:xx)
            n = next(macs)
            out["mac"] = f"02:00:00:{draw(st.integers(0, 255)):02x}:{n >> 8:02x}:{n & 255:02x}"
        for i, att in enumerate(out["networks"]):
            if addressed and i == 0:
                continue
            if "ipv4" in nets[att["network"]] and draw(st.integers(0, 5)) == 0:
                att["ipv4"] = "none"
            if "ipv6" in nets[att["network"]]:
                att["ipv6"] = draw(st.sampled_from(["auto", "auto", "none"]))
        return out

    # the hypervisor: one NIC per network alone (so it has every bridge), serves DHCP and DNS
    roles = ["hypervisor"] + draw(st.sampled_from([["dhcp", "dns"], ["dhcp"], ["dns"], ["dhcp", "dns"]]))
    doc["machines/hv0.yaml"] = {
        "name": "hv0",
        "kind": "hw",
        "cores": 64,
        "memory": "512GiB",
        "nics": [nic(f"eno{i}", [n], draw(st.booleans()), addressed=i == 0) for i, n in enumerate(names)],
        "roles": roles,
        "state": "active",
        "history": HISTORY["active"],
    }
    for i in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["hw", "vm"]))
        state = draw(st.sampled_from(list(HISTORY)))
        name = f"{kind}{i}"
        m: dict[str, Any] = {"name": name, "kind": kind, "cores": 2, "memory": "2GiB"}
        if kind == "vm":
            m["hypervisor"] = "hv0"
            on = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
            m["nics"] = [nic(f"eth{j}", [n], draw(st.booleans())) for j, n in enumerate(on)]
            m["disks"] = [{"name": "root", "size": 10}]
        else:
            on = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
            if state in ("active", "offline") and draw(st.integers(0, 3)) == 0:
                m["roles"] = draw(st.sampled_from([["dhcp"], ["dns"], ["dhcp", "dns"]]))
            m["nics"] = [nic("eno1", on, draw(st.booleans()), addressed="dns" in m.get("roles", []))]
        m["state"] = state
        m["history"] = HISTORY[state]
        doc[f"machines/{name}.yaml"] = m
    return doc


def to_yaml(data: Any, flow: bool = False) -> str:
    """YAML as people write it: block style, or flow style for the innermost collections
    (``{name: eth0, networks: [{network: lan}]}``); ``inventory.pin`` then inserts keys into it."""
    if data is None:
        return ""
    return yaml.safe_dump(data, default_flow_style=None if flow else False, sort_keys=False, width=1000)


def write(doc: dict[str, Any], root: Path, flow: bool = False) -> Path:
    if root.exists():
        shutil.rmtree(root)
    (root / "machines").mkdir(parents=True)
    for rel, data in doc.items():
        (root / rel).write_text(to_yaml(data, flow))
    return root


def load_pinned(root: Path) -> inventory.Inventory:
    """Pin what must be pinned (staged and later), then load as the program does."""
    inventory.pin(root, known_roles=ROLE_NAMES, states=MUST_BE_PINNED)
    return inventory.load(root, known_roles=ROLE_NAMES)


def check_daemons(inv: inventory.Inventory, out: Path) -> int:
    """Every distinct DHCP/DNS file rendered for ``inv`` passes its daemon; how many were checked."""
    files: dict[tuple[str, str], str] = {}
    for pl in render_customer(inv).values():
        for f in pl.files:
            if f.path.startswith(("/etc/dnsmasq.d/", "/etc/kea/", "/etc/bind/uniform/")):
                files.setdefault((f.path, f.content), f.path)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for i, (path, content) in enumerate(sorted(files)):
        at = out / f"{i}-{Path(path).name}"
        at.write_text(content)
        if path.startswith("/etc/dnsmasq.d/"):
            assert "syntax check OK" in run(tool("dnsmasq"), "--test", f"--conf-file={at}")
        elif path.startswith("/etc/kea/"):
            kea_test(tool("kea-dhcp" + path[-6]), at)
        elif "/db." in path:
            zone = path.rsplit("/db.", 1)[1]
            run(tool("named-checkzone"), "-i", "full", "-k", "fail", "-n", "fail", zone, str(at))
        else:
            run(tool("named-checkconf"), str(at))
    return len(files)


@settings(SETTINGS, max_examples=60)
@given(world=worlds(), flow=st.booleans())
def test_valid_inventories_pass_the_daemons(world: dict[str, Any], flow: bool, tmp_path: Path) -> None:
    root = write(world, tmp_path / "w" / "acme", flow)
    inv = load_pinned(root)
    checked = check_daemons(inv, tmp_path / "out")
    assert checked >= 1
    event(f"{checked} distinct DHCP/DNS files checked")


# ---------------------------------------------------------------- mutations


def _machines(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for k, v in sorted(doc.items()) if k.startswith("machines/")]


def _pinned(doc: dict[str, Any], root: Path) -> dict[str, Any]:
    """``doc`` with every value pinned as written by ``inventory.pin`` (read back as JSON-ish)."""
    from ruamel.yaml import YAML

    out = {"customer.yaml": doc["customer.yaml"]}
    for path in sorted((root / "machines").glob("*.yaml")):
        out[f"machines/{path.name}"] = YAML(typ="safe").load(path.read_text())
    return out


def _addressed(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Attachments with a pinned IPv4 address."""
    return [
        att
        for m in _machines(doc)
        for n in m["nics"]
        for att in n["networks"]
        if att.get("ipv4") not in (None, "none")
    ]


def mutate(doc: dict[str, Any], kind: str, data: st.DataObject) -> str:
    """Apply one fault of class ``kind`` to ``doc`` in place; what was done."""
    nets = doc["customer.yaml"]["networks"]
    ms = _machines(doc)
    vms = [m for m in ms if m["kind"] == "vm"]
    pick = data.draw
    if kind == "overlapping network":
        v4 = [n for n in nets.values() if "ipv4" in n]
        if not v4:
            return "skip"
        other = pick(st.sampled_from(v4))
        prefix = ipaddress.ip_network(other["ipv4"])
        sub = list(prefix.subnets(new_prefix=min(prefix.prefixlen + 1, 29)))[-1]
        nets["lan9"] = {"ipv4": str(sub)}
        addrs = [a["ipv4"] for a in _addressed(doc) if ipaddress.ip_address(a["ipv4"]) in sub]
        ip = addrs[0] if addrs else str(list(sub.hosts())[0])
        doc["machines/zz9.yaml"] = {
            "name": "zz9",
            "kind": "hw",
            "cores": 1,
            "memory": 1024,
            "nics": [
                {"name": "eno1", "mac": "52:54:00:99:99:99", "networks": [{"network": "lan9", "ipv4": ip}]}
            ],
            "state": "active",
            "history": HISTORY["active"],
        }
    elif kind == "duplicate address":
        atts = _addressed(doc)
        if len(atts) < 2:
            return "skip"
        a, b = pick(st.permutations(atts))[:2]
        b["ipv4"] = a["ipv4"]
    elif kind == "duplicate MAC":
        nics = [n for m in ms for n in m["nics"] if n.get("mac")]
        if len(nics) < 2:
            return "skip"
        a, b = pick(st.permutations(nics))[:2]
        b["mac"] = a["mac"].upper().replace(":", "-")
    elif kind == "address outside the prefix":
        atts = _addressed(doc)
        if not atts:
            return "skip"
        pick(st.sampled_from(atts))["ipv4"] = pick(st.sampled_from(["192.0.2.5", "10.200.0.1", "10.0.0.0"]))
    elif kind == "hypervisor loop":
        if not vms:
            return "skip"
        vm = pick(st.sampled_from(vms))
        vm.setdefault("roles", []).append("hypervisor")
        hv = doc["machines/hv0.yaml"]
        hv["kind"], hv["hypervisor"] = "vm", vm["name"]
    elif kind == "VM on a VM":
        if len(vms) < 2:
            return "skip"
        a, b = vms[:2]
        a.setdefault("roles", []).append("hypervisor")
        b["hypervisor"] = a["name"]
    elif kind == "bridge the hypervisor lacks":
        hv = doc["machines/hv0.yaml"]
        if len(hv["nics"]) < 2:
            return "skip"
        hv["nics"].pop(pick(st.integers(0, len(hv["nics"]) - 1)))
    elif kind == "NIC on networks with different bridges":
        if not vms or len(nets) < 2:
            return "skip"
        vm = pick(st.sampled_from(vms))
        have = {a["network"] for a in vm["nics"][0]["networks"]}
        extra = [n for n in nets if n not in have]
        if not extra:
            return "skip"
        vm["nics"][0]["networks"].append({"network": pick(st.sampled_from(extra))})
    elif kind == "gateway on a machine":
        atts = _addressed(doc)
        if not atts:
            return "skip"
        att = pick(st.sampled_from(atts))
        nets[att["network"]]["gateway4"] = att["ipv4"]
    elif kind == "pool over a machine":
        atts = _addressed(doc)
        if not atts:
            return "skip"
        att = pick(st.sampled_from(atts))
        nets[att["network"]]["dhcp_pool"] = f"{att['ipv4']}-{att['ipv4']}"
    elif kind == "same domain on two networks":
        if len(nets) < 2:
            return "skip"
        a, b = list(nets.values())[:2]
        b["domain"] = a.get("domain", DOMAIN)
    elif kind == "network domain = a machine's FQDN":
        name = pick(st.sampled_from([m["name"] for m in ms]))
        net = pick(st.sampled_from(list(nets.values())))
        net["domain"] = f"{name}.{DOMAIN}"
    elif kind == "machine renamed to a taken name":
        a, b = pick(st.permutations(ms))[:2]
        b["name"] = a["name"]
    elif kind == "empty machine file":
        key = pick(st.sampled_from([k for k in doc if k.startswith("machines/")]))
        doc[key] = None
    elif kind == "hostile string":
        value = pick(st.sampled_from(list(H.VALUES.values())))
        target = pick(st.sampled_from(["domain", "net domain", "bridge", "name", "nic", "user", "key"]))
        if target == "domain":
            doc["customer.yaml"]["domain"] = value(DOMAIN)
        elif target == "net domain":
            pick(st.sampled_from(list(nets.values())))["domain"] = value("lan.acme.example")
        elif target == "bridge":
            pick(st.sampled_from(list(nets.values())))["bridge"] = value("br-x")
        elif target == "name":
            m = pick(st.sampled_from(ms))
            m["name"] = value(m["name"])
        elif target == "nic":
            m = pick(st.sampled_from(ms))
            m["nics"][0]["name"] = value(m["nics"][0]["name"])
        elif target == "user":
            doc["customer.yaml"]["ssh"]["user"] = value("ops")
        else:
            doc["customer.yaml"]["ssh"]["authorized_keys"] = [value(H.KEY)]
    else:  # pragma: no cover
        raise AssertionError(kind)
    return kind


MUTATIONS = [
    "overlapping network",
    "duplicate address",
    "duplicate MAC",
    "address outside the prefix",
    "hypervisor loop",
    "VM on a VM",
    "bridge the hypervisor lacks",
    "NIC on networks with different bridges",
    "gateway on a machine",
    "pool over a machine",
    "same domain on two networks",
    "network domain = a machine's FQDN",
    "machine renamed to a taken name",
    "empty machine file",
    "hostile string",
]


@pytest.mark.parametrize("kind", MUTATIONS)
@settings(SETTINGS, max_examples=12)
@given(world=worlds(), data=st.data())
def test_a_single_mutation_is_refused_or_passes_the_daemons(
    world: dict[str, Any], kind: str, data: st.DataObject, tmp_path: Path
) -> None:
    root = write(world, tmp_path / "w" / "acme")
    load_pinned(root)
    doc = copy.deepcopy(_pinned(world, root))
    if mutate(doc, kind, data) == "skip":
        event("skipped (does not apply)")
        return
    root = write(doc, tmp_path / "m" / "acme")
    try:
        inv = inventory.load(root, known_roles=ROLE_NAMES)
    except inventory.InventoryError:
        event(f"refused: {kind}")
        return
    event(f"loaded, daemons pass: {kind}")
    check_daemons(inv, tmp_path / "out")


@pytest.mark.parametrize("domain", ["acme.example", "hv1.lan.acme.example", "lan.acme.example"])
def test_name_server_inside_or_at_the_apex_of_another_zone(domain: str, tmp_path: Path) -> None:
    """Found by the mutations above: the NS ``hv1.lan.acme.example`` inside zone ``acme.example``
    or at the apex of a zone named like it had no address there, and named refused the zone."""
    doc = H.base()
    doc["customer.yaml"]["networks"]["mgmt"]["domain"] = domain
    inv = inventory.load(H.write(doc, tmp_path / "acme"), known_roles=ROLE_NAMES)
    assert check_daemons(inv, tmp_path / "out") >= 4
