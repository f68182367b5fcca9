"""The host keys the ssh and ansible exports pin: ``ssh.host_keys`` by hand, else the key uniform
made (the stack's ``hostKeys``; ``interop.export.pinned_keys``), and ``uniform export``'s
``--host-keys FILE``.  The engine's own ``hostKeys`` is read in tests/e2e/test_export_hostkeys.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli.exitcodes import Exit
from cli.main import main
from interop.export import ExportError, ansible, pinned_keys, select, ssh_config, wants_made_keys
from inventory import load, transition
from inventory.model import Inventory, State
from tests.helpers.stacks import STACKS

HAND = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhhbmQtcmVjb3JkZWQta2V5LWZvci13ZWIxLTAwMDA hand"
MADE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG1hZGUtYnktdW5pZm9ybS1mb3Itd2ViMS0wMDAwMA made"
MADE2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG1hZGUtYnktdW5pZm9ybS1mb3Itd2ViMi0wMDAwMA made2"


def _copy(stack: str, tmp_path: Path) -> Path:
    root = tmp_path / stack
    shutil.copytree(STACKS / stack, root)
    return root


def _with_hand_keys(root: Path, keys: dict[str, str]) -> None:
    """Record ``keys`` in customer.yaml ``ssh.host_keys`` (demo records none)."""
    cust = root / "customer.yaml"
    text = cust.read_text()
    block = "".join(f'\n    {name}: "{key}"' for name, key in keys.items())
    assert "  port: 22\n" in text
    cust.write_text(text.replace("  port: 22\n", f"  port: 22\n  host_keys:{block}\n", 1))


def _known_hosts(text: str) -> dict[str, str]:
    """host -> key, as ``ssh-keygen -F`` would find them (one entry per line)."""
    out = {}
    for line in text.splitlines():
        host, key = line.split(" ", 1)
        assert host not in out, f"{host} twice"
        out[host] = key
    return out


@pytest.mark.parametrize(
    ("hand", "made", "want"),
    [
        ({}, {}, {}),
        ({"web1": HAND}, {}, {"web1": HAND}),
        ({}, {"web1": MADE}, {"web1": MADE}),
        ({"web1": HAND}, {"web1": MADE}, {"web1": HAND}),  # the hand-recorded key wins
        ({"web1": HAND}, {"web2": MADE2}, {"web1": HAND, "web2": MADE2}),
        ({}, {"web1": MADE, "nope": MADE2}, {"web1": MADE}),  # not exported: ignored
        ({}, {"svc1": MADE}, {}),  # svc1 is not among the machines exported here
    ],
)
def test_merge_rule(hand: dict[str, str], made: dict[str, str], want: dict[str, str], tmp_path: Path) -> None:
    root = _copy("demo", tmp_path)
    if hand:
        _with_hand_keys(root, hand)
    inv = load(root)
    ms = [inv.machines["web1"], inv.machines["web2"]]
    assert pinned_keys(inv, ms, made) == want
    fqdns = {inv.fqdn(inv.machines[n]): k for n, k in want.items()}
    assert _known_hosts(ssh_config.known_hosts(inv, ms, made)) == fqdns
    config = ssh_config.render(inv, ms, known_hosts_file="/k", made=made)
    for name in ("web1", "web2"):
        assert (f"ssh refuses {name} until" in config) == (name not in want)


@pytest.mark.parametrize(
    "bad", ["not a key", f"{MADE}\nweb2.demo.example {MADE2}", "-----BEGIN OPENSSH PRIVATE KEY-----"]
)
def test_a_made_key_that_is_not_one_public_key_line_is_refused_naming_the_machine(
    bad: str, tmp_path: Path
) -> None:
    inv = load(_copy("demo", tmp_path))
    ms = select(inv, "ssh")
    with pytest.raises(ExportError) as e:
        ssh_config.known_hosts(inv, ms, {"web1": bad, "web2": MADE2})
    assert e.value.problems == ["web1: its key in hostKeys (made by uniform) is not an OpenSSH key"]


def _demo(tmp_path: Path, staged: tuple[str, ...] = ()) -> Inventory:
    root = _copy("demo", tmp_path)
    for name in staged:
        transition(root, name, State.STAGED)
    return load(root)


@pytest.mark.parametrize(
    ("stack", "staged", "want"),
    [
        # local delivery keeps a made key only while the machine is staged
        ("demo", (), []),
        ("demo", ("db1",), ["db1"]),
        # ssh delivery: any delivered machine without a hand-recorded key (acme records every one)
        ("acme", (), []),
        ("lab", (), ["app1", "hv1", "svc1", "vm1", "vm2"]),
    ],
)
def test_which_machines_want_a_made_key(
    stack: str, staged: tuple[str, ...], want: list[str], tmp_path: Path
) -> None:
    root = _copy(stack, tmp_path)
    for name in staged:
        transition(root, name, State.STAGED)
    inv = load(root)
    assert [m.name for m in wants_made_keys(inv, select(inv, "ssh", None))] == want


def test_ansible_pins_the_made_key_and_notes_the_unpinned(tmp_path: Path) -> None:
    inv = _demo(tmp_path, staged=("db1",))
    ms = select(inv, "ansible")
    text = ansible.render(inv, ms, known_hosts_file="/k", made={"db1": MADE})
    assert "ssh refuses db1" not in text
    assert "# no pinned host key: ssh refuses web2 until ssh.host_keys.web2 is set\n" in text
    text = ansible.render(inv, ms, known_hosts_file="/k")
    assert "ssh refuses db1 until ssh.host_keys.db1 is set (uniform made it none" in text
    assert "no pinned host key" not in ansible.render(inv, ms, made={"db1": MADE})  # no known_hosts


def test_cli_host_keys_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy("demo", tmp_path)
    _with_hand_keys(root, {"web1": HAND})
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"web1": MADE, "web2": MADE2}))  # as `pulumi stack output hostKeys --json`
    out = tmp_path / "ssh"
    assert main(["export", "ssh", str(root), "-o", str(out), "--host-keys", str(keys)]) == Exit.OK
    assert _known_hosts((out / "known_hosts").read_text()) == {
        "web1.demo.example": HAND,  # hand-recorded: wins over the made one
        "web2.demo.example": MADE2,
    }
    config = (out / "config").read_text()
    assert "ssh refuses web2" not in config and "ssh refuses hv1" in config
    kh = tmp_path / "ansible.known_hosts"
    a = ["export", "ansible", str(root), "--known-hosts", str(kh), "--host-keys", str(keys), "-o", "-"]
    assert main(a) == Exit.OK
    assert kh.read_text() == (out / "known_hosts").read_text()
    capsys.readouterr()


@pytest.mark.parametrize(
    ("keys", "argv", "code", "message"),
    [
        (None, ["ssh", "-o", "{T}/ssh"], Exit.USAGE, "--host-keys {T}/keys.json: No such file or directory"),
        ("[1]", ["ssh", "-o", "{T}/ssh"], Exit.USAGE, "expected a JSON object of machine name -> public key"),
        ("{", ["ssh", "-o", "{T}/ssh"], Exit.USAGE, "{T}/keys.json: not JSON"),
        ('{"web2": "x"}', ["ssh", "-o", "{T}/ssh"], Exit.PROBLEMS, "demo: web2: its key in hostKeys"),
        ('{"web2": "x"}', ["ansible", "--known-hosts", "{T}/kh"], Exit.PROBLEMS, "demo: web2: its key"),
        ("{}", ["ansible", "-o", "{T}/a.yml"], Exit.USAGE, "--host-keys needs --known-hosts"),
    ],
)
def test_cli_bad_host_keys_write_nothing(
    keys: str | None,
    argv: list[str],
    code: Exit,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = _copy("demo", tmp_path / "in")
    if keys is not None:
        (tmp_path / "keys.json").write_text(keys)
    before = sorted(tmp_path.rglob("*"))
    args = [a.replace("{T}", str(tmp_path)) for a in argv]
    assert main(["export", *args, str(root), "--host-keys", str(tmp_path / "keys.json")]) == code
    out = capsys.readouterr()
    assert message.replace("{T}", str(tmp_path)) in out.err and out.out == ""
    assert sorted(tmp_path.rglob("*")) == before


def test_cli_asks_the_stack_only_when_a_machine_wants_a_made_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export that needs no made key says nothing of them; one that does, of a customer
    directory no stack of the project names, notes on stderr that the made keys are not pinned,
    writes its files and exits 0 (as verify does; no engine on PATH: none is run)."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    root = _copy("demo", tmp_path)
    proj = ["--project", str(Path(__file__).resolve().parents[2])]
    assert main(["export", "ssh", "--dir", str(root), *proj, "-o", str(tmp_path / "a")]) == Exit.OK
    assert "pinned" not in capsys.readouterr().err
    transition(root, "db1", State.STAGED)
    assert main(["export", "ssh", "--dir", str(root), *proj, "-o", str(tmp_path / "b")]) == Exit.OK
    err = capsys.readouterr().err
    assert f"export ssh: no stack of {root} found in " in err
    assert "no host key made by uniform is pinned" in err
    assert (
        "ssh refuses db1 until ssh.host_keys.db1 is set (uniform made it none"
        in (tmp_path / "b" / "config").read_text()
    )
