"""The lab's networkd applier (lab/shims/netapply.py): parser, matching, and the ip commands.

The applier is what configures lab hosts from uniform's delivered networkd files, so it
must read every key uniform renders (a renamed key fails here, never silently) and turn
a host's bootstrap state into exactly what the files say.  Pure: no namespaces here (the
lab tests run it for real).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

import inventory
import payloads

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("netapply", ROOT / "lab" / "shims" / "netapply.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["netapply"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


na = _load()

HV_MAC = "0c:c4:7a:77:00:11"
HV_FILES = {
    "10-eth0.link": f"[Match]\nMACAddress={HV_MAC}\n\n[Link]\nName=eth0\n",
    "10-eth0.network": f"[Match]\nMACAddress={HV_MAC}\nName=eth0\n\n[Network]\nBridge=br-lan\n",
    "20-br-lan.netdev": "[NetDev]\nName=br-lan\nKind=bridge\n",
    "20-br-lan.network": (
        "[Match]\nName=br-lan\n\n[Network]\nAddress=10.77.0.11/24\nAddress=fd00:77::ec4:7aff:fe77:11/64\n"
        "Gateway=10.77.0.1\nGateway=fd00:77::1\nDNS=10.77.0.10\nDomains=lab.test\nIPv6AcceptRA=no\n"
    ),
}


def units(files: dict[str, str]) -> list:
    return [na.parse(name, text) for name, text in sorted(files.items())]


def addr(local: str, prefixlen: int, scope: str = "global", **kw: object) -> dict:
    """An ``ip -j addr`` addr_info entry."""
    family = "inet6" if ":" in local else "inet"
    return {"family": family, "local": local, "prefixlen": prefixlen, "scope": scope, **kw}


def test_every_networkd_file_uniform_renders_parses() -> None:
    """Each example stack's rendered .link/.netdev/.network is read key for key (a key renamed
    in the templates is an unknown key here, and in the lab a failed `networkctl reload`)."""
    seen: set[str] = set()
    for stack in sorted(p.parent for p in (ROOT / "stacks").glob("*/customer.yaml")):
        for name, payload in payloads.render_customer(inventory.load(stack)).items():
            for f in payload.files:
                if f.path.startswith("/etc/systemd/network/"):
                    unit = na.parse(f"{stack.name}/{name}:{f.path}", f.content)
                    seen |= {f"{s}.{k}" for s, keys in unit.sections.items() for k in keys}
    # what the templates render today: all of it applied or checked by the applier
    assert {"Match.MACAddress", "Match.Name", "Link.Name", "NetDev.Kind", "Network.Address"} <= seen
    assert {"Network.Bridge", "Network.Gateway", "Network.IPv6AcceptRA"} <= seen


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("a.network", "[Match]\nName=eth0\n[Network]\nAdress=10.0.0.1/24\n",
         "a.network:4: [Network] unknown key Adress= (the lab applier would ignore it)"),
        ("a.network", "[Match]\nName=eth0\n[Route]\nGateway=10.0.0.1\n",
         "a.network:3: unknown section [Route] (the lab applier knows ['Link', 'Match', 'Network'])"),
        ("a.network", "[Network]\nAddress=10.0.0.300/24\n",
         "a.network:2: [Network] Address=10.0.0.300/24: "
         "'10.0.0.300/24' does not appear to be an IPv4 or IPv6 interface"),
        ("a.network", "[Network]\nAddress=10.0.0.3\n",
         "a.network:2: [Network] Address=10.0.0.3: no prefix length"),
        ("a.network", "[Network]\nGateway=router\n",
         "a.network:2: [Network] Gateway=router: 'router' does not appear to be an IPv4 or IPv6 address"),
        ("a.network", "[Network]\nIPv6AcceptRA=maybe\n",
         "a.network:2: [Network] IPv6AcceptRA=maybe: not a boolean"),
        ("a.network", "[Network]\nDHCP=both\n",
         "a.network:2: [Network] DHCP=both: expected yes, no, ipv4 or ipv6"),
        ("a.link", "[Match]\nMACAddress=0c:c4:7a\n",
         "a.link:2: [Match] MACAddress=0c:c4:7a: not a MAC address"),
        ("a.link", "[Link]\nMTUBytes=9k\n", "a.link:2: [Link] MTUBytes=9k: not a number of bytes"),
        ("a.netdev", "[NetDev]\nName=bond0\nKind=bond\n",
         "a.netdev: [NetDev] Kind=bond: the lab applier creates bridges only"),
        ("a.netdev", "Name=br0\n", "a.netdev:1: Name= outside any section"),
    ],
)  # fmt: skip
def test_what_the_applier_does_not_know_fails_loudly(name: str, text: str, problem: str) -> None:
    with pytest.raises(na.NetError) as e:
        na.parse(name, text)
    assert problem in e.value.problems


def test_all_problems_of_a_directory_at_once(tmp_path: Path) -> None:
    (tmp_path / "10-a.network").write_text("[Network]\nAddres=10.0.0.1/24\n")
    (tmp_path / "20-b.link").write_text("[Link]\nNme=x\n")
    (tmp_path / "README").write_text("not a unit: ignored, as networkd does")
    with pytest.raises(na.NetError) as e:
        na.load(tmp_path)
    assert [p.split(": ", 1)[1] for p in e.value.problems] == [
        "[Network] unknown key Addres= (the lab applier would ignore it)",
        "[Link] unknown key Nme= (the lab applier would ignore it)",
    ]


def test_an_empty_assignment_resets_a_list() -> None:
    u = na.parse(
        "a.network", "[Network]\nAddress=10.0.0.1/24\nAddress=\nAddress=10.0.0.2/24\nDNS=1.1.1.1 ::1\n"
    )
    assert u.all("Network", "Address") == ["10.0.0.2/24"]
    assert u.all("Network", "DNS") == ["1.1.1.1", "::1"]


BOOTSTRAP = [na.Link("lo", "00:00:00:00:00:00", up=True), na.Link("eth0", HV_MAC, "veth", mtu=1500, up=True)]
BOOT_ADDRS = {"eth0": [addr("10.77.0.11", 24), addr("fe80::ec4:7aff:fe77:11", 64, "link")]}


def test_a_hypervisor_from_its_bootstrap_address_to_its_bridge() -> None:
    """The harness gave eth0 a bootstrap address; the files move it onto the bridge, add the IPv6
    address and default routes, and drop eth0's addresses (a bridge port has none): new first,
    stale last, so the host stays reachable."""
    p = na.plan(units(HV_FILES), BOOTSTRAP)
    assert p.renames == [] and list(p.netdevs) == ["br-lan"]
    assert p.links["eth0"].bridge == "br-lan" and p.links["eth0"].link_local == "no"
    assert p.links["br-lan"].addresses == ["10.77.0.11/24", "fd00:77::ec4:7aff:fe77:11/64"]
    assert p.links["br-lan"].accept_ra is False
    assert na.commands(p, BOOTSTRAP, BOOT_ADDRS, []) == [
        ["link", "add", "br-lan", "type", "bridge"],
        ["link", "set", "dev", "eth0", "master", "br-lan"],
        ["link", "set", "dev", "br-lan", "up"],
        ["addr", "add", "10.77.0.11/24", "dev", "br-lan"],
        ["addr", "add", "fd00:77::ec4:7aff:fe77:11/64", "dev", "br-lan"],
        ["addr", "del", "10.77.0.11/24", "dev", "eth0"],
        ["addr", "del", "fe80::ec4:7aff:fe77:11/64", "dev", "eth0"],
        ["route", "add", "default", "via", "10.77.0.1", "dev", "br-lan"],
        ["-6", "route", "add", "default", "via", "fd00:77::1", "dev", "br-lan"],
    ]


def test_converged_means_no_command() -> None:
    links = [
        na.Link("eth0", HV_MAC, "veth", "br-lan", 1500, True),
        na.Link("br-lan", HV_MAC, "bridge", None, 1500, True),
    ]
    addrs = {
        "br-lan": [
            addr("10.77.0.11", 24),
            addr("fd00:77::ec4:7aff:fe77:11", 64),
            addr("fe80::ec4:7aff:fe77:11", 64, "link"),
        ]
    }
    defaults = [
        {"dst": "default", "gateway": "10.77.0.1", "dev": "br-lan", "family": 4},
        {"dst": "default", "gateway": "fd00:77::1", "dev": "br-lan", "protocol": "static", "family": 6},
    ]
    assert na.commands(na.plan(units(HV_FILES), links), links, addrs, defaults) == []


def test_a_wrong_address_or_gateway_in_the_files_is_what_the_host_gets() -> None:
    """The files win over whatever the host had: a wrong Address=/Gateway= moves the host."""
    files = {
        "10-eth0.network": f"[Match]\nMACAddress={HV_MAC}\n"
        "[Network]\nAddress=10.77.0.99/24\nGateway=10.77.0.254\n"
    }
    defaults = [{"dst": "default", "gateway": "10.77.0.1", "dev": "eth0", "family": 4}]
    assert na.commands(na.plan(units(files), BOOTSTRAP), BOOTSTRAP, BOOT_ADDRS, defaults) == [
        ["addr", "add", "10.77.0.99/24", "dev", "eth0"],
        ["addr", "del", "10.77.0.11/24", "dev", "eth0"],
        ["route", "del", "default", "via", "10.77.0.1", "dev", "eth0"],
        ["route", "add", "default", "via", "10.77.0.254", "dev", "eth0"],
    ]


def test_addresses_from_slaac_or_dhcp_are_not_the_files_to_remove() -> None:
    files = {"10-eth0.network": f"[Match]\nMACAddress={HV_MAC}\n[Network]\nAddress=10.77.0.11/24\n"}
    addrs = {"eth0": [addr("10.77.0.11", 24), addr("fd00:77::ec4:7aff:fe77:11", 64, dynamic=True)]}
    defaults = [{"dst": "default", "gateway": "fe80::1", "dev": "eth0", "protocol": "ra", "family": 6}]
    assert na.commands(na.plan(units(files), BOOTSTRAP), BOOTSTRAP, addrs, defaults) == []


@pytest.mark.parametrize(
    ("link", "network", "expect"),
    [
        # .link renames by MAC; the .network then matches the new name
        ("[Match]\nMACAddress=0c:c4:7a:77:00:11\n[Link]\nName=lan0\nMTUBytes=9000\n", "[Match]\nName=lan0\n",
         [["link", "set", "dev", "eth0", "down"], ["link", "set", "dev", "eth0", "name", "lan0"],
          ["link", "set", "dev", "lan0", "mtu", "9000"], ["link", "set", "dev", "lan0", "up"]]),
        # another MAC: neither file applies, the link is left alone (networkd does not manage it)
        ("[Match]\nMACAddress=0c:c4:7a:77:00:99\n[Link]\nName=lan0\n", "[Match]\nName=lan0\n", []),
        # a .network matching on MAC and name must match both
        ("[Match]\nMACAddress=0c:c4:7a:77:00:11\n[Link]\nName=eth0\n",
         "[Match]\nMACAddress=0c:c4:7a:77:00:11\nName=eth1\n", []),
    ],
)  # fmt: skip
def test_link_files_rename_and_network_files_match(link: str, network: str, expect: list) -> None:
    files = {"10-a.link": link, "10-a.network": network + "[Network]\nAddress=10.77.0.11/24\n"}
    addrs = {"eth0": [addr("10.77.0.11", 24)]}
    assert na.commands(na.plan(units(files), BOOTSTRAP), BOOTSTRAP, addrs, []) == expect


def test_the_first_matching_network_file_wins() -> None:
    files = {
        "10-eth0.network": "[Match]\nName=eth*\n[Network]\nAddress=10.0.0.1/24\n",
        "20-eth0.network": "[Match]\nName=eth0\n[Network]\nAddress=10.0.0.2/24\n",
    }
    p = na.plan(units(files), BOOTSTRAP)
    assert p.links["eth0"].addresses == ["10.0.0.1/24"] and p.links["eth0"].network == "10-eth0.network"


def test_with_ipv6acceptra_no_a_slaac_address_and_ra_route_go() -> None:
    """Before its first delivery a host autoconfigured from the lab router's advertisements;
    its files say IPv6AcceptRA=no and a pinned address: the SLAAC leftovers go (networkd drops
    foreign addresses and routes on the links it manages)."""
    files = {
        "10-eth0.network": f"[Match]\nMACAddress={HV_MAC}\n[Network]\n"
        "Address=10.77.0.11/24\nAddress=fd00:77::11/64\nIPv6AcceptRA=no\n"
    }
    addrs = {"eth0": [addr("10.77.0.11", 24), addr("fd00:77::ec4:7aff:fe77:11", 64, dynamic=True)]}
    defaults = [{"dst": "default", "gateway": "fe80::1", "dev": "eth0", "protocol": "ra", "family": 6}]
    assert na.commands(na.plan(units(files), BOOTSTRAP), BOOTSTRAP, addrs, defaults) == [
        ["addr", "add", "fd00:77::11/64", "dev", "eth0"],
        ["addr", "del", "fd00:77::ec4:7aff:fe77:11/64", "dev", "eth0"],
        ["-6", "route", "del", "default", "via", "fe80::1", "dev", "eth0"],
    ]


def test_an_address_slaac_gave_and_the_files_list_becomes_permanent() -> None:
    files = {
        "10-eth0.network": f"[Match]\nMACAddress={HV_MAC}\n[Network]\n"
        "Address=10.77.0.11/24\nAddress=fd00:77::ec4:7aff:fe77:11/64\nIPv6AcceptRA=no\n"
    }
    addrs = {"eth0": [addr("10.77.0.11", 24), addr("fd00:77::ec4:7aff:fe77:11", 64, dynamic=True)]}
    assert na.commands(na.plan(units(files), BOOTSTRAP), BOOTSTRAP, addrs, []) == [
        ["addr", "replace", "fd00:77::ec4:7aff:fe77:11/64", "dev", "eth0"],
    ]


@pytest.mark.parametrize(
    ("network", "info", "foreign"),
    [
        ("Address=10.0.0.1/24", addr("10.0.0.1", 24), False),
        ("Address=10.0.0.1/24", addr("10.0.0.2", 24), True),  # the bootstrap address of another file
        ("DHCP=ipv4", addr("10.0.0.2", 24, dynamic=True), False),  # the lease netapply-dhcp.sh set
        ("DHCP=ipv4", addr("10.0.0.2", 24), True),  # no DHCP client sets a permanent address
        ("DHCP=ipv6", addr("10.0.0.2", 24, dynamic=True), True),
        ("DHCP=ipv6\nIPv6AcceptRA=no", addr("fd00::2", 128, dynamic=True), False),
        ("IPv6AcceptRA=no", addr("fd00::2", 64, dynamic=True), True),  # SLAAC, now off
        ("Address=10.0.0.1/24", addr("fd00::2", 64, dynamic=True), False),  # RA accepted by default
        ("LinkLocalAddressing=no", addr("fe80::1", 64, "link"), True),
        ("Address=10.0.0.1/24", addr("fe80::1", 64, "link"), False),
        ("Address=10.0.0.1/24", addr("127.0.0.1", 8, "host"), False),
    ],
)  # fmt: skip
def test_which_live_addresses_the_files_remove(network: str, info: dict, foreign: bool) -> None:
    p = na.plan(units({"a.network": f"[Match]\nName=eth0\n[Network]\n{network}\n"}), BOOTSTRAP)
    assert na._foreign(info, p.links["eth0"]) is foreign
