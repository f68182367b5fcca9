"""Every mutation in tools/mutations.py is caught by the fast tests that guard it.

Slow (a copy of the project and a pytest run per mutation, about a minute in all); it
lives under e2e/ because it runs whole test sessions, not because it needs the engine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_mutation_is_caught() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "mutations.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and all(line.startswith("caught") for line in lines), proc.stdout
