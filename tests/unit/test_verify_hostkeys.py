"""verify pins the host keys uniform made (ops/verify.py, cli/stack_keys.py): a hand-recorded key
wins; a file holding a made key (a staged machine's seed or preseed) is compared by presence
and mode, never content; ``--host-keys FILE`` is checked like any input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import inventory
import payloads
from cli.exitcodes import UsageError
from cli.main import main
from cli.stack_keys import made_host_keys, parse_host_keys, stack_of
from ops import verify as V
from payloads import secrets

ROOT = Path(__file__).resolve().parents[2]
MADE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMadeByUniformForTheTest web1"


def _ssh(inv: inventory.Inventory, hand: dict[str, str]) -> inventory.Inventory:
    c = inv.customer
    return dataclasses.replace(
        inv,
        customer=dataclasses.replace(
            c,
            delivery=dataclasses.replace(c.delivery, mode="ssh"),
            ssh=dataclasses.replace(c.ssh, host_keys=tuple(sorted(hand.items()))),
        ),
    )


def test_made_keys_are_pinned_where_none_is_recorded_by_hand() -> None:
    demo = inventory.load(ROOT / "stacks" / "demo")
    hand = {"hv1": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHandRecordedKeyOfHv1 hv1"}
    inv = _ssh(demo, hand)
    made = {"web1": MADE, "hv1": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINotThisOne hv1"}
    pins = {t.machine: t.host_key for t in V.targets(inv, host_keys=made)}
    assert pins["web1"] == MADE
    assert pins["hv1"] == hand["hv1"]  # the hand-recorded key takes precedence
    assert pins["web2"] is None  # neither: verify reports it unverified, never connects
    res = V.verify_ssh(next(t for t in V.targets(inv, host_keys=made) if t.machine == "web2"), V.SshOptions())
    assert res.status == "unreachable" and "no pinned host key" in (res.error or "")


def test_a_file_holding_a_made_key_is_compared_by_presence_and_mode() -> None:
    acme = inventory.load(ROOT / "stacks" / "acme")
    staged = next(m for m in acme.machines.values() if m.state.value == "staged" and m.is_vm)
    hv = dataclasses.replace(acme.machines[staged.hypervisor or ""], state=inventory.lifecycle.State.ACTIVE)
    hand = {n: k for n, k in acme.customer.ssh.host_keys if n != staged.name}  # uniform makes its key
    inv = dataclasses.replace(_ssh(acme, hand), machines={**acme.machines, hv.name: hv})
    (t,) = V.targets(inv, only=[hv.name])
    path = f"/etc/uniform/libvirt/{staged.name}.seed/user-data"
    want = t.files[path]
    assert want.secret and not t.files["/etc/uniform/libvirt/apply.sh"].secret
    text = payloads.render_customer(inv)[hv.name].file(path).content
    private, public = secrets.host_key_names(staged.name)
    delivered = secrets.substitute(text, {private: "K", public: "P"})
    import hashlib

    got = {p: (e.sha256, e.mode) for p, e in t.files.items()}
    assert want.mode == 0o600
    got[path] = (hashlib.sha256(delivered.encode()).hexdigest(), 0o600)
    assert V.compare(hv.name, "a", t.files, V.Observed(files=got)).status == "clean"
    got[path] = (got[path][0], 0o644)
    r = V.compare(hv.name, "a", t.files, V.Observed(files=got))
    assert [(c.path, c.detail) for c in r.changed] == [(path, "mode 0644, expected 0600")]
    del got[path]
    assert V.compare(hv.name, "a", t.files, V.Observed(files=got)).missing == (path,)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"web1": "ssh-ed25519 AAAA web1"}', True),
        ("{}", True),
        ("[]", False),
        ('{"web1": 1}', False),
        ("not json", False),
    ],
)
def test_host_keys_file_is_checked(text: str, ok: bool) -> None:
    if ok:
        assert parse_host_keys(text, "f") == json.loads(text)
    else:
        with pytest.raises(UsageError, match="^f: "):
            parse_host_keys(text, "f")


def test_made_keys_come_from_the_file_or_not_at_all(tmp_path: Path) -> None:
    demo = inventory.load(ROOT / "stacks" / "demo")
    f = tmp_path / "keys.json"
    f.write_text(json.dumps({"web1": MADE}))
    root = ROOT / "stacks" / "demo"
    assert made_host_keys(demo, root, project=str(ROOT), stack=None, file=str(f)) == {"web1": MADE}
    # local delivery, or every key recorded by hand: the engine is never asked
    assert made_host_keys(demo, root, project=str(ROOT), stack=None, file=None) == {}
    every = _ssh(demo, {m: MADE for m in demo.machines})
    assert made_host_keys(every, root, project=str(ROOT), stack=None, file=None) == {}
    with pytest.raises(UsageError, match="--host-keys .*missing.json"):
        made_host_keys(demo, root, project=str(ROOT), stack=None, file=str(tmp_path / "missing.json"))


def test_the_customer_s_stack_is_found_by_its_inventory() -> None:
    assert stack_of(ROOT, ROOT / "stacks" / "demo") == "demo"
    assert stack_of(ROOT, ROOT / "stacks") is None


def test_verify_cli_refuses_a_bad_host_keys_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "k.json"
    f.write_text("[1]")
    assert main(["verify", "--dir", str(ROOT / "stacks" / "demo"), "--host-keys", str(f), "-q"]) == 2
    assert "expected a JSON object" in capsys.readouterr().err
