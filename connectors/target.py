"""Where a machine's files go: its delivery target, from the inventory and the stack's settings.

One definition for delivery (components/, where the target is a resource input and so
crosses the Pulumi engine as plain JSON) and verify (ops/verify.py).  Pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypedDict

from inventory.model import Inventory, Machine

from .ssh import Endpoint

__all__ = ["LocalTarget", "SshTarget", "Target", "endpoint", "local_target", "ssh_target", "target_for"]


class SshTarget(TypedDict):
    """One OpenSSH session per change: ``user@host:port``, proving the pinned ``host_key``."""

    mode: Literal["ssh"]
    host: str | None  # None: the machine has no address to connect to
    port: int  # the engine hands numbers back as floats (22.0): read with int()
    user: str
    host_key: str | None  # None: not pinned, and so never connected to


class LocalTarget(TypedDict):
    """A directory per machine, relative to the project (a moved checkout replaces nothing)."""

    mode: Literal["local"]
    root: str


Target = SshTarget | LocalTarget


def ssh_target(
    inv: Inventory,
    machine: Machine,
    *,
    user: str | None = None,
    port: int | None = None,
    made: Mapping[str, str] | None = None,
) -> SshTarget:
    """How ssh delivery reaches ``machine`` (``user``/``port`` override the customer's ``ssh``).

    The pinned key is the one recorded by hand in ``ssh.host_keys``, else the one uniform made
    for the machine (``made``: machine -> public key line, the stack's ``hostKeys`` output;
    components/hostkey.py).  A hand-recorded key takes precedence."""
    hand = dict(inv.customer.ssh.host_keys).get(machine.name)
    return {
        "mode": "ssh",
        "host": machine.ssh_address,
        "port": port or inv.customer.ssh.port,
        "user": user or inv.customer.ssh.user,
        "host_key": hand or (made or {}).get(machine.name),
    }


def local_target(inv: Inventory, machine: Machine) -> LocalTarget:
    return {"mode": "local", "root": f"{inv.customer.delivery.local_root.rstrip('/')}/{machine.name}"}


def target_for(
    inv: Inventory, machine: Machine, *, user: str | None = None, port: int | None = None
) -> Target:
    """``machine``'s delivery target under the customer's ``delivery.mode``."""
    if inv.customer.delivery.mode == "local":
        return local_target(inv, machine)
    return ssh_target(inv, machine, user=user, port=port)


def endpoint(t: SshTarget) -> Endpoint:
    """The session's endpoint (raises ValueError when the target has no address)."""
    if t["host"] is None:
        raise ValueError("no address to connect to")
    return Endpoint(host=t["host"], port=int(t["port"]), user=t["user"], host_key=t["host_key"])
