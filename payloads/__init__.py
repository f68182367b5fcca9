"""Config payloads: every file a machine or service needs, rendered from the inventory.

Pure Python (no Pulumi): components/ delivers what this package renders.  Each
delivery group (the machine's own "base" files and one per role) is a module in
payloads/roles/, listed once in its registry.  See docs/payloads.md.
"""

from __future__ import annotations

from .render import render_customer, render_machine
from .roles import GROUPS, RELOAD_COMMANDS, ROLE_NAMES, ROLES
from .roles.dns import bind_zones, zone_serial
from .roles.hypervisor import vm_uuid
from .types import MachinePayload, PayloadFile

__all__ = [
    "GROUPS",
    "RELOAD_COMMANDS",
    "ROLES",
    "ROLE_NAMES",
    "MachinePayload",
    "PayloadFile",
    "bind_zones",
    "render_customer",
    "render_machine",
    "vm_uuid",
    "zone_serial",
]
