"""A delivered machine leaves the stack only through decommissioning, or an acknowledged
``uniform machine remove --force``: a vanished file makes the engine refuse the run.

The deployed state is the truth: the program registers a delivered machine's component
with ``protect``, so a run without it fails in preview and in up, before any step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import inventory
from cli.main import main as uniform
from harness.engine import add_customer, copy_project
from tests.helpers.engine import custom_steps

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def deployed(tmp_path: Path, engine_factory):
    proj = copy_project(tmp_path / "proj")
    add_customer(proj, ROOT / "stacks" / "demo", "e2e")
    eng = engine_factory(proj)
    eng.run("stack", "init", "e2e")
    eng.run("up", "--yes")
    return proj, eng


def test_a_vanished_machine_file_is_refused(deployed) -> None:
    proj, eng = deployed
    web2 = proj / "stacks" / "e2e" / "machines" / "web2.yaml"
    assert inventory.load(web2.parent.parent).machines["web2"].state.value == "active"
    before = json.loads(eng.run("stack", "export").stdout)
    web2.unlink()  # a bad merge, a full disk: the machine is simply gone from the inventory
    for command in (["preview"], ["up", "--yes"]):
        proc = eng.run(*command, check=False)
        text = proc.stdout + proc.stderr
        assert proc.returncode != 0, text
        assert "protect" in text and "web2" in text, text
    after = json.loads(eng.run("stack", "export").stdout)
    assert [r["urn"] for r in after["deployment"]["resources"]] == [
        r["urn"] for r in before["deployment"]["resources"]
    ]
    assert (proj / "out" / "e2e" / "web2" / "etc" / "hostname").is_file(), "nothing was deleted"


def test_force_removal_is_recorded_and_then_goes_through(deployed) -> None:
    proj, eng = deployed
    inv_dir = proj / "stacks" / "e2e"
    assert uniform(["machine", "remove", "web2", "--dir", str(inv_dir)]) == 1  # active: refused
    assert uniform(["machine", "remove", "web2", "--force", "--dir", str(inv_dir)]) == 0
    assert not (inv_dir / "machines" / "web2.yaml").exists()
    assert inventory.load(inv_dir).customer.removed == ("web2",)  # recorded where review sees it
    steps = custom_steps(eng.preview_json())
    assert steps["web2-base"] == "delete"
    eng.run("up", "--yes")
    assert not (proj / "out" / "e2e" / "web2").exists()
    eng.run("preview", "--expect-no-changes")


def test_decommissioning_unprotects(deployed) -> None:
    proj, eng = deployed
    inv_dir = proj / "stacks" / "e2e"
    inventory.transition(inv_dir, "web2", inventory.lifecycle.State.DECOMMISSIONING)
    eng.run("up", "--yes")
    resources = json.loads(eng.run("stack", "export").stdout)["deployment"]["resources"]
    web2 = next(r for r in resources if r["urn"].endswith("uniform:machine:Machine::web2"))
    web1 = next(r for r in resources if r["urn"].endswith("uniform:machine:Machine::web1"))
    assert web1.get("protect") is True and not web2.get("protect")
    (inv_dir / "machines" / "web2.yaml").unlink()  # allowed now: nothing of it is delivered
    eng.run("up", "--yes")
    eng.run("preview", "--expect-no-changes")
