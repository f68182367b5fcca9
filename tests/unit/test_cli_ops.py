"""`uniform report` and `uniform verify` pass through to the ops package with the customer selection."""

from __future__ import annotations

import shutil
from pathlib import Path

import payloads
from cli.main import main
from inventory import load

ROOT = Path(__file__).resolve().parents[2]


def test_report_with_selection(tmp_path: Path) -> None:
    out = tmp_path / "demo.html"
    assert main(["report", "--dir", str(ROOT / "stacks" / "demo"), str(out)]) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert "web1" in page


def test_verify_local_tree_finds_a_hand_edit(tmp_path: Path, capsys) -> None:
    cust = tmp_path / "demo"
    shutil.copytree(ROOT / "stacks" / "demo", cust)
    tree = tmp_path / "tree"
    payloads.write_tree(payloads.render_customer(load(cust)), tree)
    args = ["verify", "--dir", str(cust), "--local-root", str(tree)]
    assert main(args) == 0
    (tree / "web1" / "etc" / "hosts").write_text("edited by hand\n")
    assert main(args) == 1
    assert "/etc/hosts" in capsys.readouterr().out
