"""What a delivery group (the machine's own "base" files, or a role) declares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from inventory.model import Machine

from ..context import Context
from ..types import PayloadFile

__all__ = ["FilesFn", "Group", "Role"]

#: the files of one group for one machine (their ``group`` field is set by render)
FilesFn = Callable[[Context, Machine], list[PayloadFile]]


@dataclass(frozen=True)
class Group:
    """A delivery group: delivered, reloaded and listed in its own manifest apart from the others."""

    name: str
    files: FilesFn
    #: reload action name -> idempotent shell command, for every ``reload`` its files carry
    reloads: Mapping[str, str]


@dataclass(frozen=True)
class Role(Group):
    """A role a machine file may list in ``roles:``; its group has the role's name."""

    #: the Pulumi type token of the role's component.  It is part of every resource's URN:
    #: changing it makes every deployed stack replace the role's resources.
    component: str
