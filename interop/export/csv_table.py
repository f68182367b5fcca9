"""A CSV table of a customer's machines, for spreadsheets.

One row per machine, not one per NIC or address: a spreadsheet user counts, sorts, filters
and pivots machines (by hypervisor, state, role), and a row per address would count a
dual-stack machine twice and repeat its cores and memory in every sum.  A machine's several
addresses, MACs, roles and tags share one cell, separated by spaces (none of them can hold a
space); ``address`` is the one address uniform reaches it at, the one to sort or look up by.

The columns are fixed (``COLUMNS``, always all of them, in this order, under a header row);
numbers are plain integers (``memory_mib``, ``disk_gib`` sum); written by the ``csv`` module
as RFC 4180 says: CRLF line ends, and a cell holding a comma, quote, CR or LF in double quotes
(the module quotes only the characters of its line end, so the line end must be CRLF for a
stray CR to be quoted).  A cell that a spreadsheet
would run as a formula (starting with '=', '+', '-', '@', tab or CR: only free text such as a
``location`` can) gets a leading "'", as OWASP's CSV injection advice says.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from inventory.model import Inventory, Machine

from .common import addresses, macs, networks

__all__ = ["COLUMNS", "render", "row"]

COLUMNS = (
    "customer",
    "name",
    "fqdn",
    "kind",
    "state",
    "hypervisor",
    "location",
    "cores",
    "memory_mib",
    "disk_gib",
    "disks",
    "address",
    "ipv4",
    "ipv6",
    "macs",
    "nics",
    "networks",
    "roles",
    "tags",
)

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA) else value


def row(inv: Inventory, m: Machine) -> dict[str, str]:
    """``m``'s cells by column."""
    cells = {
        "customer": inv.customer.name,
        "name": m.name,
        "fqdn": inv.fqdn(m),
        "kind": m.kind.value,
        "state": m.state.value,
        "hypervisor": m.hypervisor or "",
        "location": m.location or "",
        "cores": str(m.cores),
        "memory_mib": str(m.memory_mib),
        "disk_gib": str(sum(d.size_gib for d in m.disks)),
        "disks": " ".join(f"{d.name}:{d.size_gib}GiB" for d in m.disks),
        "address": m.ssh_address or "",
        "ipv4": " ".join(addresses(m, "ipv4")),
        "ipv6": " ".join(addresses(m, "ipv6")),
        "macs": " ".join(macs(m)),
        "nics": " ".join(n.name for n in m.nics),
        "networks": " ".join(networks(m)),
        "roles": " ".join(m.roles),
        "tags": " ".join(m.tags),
    }
    return {k: _cell(v) for k, v in cells.items()}


def render(inv: Inventory, machines: Sequence[Machine]) -> str:
    """The header and one row per machine of ``machines`` (of ``inv``)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    w.writeheader()
    for m in machines:
        w.writerow(row(inv, m))
    return buf.getvalue()
