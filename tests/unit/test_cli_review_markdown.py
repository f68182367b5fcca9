"""``uniform review --format markdown``: the pull-request comment, from the recorded preview
(test_cli_review_preview.json) through a stand-in engine, on a git change to a copy of the demo."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cli.main import main

ROOT = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).with_name("test_cli_review_preview.json")


def git(proj: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    subprocess.run(["git", *args], cwd=proj, env=env, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    proj = tmp_path / "proj"
    (proj / "stacks").mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text("name: uniform\nruntime: python\nstackConfigDir: stacks\n")
    shutil.copytree(ROOT / "stacks" / "demo", proj / "stacks" / "demo")
    shutil.copy(ROOT / "stacks" / "Pulumi.demo.yaml", proj / "stacks")
    shutil.copytree(ROOT / "policy", proj / "policy", ignore=shutil.ignore_patterns("__pycache__"))
    git(proj, "init", "-q", "-b", "main")
    git(proj, "add", ".")
    git(proj, "commit", "-q", "-m", "base")
    d = proj / "stacks" / "demo"
    assert main(["machine", "remove", "db1", "--dir", str(d)]) == 0
    assert main(["tag", "add", "web2", "canary", "--dir", str(d)]) == 0
    git(proj, "commit", "-q", "-am", "db1 goes, web2 canary")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" --json "*) cat {RECORDED}; [ -e {tmp_path}/fail ] && exit 1; exit 0;; esac\n'
        'printf "Policies:\\n    uniform-policy:\\n"\n'
        'printf "    [mandatory]  active-needs-pinned  web3 is not pinned\\n"\n'
    )
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return proj


def test_markdown_comment(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["review", "--project", str(project), "--base", "HEAD~1", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    lines = md.splitlines()
    assert lines[0] == "## uniform review"
    assert "✅ every preview passed (1 stack(s))." in lines
    assert "| `demo` | ok | 4 | 4 | 2 | 0 | 10 |" in lines  # the preview's counts
    assert "### ✅ `demo`: 4 create, 2 delete, 4 update (10 unchanged)" in lines
    assert "**Policy:** passed (`policy`)" in lines
    # the machines changed and how (the inventory diff), then what the preview does to them
    assert "- `db1`: removed" in lines and "- `web2`: tags +canary" in lines
    assert "| `web3` | added |  |" in lines and "| `svc1` | changed | base, dhcp, dns, hypervisor |" in lines
    assert "**Services that will reload:** hypervisor on `hv1`, dhcp on `svc1`, dns on `svc1`, " in md
    assert "<details><summary>Delivery groups and files</summary>" in lines and lines[-1] == "</details>"
    assert "  - `+/etc/uniform/libvirt/web3.xml`" in lines


def test_markdown_failed_preview_and_no_policy(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fail").touch()
    capsys.readouterr()
    assert main(["review", "--project", str(project), "--stack", "demo", "--format", "markdown"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "❌ 1 of 1 previews failed (1 stack(s))." in lines
    assert "### ❌ `demo`: preview failed" in lines
    at = lines.index("**Preview / policy failed:**")
    assert lines[at + 2 : at + 4] == ["```", "Policies:"]
    assert "    [mandatory]  active-needs-pinned  web3 is not pinned" in lines
    (tmp_path / "fail").unlink()
    assert (
        main(["review", "--project", str(project), "--stack", "demo", "--no-policy", "--format", "markdown"])
        == 0
    )
    assert "**Policy:** not checked (`--no-policy`)" in capsys.readouterr().out.splitlines()
    assert main(["review", "--project", str(project), "--base", "HEAD", "--format", "markdown"]) == 0
    assert "No customer is touched by this change." in capsys.readouterr().out
