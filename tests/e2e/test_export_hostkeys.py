"""``uniform export ssh`` / ``export ansible --known-hosts`` pin the host keys uniform made, through
the real engine (file backend, local delivery, as tests/e2e/test_hostkeys.py sets it up).

A copy of the demo customer gets two staged VMs: web9 (uniform makes its key) and web8 (its key
recorded by hand in ``ssh.host_keys``).  Before the first ``pulumi up`` the stack has no
``hostKeys``: the export pins web8 only and notes web9.  After it, the export reads the stack's
``hostKeys`` (``pulumi stack output``, as verify does) and ``ssh-keygen -F`` finds web9's made
key, the one the stack exports, under its FQDN in the written known_hosts, and web8's hand key;
``--host-keys FILE`` (that output saved) writes the same file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import inventory
from harness.engine import Engine, add_customer, copy_project
from inventory.lifecycle import State
from tests.helpers.stacks import planned_vm

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

STACK = "xk"


def vm(name: str) -> str:
    return planned_vm(name, memory="512MiB")


def _hand_key(tmp: Path) -> str:
    """A real ed25519 public key line (ssh-keygen parses known_hosts keys)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "web8", "-f", str(tmp / "web8")], check=True
    )
    return (tmp / "web8.pub").read_text().strip()


def _uniform(eng: Engine, proj: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``uniform ARGS`` in the project, with the engine's environment (PATH, backend)."""
    return subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "cli", *args],
        capture_output=True,
        text=True,
        env=eng.env,
        cwd=proj,
    )


def _found(known_hosts: Path, host: str) -> list[str]:
    """The keys (type and base64) ``ssh-keygen -F host`` finds in ``known_hosts``."""
    out = subprocess.run(["ssh-keygen", "-F", host, "-f", str(known_hosts)], capture_output=True, text=True)
    return [" ".join(line.split()[1:3]) for line in out.stdout.splitlines() if not line.startswith("#")]


def _bare(key: str) -> str:
    return " ".join(key.split()[:2])


def test_export_pins_the_key_uniform_made(tmp_path: Path, engine_factory) -> None:
    proj = copy_project(tmp_path / "proj")
    inv_dir = add_customer(proj, ROOT / "stacks" / "demo", STACK)
    for name in ("web9", "web8"):
        (inv_dir / "machines" / f"{name}.yaml").write_text(vm(name))
    hand = _hand_key(tmp_path)
    cust = inv_dir / "customer.yaml"
    text = cust.read_text().replace("  port: 22\n", f'  port: 22\n  host_keys:\n    web8: "{hand}"\n')
    cust.write_text(text)
    for name in ("web9", "web8"):
        inventory.transition(inv_dir, name, State.STAGED)
    inv = inventory.load(inv_dir)
    web9, web8 = (inv.fqdn(inv.machines[n]) for n in ("web9", "web8"))
    eng = engine_factory(proj)
    eng.run("stack", "init", STACK)

    # before the first up: no hostKeys yet, web9 unpinned and noted, web8 pinned by hand
    before = tmp_path / "before"
    r = _uniform(eng, proj, "export", "ssh", "--stack", STACK, "-o", str(before))
    assert r.returncode == 0, r.stderr
    assert _found(before / "known_hosts", web9) == []
    assert _found(before / "known_hosts", web8) == [_bare(hand)]
    assert "ssh refuses web9 until ssh.host_keys.web9 is set" in (before / "config").read_text()

    eng.run("up", "--yes", "--skip-preview")
    pins = eng.outputs()["hostKeys"]
    assert sorted(pins) == ["web9"], "a key for the staged machine without a hand-recorded one"

    after = tmp_path / "after"
    r = _uniform(eng, proj, "export", "ssh", "--stack", STACK, "-o", str(after))
    assert r.returncode == 0, r.stderr
    assert "pinned" not in r.stderr  # the stack was read
    kh = after / "known_hosts"
    assert _found(kh, web9) == [_bare(pins["web9"])], "the made key, found by ssh-keygen under the FQDN"
    assert _found(kh, web8) == [_bare(hand)], "the hand-recorded key"
    config = (after / "config").read_text()
    assert "ssh refuses web9" not in config and f"HostKeyAlias {web9}" in config

    # ansible's known_hosts: the same file
    akh = tmp_path / "ansible.known_hosts"
    r = _uniform(eng, proj, "export", "ansible", "--stack", STACK, "--known-hosts", str(akh), "-o", "-")
    assert r.returncode == 0, r.stderr
    assert akh.read_text() == kh.read_text()
    assert "ssh refuses web9" not in r.stdout

    # --host-keys FILE: that output saved gives the same file, without the engine being asked
    saved = tmp_path / "hostkeys.json"
    saved.write_text(eng.run("stack", "output", "hostKeys", "--json").stdout)
    from_file = tmp_path / "from-file"
    r = _uniform(
        eng, proj, "export", "ssh", "--dir", str(inv_dir), "--host-keys", str(saved), "-o", str(from_file)
    )
    assert r.returncode == 0, r.stderr
    assert (from_file / "known_hosts").read_text() == kh.read_text()
