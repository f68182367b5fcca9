"""Host keys made by uniform (components/hostkey.py), through the real engine with local delivery.

A copy of the demo customer gets a staged VM (web9, seeded by its hypervisor), a staged rack
server (bm1, netbooted: its preseed on the DHCP server's TFTP root) and a staged VM whose key
is recorded by hand (web8).  After ``pulumi up``:

* web9's delivered seed user-data and bm1's delivered preseed hold a valid ed25519 private key
  whose public half (``ssh-keygen -y``) is the one the stack exports in ``hostKeys``, the pin
  of delivery and verify; web8 gets none (the hand-recorded key wins, no HostKey resource);
* no line of either private key is in the state (every file of the backend), in the output of
  ``pulumi preview --diff`` or ``pulumi up`` (the engine's log at ``-v=8`` included), in ``uniform render``'s
  tree or in any delivered manifest;
* a second run changes nothing (the keys are made once), and web9 going active drops its seed
  and, with local delivery, its key.

And with ssh delivery, no key is made for a machine that is installed already: the preview
fails on it, naming the ``ssh.host_keys`` entry to record.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
from ruamel.yaml import YAML

import inventory
from cli.stack_keys import stack_host_keys
from harness.engine import add_customer, copy_project
from inventory.lifecycle import State
from tests.helpers.stacks import planned_vm

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

STACK = "hk"
BM_MAC = "0c:c4:7a:00:99:01"
LOG_LEVEL = 8
HAND_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhhbmQtcmVjb3JkZWQta2V5LWZvci13ZWI4LTAwMDA web8"


def vm(name: str) -> str:
    return planned_vm(name, memory="1GiB")


BM = textwrap.dedent(f"""\
    name: bm1
    kind: hw
    cores: 8
    memory: 16GiB
    disks: [{{name: root, size: 100GiB}}]
    nics:
      - name: eth0
        mac: "{BM_MAC}"
        networks: [{{network: lan}}]
    state: planned
    """)


def _key_lines(private: str) -> list[str]:
    """Every line of a private key worth finding (armour excluded: it names no key)."""
    lines = [line.strip() for line in private.splitlines() if line.strip()]
    assert lines[0] == "-----BEGIN OPENSSH PRIVATE KEY-----", "not an OpenSSH private key"
    body = [line for line in lines if "PRIVATE KEY" not in line]
    assert body
    return body


def _public_of(private: str, tmp: Path) -> str:
    """``ssh-keygen -y`` of ``private``: type and base64 of its public half."""
    f = tmp / "key"
    f.touch(mode=0o600)
    f.write_text(private)
    out = subprocess.run(["ssh-keygen", "-y", "-f", str(f)], capture_output=True, text=True, check=True)
    f.unlink()
    return " ".join(out.stdout.split()[:2])


def _leaks(text: str, secrets: dict[str, list[str]]) -> list[str]:
    """Which secrets (by name, never the text) have a line in ``text``."""
    return sorted(name for name, lines in secrets.items() if any(line in text for line in lines))


def _tree_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(root.rglob("*")) if p.is_file())


@pytest.fixture
def project(tmp_path: Path, engine_factory):
    proj = copy_project(tmp_path / "proj")
    inv_dir = add_customer(proj, ROOT / "stacks" / "demo", STACK)
    for name, body in (("web9", vm("web9")), ("web8", vm("web8")), ("bm1", BM)):
        (inv_dir / "machines" / f"{name}.yaml").write_text(body)
    cust = inv_dir / "customer.yaml"
    text = cust.read_text()
    # lan netboots (the DHCP server's TFTP root gets bm1's preseed); web8's key is recorded by hand
    text = text.replace("    bridge: br-lan\n", "    bridge: br-lan\n    boot_filename: pxelinux.0\n")
    text = text.replace("  port: 22\n", f'  port: 22\n  host_keys:\n    web8: "{HAND_KEY}"\n')
    cust.write_text(text)
    for name in ("web9", "web8", "bm1"):
        inventory.transition(inv_dir, name, State.STAGED)
    eng = engine_factory(proj)
    eng.run("stack", "init", STACK)
    return proj, inv_dir, eng


def test_keys_are_made_once_handed_over_pinned_and_never_in_plaintext(
    project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj, inv_dir, eng = project
    for k, v in eng.env.items():  # the engine as `uniform verify` runs it (cli/stack_keys.py)
        monkeypatch.setenv(k, v)
    assert stack_host_keys(proj, STACK) == {}, "a stack without the output yet: nothing made"
    out = proj / "out" / STACK
    inv = inventory.load(inv_dir)
    assert "boot_filename" in (inv_dir / "customer.yaml").read_text()

    preview = eng.run("preview", "--diff")
    # the engine's log at -v=8, plugins' included; -v=9 is its RPC trace, which prints every
    # property of every call, secrets included (docs/provisioning.md "Host keys")
    up = eng.run("up", "--yes", "--skip-preview", f"-v={LOG_LEVEL}", "--logtostderr", "--logflow")
    pins = eng.outputs()["hostKeys"]
    assert sorted(pins) == ["bm1", "web9"], "a key for each staged machine without a hand-recorded one"
    assert stack_host_keys(proj, STACK) == pins  # what verify pins

    # web9: the seed's user-data holds the key, as cloud-init reads it
    user_data = out / "hv1" / "etc/uniform/libvirt/web9.seed/user-data"
    doc = YAML(typ="safe").load(user_data.read_text())
    web9 = doc["ssh_keys"]["ed25519_private"]
    assert _public_of(web9, tmp_path) == " ".join(pins["web9"].split()[:2])
    assert doc["ssh_keys"]["ed25519_public"] == pins["web9"]
    assert doc["ssh_genkeytypes"] == ["ed25519"] and doc["ssh_deletekeys"] is True
    assert user_data.stat().st_mode & 0o777 == 0o600  # only root on the hypervisor reads it

    # bm1: the preseed's late_command writes the key into the target
    svc = next(m.name for m in inv.machines.values() if "dhcp" in m.roles)
    mac = "01-" + BM_MAC.replace(":", "-")
    preseed = (out / svc / f"var/lib/tftpboot/uniform/preseed/{mac}.cfg").read_text()
    found = re.search(r"echo (\S+) \| base64 -d > /etc/ssh/ssh_host_ed25519_key;", preseed)
    assert found, "no host key in the preseed's late_command"
    bm1 = base64.b64decode(found.group(1)).decode()
    assert _public_of(bm1, tmp_path) == " ".join(pins["bm1"].split()[:2])
    pub = re.search(r"echo (\S+) \| base64 -d > /etc/ssh/ssh_host_ed25519_key.pub;", preseed)
    assert pub and base64.b64decode(pub.group(1)).decode() == pins["bm1"]
    assert "chmod 0600 /etc/ssh/ssh_host_ed25519_key;" in preseed

    # web8: the hand-recorded key wins: nothing made, nothing handed over
    web8 = (out / "hv1" / "etc/uniform/libvirt/web8.seed/user-data").read_text()
    assert "ssh_keys" not in web8 and "PRIVATE" not in web8
    assert "web8-hostkey" not in eng.run("stack", "--show-urns").stdout

    # never in plaintext: state, preview, up (verbose engine logs), render, manifests
    secrets = {"web9": _key_lines(web9), "bm1": _key_lines(bm1)}
    state_dir = tmp_path / "state"
    assert _leaks(_tree_text(state_dir), secrets) == [], "a private key in the backend"
    export = eng.run("stack", "export").stdout
    assert _leaks(export, secrets) == []
    assert _leaks(preview.stdout + preview.stderr, secrets) == [], "in pulumi preview --diff"
    assert _leaks(up.stdout + up.stderr, secrets) == [], "in pulumi up's output or its logs"
    assert len(up.stderr) > 10_000, "the verbose engine log was not captured"
    manifests = "\n".join(p.read_text() for p in out.rglob("manifest.d/*.json"))
    assert manifests and _leaks(manifests, secrets) == []
    rendered = tmp_path / "render"
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "cli", "render", "--dir", str(inv_dir), str(rendered)],
        check=True,
        capture_output=True,
        env=eng.env,
        cwd=proj,
    )
    render_text = _tree_text(rendered)
    assert "@@uniform-secret:hostkey.web9.private:json@@" in render_text
    assert _leaks(render_text, secrets) == [], "in uniform render"
    # the HostKey's state: the private half is a secret, the public one plain
    resources = json.loads(export)["deployment"]["resources"]
    hostkeys = [r for r in resources if r["type"].endswith("uniform:HostKey")]
    assert sorted(r["outputs"]["machine"] for r in hostkeys) == ["bm1", "web9"]
    for r in hostkeys:
        assert set(r["outputs"]["private_key"]) == {"4dabf18193072939515e22adb298388d", "ciphertext"}
        assert r["outputs"]["public_key"] == pins[r["outputs"]["machine"]]

    # a second run changes nothing: the keys are made once, the seed and preseed stay as they are
    again = eng.preview_json()
    changed = {s["urn"].rsplit("::", 1)[1]: s["op"] for s in again["steps"] if s["op"] != "same"}
    assert changed == {}
    eng.run("up", "--yes", "--skip-preview")
    assert eng.outputs()["hostKeys"] == pins
    assert YAML(typ="safe").load(user_data.read_text())["ssh_keys"]["ed25519_private"] == web9

    # web9 installed: its seed goes; with local delivery nothing connects to it, so its key goes too
    inventory.transition(inv_dir, "web9", State.ACTIVE)
    eng.run("up", "--yes", "--skip-preview")
    assert not user_data.exists()
    assert sorted(eng.outputs()["hostKeys"]) == ["bm1"]


def test_no_key_is_made_for_a_machine_installed_already(tmp_path: Path, engine_factory) -> None:
    """ssh delivery, an active machine without a hand-recorded key and none in the state: the
    preview fails on its HostKey's check, naming the key to record; nothing is connected to."""
    proj = copy_project(tmp_path / "proj")
    inv_dir = add_customer(proj, ROOT / "stacks" / "demo", STACK)
    inv = inventory.load(inv_dir)
    keyless = "web1"
    assert inv.machines[keyless].state is State.ACTIVE
    keys = "".join(f'    {n}: "{HAND_KEY}"\n' for n in sorted(inv.machines) if n != keyless)
    cust = inv_dir / "customer.yaml"
    text = cust.read_text().replace("delivery: {mode: local, local_root: out/hk}", "delivery: {mode: ssh}")
    cust.write_text(text.replace("  port: 22\n", f"  port: 22\n  host_keys:\n{keys}"))
    assert inventory.load(inv_dir).customer.delivery.mode == "ssh"
    eng = engine_factory(proj)
    eng.run("stack", "init", STACK)
    proc = eng.run("preview", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert f"customer.yaml: ssh.host_keys.{keyless}: no host key" in out, out
    assert "ssh-keyscan" in out and "not for one that is active" in out, out
