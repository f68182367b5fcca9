"""Where a defined VM runs, as a resource: the engine refuses a move that would lose its disks.

A VM's disks live on its hypervisor (``disks.sh`` creates the ones that do not exist yet
and never touches existing ones). Moving the VM to another hypervisor in the inventory
re-defines it there, where its disks do not exist: it would boot from empty disks, and
the old ones would stay behind unused. Only the deployed state knows where the VM ran,
so the check lives in this resource's provider: ``check`` sees the recorded hypervisor
(olds) and the new one, and fails the preview -- and so the update -- unless the machine
file acknowledges this very move (``move: {to: <new hypervisor>, disk: fresh|copied}``,
written by ``uniform machine move --fresh-disk|--disk-copied``). The preview then shows
the placement change and how the disks got there. docs/inventory.md "Moving a VM".
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

__all__ = ["Placement", "move_problem"]


def move_problem(vm: str, old: str | None, new: str, move: tuple[str, str] | None) -> str | None:
    """Why moving ``vm`` from ``old`` to ``new`` is refused, or None."""
    if old is None or old == new or (move is not None and move[0] == new):
        return None
    return (
        f"{vm} would move from hypervisor {old} to {new}, but its disks are on {old}: defined on {new}, "
        f"it would start from empty disks. Copy the disks to {new} first and run `uniform machine move "
        f"{vm} --hypervisor {new} --disk-copied`, or accept empty disks with `--fresh-disk` "
        "(docs/inventory.md 'Moving a VM')"
    )


class PlacementProvider(ResourceProvider):
    """No effect on any host: it records where the VM is defined, and guards moves."""

    serialize_as_secret_always = False  # a reference to this class, no secret (see FilesProvider)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        move = news.get("move")
        why = move_problem(
            str(news["vm"]),
            (_olds or {}).get("hypervisor"),
            str(news["hypervisor"]),
            (str(move[0]), str(move[1])) if move else None,
        )
        return CheckResult(news, [CheckFailure("hypervisor", why)] if why else [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("hypervisor", "move")
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in keys), replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=str(props["vm"]), outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class Placement(pulumi.dynamic.Resource, module="uniform", name="Placement"):
    """``pulumi-python:dynamic/uniform:Placement``: one per VM defined on a hypervisor."""

    def __init__(
        self,
        name: str,
        *,
        vm: str,
        hypervisor: str,
        move: tuple[str, str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {"vm": vm, "hypervisor": hypervisor, "move": list(move) if move else None}
        super().__init__(PlacementProvider(), name, props, opts)
