"""Fixtures that drive the real Pulumi engine (built or found by tools/bootstrap.sh)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def engine_env(backend: Path) -> dict[str, str]:
    """The environment .tools/env.sh gives, with a backend of the test's own."""
    env = dict(os.environ)
    path = [str(ROOT / ".venv" / "bin")]
    if (ROOT / ".tools" / "bin" / "pulumi").exists():
        path.append(str(ROOT / ".tools" / "bin"))
    env["PATH"] = os.pathsep.join(path + [env.get("PATH", "")])
    if (ROOT / ".tools" / "pulumi-home").is_dir():
        env.setdefault("PULUMI_HOME", str(ROOT / ".tools" / "pulumi-home"))  # as .tools/env.sh
    env["PULUMI_BACKEND_URL"] = f"file://{backend}"
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env["PULUMI_CONFIG_PASSPHRASE"] = "test"
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    return env


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
