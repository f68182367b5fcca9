"""Golden payload trees: render each case and compare with ``expected/`` byte for byte.

Update after an intended change with ``UNIFORM_UPDATE_GOLDEN=1 pytest tests/golden``
and review the diff of ``tests/golden/cases/*/expected`` like any other change.
"""

from __future__ import annotations

import difflib
import os
import shutil
import stat
from pathlib import Path

import pytest

from connectors.local import write_tree
from payloads import render_customer
from tests.helpers.cases import case_dirs, customer_dir, load_case, load_minimal

UPDATE = os.environ.get("UNIFORM_UPDATE_GOLDEN") == "1"


#: git keeps only the executable bit of a file, so a fresh clone checks out a 0600
#: golden file as 0644: the expected modes are recorded in this file instead.
MODES = "MODES"


def _tree(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (stat.S_IMODE(p.stat().st_mode), p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MODES
    }


def _write_modes(root: Path) -> None:
    (root / MODES).write_text("".join(f"{mode:04o} {path}\n" for path, (mode, _) in _tree(root).items()))


def _expected_tree(root: Path) -> dict[str, tuple[int, bytes]]:
    modes = {}
    for line in (root / MODES).read_text().splitlines():
        mode, path = line.split(" ", 1)
        modes[path] = int(mode, 8)
    # a file missing from MODES shows as mode 0 in the diff
    return {path: (modes.get(path, 0), data) for path, (_, data) in _tree(root).items()}


def _diff(expected: dict[str, tuple[int, bytes]], actual: dict[str, tuple[int, bytes]]) -> str:
    out: list[str] = []
    for path in sorted(set(expected) | set(actual)):
        e, a = expected.get(path), actual.get(path)
        if e == a:
            continue
        if e is None:
            out.append(f"+++ unexpected file {path}")
        elif a is None:
            out.append(f"--- missing file {path}")
        if e is not None and a is not None and e[0] != a[0]:
            out.append(f"mode of {path}: expected {e[0]:04o}, got {a[0]:04o}")
        old = e[1].decode().splitlines(keepends=True) if e else []
        new = a[1].decode().splitlines(keepends=True) if a else []
        out.extend(difflib.unified_diff(old, new, f"expected/{path}", f"rendered/{path}"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_golden(case: Path, tmp_path: Path) -> None:
    payloads = render_customer(load_case(customer_dir(case)))
    write_tree(payloads, tmp_path)
    expected_dir = case / "expected"
    if UPDATE:
        shutil.rmtree(expected_dir, ignore_errors=True)
        write_tree(payloads, expected_dir)
        _write_modes(expected_dir)
    actual = _tree(tmp_path)
    expected = _expected_tree(expected_dir)
    diff = _diff(expected, actual)
    assert not diff, (
        f"payloads of {case.name} differ from golden (UNIFORM_UPDATE_GOLDEN=1 to accept):\n{diff}"
    )


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_loader_matches_minimal_reader(case: Path) -> None:
    """The case files pin everything, so the real loader and the minimal reader agree."""
    import inventory

    if not hasattr(inventory, "load"):
        pytest.skip("inventory.load not available yet")
    real = render_customer(load_case(customer_dir(case)))
    minimal = render_customer(load_minimal(customer_dir(case)))
    assert {k: v.digest for k, v in real.items()} == {k: v.digest for k, v in minimal.items()}


def test_renders_are_byte_identical() -> None:
    for case in case_dirs():
        a = render_customer(load_case(customer_dir(case)))
        b = render_customer(load_case(customer_dir(case)))
        assert a == b
        assert [p.digest for p in a.values()] == [p.digest for p in b.values()]
