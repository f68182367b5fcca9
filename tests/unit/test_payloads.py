"""Unit tests of payloads: API, lifecycle effects, DNS serials, write_tree, determinism."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import payloads
from inventory.model import (
    Attachment,
    Inventory,
    Kind,
    Nic,
    Ssh,
    State,
)
from payloads import (
    RELOAD_COMMANDS,
    MachinePayload,
    PayloadFile,
    bind_zones,
    render_customer,
    render_machine,
    zone_serial,
)
from payloads._net import reverse_zone
from payloads.roles.dhcp import _subnet_ids
from tests.helpers.models import KEY, base, inventory, machine

ROOT = Path(__file__).resolve().parents[2]


def test_public_api() -> None:
    for name in ("PayloadFile", "MachinePayload", "RELOAD_COMMANDS", "render_machine", "render_customer"):
        assert name in payloads.__all__
    assert "write_tree" not in payloads.__all__  # a local tree is a connector: connectors.local


def test_no_pulumi_import() -> None:
    code = "import sys, payloads; payloads.render_customer; sys.exit('pulumi' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_payload_file_and_digest() -> None:
    f = PayloadFile("/etc/x", "hello\n")
    assert f.mode == 0o644 and f.reload is None
    assert f.sha256 == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    p = MachinePayload("m", (f,))
    assert p.digest != MachinePayload("m", (dataclasses.replace(f, mode=0o600),)).digest
    assert p.digest != MachinePayload("m", (dataclasses.replace(f, path="/etc/y"),)).digest
    assert p.digest != MachinePayload("m", (dataclasses.replace(f, content="hello"),)).digest
    # file boundaries are part of the digest
    a = MachinePayload("m", (PayloadFile("/a", "xy"), PayloadFile("/b", "")))
    b = MachinePayload("m", (PayloadFile("/a", "x"), PayloadFile("/b", "y")))
    assert a.digest != b.digest


def test_base_files_of_every_machine() -> None:
    inv = base()
    p = render_machine(inv, inv.machines["web1"])
    paths = [f.path for f in p.files]
    assert paths == sorted(paths)
    assert paths == [
        "/etc/hostname",
        "/etc/hosts",
        "/etc/systemd/network/10-eth0.link",
        "/etc/systemd/network/10-eth0.network",
        "/etc/uniform/manifest.d/base.json",
        "/root/.ssh/authorized_keys",
    ]
    assert p.file("/etc/hostname").content == "web1\n"
    hosts = p.file("/etc/hosts").content
    assert "127.0.0.1\tlocalhost" in hosts and "10.1.0.20\tweb1.lan.t.example web1\n" in hosts
    link = p.file("/etc/systemd/network/10-eth0.link").content
    assert "MACAddress=52:54:00:00:00:14\n" in link and "Name=eth0\n" in link
    net = p.file("/etc/systemd/network/10-eth0.network").content
    for line in (
        "Address=10.1.0.20/24",
        "Address=fd00:1::14/64",
        "Gateway=10.1.0.1",
        "Gateway=fd00:1::1",
        "DNS=10.1.0.2",
        "Domains=lan.t.example",
    ):
        assert line + "\n" in net
    keys = p.file("/root/.ssh/authorized_keys")
    assert keys.mode == 0o600 and KEY + "\n" in keys.content
    assert p.reloads() == ("hostname", "networkd")


def test_one_manifest_per_group_lists_that_group() -> None:
    inv = base()
    p = render_machine(inv, inv.machines["ns1"])
    groups = p.groups()
    assert set(groups) >= {"base", "dhcp", "dns"}
    for group, files in groups.items():
        path = f"/etc/uniform/manifest.d/{group}.json"
        manifest = json.loads(p.file(path).content)
        others = [f for f in files if f.path != path]
        assert manifest["files"] == [
            {"path": f.path, "mode": f"{f.mode:04o}", "sha256": f.sha256, "reload": f.reload} for f in others
        ]
        assert all(f.group == group for f in files)
    # the base group never holds a service's file, so a DHCP change cannot touch it
    assert not [f for f in groups["base"] if "dnsmasq" in f.path or "/kea/" in f.path or "/bind/" in f.path]


def test_non_root_ssh_user() -> None:
    inv = inventory(machine("a", 5), user="ops")
    p = render_machine(inv, inv.machines["a"])
    assert p.file("/home/ops/.ssh/authorized_keys").mode == 0o600
    with pytest.raises(KeyError):
        p.file("/root/.ssh/authorized_keys")


def test_reload_names_all_have_commands() -> None:
    for dhcp in ("dnsmasq", "kea"):
        for dns in ("bind", "dnsmasq"):
            for p in render_customer(base(dhcp, dns)).values():
                for name in p.reloads():
                    assert name in RELOAD_COMMANDS
    ns1 = render_customer(base("kea", "bind"))["ns1"]
    assert ns1.reloads() == ("bind", "hostname", "kea-dhcp4", "kea-dhcp6", "networkd")
    assert render_customer(base())["hv1"].reloads() == ("hostname", "libvirt", "networkd")
    assert RELOAD_COMMANDS["libvirt"] == "sh /etc/uniform/libvirt/apply.sh"


def test_unknown_service_flavour_is_an_error() -> None:
    inv = base(dhcp="isc")
    with pytest.raises(ValueError, match="unknown DHCP service"):
        render_machine(inv, inv.machines["ns1"])


# ---------------------------------------------------------------- lifecycle


LIFECYCLE = {
    State.PLANNED: dict(payload=False, dhcp=False, dns=False, hv=False),
    State.STAGED: dict(payload=True, dhcp=True, dns=True, hv=True),
    State.ACTIVE: dict(payload=True, dhcp=True, dns=True, hv=True),
    State.OFFLINE: dict(payload=True, dhcp=True, dns=True, hv=True),
    State.FAILED: dict(payload=True, dhcp=True, dns=True, hv=True),
    State.DECOMMISSIONING: dict(payload=False, dhcp=False, dns=False, hv=False),
    State.RETIRED: dict(payload=False, dhcp=False, dns=False, hv=False),
}


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
@pytest.mark.parametrize("dhcp,dns", [("dnsmasq", "bind"), ("kea", "dnsmasq")])
def test_lifecycle(state: State, dhcp: str, dns: str) -> None:
    vm = machine("vmx", 77, state=state, kind=Kind.VM, hypervisor="hv1")
    out = render_customer(base(dhcp, dns, extra=(vm,)))
    want = LIFECYCLE[state]
    assert ("vmx" in out) is want["payload"]
    service_text = "".join(f.content for f in out["ns1"].files if "manifest" not in f.path)
    assert ("52:54:00:00:00:4d" in service_text) is want["dhcp"]
    assert ("vmx" in service_text) is (want["dhcp"] or want["dns"])
    assert ("10.1.0.77" in service_text) is (want["dhcp"] or want["dns"])
    hv = out["hv1"]
    assert any(f.path == "/etc/uniform/libvirt/vmx.xml" for f in hv.files) is want["hv"]
    apply = hv.file("/etc/uniform/libvirt/apply.sh").content
    assert ("vmx" in apply) is want["hv"]


def test_render_customer_only_delivered_sorted() -> None:
    inv = base(extra=(machine("a-planned", 50, state=State.PLANNED), machine("b-staged", 51, State.STAGED)))
    out = render_customer(inv)
    assert list(out) == ["b-staged", "hv1", "ns1", "vm1", "web1"]


# ---------------------------------------------------------------- DNS


@pytest.mark.parametrize(
    "prefix,zone",
    [
        ("10.1.0.0/24", "0.1.10.in-addr.arpa"),
        ("10.1.0.128/25", "0.1.10.in-addr.arpa"),
        ("10.1.0.0/16", "1.10.in-addr.arpa"),
        ("10.1.16.0/20", "1.10.in-addr.arpa"),
        ("10.0.0.0/8", "10.in-addr.arpa"),
        ("10.1.2.3/32", "2.1.10.in-addr.arpa"),
        ("fd00:1::/64", "0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"),
        ("fd00:1::/48", "0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"),
        ("fd00:1:2::/62", "0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"),  # /62 -> enclosing /60
    ],
)
def test_reverse_zone(prefix: str, zone: str) -> None:
    assert reverse_zone(prefix) == zone


def _zones(inv: Inventory) -> dict[str, tuple[int, str]]:
    return {z.name: (z.serial, z.content) for z in bind_zones(inv)}


def test_soa_serial_changes_iff_zone_content_changes() -> None:
    inv = base()
    before = _zones(inv)
    assert before == _zones(base())  # re-render: identical
    # move web1 to another address on lan: forward lan zone + both lan reverse zones change, mgmt not
    moved = dataclasses.replace(
        inv,
        machines={
            **inv.machines,
            "web1": dataclasses.replace(
                inv.machines["web1"],
                nics=(
                    Nic("eth0", "52:54:00:00:00:14", True, (Attachment("lan", "10.1.0.21", "fd00:1::14"),)),
                ),
            ),
        },
    )
    after = _zones(moved)
    assert set(before) == set(after)
    changed = {z for z in before if before[z] != after[z]}
    assert changed == {"lan.t.example", "0.1.10.in-addr.arpa"}
    for z in before:
        assert (before[z][0] != after[z][0]) is (z in changed)
    # a change that touches no zone (CPU count) keeps every serial
    bigger = dataclasses.replace(
        inv, machines={**inv.machines, "web1": dataclasses.replace(inv.machines["web1"], cores=64)}
    )
    assert _zones(bigger) == before


def test_zone_serial_range() -> None:
    for i in range(200):
        s = zone_serial([f"line {i}"])
        assert 1 <= s < 2**31
    assert zone_serial(["a", "b"]) != zone_serial(["ab"])


def test_zone_ns_and_records() -> None:
    zones = _zones(base())
    lan = zones["lan.t.example"][1]
    assert "@\tIN\tNS\tns1.lan.t.example.\n" in lan
    assert "web1\tIN\tA\t10.1.0.20\n" in lan and "web1\tIN\tAAAA\tfd00:1::14\n" in lan
    rev = zones["0.1.10.in-addr.arpa"][1]
    assert "20\tIN\tPTR\tweb1.lan.t.example.\n" in rev
    mgmt_rev = zones["2.10.in-addr.arpa"][1]
    assert "2.1\tIN\tPTR\tns1.mgmt.t.example.\n" in mgmt_rev
    conf = render_customer(base())["ns1"].file("/etc/bind/uniform/named.conf.uniform").content
    for z in zones:
        assert f'zone "{z}" {{' in conf and f'file "/etc/bind/uniform/db.{z}";' in conf


def test_dnsmasq_dns_records() -> None:
    ns1 = render_customer(base(dns="dnsmasq"))["ns1"]
    conf = ns1.file("/etc/dnsmasq.d/uniform-dns.conf").content
    assert "host-record=web1.lan.t.example,web1,10.1.0.20,fd00:1::14\n" in conf
    assert "host-record=ns1.mgmt.t.example,10.2.1.2\n" in conf
    assert "local=/lan.t.example/\n" in conf
    # dnsmasq serves DNS here, so the DHCP file must not disable it, and it keeps no lease file
    # (names of leases read back on restart would outlive a retired machine's host-record)
    dhcp = ns1.file("/etc/dnsmasq.d/uniform-dhcp.conf").content
    assert "port=0" not in dhcp and "leasefile-ro\n" in dhcp and "dhcp-leasefile" not in dhcp
    dhcp_only = render_customer(base())["ns1"].file("/etc/dnsmasq.d/uniform-dhcp.conf").content
    assert "port=0\n" in dhcp_only and "leasefile-ro" not in dhcp_only


# ---------------------------------------------------------------- DHCP


def test_dnsmasq_dhcp() -> None:
    conf = render_customer(base())["ns1"].file("/etc/dnsmasq.d/uniform-dhcp.conf").content
    assert "dhcp-range=set:lan,10.1.0.0,static,255.255.255.0,12h\n" in conf
    assert "dhcp-range=set:lan,10.1.0.200,10.1.0.250,255.255.255.0,12h\n" in conf
    assert "dhcp-option=tag:lan,option:router,10.1.0.1\n" in conf
    assert "dhcp-option=tag:lan,option:dns-server,10.1.0.2\n" in conf
    assert "dhcp-host=52:54:00:00:00:14,10.1.0.20,[fd00:1::14],web1\n" in conf
    assert "dhcp-range=set:mgmt,10.2.0.0,static,255.255.0.0,12h\n" in conf
    # no gateway4: an empty router option, else dnsmasq offers itself as the router
    assert "dhcp-option=tag:mgmt,option:router\n" in conf


def test_kea() -> None:
    ns1 = render_customer(base("kea"))["ns1"]
    v4 = json.loads(ns1.file("/etc/kea/kea-dhcp4.conf").content)["Dhcp4"]
    lan = next(s for s in v4["subnet4"] if s["subnet"] == "10.1.0.0/24")
    assert lan["pools"] == [{"pool": "10.1.0.200 - 10.1.0.250"}]
    assert {"hw-address": "52:54:00:00:00:14", "ip-address": "10.1.0.20", "hostname": "web1"} in lan[
        "reservations"
    ]
    v6 = json.loads(ns1.file("/etc/kea/kea-dhcp6.conf").content)["Dhcp6"]
    assert "hw-address" in v6["host-reservation-identifiers"]
    (lan6,) = v6["subnet6"]
    assert lan6["id"] == lan["id"]
    # Kea selects a directly connected DHCPv6 client's subnet by the interface it asked on
    # (its source address is link-local): ns1's interface on lan (golden case
    # hypervisor_two_vms: a hypervisor's bridge)
    assert (
        lan6["interface"]
        == ns1.file("/etc/systemd/network/10-eth0.network").content.split("Name=")[1].split()[0]
    )
    assert {"hw-address": "52:54:00:00:00:14", "ip-addresses": ["fd00:1::14"], "hostname": "web1"} in lan6[
        "reservations"
    ]


def test_kea_subnet_ids_stable() -> None:
    a = _subnet_ids(["lan", "mgmt"])
    b = _subnet_ids(["aaa", "lan", "mgmt", "zzz"])
    assert a["lan"] == b["lan"] and a["mgmt"] == b["mgmt"]
    assert len(set(b.values())) == 4 and all(0 < i < 2**31 for i in b.values())


# ---------------------------------------------------------------- hypervisor


def test_hypervisor_files() -> None:
    hv = render_customer(base())["hv1"]
    xml = hv.file("/etc/uniform/libvirt/vm1.xml").content
    assert "<memory unit='KiB'>2097152</memory>" in xml
    assert "<vcpu placement='static'>2</vcpu>" in xml
    assert f"<uuid>{payloads.vm_uuid('t', 'vm1')}</uuid>" in xml
    assert "<source file='/var/lib/libvirt/images/vm1-root.qcow2'/>" in xml
    assert "<target dev='vdb' bus='virtio'/>" in xml
    assert "<mac address='52:54:00:00:00:1e'/>" in xml and "<source bridge='br-lan'/>" in xml
    disks = hv.file("/etc/uniform/libvirt/vm1.disks.sh")
    assert disks.mode == 0o755
    line = "[ -e /var/lib/libvirt/images/vm1-data.qcow2 ] || qemu-img create -f qcow2 "
    assert line + "/var/lib/libvirt/images/vm1-data.qcow2 50G\n" in disks.content
    apply = hv.file("/etc/uniform/libvirt/apply.sh").content
    assert "wanted='vm1'" in apply and 'virsh define "$dir/vm1.xml"' in apply
    # the hypervisor's own lan NIC is enslaved to the bridge VMs attach to, which carries its address
    assert "Bridge=br-lan\n" in hv.file("/etc/systemd/network/10-eth0.network").content
    assert "Kind=bridge\n" in hv.file("/etc/systemd/network/20-br-lan.netdev").content
    assert "Address=10.1.0.3/24\n" in hv.file("/etc/systemd/network/20-br-lan.network").content


def test_xml_is_escaped() -> None:
    inv = base()
    odd = dataclasses.replace(inv, customer=dataclasses.replace(inv.customer, name="a&b<c>"))
    xml = render_customer(odd)["hv1"].file("/etc/uniform/libvirt/vm1.xml").content
    assert "<title>a&amp;b&lt;c&gt;/vm1</title>" in xml


def test_vm_uuid_deterministic() -> None:
    assert payloads.vm_uuid("acme", "web1") == payloads.vm_uuid("acme", "web1")
    assert payloads.vm_uuid("acme", "web1") != payloads.vm_uuid("globex", "web1")


# ---------------------------------------------------------------- write_tree, determinism, CLI


def test_write_tree(tmp_path: Path) -> None:
    from connectors.local import write_tree

    out = render_customer(base())
    written = write_tree(out, tmp_path)
    assert written == sorted(written)
    key = tmp_path / "web1/root/.ssh/authorized_keys"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "hv1/etc/uniform/libvirt/apply.sh").stat().st_mode) == 0o755
    # stale files and directories of a rendered machine disappear; other dirs are untouched
    (tmp_path / "web1/etc/stale.conf").write_text("x")
    (tmp_path / "web1/var/old").mkdir(parents=True)
    (tmp_path / "web1/var/old/f").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other/keep").write_text("x")
    (tmp_path / "web1/etc/hostname").write_text("tampered")
    os.chmod(key, 0o644)
    write_tree(out, tmp_path)
    assert not (tmp_path / "web1/etc/stale.conf").exists() and not (tmp_path / "web1/var").exists()
    assert (tmp_path / "other/keep").exists()
    assert (tmp_path / "web1/etc/hostname").read_text() == "web1\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    tree = {str(p.relative_to(tmp_path / "web1")) for p in (tmp_path / "web1").rglob("*") if p.is_file()}
    assert tree == {f.path.lstrip("/") for f in out["web1"].files}


def test_render_is_deterministic_across_processes(tmp_path: Path) -> None:
    code = (
        "from payloads import render_customer; from tests.helpers.models import base; "
        "print({k: v.digest for k, v in render_customer(base('kea', 'bind')).items()})"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(runs) == 1


def test_cli(tmp_path: Path) -> None:
    case = ROOT / "tests/golden/cases/dnsmasq_bind/inventory/acme"
    p = subprocess.run(
        [sys.executable, "-m", "cli", "render", str(case), str(tmp_path)],  # uniform render
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "ns1/etc/bind/uniform/named.conf.uniform").is_file()
    assert "ns1\t" in p.stdout


# ---------------------------------------------------------------- formats and order independence


def test_manifest_is_plain_json_dumps() -> None:
    for dhcp, dns in (("dnsmasq", "bind"), ("kea", "dnsmasq")):
        for p in render_customer(base(dhcp, dns)).values():
            text = p.file("/etc/uniform/manifest.d/base.json").content
            assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_kea_json_reservations_one_per_line() -> None:
    from payloads.roles.dhcp import _json, _Reservations

    obj = {
        "b": [{"reservations": _Reservations(['{"a": 1}', '{"a": 2}']), "z": 1}],
        "a": {"reservations": _Reservations()},
    }
    text = _json(obj)
    assert json.loads(text) == {
        "a": {"reservations": []},
        "b": [{"reservations": [{"a": 1}, {"a": 2}], "z": 1}],
    }
    assert '        {"a": 1},\n        {"a": 2}\n      ],\n' in text
    conf = render_customer(base("kea"))["ns1"].file("/etc/kea/kea-dhcp4.conf").content
    line = '          {"hostname": "web1", "hw-address": "52:54:00:00:00:14", "ip-address": "10.1.0.20"},\n'
    assert line in conf


def test_output_does_not_depend_on_input_order() -> None:
    inv = base("kea", "bind", extra=(machine("zz", 40, mgmt=True), machine("aa", 41, State.STAGED)))
    shuffled = dataclasses.replace(
        inv,
        machines=dict(reversed(list(inv.machines.items()))),
        networks=dict(reversed(list(inv.networks.items()))),
    )
    a, b = render_customer(inv), render_customer(shuffled)
    assert list(a) == list(b) and a == b
    inv2 = base("dnsmasq", "dnsmasq", extra=(machine("zz", 40, mgmt=True),))
    shuffled2 = dataclasses.replace(inv2, machines=dict(reversed(list(inv2.machines.items()))))
    assert render_customer(inv2) == render_customer(shuffled2)


def test_machine_without_nics() -> None:
    bare = dataclasses.replace(machine("bare", 60), nics=())
    inv = base(extra=(bare,))
    p = render_machine(inv, inv.machines["bare"])
    assert "127.0.1.1\tbare.t.example bare\n" in p.file("/etc/hosts").content
    assert not any("systemd" in f.path for f in p.files)


def test_vm_nic_without_bridge_uses_libvirt_network() -> None:
    inv = base()
    vm = dataclasses.replace(
        inv.machines["vm1"],
        nics=(
            *inv.machines["vm1"].nics,
            Nic("eth1", "52:54:00:00:02:1e", True, (Attachment("mgmt", "10.2.3.4"),)),
        ),
    )
    inv = dataclasses.replace(inv, machines={**inv.machines, "vm1": vm})
    xml = render_customer(inv)["hv1"].file("/etc/uniform/libvirt/vm1.xml").content
    assert "<interface type='network'>\n      <mac address='52:54:00:00:02:1e'/>\n" in xml
    assert "<source network='mgmt'/>" in xml


# ---------------------------------------------------------------- address helpers vs ipaddress

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from payloads import _net  # noqa: E402


@given(st.ip_addresses())
def test_address_helpers_match_ipaddress(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    text = str(ip)
    assert _net.reverse_pointer(text) == ip.reverse_pointer
    assert _net.sort_key(text) == (ip.version, int(ip))


@given(st.ip_addresses(), st.integers(0, 128))
def test_reverse_zone_encloses_prefix(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, plen: int) -> None:
    unit = 8 if ip.version == 4 else 4
    plen = max(min(plen, ip.max_prefixlen), unit)
    net = ipaddress.ip_network(f"{ip}/{plen}", strict=False)
    zone = _net.reverse_zone(str(net))
    # every address of the prefix has its PTR name inside the zone
    for addr in (net.network_address, net.broadcast_address):
        assert addr.reverse_pointer.endswith("." + zone)
    labels = zone.split(".")[:-2]
    assert len(labels) == min(plen // unit, 3 if ip.version == 4 else 31)


def test_reverse_zone_rejects_huge_prefixes() -> None:
    with pytest.raises(ValueError, match="shorter than /8"):
        reverse_zone("10.0.0.0/7")


def test_cli_reports_inventory_problems(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "cli", "render", str(tmp_path / "nope"), str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert p.returncode != 0 and "Traceback" not in p.stderr and "customer.yaml" in p.stderr


def test_key_with_line_break_is_rejected() -> None:
    inv = base()
    bad = dataclasses.replace(
        inv,
        customer=dataclasses.replace(inv.customer, ssh=Ssh(authorized_keys=(KEY + "\nssh-rsa AAAA evil",))),
    )
    with pytest.raises(ValueError, match="line break"):
        render_customer(bad)
