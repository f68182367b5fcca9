"""The test layout (tests/conftest.py): every test folder is fast or slow, slow ones are marked
by folder, fast ones never carry the mark, and no test imports another test or edits sys.path."""

from __future__ import annotations

import ast
from pathlib import Path

from tests import conftest

TESTS = Path(conftest.__file__).parent


def _trees(folders: tuple[str, ...] | None = None) -> dict[str, ast.Module]:
    files = [p for f in folders for p in (TESTS / f).rglob("*.py")] if folders else TESTS.rglob("*.py")
    return {str(p.relative_to(TESTS)): ast.parse(p.read_text()) for p in files}


def test_every_test_folder_is_fast_or_slow() -> None:
    folders = {p.relative_to(TESTS).parts[0] for p in TESTS.rglob("test_*.py")}
    assert not set(conftest.FAST) & set(conftest.SLOW)
    assert folders == set(conftest.FAST) | set(conftest.SLOW)


def test_fast_folders_carry_no_slow_mark() -> None:
    marked = [
        f"{name}:{node.lineno}"
        for name, tree in _trees(conftest.FAST).items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "slow"
        if isinstance(node.value, ast.Attribute) and node.value.attr == "mark"
    ]
    assert marked == [], "a slow test belongs in one of " + ", ".join(conftest.SLOW)


def test_no_test_imports_a_test_or_edits_sys_path() -> None:
    bad = []
    for name, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                modules = []
            bad += [f"{name}: imports {m}" for m in modules if m.rsplit(".", 1)[-1].startswith("test_")]
            if isinstance(node, ast.Attribute) and node.attr == "path":
                if isinstance(node.value, ast.Name) and node.value.id == "sys":
                    bad.append(f"{name}:{node.lineno}: sys.path")
    assert bad == []
