"""Lifecycle states, their allowed transitions, and what each state means downstream.

Anchored on NetBox's device statuses and MAAS's NODE_TRANSITIONS.  A machine
file records its current ``state`` and its ``history`` (earlier states, oldest
first); every step of history + [state] must be an allowed transition, so a
reviewer sees a skipped step as a validation error, not a surprise.
"""

from __future__ import annotations

from .model import State

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

#: states whose addresses stay allocated (every state but retired)
HOLDS_ADDRESSES = frozenset({P, S, A, O, F, D})
#: states that get DHCP reservations (staged needs one to netboot/install)
IN_DHCP = frozenset({S, A, O, F})
#: states whose names are published in DNS
IN_DNS = frozenset({S, A, O, F})
#: states whose own payload (hostname, network, keys, service config) is delivered
DELIVERED = frozenset({S, A, O, F})
#: VM states that are defined on their hypervisor (decommissioning VMs are removed)
ON_HYPERVISOR = frozenset({S, A, O, F})
#: states that count against a hypervisor's capacity
USES_CAPACITY = frozenset({P, S, A, O, F})


def allowed(src: State, dst: State) -> bool:
    return dst in TRANSITIONS[src]


def holds_addresses(state: State) -> bool:
    return state in HOLDS_ADDRESSES


def in_dhcp(state: State) -> bool:
    return state in IN_DHCP


def in_dns(state: State) -> bool:
    return state in IN_DNS


def delivered(state: State) -> bool:
    return state in DELIVERED


def on_hypervisor(state: State) -> bool:
    return state in ON_HYPERVISOR
