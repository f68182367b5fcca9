"""Table of bad (and a few good) inventories: one YAML per case in inventory_cases/.

Each case copies ``inventory_cases/_base`` to a directory named ``acme``, overlays the
case's ``files`` and asserts the EXACT problem lines ``load`` reports (see the README there).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

import inventory
from payloads import ROLE_NAMES

CASES = Path(__file__).parent / "inventory_cases"


def case_files() -> list[Path]:
    return sorted(p for p in CASES.glob("*.yaml"))


def build(case: dict[str, Any], tmp_path: Path) -> Path:
    root = tmp_path / "acme"
    shutil.copytree(CASES / "_base", root)
    for rel, text in (case.get("files") or {}).items():
        path = root / rel
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


def problems_of(root: Path) -> list[str]:
    try:
        inventory.load(root, known_roles=ROLE_NAMES)
    except inventory.InventoryError as e:
        return [str(p) for p in e.problems]
    return []


@pytest.mark.parametrize("path", case_files(), ids=lambda p: p.stem)
def test_case(path: Path, tmp_path: Path) -> None:
    case = YAML(typ="safe").load(path.read_text())
    assert problems_of(build(case, tmp_path)) == list(case["expect"])


def test_error_text_has_header_and_one_line_per_problem(tmp_path: Path) -> None:
    case = YAML(typ="safe").load((CASES / "several_problems.yaml").read_text())
    root = build(case, tmp_path)
    with pytest.raises(inventory.InventoryError) as info:
        inventory.load(root)
    text = str(info.value).splitlines()
    assert text[0] == f"inventory acme: {len(case['expect'])} problem(s)"
    assert text[1:] == case["expect"]
    assert len(case["expect"]) >= 5
