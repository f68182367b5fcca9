"""Secrets in state and pinned host keys, with the real engine over real SSH (the lab).

1. The deploy key (a throwaway ed25519 key the lab generates with ``ssh-keygen -N ''``)
   is set as the secret ``uniform:sshPrivateKey``; after ``pulumi up`` every delivery
   resource carries it as an input, yet no line of it appears in plaintext in
   ``pulumi stack export`` (without ``--show-secrets``), in any file of the backend, or
   in the stack's config file.
2. A new host (vm3) whose sshd presents another host key than the one pinned in
   customer.yaml ``ssh.host_keys``: ``pulumi up`` fails on it with ssh's host key error,
   no session is opened on it and nothing is written there, and its delivery resource is
   not recorded.

Needs root and namespaces (harness/lab.py): skipped without them, failed when
UNIFORM_REQUIRE_LAB=1 (CI). Failure messages never print the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

import inventory
import payloads
from harness import lab as L
from inventory.model import State
from tests.helpers.lab import running

pytestmark = [pytest.mark.slow, pytest.mark.lab]

#: pulumi's marker of a secret value in state and exports
SECRET_SIG = "4dabf18193072939515e22adb298388d"

NEW_VM = textwrap.dedent("""\
    # added by tests/lab/test_secrets_lab.py
    name: vm3
    kind: vm
    hypervisor: hv1
    cores: 1
    memory: 1GiB
    disks: [{name: root, size: 10GiB}]
    nics:
      - name: eth0
        networks: [{network: lan}]
    state: planned
    """)


@pytest.fixture
def lab(tmp_path: Path):
    lab = L.Lab(tmp_path / "lab", prefix=f"us{os.getpid() % 100000}-")
    with running(lab, tmp_path):
        yield lab


def _key_lines(key: Path) -> list[str]:
    """Every line of the private key worth finding: the base64 body and the armour."""
    lines = [line.strip() for line in key.read_text().splitlines() if line.strip()]
    assert len(lines) >= 3 and "PRIVATE KEY" in lines[0], "not an OpenSSH private key"
    return lines


def _leaks(text: str, lines: list[str]) -> list[int]:
    """Indices of the key lines found in ``text`` (never the lines themselves)."""
    return [i for i, line in enumerate(lines) if line in text]


def _files_resources(export: dict) -> list[dict]:
    return [r for r in export["deployment"].get("resources", []) if "uniform:Files" in r["type"]]


def test_private_key_never_in_plaintext_and_a_changed_host_key_is_refused(lab, tmp_path: Path) -> None:
    eng = lab.init_stack()
    key = _key_lines(lab.client_key)
    eng.run("up", "--yes", "--skip-preview")

    # 1. the key is an input of every delivery resource, and a secret there
    export_text = eng.run("stack", "export").stdout
    export = json.loads(export_text)
    files = _files_resources(export)
    assert len(files) >= 5, [r["urn"] for r in files]
    for r in files:
        pk = r["inputs"].get("private_key")
        assert isinstance(pk, dict) and pk.get(SECRET_SIG) and "ciphertext" in pk, (
            f"{r['urn']}: private_key is not recorded as a secret"
        )
        if "private_key" in r.get("outputs", {}):
            out = r["outputs"]["private_key"]
            assert isinstance(out, dict) and out.get(SECRET_SIG), f"{r['urn']}: private_key output not secret"
    assert not _leaks(export_text, key), f"stack export holds private key lines {_leaks(export_text, key)}"
    # the control: decrypted, the same export does hold every line (so the search works)
    shown = eng.run("stack", "export", "--show-secrets").stdout
    assert _leaks(shown, key) == list(range(len(key))), "the key is not where the search looks"
    del shown

    # ... and in no file of the backend or of the project's stack config
    backend = lab.run_dir / "state"
    scanned = 0
    places = [p for p in backend.rglob("*") if p.is_file()]
    places += [p for p in lab.project.glob("Pulumi*.yaml") if p.is_file()]
    for path in places:
        text = path.read_bytes().decode("utf-8", errors="replace")
        scanned += 1
        assert not _leaks(text, key), f"{path} holds private key lines {_leaks(text, key)}"
    assert scanned >= 2, places

    # 2. a new host presents another key than the pinned one: delivery refuses it
    inv_dir = lab.inv_dir
    (inv_dir / "machines" / "vm3.yaml").write_text(NEW_VM)
    inventory.transition(inv_dir, "vm3", State.STAGED)
    lab.add_host("vm3")  # its real host key recorded in customer.yaml (ssh-keyscan)
    real = dict(inventory.load(inv_dir).customer.ssh.host_keys)["vm3"]
    other = tmp_path / "other_host_key"
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "not-vm3", "-f", str(other)]
    subprocess.run(keygen, check=True, capture_output=True)
    wrong = " ".join(other.with_suffix(".pub").read_text().split()[:2])
    other.unlink()  # only the public half is needed
    assert wrong != real
    lab._edit_customer(lambda doc: doc["ssh"]["host_keys"].__setitem__("vm3", wrong))
    assert dict(inventory.load(inv_dir).customer.ssh.host_keys)["vm3"] == wrong

    paths = [f.path for f in payloads.render_customer(inventory.load(inv_dir))["vm3"].files]
    before = {path: lab.read_file("vm3", path) for path in paths}
    assert before["/etc/uniform/manifest.d/base.json"] is None
    logins = lab.ssh_logins("vm3")
    proc = eng.run("up", "--yes", "--skip-preview", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "Host key verification failed" in text, text
    assert "vm3-base" in text, text
    assert lab.ssh_logins("vm3") == logins, "a session was opened on a host with the wrong key"
    after = {path: lab.read_file("vm3", path) for path in paths}
    assert after == before, f"vm3 received files: {sorted(p for p in paths if after[p] != before[p])}"
    recorded = [r["urn"] for r in _files_resources(json.loads(eng.run("stack", "export").stdout))]
    assert not [u for u in recorded if u.endswith("::vm3-base")], recorded

    # the pinned key put right, the same up delivers (the refusal was the key, nothing else)
    lab._edit_customer(lambda doc: doc["ssh"]["host_keys"].__setitem__("vm3", real))
    eng.run("up", "--yes", "--skip-preview")
    assert lab.read_file("vm3", "/etc/hostname") == "vm3\n"
