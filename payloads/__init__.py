"""Config payloads: every file a machine or service needs, rendered from the inventory.

Pure Python (no Pulumi): components/ delivers what this package renders.
See docs/payloads.md.
"""

from __future__ import annotations

from .render import bind_zones, render_customer, render_machine, vm_uuid, zone_serial
from .tree import write_tree
from .types import RELOAD_COMMANDS, MachinePayload, PayloadFile

__all__ = [
    "RELOAD_COMMANDS",
    "MachinePayload",
    "PayloadFile",
    "bind_zones",
    "render_customer",
    "render_machine",
    "vm_uuid",
    "write_tree",
    "zone_serial",
]
