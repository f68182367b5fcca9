"""Moving a VM between hypervisors never silently loses its disks (real engine, slow).

The deployed state knows where a VM is defined (its base files record it); the delivery
provider's check refuses a move that the machine file does not acknowledge
(components/delivery.py FilesProvider.check, components/placement.py move_problem).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import inventory
from cli.main import main as uniform
from harness.engine import add_customer, copy_project

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

HV2 = """\
name: hv2
kind: hw
cores: 8
memory: 32GiB
nics:
  - name: eno1
    mac: "0c:c4:7a:10:20:99"
    networks:
      - network: lan
        ipv4: 10.20.0.99
roles: [hypervisor]
state: active
history: [planned, staged]
"""


@pytest.fixture
def deployed(tmp_path: Path, engine_factory):
    proj = copy_project(tmp_path / "proj")
    add_customer(proj, ROOT / "stacks" / "demo", "e2e")
    (proj / "stacks" / "e2e" / "machines" / "hv2.yaml").write_text(HV2)
    eng = engine_factory(proj)
    eng.run("stack", "init", "e2e")
    eng.run("up", "--yes")
    return proj, eng


def test_an_unacknowledged_move_is_refused_by_the_engine(deployed) -> None:
    proj, eng = deployed
    inv_dir = proj / "stacks" / "e2e"
    web1 = inv_dir / "machines" / "web1.yaml"
    # a hand edit (not the CLI): the hypervisor changes, nothing says what happens to the disks
    web1.write_text(re.sub(r"(?m)^hypervisor: hv1$", "hypervisor: hv2", web1.read_text()))
    for command in (["preview"], ["up", "--yes"]):
        proc = eng.run(*command, check=False)
        text = proc.stdout + proc.stderr
        assert proc.returncode != 0, text
        assert "web1 would move from hypervisor hv1 to hv2, but its disks are on hv1" in text, text
        assert "--disk-copied" in text and "--fresh-disk" in text
    out = proj / "out" / "e2e"
    assert (out / "hv1" / "etc/uniform/libvirt/web1.xml").is_file(), "nothing was applied"
    assert not (out / "hv2" / "etc/uniform/libvirt/web1.xml").exists()


def test_an_acknowledged_move_goes_through_and_says_so(deployed) -> None:
    proj, eng = deployed
    inv_dir = proj / "stacks" / "e2e"
    assert uniform(["machine", "move", "web1", "--hypervisor", "hv2", "--dir", str(inv_dir)]) == 1  # disks?
    assert (
        uniform(["machine", "move", "web1", "--hypervisor", "hv2", "--disk-copied", "--dir", str(inv_dir)])
        == 0
    )
    assert inventory.load(inv_dir).machines["web1"].move == ("hv2", "copied")
    preview = eng.preview_json()
    base = next(s for s in preview["steps"] if s["urn"].endswith("uniform:Files::web1-base"))
    assert base["op"] == "update"
    assert base["newState"]["inputs"]["placement"]["move"] == ["hv2", "copied"]  # the preview says how
    eng.run("up", "--yes")
    out = proj / "out" / "e2e"
    assert (out / "hv2" / "etc/uniform/libvirt/web1.xml").is_file()
    assert not (out / "hv1" / "etc/uniform/libvirt/web1.xml").exists()
    # disks.sh on the new host creates only disks that do not exist: the copied ones are kept
    disks = (out / "hv2" / "etc/uniform/libvirt/web1.disks.sh").read_text()
    assert "[ -e " in disks and "|| qemu-img create" in disks
    eng.run("preview", "--expect-no-changes")
    state = json.loads(eng.run("stack", "export").stdout)["deployment"]["resources"]
    rec = next(r for r in state if r["urn"].endswith("::web1-base"))
    assert rec["outputs"]["placement"]["hypervisor"] == "hv2"
    assert not [r for r in state if r["type"].endswith("uniform:Placement")]
