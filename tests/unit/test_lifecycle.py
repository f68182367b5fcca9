"""The lifecycle table: the README states exactly what inventory/lifecycle.py's table says."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from inventory import lifecycle
from inventory.model import State

README = Path(__file__).resolve().parents[2] / "README.md"

#: README column -> Capabilities field
COLUMNS = {
    "holds addresses": "holds_addresses",
    "DHCP/DNS": "dhcp_dns",
    "own files delivered": "delivered",
    "VM defined": "vm_defined",
    "VM running": "vm_running",
    "boot path": "boot_path",
    "must be pinned": "must_be_pinned",
    "removable": "removable",
    "uses capacity": "uses_capacity",
}


def readme_table() -> tuple[list[str], dict[str, list[str]]]:
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| state | holds addresses"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return header[1:], rows


def test_readme_lifecycle_table_is_the_code() -> None:
    header, rows = readme_table()
    assert header == list(COLUMNS)
    assert set(COLUMNS.values()) == {f.name for f in fields(lifecycle.Capabilities)}
    assert list(rows) == [s.value for s in State]
    for state, caps in lifecycle.CAPABILITIES.items():
        want = ["yes" if getattr(caps, COLUMNS[col]) else "–" for col in header]
        assert rows[state.value] == want, state


def test_sets_follow_the_table() -> None:
    """The sets other modules use are the table's columns (one place per fact)."""
    by_field = {
        "holds_addresses": lifecycle.HOLDS_ADDRESSES,
        "dhcp_dns": lifecycle.IN_DHCP | lifecycle.IN_DNS,
        "delivered": lifecycle.DELIVERED,
        "vm_defined": lifecycle.ON_HYPERVISOR,
        "vm_running": lifecycle.RUNNING,
        "boot_path": lifecycle.BOOT_PATH,
        "must_be_pinned": lifecycle.MUST_BE_PINNED,
        "removable": lifecycle.REMOVABLE,
        "uses_capacity": lifecycle.USES_CAPACITY,
    }
    for name, states in by_field.items():
        assert states == {s for s, c in lifecycle.CAPABILITIES.items() if getattr(c, name)}, name
    # what the states mean, independently of the table: a few facts a reviewer relies on
    assert State.RETIRED not in lifecycle.HOLDS_ADDRESSES
    assert lifecycle.BOOT_PATH == {State.STAGED}
    assert lifecycle.DELIVERED == lifecycle.ON_HYPERVISOR
    assert lifecycle.RUNNING < lifecycle.ON_HYPERVISOR
    assert lifecycle.MUST_BE_PINNED <= lifecycle.DELIVERED
    assert set(lifecycle.TRANSITIONS) == set(State)
