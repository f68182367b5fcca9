"""The checkout's customer stacks (stacks/<name>/) as tests use them."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import inventory
from inventory.model import Inventory

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"


def load_stack(name: str) -> Inventory:
    """Customer ``stacks/<name>``, loaded."""
    return inventory.load(STACKS / name)


def copy_stack(dest: Path, name: str) -> Path:
    """A copy of customer ``stacks/<name>`` at ``dest/<name>`` (the loader wants the names to match)."""
    out = dest / name
    shutil.copytree(STACKS / name, out)
    return out


def problems(root: Path) -> list[str]:
    """The loader's problems with the customer dir ``root``, as text; [] when it loads."""
    try:
        inventory.load(root)
    except inventory.InventoryError as e:
        return [str(p) for p in e.problems]
    return []


def planned_vm(name: str, *, hypervisor: str = "hv1", memory: str = "1GiB") -> str:
    """A machine file: VM ``name`` on ``hypervisor``, planned, no MAC or address (the
    inventory allocates both; a transition to staged pins them)."""
    return textwrap.dedent(f"""\
        name: {name}
        kind: vm
        hypervisor: {hypervisor}
        cores: 1
        memory: {memory}
        disks: [{{name: root, size: 10GiB}}]
        nics:
          - name: eth0
            networks: [{{network: lan}}]
        state: planned
        """)
