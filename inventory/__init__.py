"""One inventory for hardware and virtual machines.

``load(root)`` reads a customer directory (``customer.yaml`` + ``machines/*.yaml``),
validates it (reporting every problem at once) and allocates MACs and addresses,
returning the resolved ``inventory.model.Inventory``.  See docs/inventory.md.
"""

from __future__ import annotations

from .build import load
from .edit import pin, transition, unpinned
from .errors import InventoryError, Problem
from .macs import generate_mac

__all__ = ["InventoryError", "Problem", "generate_mac", "load", "pin", "transition", "unpinned"]
