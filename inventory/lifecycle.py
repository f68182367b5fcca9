"""Lifecycle states, their allowed transitions, and what each state means downstream.

Anchored on NetBox's device statuses and MAAS's NODE_TRANSITIONS.  A machine
file records its current ``state`` and its ``history`` (earlier states, oldest
first); every step of history + [state] must be an allowed transition, so a
reviewer sees a skipped step as a validation error, not a surprise.

``CAPABILITIES`` is the one place that says what a state does: every other
module asks it (through the sets and predicates below), and the README's
lifecycle table is checked against it by tests/unit/test_lifecycle.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import State

__all__ = [
    "BOOT_PATH",
    "CAPABILITIES",
    "DELIVERED",
    "HOLDS_ADDRESSES",
    "IN_DHCP",
    "IN_DNS",
    "MUST_BE_PINNED",
    "ON_HYPERVISOR",
    "REMOVABLE",
    "RUNNING",
    "TRANSITIONS",
    "USES_CAPACITY",
    "Capabilities",
    "State",
    "boot_path",
    "delivered",
    "in_dhcp",
    "in_dns",
    "on_hypervisor",
]

P, S, A, O, F, D, R = (  # noqa: E741
    State.PLANNED,
    State.STAGED,
    State.ACTIVE,
    State.OFFLINE,
    State.FAILED,
    State.DECOMMISSIONING,
    State.RETIRED,
)

#: state -> states it may move to next
TRANSITIONS: dict[State, frozenset[State]] = {
    P: frozenset({S, R}),  # a plan is built (staged) or cancelled
    S: frozenset({A, F, P}),  # provisioning succeeds, fails, or is rolled back
    A: frozenset({O, F, D}),
    O: frozenset({A, F, D}),
    F: frozenset({S, O, D}),  # a failed machine is re-provisioned or given up
    D: frozenset({R, A}),  # decommissioning can be aborted back to active
    R: frozenset(),  # terminal: addresses are released
}


@dataclass(frozen=True)
class Capabilities:
    """What being in a state means for the machine and for the machines that serve it."""

    holds_addresses: bool  # its MACs and addresses stay allocated to it
    dhcp_dns: bool  # DHCP reservations and DNS records are published
    delivered: bool  # its own files (hostname, network, keys, service config) are delivered
    vm_defined: bool  # a VM is defined on its hypervisor
    vm_running: bool  # ... and started (autostart on)
    boot_path: bool  # netboot config (hardware) or cloud-init seed (VM) is rendered
    must_be_pinned: bool  # generated MACs/addresses must be written into its file
    removable: bool  # `uniform machine remove` deletes its file without --force
    uses_capacity: bool  # counts against its hypervisor's cores and memory


_ = False
Y = True
# fmt: off
#: The table.  Columns in Capabilities' order:
#:            addrs  dhcp/dns  delivered  vm_def  vm_run  boot  pinned  removable  capacity
CAPABILITIES: dict[State, Capabilities] = {
    P: Capabilities(Y,     _,        _,         _,      _,      _,    _,      Y,         Y),
    S: Capabilities(Y,     Y,        Y,         Y,      Y,      Y,    Y,      _,         Y),
    A: Capabilities(Y,     Y,        Y,         Y,      Y,      _,    Y,      _,         Y),
    O: Capabilities(Y,     Y,        Y,         Y,      _,      _,    Y,      _,         Y),
    F: Capabilities(Y,     Y,        Y,         Y,      _,      _,    Y,      _,         Y),
    D: Capabilities(Y,     _,        _,         _,      _,      _,    _,      _,         _),
    R: Capabilities(_,     _,        _,         _,      _,      _,    _,      Y,         _),
}
# fmt: on


def _where(capability: str) -> frozenset[State]:
    return frozenset(s for s, c in CAPABILITIES.items() if getattr(c, capability))


#: states whose addresses stay allocated (every state but retired)
HOLDS_ADDRESSES = _where("holds_addresses")
#: states that get DHCP reservations (staged needs one to netboot/install)
IN_DHCP = _where("dhcp_dns")
#: states whose names are published in DNS
IN_DNS = _where("dhcp_dns")
#: states whose own payload (hostname, network, keys, service config) is delivered
DELIVERED = _where("delivered")
#: VM states that are defined on their hypervisor (decommissioning VMs are removed)
ON_HYPERVISOR = _where("vm_defined")
#: VM states that are started on their hypervisor
RUNNING = _where("vm_running")
#: states that get a boot path: a netboot config (hardware) or a cloud-init seed (VM)
BOOT_PATH = _where("boot_path")
#: states whose generated MACs and addresses must be pinned in the machine's file
MUST_BE_PINNED = _where("must_be_pinned")
#: states a machine file may be removed in without --force
REMOVABLE = _where("removable")
#: states that count against a hypervisor's capacity
USES_CAPACITY = _where("uses_capacity")


def in_dhcp(state: State) -> bool:
    return state in IN_DHCP


def in_dns(state: State) -> bool:
    return state in IN_DNS


def delivered(state: State) -> bool:
    return state in DELIVERED


def on_hypervisor(state: State) -> bool:
    return state in ON_HYPERVISOR


def boot_path(state: State) -> bool:
    return state in BOOT_PATH
