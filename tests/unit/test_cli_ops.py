"""``uniform report`` and ``uniform verify``: parsed once by the CLI, run through ``ops.report.render``
and ``ops.verify.check_hosts``; their exit codes are ``cli.exitcodes.Exit``."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import payloads
from cli.exitcodes import Exit
from cli.main import main
from cli.ops_commands import verify_exit
from connectors.local import write_tree
from inventory import load
from ops import report, verify

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    cust = tmp_path / "demo"
    shutil.copytree(ROOT / "stacks" / "demo", cust)
    return cust


@pytest.fixture
def tree(tmp_path: Path, demo: Path) -> Path:
    out = tmp_path / "tree"
    write_tree(payloads.render_customer(load(demo)), out)
    return out


# ------------------------------------------------------------------ report


def test_report_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "acme.html"
    assert main(["report", "-C", "acme", "--project", str(ROOT), "-o", str(out)]) == Exit.OK
    assert out.read_text() == report.render(load(ROOT / "stacks" / "acme"))
    assert "7 machines" in capsys.readouterr().err
    assert not list(out.parent.glob(".*tmp"))


def test_report_default_output_and_stdout(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--dir", str(demo)]) == Exit.OK
    assert (tmp_path / "report-demo.html").read_text() == report.render(load(demo))
    capsys.readouterr()
    assert main(["report", str(demo), "--output", "-"]) == Exit.OK  # the positional form
    assert capsys.readouterr().out == report.render(load(demo))


def test_report_invalid_inventory_and_usage(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (demo / "customer.yaml").write_text((demo / "customer.yaml").read_text() + "colour: blue\n")
    out = tmp_path / "x.html"
    assert main(["report", "--dir", str(demo), "-o", str(out)]) == Exit.PROBLEMS
    assert "unknown key 'colour'" in capsys.readouterr().err
    assert not out.exists()
    # the old pass-through form (a second, positional output) is refused by the one parser
    with pytest.raises(SystemExit) as e:
        main(["report", str(demo), str(out)])
    assert e.value.code == Exit.USAGE and "unrecognized arguments" in capsys.readouterr().err


def test_report_to_a_directory_or_unwritable_path_writes_nothing(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o naming a directory (it once left a stray '.<dir>.tmp' beside it and a traceback) or a
    file under a plain file is a usage error, and no temporary file is left anywhere."""
    before = sorted(tmp_path.iterdir())
    assert main(["report", "--dir", str(demo), "-o", str(tmp_path)]) == Exit.USAGE
    assert "is a directory" in capsys.readouterr().err
    (tmp_path / "plain").write_text("x")
    assert main(["report", "--dir", str(demo), "-o", str(tmp_path / "plain" / "r.html")]) == Exit.USAGE
    assert "cannot write" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [*before, tmp_path / "plain"]
    assert not list(tmp_path.parent.glob(f".{tmp_path.name}*"))


# ------------------------------------------------------------------ verify


def test_verify_exit_codes() -> None:
    clean = verify.HostResult("a", "x")
    drift = verify.HostResult("b", "x", missing=("/etc/hostname",))
    down = verify.HostResult("c", "x", error="ssh failed")
    assert verify_exit([]) == verify_exit([clean]) == Exit.OK == 0
    assert verify_exit([clean, drift]) == Exit.PROBLEMS == 1
    assert verify_exit([clean, down]) == Exit.UNVERIFIED == 3
    assert verify_exit([drift, down, clean]) == Exit.UNVERIFIED


def test_verify_local_clean_then_drift(demo: Path, tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["verify", "--dir", str(demo), "--local-root", str(tree)]
    assert main(args) == Exit.OK
    assert capsys.readouterr().out.startswith("verify demo: 4 host(s): 4 clean, 0 drifted, 0 unreachable")
    (tree / "web1/etc/hosts").write_text("changed\n")
    os.chmod(tree / "web2/etc/hostname", 0o600)
    assert main(args) == Exit.PROBLEMS
    text = capsys.readouterr().out
    assert "web1: DRIFT" in text and "  changed     /etc/hosts (content)" in text
    assert "  changed     /etc/hostname (mode 0600, expected 0644)" in text
    assert main([*args, "--json"]) == Exit.PROBLEMS
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit"] == 1
    hosts = {h["machine"]: h for h in doc["hosts"]}
    assert hosts["web1"]["changed"] == [{"path": "/etc/hosts", "detail": "content"}]
    assert hosts["hv1"]["status"] == "clean"
    assert stat.S_IMODE(os.stat(tree / "web2/etc/hostname").st_mode) == 0o600  # verify never writes
    assert main([*args, "--machine", "hv1", "--json"]) == Exit.OK
    assert [h["machine"] for h in json.loads(capsys.readouterr().out)["hosts"]] == ["hv1"]


def test_verify_progress_is_the_cli_display(
    demo: Path, tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "--dir", str(demo), "--local-root", str(tree), "--progress"]) == Exit.OK
    err = capsys.readouterr().err
    assert "loading " in err and "[4/4] " in err
    assert main(["verify", "--dir", str(demo), "--local-root", str(tree), "--progress", "-q"]) == Exit.OK
    assert capsys.readouterr().err == ""


def test_verify_unreachable_is_3(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (demo / "customer.yaml").read_text().replace("mode: local", "mode: ssh")
    (demo / "customer.yaml").write_text(text)
    # no pinned host keys in demo: verify refuses to connect, reports every host, exit 3
    assert main(["verify", "--dir", str(demo), "--json"]) == Exit.UNVERIFIED
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit"] == 3 and {h["status"] for h in doc["hosts"]} == {"unreachable"}


def test_verify_usage_and_inventory_errors(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "--dir", str(demo), "--jobs", "0"]) == Exit.USAGE
    assert "must be positive" in capsys.readouterr().err
    assert main(["verify", "--dir", str(demo), "--machine", "nosuch"]) == Exit.USAGE
    assert "not in the inventory: nosuch" in capsys.readouterr().err
    assert main(["verify", "--dir", str(demo), "--identity", str(tmp_path / "nokey")]) == Exit.USAGE
    assert "no such file" in capsys.readouterr().err
    (demo / "customer.yaml").write_text((demo / "customer.yaml").read_text() + "colour: blue\n")
    assert main(["verify", "--dir", str(demo)]) == Exit.PROBLEMS
    assert "colour" in capsys.readouterr().err


def test_python_dash_m_cli(demo: Path, tree: Path, tmp_path: Path) -> None:
    run = {"capture_output": True, "text": True, "cwd": ROOT, "timeout": 120}
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "verify", "--dir", str(demo), "--local-root", str(tree), "--progress"],
        **run,  # type: ignore[call-overload]
    )
    assert proc.returncode == 0, proc.stderr
    assert "[4/4]" in proc.stderr
    out = tmp_path / "demo.html"
    proc = subprocess.run([sys.executable, "-m", "cli", "report", "--dir", str(demo), "-o", str(out)], **run)  # type: ignore[call-overload]
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == report.render(load(demo))
    # ops has no command line of its own any more
    proc = subprocess.run([sys.executable, "-m", "ops", "verify", str(demo)], **run)  # type: ignore[call-overload]
    assert proc.returncode != 0 and "ops.__main__" in proc.stderr
