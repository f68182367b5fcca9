"""Fixtures that drive the real Pulumi engine (built or found by tools/bootstrap.sh)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.engine import Engine, engine_env
from tests.helpers.engine import require_pulumi


@pytest.fixture
def engine_factory(tmp_path: Path) -> Callable[[Path], Engine]:
    """``make(cwd)``: the engine on the project at ``cwd``, with this test's file backend."""
    require_pulumi(engine_env(tmp_path))

    def make(cwd: Path) -> Engine:
        backend = tmp_path / "state"
        backend.mkdir(exist_ok=True)
        return Engine(cwd=cwd, env=engine_env(backend))

    return make
