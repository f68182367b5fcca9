"""``uniform review``'s lead lines: the machines a git change adds, removes or changes, and how
(the inventory at the base revision against the working tree, cli.machine_diff)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cli.machine_diff import describe_changes, machine_changes
from cli.main import main
from cli.review import format_summary, summarize
from inventory import load

ROOT = Path(__file__).resolve().parents[2]


def git(proj: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    subprocess.run(["git", *args], cwd=proj, env=env, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "stacks").mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text("name: uniform\nruntime: python\nstackConfigDir: stacks\n")
    shutil.copytree(ROOT / "stacks" / "demo", proj / "stacks" / "demo")
    shutil.copy(ROOT / "stacks" / "Pulumi.demo.yaml", proj / "stacks")
    git(proj, "init", "-q", "-b", "main")
    git(proj, "add", ".")
    git(proj, "commit", "-q", "-m", "base")
    return proj


def test_machine_changes_lead_with_the_machine_and_how(project: Path) -> None:
    d = project / "stacks" / "demo"
    sel = ["--dir", str(d)]
    assert main(["machine", "add", "web3", "--kind", "vm", "--hypervisor", "hv1", "--cores", "2",
                 "--memory", "4GiB", "--nic", "eth0:lan", "--state", "planned", *sel]) == 0  # fmt: skip
    assert main(["machine", "remove", "db1", *sel]) == 0
    assert main(["tag", "add", "web2", "canary", *sel]) == 0
    assert main(["transition", "web1", "offline", *sel]) == 0
    web2 = d / "machines" / "web2.yaml"
    web2.write_text(web2.read_text().replace("memory: 4GiB", "memory: 6GiB"))
    inv = load(d)
    web3 = inv.machines["web3"]
    hv1 = inv.machines["hv1"]
    lines = machine_changes(project, "HEAD", "demo")
    assert lines[0] == "db1: removed"
    assert lines[1] == "web1: state active -> offline"
    assert lines[2].startswith("web2: memory 4 GiB -> 6 GiB (on hv1: ")
    assert lines[2].endswith(f" of {hv1.memory_mib // 1024} GiB memory used), tags +canary")
    assert lines[3].startswith(f"web3: added (vm on hv1, 2 cores, 4 GiB, {web3.nics[0].attachments[0].ipv4}")
    assert len(lines) == 4
    # nothing changed: nothing to say; a customer that is new at HEAD: every machine added
    assert describe_changes(inv, inv) == []
    assert all(line.endswith(")") and ": added (" in line for line in describe_changes(None, inv))


def test_review_prints_them_first(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    d = project / "stacks" / "demo"
    assert main(["machine", "remove", "db1", "--dir", str(d)]) == 0
    git(project, "commit", "-q", "-am", "db1 goes")
    capsys.readouterr()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorded = Path(__file__).with_name("test_cli_review_preview.json")
    (bin_dir / "pulumi").write_text(f'#!/bin/sh\ncase " $* " in *" --json "*) cat {recorded} ;; esac\n')
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert main(["review", "--project", str(project), "--base", "HEAD~1", "--no-policy"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("stack demo: ") and out[1] == "  db1: removed"
    assert out[2].startswith("  machines added:")


def test_format_summary_without_changes_is_unchanged() -> None:
    import json

    s = summarize(json.loads(Path(__file__).with_name("test_cli_review_preview.json").read_text()))
    assert format_summary("e2e", s) == format_summary("e2e", s, ())
    assert format_summary("e2e", s, ["x: removed"]).splitlines()[1] == "  x: removed"
