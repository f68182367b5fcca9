"""Running this project's Pulumi program in a throwaway copy, for tests, benchmarks and the lab.

One place for what ``.tools/env.sh`` gives (tools/bootstrap.sh writes both), so every
harness runs the engine the same way, offline, with a file backend of its own.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def engine_env(backend: Path, passphrase: str = "test") -> dict[str, str]:
    """The environment for the engine: the venv and .tools/bin on PATH, a file backend at
    ``backend``, offline settings, and the project-local PULUMI_HOME when bootstrap made one
    (automatic command logs off, see tools/bootstrap.sh)."""
    env = dict(os.environ)
    path = [str(ROOT / ".venv" / "bin")]
    if (ROOT / ".tools" / "bin" / "pulumi").exists():
        path.append(str(ROOT / ".tools" / "bin"))
    env["PATH"] = os.pathsep.join(path + [env.get("PATH", "")])
    if (ROOT / ".tools" / "pulumi-home").is_dir():
        env.setdefault("PULUMI_HOME", str(ROOT / ".tools" / "pulumi-home"))
    env["PULUMI_BACKEND_URL"] = f"file://{backend}"
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
    env["PYTHONPATH"] = str(ROOT)  # the copied program imports uniform's packages from the checkout
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    return env


def copy_project(proj: Path, program: Path | None = None) -> Path:
    """A runnable copy of the project at ``proj`` (Pulumi.yaml pointing at this checkout's
    venv, ``__main__.py`` or ``program``, an empty ``stacks/``); returns ``proj``."""
    (proj / "stacks").mkdir(parents=True, exist_ok=True)
    shutil.copy(program or ROOT / "__main__.py", proj / "__main__.py")
    (proj / "Pulumi.yaml").write_text(
        (ROOT / "Pulumi.yaml").read_text().replace("virtualenv: .venv", f"virtualenv: {ROOT / '.venv'}")
    )
    return proj


def add_customer(proj: Path, source: Path, stack: str) -> Path:
    """Copy the customer directory ``source`` into ``proj`` as stack ``stack`` (renamed to match)."""
    dest = proj / "stacks" / stack
    shutil.copytree(source, dest)
    cust = dest / "customer.yaml"
    old = source.name
    if old != stack:
        cust.write_text(
            cust.read_text()
            .replace(f"customer: {old}", f"customer: {stack}")
            .replace(f"out/{old}", f"out/{stack}")
        )
    (proj / "stacks" / f"Pulumi.{stack}.yaml").write_text(f"config:\n  uniform:inventory: {stack}\n")
    return dest
