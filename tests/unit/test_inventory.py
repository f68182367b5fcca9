"""Inventory: literal address tables, the public API, pin() and transition()."""

from __future__ import annotations

import shutil
from pathlib import Path

import netaddr
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inventory
from inventory import InventoryError, generate_mac, load, pin, transition, unpinned
from inventory.addresses import eui64, fmt
from inventory.allocate import slot_hash
from inventory.model import Kind, State

BASE = Path(__file__).parent / "inventory_cases" / "_base"
STACKS = Path(__file__).parents[2] / "stacks"


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    root = tmp_path / "acme"
    shutil.copytree(BASE, root)
    return root


def add_vm(root: Path, name: str, extra: str = "") -> None:
    (root / "machines" / f"{name}.yaml").write_text(
        f"name: {name}\nkind: vm\nhypervisor: hv1\ncores: 1\nmemory: 512MiB\n"
        f"nics:\n  - name: eth0\n    networks:\n      - network: lan\n{extra}state: planned\n"
    )


# ---------------------------------------------------------------- literal tables


@pytest.mark.parametrize(
    ("mac", "prefix", "expected"),
    [
        ("52:54:00:12:34:56", "fd00:10::", "fd00:10::5054:ff:fe12:3456"),
        ("52:54:00:12:34:56", "fe80::", "fe80::5054:ff:fe12:3456"),
        ("00:0d:b9:50:00:01", "fd00:10::", "fd00:10::20d:b9ff:fe50:1"),
        ("02:00:5e:10:a0:0e", "2001:db8:1:2::", "2001:db8:1:2:0:5eff:fe10:a00e"),
        ("0c:c4:7a:10:20:01", "2001:db8:1:2::", "2001:db8:1:2:ec4:7aff:fe10:2001"),
    ],
)
def test_eui64(mac: str, prefix: str, expected: str) -> None:
    assert str(netaddr.EUI(mac).ipv6(netaddr.IPAddress(prefix))) == expected
    assert str(netaddr.IPAddress(eui64(mac, int(netaddr.IPAddress(prefix))), 6)) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("52:54:00", "acme", "web1", "eth0", 0), "52:54:00:70:16:15"),
        (("52:54:00", "acme", "web1", "eth0", 1), "52:54:00:e3:e9:c7"),
        (("52:54:00", "acme", "web2", "eth0", 0), "52:54:00:31:a9:e2"),
        (("02", "globex", "files1", "eth0", 0), "02:a0:0e:0b:d5:6a"),
        (("02:00:5e:10", "globex", "files1", "eth0", 0), "02:00:5e:10:a0:0e"),
        (("52:54:00:ab:cd", "demo", "db1", "eth1", 0), "52:54:00:ab:cd:24"),
    ],
)
def test_generate_mac(args: tuple[str, str, str, str, int], expected: str) -> None:
    assert generate_mac(*args) == expected


@pytest.mark.parametrize("prefix", ["01:00:5e", "zz", "52:54:00:00:00:00", ""])
def test_generate_mac_rejects_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError):
        generate_mac(prefix, "acme", "web1", "eth0")


def test_generate_mac_is_unicast_and_under_prefix() -> None:
    for i in range(200):
        mac = generate_mac("52:54:00", "acme", f"m{i}", "eth0")
        assert mac.startswith("52:54:00:") and not int(mac[:2], 16) & 1


# base acme: 10.0.0.0/24, gateway .1, reserved .1-.9, pool .200-.250, hv1=.11 and web1=.20 pinned
@pytest.mark.parametrize(
    ("name", "slot", "expected"),
    [
        ("web2", "10.0.0.160", "10.0.0.160"),  # free: taken as is
        ("web3", "10.0.0.11", "10.0.0.12"),  # hv1's: probe to the next free address
        ("db1", "10.0.0.215", "10.0.0.251"),  # in the DHCP pool: probe past its end
        ("vm18", "10.0.0.4", "10.0.0.10"),  # reserved: probe past the range
        ("app1", "10.0.0.57", "10.0.0.57"),
    ],
)
def test_allocation_picks(acme: Path, name: str, slot: str, expected: str) -> None:
    add_vm(acme, name)
    span = 254  # .1 - .254
    assert str(netaddr.IPAddress(0x0A000001 + slot_hash("acme", name, "eth0", "lan", 4) % span)) == slot
    att = load(acme).machines[name].nics[0].attachments[0]
    assert (att.ipv4, att.ipv4_pinned) == (expected, False)


