"""tools/mutations.py's list still applies: each old text occurs exactly once in its file
and each named test exists (the mutation run itself is slow: tests/e2e/test_mutations.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _mutations() -> ModuleType:
    spec = importlib.util.spec_from_file_location("uniform_mutations", ROOT / "tools" / "mutations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_mutation_applies_exactly_once() -> None:
    m = _mutations()
    assert m.MUTATIONS, "no mutations listed"
    assert len({x.name for x in m.MUTATIONS}) == len(m.MUTATIONS)
    assert m.problems() == []
    for x in m.MUTATIONS:
        assert x.old != x.new, x.name
