"""Which of a machine's values are provisional: the one "unpinned" rule.

A MAC or address is pinned when it is written in the machine's file.  Anything else
was generated or allocated, and can move when the inventory changes, except an IPv6
address on a /64: it is the EUI-64 of the MAC, so it is exactly as stable as the MAC.
Used by ``uniform pin``/``unpinned`` (inventory.edit) and the pinned-addresses rule
(inventory.policy).
"""

from __future__ import annotations

from .errors import Loc
from .model import Inventory, Machine

__all__ = ["unpinned_fields"]


def unpinned_fields(inv: Inventory, m: Machine) -> list[tuple[Loc, str]]:
    """(location in the machine's entry, value) of every generated MAC and allocated address
    of ``m``, in file order; ``render_path(loc)`` is the field, e.g. ``nics[0].mac``."""
    out: list[tuple[Loc, str]] = []
    for i, nic in enumerate(m.nics):
        if not nic.mac_pinned:
            out.append((("nics", i, "mac"), nic.mac))
        for j, a in enumerate(nic.attachments):
            at: Loc = ("nics", i, "networks", j)
            if a.ipv4 is not None and not a.ipv4_pinned:
                out.append(((*at, "ipv4"), a.ipv4))
            eui64 = (inv.networks[a.network].ipv6 or "").endswith("/64")
            if a.ipv6 is not None and not a.ipv6_pinned and not eui64:
                out.append(((*at, "ipv6"), a.ipv6))
    return out