def test_linear_probing_skips_a_taken_slot(acme: Path) -> None:
    add_vm(acme, "web2", "        ipv4: 10.0.0.112\n")  # web2 pins the slot web5 hashes to
    slot = 0x0A000001 + slot_hash("acme", "web5", "eth0", "lan", 4) % 254
    assert str(netaddr.IPAddress(slot)) == "10.0.0.112"
    add_vm(acme, "web5")
    assert load(acme).machines["web5"].nics[0].attachments[0].ipv4 == "10.0.0.113"


# ---------------------------------------------------------------- the model


def test_example_stacks_load_fully_pinned() -> None:
    for name in ("demo", "acme", "globex"):
        inv = load(STACKS / name)
        assert inv.customer.name == name
        assert unpinned(inv) == []


def test_demo_model() -> None:
    inv = load(STACKS / "demo")
    assert list(inv.machines) == sorted(inv.machines)
    hv1 = inv.machines["hv1"]
    assert (
        hv1.kind is Kind.HW and hv1.roles == ("hypervisor",) and hv1.history == (State.PLANNED, State.STAGED)
    )
    assert {m.name for m in inv.vms_on("hv1")} == {"web1", "web2", "db1"}
    att = hv1.nics[0].attachments[0]
    assert att.ipv6 == "fd00:20::ec4:7aff:fe10:2001" and not att.ipv6_pinned
    assert inv.machines["db1"].nics[0].attachments[0].ipv6 is None  # ipv6: none
    assert inv.machines["db1"].disks[1].size_gib == 200 and inv.machines["db1"].memory_mib == 16384
    lan = inv.networks["lan"]
    assert lan.reserved == (("10.20.0.1", "10.20.0.9"),) and lan.dhcp_pool == ("10.20.0.200", "10.20.0.250")
    assert inv.fqdn(hv1) == "hv1.demo.example"
    assert inv.customer.delivery.local_root == "out/demo"


def test_retired_machine_holds_no_addresses() -> None:
    old = load(STACKS / "acme").machines["old1"]
    assert old.state is State.RETIRED
    assert old.nics[0].attachments[0].ipv4 is None and old.nics[0].attachments[0].ipv6 is None


def test_group_file_machines(acme: Path) -> None:
    (acme / "machines" / "web1.yaml").unlink()
    (acme / "machines" / "tier.yaml").write_text(
        "- {name: a1, kind: vm, hypervisor: hv1, cores: 1, memory: 1024}\n"
        "- {name: a2, kind: vm, hypervisor: hv1, cores: 1, memory: 1GiB}\n"
    )
    inv = load(acme)
    assert inv.machines["a1"].file == "machines/tier.yaml" and inv.machines["a2"].memory_mib == 1024


def test_problem_str_and_fields(acme: Path) -> None:
    p = inventory.Problem("acme", "machines/web1.yaml", "web1", "nics[0].mac", "invalid MAC 'zz'", 7)
    assert str(p) == "acme: machines/web1.yaml:7: web1: nics[0].mac: invalid MAC 'zz'"
    assert str(inventory.Problem("acme", "customer.yaml", None, "", "missing customer.yaml")) == (
        "acme: customer.yaml: missing customer.yaml"
    )
    (acme / "customer.yaml").unlink()
    with pytest.raises(InventoryError) as info:
        load(acme)
    assert str(info.value).splitlines()[:2] == [
        "inventory acme: 1 problem(s)",
        "acme: customer.yaml: missing customer.yaml",
    ]


def test_inventory_package_does_not_import_pulumi() -> None:
    for path in (Path(inventory.__file__).parent).glob("*.py"):
        assert "import pulumi" not in path.read_text(), path


# ---------------------------------------------------------------- pin and transition

COMMENTED = """\
# web2: the second web server
name: web2   # short name
kind: vm
hypervisor: hv1
cores: 1
memory: 512MiB
nics:
  - name: eth0   # virtio
    networks:
      - network: lan
        ipv6: auto   # EUI-64
tags: [web]
state: planned
"""


