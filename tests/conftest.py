"""The test layout: fast folders run in the fast lane (``-m "not slow"``),
every test under a slow folder is marked ``slow`` here, whatever its file says.

    unit/ golden/ components/     fast: pure Python, Pulumi mocks, golden trees
    daemons/ browser/ e2e/ lab/   slow: real daemons' checkers, headless Chromium,
                                  the real engine, network namespaces (root)

What tests share lives in ``tests/helpers/`` (imported as ``tests.helpers``): model
factories, the golden cases' reader, the daemon and lab helpers. Tests never import
each other.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
FAST = ("unit", "golden", "components")
SLOW = ("daemons", "browser", "e2e", "lab", "postgres")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = item.path.relative_to(TESTS) if item.path.is_relative_to(TESTS) else None
        if rel is not None and rel.parts[0] in SLOW:
            item.add_marker(pytest.mark.slow)
