"""What the engine tests (tests/e2e, tests/lab) share on top of harness.engine."""

from __future__ import annotations

from typing import Any

import pytest

from harness.engine import has_pulumi


def require_pulumi(env: dict[str, str]) -> None:
    """Fail (never skip) when ``env`` finds no engine: the test command builds one."""
    if not has_pulumi(env):
        pytest.fail("no pulumi engine: run tools/bootstrap.sh first (the test command does)")


def custom_steps(preview: dict[str, Any]) -> dict[str, str]:
    """resource name -> op, for the delivery resources that change (components have no inputs)."""
    return {
        s["urn"].rsplit("::", 1)[1]: s["op"]
        for s in preview["steps"]
        if "dynamic/uniform:Files" in s["urn"] and s["op"] != "same"
    }