def test_pin_writes_allocations_and_keeps_comments_and_order(acme: Path) -> None:
    (acme / "machines" / "web2.yaml").write_text(COMMENTED)
    before = load(acme).machines["web2"]
    pinned = pin(acme)
    mac = before.nics[0].mac
    ip = before.nics[0].attachments[0].ipv4
    assert pinned == [f"web2: nics[0].mac = {mac}", f"web2: nics[0].networks[0].ipv4 = {ip}"]
    text = (acme / "machines" / "web2.yaml").read_text()
    assert text == COMMENTED.replace(
        "  - name: eth0   # virtio\n", f'  - name: eth0   # virtio\n    mac: "{mac}"\n'
    ).replace("      - network: lan\n", f"      - network: lan\n        ipv4: {ip}\n")
    after = load(acme)
    assert after.machines["web2"].nics == (
        before.nics[0].__class__(
            "eth0",
            mac,
            True,
            (
                before.nics[0]
                .attachments[0]
                .__class__("lan", ip, before.nics[0].attachments[0].ipv6, True, False),
            ),
        ),
    )
    assert unpinned(after) == [] and pin(acme) == []


def test_pin_group_file_keeps_layout(acme: Path) -> None:
    text = (
        "# tier\n- name: a1   # first\n  kind: vm\n  hypervisor: hv1\n  cores: 1\n  memory: 1GiB\n"
        "  nics:\n    - name: eth0\n      networks:\n        - network: lan\n"
    )
    (acme / "machines" / "tier.yaml").write_text(text)
    pin(acme)
    new = (acme / "machines" / "tier.yaml").read_text()
    assert new.startswith("# tier\n- name: a1")
    assert "# first\n  kind: vm\n" in new  # (ruamel may normalise the spaces before that comment)
    assert '    - name: eth0\n      mac: "52:54:00:' in new
    assert load(acme).machines["a1"].nics[0].mac_pinned


def test_pin_refuses_a_broken_inventory(acme: Path) -> None:
    add_vm(acme, "web2", "        ipv4: 10.0.0.11\n")
    with pytest.raises(InventoryError):
        pin(acme)


def test_transition_appends_history_and_keeps_comments(acme: Path) -> None:
    (acme / "machines" / "web2.yaml").write_text(COMMENTED)
    planned = load(acme).machines["web2"]
    assert not planned.nics[0].mac_pinned
    transition(acme, "web2", "staged")
    text = (acme / "machines" / "web2.yaml").read_text()
    # reaching staged pins the generated MAC and the allocated address, where they were
    mac, ipv4 = planned.nics[0].mac, planned.nics[0].attachments[0].ipv4
    want = COMMENTED.replace("state: planned\n", "state: staged\nhistory: [planned]\n")
    want = want.replace("  - name: eth0   # virtio\n", f'  - name: eth0   # virtio\n    mac: "{mac}"\n')
    want = want.replace("      - network: lan\n", f"      - network: lan\n        ipv4: {ipv4}\n")
    assert text == want
    staged = load(acme).machines["web2"]  # loads: nothing of a staged machine is left unpinned
    assert staged.nics[0].mac_pinned and staged.nics[0].attachments[0].ipv4_pinned
    assert staged.nics[0].mac == mac and staged.nics[0].attachments[0].ipv4 == ipv4
    transition(acme, "web2", State.ACTIVE)
    m = load(acme).machines["web2"]
    assert m.state is State.ACTIVE and m.history == (State.PLANNED, State.STAGED)
    assert (
        "# web2: the second web server\nname: web2   # short name\n"
        in (acme / "machines" / "web2.yaml").read_text()
    )


def test_transition_rejects_a_disallowed_move(acme: Path) -> None:
    before = (acme / "machines" / "web1.yaml").read_text()
    with pytest.raises(InventoryError) as info:
        transition(acme, "web1", "planned")
    assert info.value.problems[0].message == (
        "cannot move from active to planned (allowed from active: decommissioning, failed, offline)"
    )
    assert (acme / "machines" / "web1.yaml").read_text() == before
    with pytest.raises(InventoryError, match="no machine named 'nope'"):
        transition(acme, "nope", "active")
    with pytest.raises(InventoryError, match="unknown state 'gone'"):
        transition(acme, "web1", "gone")


def test_retiring_releases_addresses(acme: Path) -> None:
    for state in ("decommissioning", "retired"):
        transition(acme, "web1", state)
    add_vm(acme, "web2", "        ipv4: 10.0.0.20\n")  # web1's old address, now free
    inv = load(acme)
    assert inv.machines["web2"].nics[0].attachments[0].ipv4 == "10.0.0.20"
    assert inv.machines["web1"].history == (State.PLANNED, State.STAGED, State.ACTIVE, State.DECOMMISSIONING)


