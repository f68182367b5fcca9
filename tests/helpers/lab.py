"""What the lab tests (tests/lab) share: skip or fail without a lab, and check nothing is left."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness import lab as L
from tests.helpers.engine import require_pulumi


def unavailable(msg: str) -> None:
    """No lab here: skip, or fail when UNIFORM_REQUIRE_LAB=1 (CI)."""
    if os.environ.get("UNIFORM_REQUIRE_LAB") == "1":
        pytest.fail(f"UNIFORM_REQUIRE_LAB=1 but the lab cannot run here: {msg}")
    pytest.skip(f"no lab here: {msg}")


def preflight(lab: L.Lab) -> None:
    """The lab's own preflight; :func:`unavailable` when it cannot run here."""
    try:
        lab.preflight()
    except L.LabUnavailable as e:
        unavailable(str(e))


def lab_netns(prefix: str) -> list[str]:
    """The network namespaces whose names start with ``prefix``."""
    out = L.run(["ip", "netns", "list"], check=False, timeout=10).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(prefix)]


@contextmanager
def running(lab: L.Lab, tmp_path: Path) -> Iterator[L.Lab]:
    """The lab up (skipped or failed where it cannot run, failed without an engine), then down;
    afterwards, even on failure: no namespace or mount of it is left, the real /etc untouched."""
    preflight(lab)
    require_pulumi(L.engine_env(tmp_path))
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
        assert lab_netns(lab.prefix) == [], "lab down left namespaces behind"
        mounts = Path("/proc/self/mountinfo").read_text()
        assert str(lab.run_dir) not in mounts and "uniform-lab" not in mounts, "a lab mount leaked"
        assert not Path("/etc/uniform").exists(), "the real /etc was touched"
