"""Wiring of the components, with Pulumi's mocks (no engine): names, parents, secrets."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

ROOT = Path(__file__).resolve().parents[2]


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        if args.typ == "pulumi-python:dynamic/uniform:HostKey":
            # what the provider's create makes (components/hostkey.py), as a stand-in
            return f"{args.name}-id", {
                **args.inputs,
                "public_key": f"ssh-ed25519 PUB-{args.name}",
                "private_key": "priv",
            }
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


MOCKS = Mocks()
pulumi.runtime.set_mocks(MOCKS, preview=False)

import inventory  # noqa: E402
from components.stack import StackSettings, build  # noqa: E402

INV = inventory.load(ROOT / "stacks" / "demo")


@pytest.fixture(autouse=True)
def _clear():
    MOCKS.resources.clear()


def by_name() -> dict[str, pulumi.runtime.MockResourceArgs]:
    return {r.name: r for r in MOCKS.resources}


@pulumi.runtime.test
def _build(settings: StackSettings | None = None):
    """Build under the mocks; the decorator waits until every registration is done."""
    machines = build(INV, settings or StackSettings())
    return pulumi.Output.all(*[m.fqdn for m in machines.values()])


def test_one_machine_component_per_unretired_machine():
    _build()
    names = by_name()
    expected = sorted(m.name for m in INV.machines.values() if m.state.value != "retired")
    assert sorted(n for n, r in names.items() if r.typ == "uniform:machine:Machine") == expected


def test_children_follow_roles_and_lifecycle():
    _build()
    names = by_name()
    for m in INV.machines.values():
        delivered = inventory.lifecycle.delivered(m.state)
        assert (f"{m.name}-base" in names) == delivered, m.name
        for role, token in (("dhcp", "DhcpServer"), ("dns", "DnsServer"), ("hypervisor", "Hypervisor")):
            has = role in m.roles
            assert (f"{m.name}-{role}" in names) == has
            if has:
                assert names[f"{m.name}-{role}"].typ == f"uniform:services:{token}"
                assert (f"{m.name}-{role}-files" in names) == delivered
    # local delivery: each machine's tree under the customer's local_root
    base = next(r for r in MOCKS.resources if r.name.endswith("-base"))
    assert base.inputs["target"]["mode"] == "local"
    assert base.inputs["target"]["root"].startswith("out/demo/")


def test_private_key_is_never_in_files():
    # split, so the repo holds no key-shaped text
    secret = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nnot-a-real-key\n"
    _build(StackSettings(private_key=pulumi.Output.secret(secret)))
    assert MOCKS.resources
    for r in MOCKS.resources:
        if "files" in r.inputs:
            for content in r.inputs["files"].values():
                assert "PRIVATE KEY" not in content


def _staged_web(mode: str, hand_keys: bool):
    """The demo with its first active VM staged, delivery ``mode``; every other machine's host
    key recorded by hand, and the VM's too when ``hand_keys``."""
    import dataclasses

    web = next(m for m in INV.machines.values() if m.is_vm and m.state.value == "active")
    staged = dataclasses.replace(web, state=inventory.lifecycle.State.STAGED)
    others = {n: m for n, m in INV.machines.items() if n != web.name}
    keyed = [*others, web.name] if hand_keys else list(others)
    keys = tuple((n, f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlbW8{n}") for n in keyed)
    inv = dataclasses.replace(
        INV,
        customer=dataclasses.replace(
            INV.customer,
            delivery=dataclasses.replace(INV.customer.delivery, mode=mode),
            ssh=dataclasses.replace(INV.customer.ssh, host_keys=keys),
        ),
        machines={**others, web.name: staged},
    )
    return inv, staged


def _build_inv(inv) -> dict:
    @pulumi.runtime.test
    def build_it():
        return pulumi.Output.all(*[m.fqdn for m in build(inv, StackSettings()).values()])

    build_it()
    return by_name()


def test_staged_machine_without_a_hand_key_gets_one_made_and_pinned():
    """ssh delivery: a staged machine without a recorded key gets a HostKey; its own files are
    delivered with that key's public half pinned, the hypervisor's seed names it."""
    from components.stack import check_delivery

    inv, web = _staged_web("ssh", hand_keys=False)
    assert check_delivery(inv, StackSettings()) == []
    names = _build_inv(inv)
    key = names[f"{web.name}-hostkey"]
    assert key.typ == "pulumi-python:dynamic/uniform:HostKey"
    assert key.inputs["machine"] == web.name and key.inputs["state"] == "staged"
    # hand-keyed machines get none
    assert [n for n in names if n.endswith("-hostkey")] == [f"{web.name}-hostkey"]
    base = names[f"{web.name}-base"].inputs
    assert (
        base["target"]["mode"] == "ssh"
        and base["target"]["host_key"] == f"ssh-ed25519 PUB-{web.name}-hostkey"
    )
    assert base["installing"] is True
    # the hypervisor's files name the VM's key: their secrets input carries both halves
    hv = names[f"{web.hypervisor}-hypervisor-files"].inputs
    # ... as one secret (the mocks show the SDK's secret wrapper)
    assert hv["secrets"]["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
    assert set(hv["secrets"]["value"]) == {f"hostkey.{web.name}.private", f"hostkey.{web.name}.public"}
    seed = hv["files"][f"/etc/uniform/libvirt/{web.name}.seed/user-data"]
    assert f"@@uniform-secret:hostkey.{web.name}.private:json@@" in seed
    # no other delivery resource carries secrets or the installing flag
    for r in MOCKS.resources:
        if "files" in r.inputs and r.name not in {f"{web.hypervisor}-hypervisor-files", f"{web.name}-base"}:
            assert "secrets" not in r.inputs and "installing" not in r.inputs, r.name


def test_a_hand_recorded_key_takes_precedence():
    inv, web = _staged_web("ssh", hand_keys=True)
    names = _build_inv(inv)
    assert not [n for n in names if n.endswith("-hostkey")]
    assert (
        names[f"{web.name}-base"].inputs["target"]["host_key"] == dict(inv.customer.ssh.host_keys)[web.name]
    )
    hv = names[f"{web.hypervisor}-hypervisor-files"].inputs
    assert "secrets" not in hv
    assert "uniform-secret" not in hv["files"][f"/etc/uniform/libvirt/{web.name}.seed/user-data"]


@pytest.mark.parametrize(
    ("mode", "state", "hand", "keyed"),
    [
        ("local", "staged", False, True),
        ("local", "active", False, False),  # nothing connects: the key went with the install
        ("ssh", "staged", False, True),
        ("ssh", "active", False, True),  # kept: delivery and verify pin it
        ("ssh", "failed", False, True),  # kept for the reinstall (failed -> staged)
        ("ssh", "decommissioning", False, False),  # leaves with the machine's files
        ("ssh", "planned", False, False),
        ("ssh", "staged", True, False),  # a hand-recorded key takes precedence
        ("local", "staged", True, False),
    ],
)
def test_which_machines_have_a_key_made_by_uniform(mode, state, hand, keyed):
    import dataclasses

    from components.stack import keyed as is_keyed

    inv, web = _staged_web(mode, hand_keys=hand)
    m = dataclasses.replace(web, state=inventory.lifecycle.State(state))
    assert is_keyed(inv, m) == keyed


def test_reloads_follow_the_changed_files():
    """A change reruns only the reloads its files name, in the group's order."""
    from components.delivery import _reloads

    props = {"reload": ["hostname -F /etc/hostname", "networkctl reload", "systemctl restart dnsmasq"]}
    conf = {"sha256": "b", "mode": "0644", "reload": "systemctl restart dnsmasq"}
    hosts = {"sha256": "c", "mode": "0644", "reload": ""}
    assert _reloads(props, {"/etc/dnsmasq.d/x.conf": conf}, {}) == ["systemctl restart dnsmasq"]
    assert _reloads(props, {"/etc/hosts": hosts}, {}) == []
    net = {"sha256": "d", "mode": "0644", "reload": "networkctl reload"}
    assert _reloads(props, {"/etc/hosts": hosts}, {"/etc/systemd/network/10-eth0.network": net}) == [
        "networkctl reload"
    ]
    # an entry recorded before files named their reload: the whole group's
    old = {"sha256": "e", "mode": "0644"}
    assert _reloads(props, {}, {"/etc/old": old}) == props["reload"]


def test_each_delivered_file_names_its_reload():
    """The wiring hands each file's reload to delivery, so a change reruns only what it needs."""
    import payloads
    from components.stack import file_groups

    for payload in payloads.render_customer(INV).values():
        for fg in file_groups(payload).values():
            for path, entry in fg.files.items():
                f = payload.file(path)
                assert entry["reload"] == (payloads.RELOAD_COMMANDS[f.reload] if f.reload else ""), path
                assert not entry["reload"] or entry["reload"] in fg.reload


def test_a_defined_vm_s_placement_rides_in_its_base_files():
    """One resource fewer per VM (docs/scale.md): the base files carry what Placement did."""
    _build()
    names = by_name()
    vms = [m for m in INV.machines.values() if m.is_vm and m.state in inventory.lifecycle.ON_HYPERVISOR]
    assert vms
    for m in vms:
        assert f"{m.name}-placement" not in names, m.name
        placement = names[f"{m.name}-base"].inputs["placement"]
        # (the mocks drop the None of an unacknowledged move)
        assert placement == {"vm": m.name, "hypervisor": m.hypervisor}
    # every other delivery resource has no placement input at all (its state is unchanged)
    others = [
        r for r in MOCKS.resources if "files" in r.inputs and r.name not in {f"{m.name}-base" for m in vms}
    ]
    assert others and not any("placement" in r.inputs for r in others)


@pytest.mark.parametrize(
    ("old", "new", "refused"),
    [
        (None, ("hv1", None), False),  # created, or recorded before the fold: nothing to compare
        (("hv1", None), ("hv1", None), False),
        (("hv1", None), ("hv2", None), True),  # a hand edit
        (("hv1", None), ("hv2", ["hv2", "copied"]), False),  # uniform machine move --disk-copied
        (("hv1", None), ("hv2", ["hv3", "fresh"]), True),  # acknowledges another move
        (("hv2", ["hv2", "copied"]), ("hv2", ["hv2", "copied"]), False),
    ],
)
def test_files_check_refuses_an_unacknowledged_move(old, new, refused):
    from components.delivery import FilesProvider

    def props(p):
        return {"group": "base", "files": {}} | (
            {"placement": {"vm": "web1", "hypervisor": p[0], "move": p[1]}} if p else {}
        )

    result = FilesProvider().check(props(old), props(new))
    assert bool(result.failures) == refused
    if refused:
        assert result.failures[0].property == "placement"
        assert "web1 would move from hypervisor hv1" in result.failures[0].reason
    assert result.inputs == props(new)


@pytest.mark.parametrize(
    ("olds", "news", "changes"),
    [
        ({}, {"vm": "w", "hypervisor": "hv1", "move": None}, False),  # outputs recorded before the fold
        ({}, {"vm": "w", "hypervisor": "hv2", "move": ["hv2", "copied"]}, True),  # ... and a move shows
        (
            {"placement": {"vm": "w", "hypervisor": "hv1", "move": None}},
            {"vm": "w", "hypervisor": "hv1", "move": None},
            False,
        ),
        (
            {"placement": {"vm": "w", "hypervisor": "hv1", "move": None}},
            {"vm": "w", "hypervisor": "hv2", "move": ["hv2", "copied"]},
            True,
        ),
    ],
)
def test_files_diff_shows_a_placement_change(olds, news, changes):
    from components.delivery import FilesProvider

    base = {"group": "base", "target": {"mode": "local", "root": "out/w"}, "files": {}, "reload": []}
    assert FilesProvider().diff("id", base | olds, base | {"placement": news}).changes == changes