# ---------------------------------------------------------------- formatting and the parse cache


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(0, 2**128 - 1), st.integers(0, 2**48 - 1).map(lambda x: x << 80)))
def test_fmt_matches_netaddr(value: int) -> None:
    assert fmt(value, 6) == str(netaddr.IPAddress(value, 6))
    assert fmt(value % 2**32, 4) == str(netaddr.IPAddress(value % 2**32, 4))


@pytest.mark.parametrize(
    "value", [0, 1, 0xFFFF_0A00_0001, 0x0A00_0001, 0x2001_0DB8 << 96, (0xFD00 << 112) | 1]
)
def test_fmt_edge_cases(value: int) -> None:
    assert fmt(value, 6) == str(netaddr.IPAddress(value, 6))


def test_cache_gives_the_same_result_and_sees_edits(acme: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cold = load(acme)
    assert load(acme, cache_dir=cache) == cold
    assert list(cache.iterdir()) and load(acme, cache_dir=cache) == cold
    web1 = acme / "machines" / "web1.yaml"
    web1.write_text(web1.read_text().replace("cores: 2", 'cores: "2"'))
    for _ in range(2):  # the problem is found, then served from the cache with its line number
        with pytest.raises(InventoryError) as info:
            load(acme, cache_dir=cache)
        assert [str(p) for p in info.value.problems] == [
            "acme: machines/web1.yaml:4: web1: cores: expected an integer, got string '2'"
        ]
    web1.unlink()
    assert "web1" not in load(acme, cache_dir=cache).machines


# ---------------------------------------------------------------- IPv6 allocation and the CLI

V6_CUSTOMER = """\
customer: acme
domain: acme.example
networks:
  lan:
    ipv4: 10.0.0.0/24
    ipv6: fd00::/64
    gateway4: 10.0.0.1
    reserved: ["10.0.0.1-10.0.0.9"]
    dhcp_pool: 10.0.0.200-10.0.0.250
  v6:
    ipv6: fd00:6::/120
"""


def test_ipv6_on_a_non_64_prefix_is_allocated_and_pinned(acme: Path) -> None:
    (acme / "customer.yaml").write_text(V6_CUSTOMER)
    (acme / "machines" / "web2.yaml").write_text(
        "name: web2\nkind: vm\nhypervisor: hv1\ncores: 1\nmemory: 1GiB\n"
        'nics:\n  - name: eth0\n    mac: "52:54:00:00:00:09"\n    networks:\n      - network: v6\n'
        "state: planned\n"
    )
    inv = load(acme)
    att = inv.machines["web2"].nics[0].attachments[0]
    slot = (0xFD00_0006 << 96) + 1 + slot_hash("acme", "web2", "eth0", "v6", 6) % 255
    assert att.ipv4 is None and att.ipv6 == str(netaddr.IPAddress(slot, 6)) and not att.ipv6_pinned
    assert unpinned(inv) == [f"web2: nics[0].networks[0].ipv6 = {att.ipv6}"]
    assert pin(acme) == unpinned(inv)
    again = load(acme).machines["web2"].nics[0].attachments[0]
    assert again.ipv6 == att.ipv6 and again.ipv6_pinned


def test_cli(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    assert main(["check", str(acme)]) == 0
    assert capsys.readouterr().out == "acme: 2 machines, 1 networks: ok\n"
    add_vm(acme, "web2")
    assert main(["unpinned", str(acme)]) == 1
    assert main(["pin", str(acme)]) == 0
    assert main(["unpinned", str(acme)]) == 0
    assert main(["transition", str(acme), "web2", "active"]) == 1
    assert "cannot move from planned to active" in capsys.readouterr().err
    assert main(["transition", str(acme), "web2", "staged"]) == 0
    assert load(acme).machines["web2"].state is State.STAGED


def test_transition_in_a_group_file(acme: Path) -> None:
    text = "# tier\n- name: a1\n  kind: vm\n  hypervisor: hv1\n  cores: 1\n  memory: 1GiB\n  state: planned\n"
    (acme / "machines" / "tier.yaml").write_text(text)
    transition(acme, "a1", "retired")
    expected = text.replace("state: planned\n", "state: retired\n  history: [planned]\n")
    assert (acme / "machines" / "tier.yaml").read_text() == expected
    assert load(acme).machines["a1"].state is State.RETIRED
