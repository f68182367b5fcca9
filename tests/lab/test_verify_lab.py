"""`verify` against the lab: real hosts, real sshd, files delivered by a real `pulumi up`.

  1. after `pulumi up` every host is clean (exit 0)
  2. one file edited by hand on one host: verify names exactly that file (exit 1)
  3. a mode change, and a stale manifest naming a file that is no longer expected:
     changed (mode) and unexpected (the manifest and the file) on those hosts
  4. one host's sshd stopped: reported unreachable, the others still checked (exit 3,
     with drift elsewhere as well); a host that is gone entirely times out within the bound

verify runs as a user would run it: `uniform verify` (`python -m cli`) in the controller
namespace (the only place that reaches the hosts), with the deploy key.
Needs root and namespaces: skipped without them, failed when UNIFORM_REQUIRE_LAB=1 (CI).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

import inventory
import payloads
from harness import lab as L
from tests.helpers.lab import running

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.lab]


@pytest.fixture
def lab(tmp_path: Path):
    lab = L.Lab(tmp_path / "lab", prefix=f"uv{os.getpid() % 100000}-")
    with running(lab, tmp_path):
        yield lab


def verify(
    lab: Any, *args: str, timeout: float = 120, key_on_stdin: bool = False
) -> tuple[int, dict[str, Any], str]:
    """`uniform verify --json --progress` in the controller namespace: (exit, result, stderr)."""
    identity = "-" if key_on_stdin else str(lab.client_key)
    cmd = [
        "ip", "netns", "exec", lab.ctl, str(ROOT / ".venv" / "bin" / "python"), "-m", "cli", "verify",
        "--dir", str(lab.inv_dir), "--identity", identity, "--json", "--progress", *args,
    ]  # fmt: skip
    stdin = lab.client_key.read_text() if key_on_stdin else None
    proc = L.run(cmd, check=False, timeout=timeout, cwd=ROOT, input=stdin)
    assert proc.returncode in (0, 1, 2, 3), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def by_host(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["machine"]: h for h in result["hosts"]}


def drift(h: dict[str, Any]) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    return h["missing"], [(c["path"], c["detail"]) for c in h["changed"]], h["unexpected"]


def test_verify_against_the_lab(lab) -> None:
    eng = lab.init_stack()
    lab.guard()
    eng.run("up", "--yes", "--skip-preview")
    inv = inventory.load(lab.inv_dir)
    rendered = payloads.render_customer(inv)
    hosts = sorted(lab.hosts)
    assert hosts == ["app1", "hv1", "svc1", "vm1", "vm2"]

    # 1. converged: clean, every delivered host checked, progress on stderr; the key
    #    handed over on stdin (as from `pulumi config get uniform:sshPrivateKey`)
    code, res, err = verify(lab, "--jobs", "3", key_on_stdin=True)
    assert code == 0, res
    assert sorted(by_host(res)) == hosts
    assert {h["status"] for h in res["hosts"]} == {"clean"}
    assert f"[{len(hosts)}/{len(hosts)}]" in err

    # 2. one file edited by hand on vm1 (in its own mount namespace): exactly that file
    lab.in_host("vm1", ["sh", "-c", "echo '10.77.0.99 intruder' >> /etc/hosts"], timeout=10)
    code, res, _ = verify(lab)
    assert code == 1
    h = by_host(res)
    assert drift(h["vm1"]) == ([], [("/etc/hosts", "content")], [])
    assert {n for n, x in h.items() if x["status"] != "clean"} == {"vm1"}

    # 3. a mode change on hv1; on app1 a stale manifest (from a group that went) naming
    #    a file that is still there, and a delivered file deleted by hand
    lab.in_host("hv1", ["chmod", "0600", "/etc/hostname"], timeout=10)
    stale = json.dumps({"files": [{"path": "/etc/uniform-old.conf", "sha256": "0" * 64}], "machine": "app1"})
    lab.in_host(
        "app1",
        ["sh", "-c", "cat > /etc/uniform/manifest.d/old.json && echo x > /etc/uniform-old.conf"],
        input=json.dumps(json.loads(stale), indent=2) + "\n",
        timeout=10,
    )
    lab.in_host("app1", ["rm", "/etc/systemd/network/10-eth0.link"], timeout=10)
    code, res, _ = verify(lab)
    assert code == 1
    h = by_host(res)
    assert drift(h["hv1"]) == ([], [("/etc/hostname", "mode 0600, expected 0644")], [])
    assert drift(h["app1"]) == (
        ["/etc/systemd/network/10-eth0.link"],
        [],
        ["/etc/uniform-old.conf", "/etc/uniform/manifest.d/old.json"],
    )
    assert {n for n, x in h.items() if x["status"] == "clean"} == {"svc1", "vm2"}

    # 4. app1's sshd stops: unreachable, reported, not fatal; drift elsewhere still found (3)
    lab.stop_sshd("app1")
    code, res, _ = verify(lab)
    assert code == 3
    h = by_host(res)
    assert h["app1"]["status"] == "unreachable"
    assert "Connection refused" in h["app1"]["error"], h["app1"]
    assert {n for n, x in h.items() if x["status"] == "drift"} == {"hv1", "vm1"}
    # repair the drift by hand (the rendered content and mode): only the unreachable host is left
    lab.in_host("hv1", ["chmod", "0644", "/etc/hostname"], timeout=10)
    lab.in_host("vm1", ["sh", "-c", "cat > /etc/hosts"], input=rendered["vm1"].file("/etc/hosts").content)
    code, res, _ = verify(lab)
    assert code == 3
    assert {h["machine"]: h["status"] for h in res["hosts"]} == {
        "app1": "unreachable",
        "hv1": "clean",
        "svc1": "clean",
        "vm1": "clean",
        "vm2": "clean",
    }
    # --machine narrows the run: the repaired host alone is clean
    code, res, _ = verify(lab, "--machine", "vm1")
    assert code == 0 and [h["machine"] for h in res["hosts"]] == ["vm1"]

    # a host that is gone (no answer at all): bounded by ConnectTimeout, not a hang
    lab.remove_host("vm2")
    t0 = time.monotonic()
    code, res, _ = verify(lab, "--connect-timeout", "2", "--timeout", "20")
    assert time.monotonic() - t0 < 20
    assert code == 3
    h = by_host(res)
    assert h["vm2"]["status"] == "unreachable" and "timed out" in h["vm2"]["error"], h["vm2"]
    assert {n for n, x in h.items() if x["status"] == "clean"} == {"hv1", "svc1", "vm1"}
