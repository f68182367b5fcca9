"""The CLI, the policy pack and tools/review with the real engine, on a copy of stacks/demo (slow).

The project is copied to a temp dir as in tests/e2e/test_stack.py, with a file backend of
its own; edits are made with the ``uniform`` CLI itself.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cli.main import main
from harness.engine import Engine, add_customer, copy_project
from harness.engine import engine_env as _engine_env
from inventory import load
from tests.helpers.engine import require_pulumi

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def engine_env(backend: Path) -> dict[str, str]:
    env = _engine_env(backend)
    env.pop("UNIFORM_PROJECT_DIR", None)  # the policy pack must find the copied project itself
    return env


def git(proj: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    subprocess.run(["git", *args], cwd=proj, env=env, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path):
    env = engine_env(tmp_path / "state")
    require_pulumi(env)
    try:
        import pulumi_policy  # noqa: F401  (the policy pack runs on the venv's python)
    except ImportError:
        pytest.fail("pulumi-policy is not installed in the venv (pyproject: pulumi-policy==1.21.0)")
    (tmp_path / "state").mkdir()
    proj = copy_project(tmp_path / "proj")
    add_customer(proj, ROOT / "stacks" / "demo", "e2e")

    eng = Engine(cwd=proj, env=env)
    eng.run("stack", "init", "e2e")
    eng.run("up", "--yes")
    return proj, env, eng


def add_web9(inv_dir: Path) -> None:
    argv = [
        "machine",
        "add",
        "web9",
        "--kind",
        "vm",
        "--hypervisor",
        "hv1",
        "--cores",
        "1",
        "--memory",
        "1GiB",
    ]
    assert (
        main([*argv, "--disk", "root=10GiB", "--nic", "eth0:lan", "--state", "staged", "--dir", str(inv_dir)])
        == 0
    )


def test_program_and_pack_refuse_an_active_unpinned_machine(project) -> None:
    """Pinning is enforced by the program itself, so a plain `pulumi up` is safe; the pack
    (which loads the same inventory) refuses too."""
    proj, env, eng = project
    inv_dir = proj / "stacks" / "e2e"
    add_web9(inv_dir)  # added as staged: the edit pins its generated MAC and address
    web9 = load(inv_dir).machines["web9"]
    assert web9.nics[0].mac_pinned and web9.nics[0].attachments[0].ipv4_pinned
    pack = ["--policy-pack", str(ROOT / "policy")]
    shim = {"PATH": f"{ROOT / 'policy' / 'bin'}{os.pathsep}{env['PATH']}"}
    # without UNIFORM_PROJECT_DIR the pack looks in its own checkout, which has no stacks/e2e
    lost = eng.run("preview", *pack, check=False, env=shim)
    assert lost.returncode != 0 and "inventory-loads" in lost.stdout
    assert f"no inventory at {ROOT / 'stacks' / 'e2e'} (set UNIFORM_PROJECT_DIR" in lost.stdout

    # a hand edit (a bad merge) drops an active machine's pinned MAC
    web1 = inv_dir / "machines" / "web1.yaml"
    text = web1.read_text()
    mac = load(inv_dir).machines["web1"].nics[0].mac
    web1.write_text(text.replace(f'    mac: "{mac}"\n', "", 1))

    bare = eng.run("preview", check=False)
    out = bare.stdout + bare.stderr
    assert bare.returncode != 0, out
    assert "machines/web1.yaml" in out and "web1: nics[0].mac: 52:54:00:" in out, out
    assert "is generated, not pinned, and web1 is active" in out and "uniform pin -C e2e" in out
    assert "Traceback" not in out
    assert "uniform:Files" not in out, "nothing is registered"

    shim["UNIFORM_PROJECT_DIR"] = str(proj)
    bad = eng.run("preview", *pack, check=False, env=shim)
    assert bad.returncode != 0, bad.stdout
    assert "is generated, not pinned, and web1 is active" in bad.stdout + bad.stderr

    # had it gone through, web1 would have changed MAC: the refusal is what kept it
    generated = load(inv_dir, require_pinned=False).machines["web1"].nics[0].mac
    assert generated != mac
    assert main(["pin", "--dir", str(inv_dir)]) == 0
    assert load(inv_dir).machines["web1"].nics[0].mac == generated, "pin writes what was generated"
    good = eng.run("preview", *pack, env=shim)
    assert "pinned-addresses" not in good.stdout and "uniform@v0.0.1" in good.stdout


def test_review_end_to_end(project) -> None:
    proj, env, _eng = project
    inv_dir = proj / "stacks" / "e2e"
    git(proj, "init", "-q", "-b", "main")
    git(proj, "add", ".")
    git(proj, "commit", "-q", "-m", "base")
    add_web9(inv_dir)
    assert main(["pin", "--dir", str(inv_dir)]) == 0
    git(proj, "add", ".")
    git(proj, "commit", "-q", "-m", "web9")

    def review(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [
            str(ROOT / "tools" / "review"),
            "--project",
            str(proj),
            "--policy-pack",
            str(ROOT / "policy"),
            *args,
        ]
        return subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True, timeout=600)

    ok = review("--base", "HEAD~1")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    web9 = load(inv_dir).machines["web9"]
    addrs = ", ".join(a for att in web9.nics[0].attachments for a in (att.ipv4, att.ipv6) if a)
    assert lines[:6] == [
        # web9: machine, base files (with its placement), host key (components/hostkey.py)
        "stack e2e: 3 create, 3 update (13 unchanged)",
        # the machine first, and how: what a reviewer would otherwise read from the git diff
        f"  web9: added (vm on hv1, 1 core, 1 GiB, {addrs}) (on hv1: 25 GiB of 32 GiB memory used)",
        "  machines added:   web9",
        "  machines removed: -",
        "  machines changed: hv1 (hypervisor), svc1 (dhcp, dns)",
        "  services reload:  hypervisor on hv1, dhcp on svc1, dns on svc1",
    ], ok.stdout
    assert any(line.startswith("    web9 base [create]") for line in lines)

    # a bad change: a hand edit drops web1's pinned MAC -> the program refuses the preview
    web1 = inv_dir / "machines" / "web1.yaml"
    mac = load(inv_dir).machines["web1"].nics[0].mac
    web1.write_text(web1.read_text().replace(f'    mac: "{mac}"\n', "", 1))
    bad = review("--base", "HEAD~1", "--uncommitted")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "stack e2e: PREVIEW FAILED (exit 1)" in bad.stdout
    assert "web1: nics[0].mac: 52:54:00:" in bad.stdout
    assert "is generated, not pinned, and web1 is active" in bad.stdout
