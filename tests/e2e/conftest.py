"""Fixtures that drive the real Pulumi engine (built or found by tools/bootstrap.sh)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.engine import engine_env

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Engine:
    cwd: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["pulumi", "--non-interactive", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    def preview_json(self, *args: str) -> dict:
        proc = self.run("preview", "--json", *args)
        return json.loads(proc.stdout)


@pytest.fixture
def engine_factory(tmp_path: Path):
    if shutil.which("pulumi", path=engine_env(tmp_path)["PATH"]) is None:
        pytest.fail("no pulumi engine: run tools/bootstrap.sh first (the test command does)")

    def make(cwd: Path) -> Engine:
        backend = tmp_path / "state"
        backend.mkdir(exist_ok=True)
        return Engine(cwd=cwd, env=engine_env(backend))

    return make
