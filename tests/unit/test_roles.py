"""The role registry (payloads/roles/): one module per delivery group, everything else derived."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import inventory
import payloads
from payloads import roles
from payloads.roles import GROUPS, RELOAD_COMMANDS, ROLE_NAMES, ROLES, component_name, group_of, resource_name
from payloads.roles._group import Role

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.parent for p in (ROOT / "stacks").glob("*/customer.yaml"))


def test_roles_and_their_component_tokens() -> None:
    # The tokens are part of every deployed resource's URN: changing one replaces resources.
    assert {n: r.component for n, r in ROLES.items()} == {
        "dhcp": "uniform:services:DhcpServer",
        "dns": "uniform:services:DnsServer",
        "hypervisor": "uniform:services:Hypervisor",
    }
    assert ROLE_NAMES == ("dhcp", "dns", "hypervisor") == payloads.ROLE_NAMES
    assert GROUPS == ("base", "dhcp", "dns", "hypervisor")
    assert all(isinstance(r, Role) and r.name == n for n, r in ROLES.items())
    assert "base" not in ROLES  # a machine file cannot list the base group as a role


def test_reload_commands_unchanged() -> None:
    assert dict(RELOAD_COMMANDS) == {
        "hostname": "[ ! -e /etc/hostname ] || hostname -F /etc/hostname",
        "networkd": "udevadm control --reload && networkctl reload",
        "dnsmasq": "systemctl restart dnsmasq",
        "bind": (
            "grep -qxF 'include \"/etc/bind/uniform/named.conf.uniform\";' /etc/bind/named.conf.local"
            " || echo 'include \"/etc/bind/uniform/named.conf.uniform\";' >> /etc/bind/named.conf.local;"
            " named-checkconf -z /etc/bind/named.conf && systemctl reload-or-restart named"
        ),
        "kea-dhcp4": "kea-dhcp4 -t /etc/kea/kea-dhcp4.conf && systemctl reload-or-restart kea-dhcp4-server",
        "kea-dhcp6": "kea-dhcp6 -t /etc/kea/kea-dhcp6.conf && systemctl reload-or-restart kea-dhcp6-server",
        "libvirt": "sh /etc/uniform/libvirt/apply.sh",
        "netboot": "sh /etc/uniform/netboot/install-loader.sh",
    }
    assert payloads.RELOAD_COMMANDS is RELOAD_COMMANDS


def test_two_groups_may_not_disagree_on_a_reload() -> None:
    other = dataclasses.replace(roles.ROLES["dns"], reloads={"dnsmasq": "pkill -HUP dnsmasq"})
    with pytest.raises(ValueError, match="dnsmasq"):
        roles._reloads((roles.ROLES["dhcp"], other))


@pytest.mark.parametrize("customer", STACKS, ids=lambda p: p.name)
def test_each_group_declares_the_reloads_its_files_carry(customer: Path) -> None:
    by_group = {roles.BASE.name: roles.BASE, **ROLES}
    for payload in payloads.render_customer(inventory.load(customer)).values():
        for f in payload.files:
            assert f.group in GROUPS, f.path
            if f.reload is not None:
                assert f.reload in by_group[f.group].reloads, (payload.machine, f.path, f.reload)


def test_resource_names_and_their_inverse() -> None:
    # today's names: a renamed resource would be replaced on every deployed stack
    assert resource_name("web1", "base") == "web1-base"
    assert resource_name("ns1", "dhcp") == "ns1-dhcp-files"
    assert resource_name("hv1", "hypervisor") == "hv1-hypervisor-files"
    assert component_name("ns1", "dns") == "ns1-dns"
    for group in GROUPS:
        for machine in ("a", "web-1", "x-dhcp", "ns1-base"):
            assert group_of(resource_name(machine, group)) == (machine, group)
    assert group_of("ns1-dhcp") is None  # the component, not the delivery resource
    assert group_of("-base") is None and group_of("-dhcp-files") is None
    with pytest.raises(KeyError, match="unknown delivery group"):
        resource_name("web1", "ntp")


def test_each_group_has_its_templates_and_stays_small() -> None:
    here = ROOT / "payloads" / "roles"
    for group in GROUPS:
        module = here / f"{group}.py"
        assert module.is_file(), module
        assert len(module.read_text().splitlines()) <= 400, module
        assert (here / "templates" / group).is_dir(), group


def test_validation_accepts_the_registry_roles_only() -> None:
    demo = ROOT / "stacks" / "demo"
    inv = inventory.load(demo, known_roles=ROLE_NAMES)
    assert any("dns" in m.roles for m in inv.machines.values())
    # the role list is the caller's: a registry without dns makes the same files invalid
    with pytest.raises(inventory.InventoryError, match=r"unknown role 'dns'; known: dhcp, hypervisor"):
        inventory.load(demo, known_roles=("dhcp", "hypervisor"))
    assert inventory.load(demo).machines.keys() == inv.machines.keys()  # None: any name


def test_vms_on_is_the_one_index() -> None:
    inv = inventory.load(ROOT / "stacks" / "acme")
    for hv in {m.hypervisor for m in inv.machines.values() if m.hypervisor}:
        scan = sorted((m for m in inv.machines.values() if m.hypervisor == hv), key=lambda m: m.name)
        assert inv.vms_on(hv) == scan
    assert inv.vms_on("no-such-host") == []
