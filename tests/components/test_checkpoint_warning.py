"""The program's warning about the engine's per-step checkpoints (components.stack).

uniform's default skips them (docs/team.md "Crashes and recovery"); a plain ``pulumi up``
without ``.tools/env.sh`` cannot be changed, so a large customer is told in the preview."""

from __future__ import annotations

import pytest

from components.stack import CHECKPOINT_WARNING, checkpoint_warning
from tests.helpers.models import inventory, machine


@pytest.mark.parametrize(
    ("machines", "env", "warned"),
    [
        (CHECKPOINT_WARNING, {}, True),
        (CHECKPOINT_WARNING, {"PULUMI_SKIP_CHECKPOINTS": "true"}, False),
        (CHECKPOINT_WARNING, {"PULUMI_SKIP_CHECKPOINTS": "TRUE"}, False),
        (CHECKPOINT_WARNING, {"PULUMI_SKIP_CHECKPOINTS": "1"}, False),
        (CHECKPOINT_WARNING, {"PULUMI_SKIP_CHECKPOINTS": "false"}, True),
        (CHECKPOINT_WARNING, {"PULUMI_SKIP_CHECKPOINTS": ""}, True),
        (CHECKPOINT_WARNING - 1, {}, False),  # a small customer: the cost does not matter
    ],
)
def test_warned_only_for_a_large_customer_with_checkpoints(
    machines: int, env: dict[str, str], warned: bool
) -> None:
    inv = inventory(*(machine(f"m{i:03d}", i + 20) for i in range(machines)))
    assert len(inv.machines) == machines
    text = checkpoint_warning(inv, env)
    assert (text is not None) is warned
    if text:
        assert text.startswith(f"{machines} machines with the engine's per-step checkpoints")
        assert "uniform up" in text and ".tools/env.sh" in text
