"""The role registry: every delivery group, and the one place a role is listed.

A machine's files come in groups: ``base`` (its own files, every delivered machine)
and one group per role it lists in ``roles:``.  Each group is one module here, which
declares its name, its files, its reload commands and (roles only) the Pulumi
component type.  Everything else derives from :data:`ROLES`: the role names
validation accepts (passed down to ``inventory.load(..., known_roles=ROLE_NAMES)``),
:data:`RELOAD_COMMANDS`, the service components and the delivery resources' names.
Adding a role: docs/payloads.md, "Adding a role".
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from . import base, dhcp, dns, hypervisor
from ._group import FilesFn, Group, Role

__all__ = [
    "BASE",
    "GROUPS",
    "RELOAD_COMMANDS",
    "ROLES",
    "ROLE_NAMES",
    "FilesFn",
    "Group",
    "Role",
    "component_name",
    "group_of",
    "resource_name",
]

#: the machine's own group (not a role: a machine file cannot list it)
BASE: Group = base.GROUP

#: role name -> role, in this order everywhere (components, manifests, messages)
ROLES: MappingProxyType[str, Role] = MappingProxyType(
    {r.name: r for r in (dhcp.ROLE, dns.ROLE, hypervisor.ROLE)}
)

#: what ``roles:`` in a machine file may contain
ROLE_NAMES: tuple[str, ...] = tuple(ROLES)

#: every delivery group's name: "base" first, then the roles
GROUPS: tuple[str, ...] = (BASE.name, *ROLE_NAMES)


def _reloads(groups: Iterable[Group]) -> dict[str, str]:
    out: dict[str, str] = {}
    for g in groups:
        for name, command in g.reloads.items():
            # two groups may share a daemon (dnsmasq serves DHCP and DNS): one command for both
            if out.setdefault(name, command) != command:
                raise ValueError(f"reload {name!r}: group {g.name!r} declares a different command")
    return out


#: reload action name -> shell command run on the host after a file carrying it changed.
#: Commands are idempotent and safe to run when nothing changed.
RELOAD_COMMANDS: MappingProxyType[str, str] = MappingProxyType(_reloads((BASE, *ROLES.values())))

_FILES_SUFFIX = "-files"


def resource_name(machine: str, group: str) -> str:
    """The name of the delivery resource carrying ``machine``'s ``group`` files:
    ``<machine>-base``, or ``<machine>-<role>-files`` (a child of the role's component)."""
    if group == BASE.name:
        return f"{machine}-{BASE.name}"
    if group not in ROLES:
        raise KeyError(f"unknown delivery group {group!r}; known: {', '.join(GROUPS)}")
    return f"{component_name(machine, group)}{_FILES_SUFFIX}"


def component_name(machine: str, role: str) -> str:
    """The name of ``machine``'s component for ``role``: ``<machine>-<role>``."""
    return f"{machine}-{role}"


def group_of(name: str) -> tuple[str, str] | None:
    """The inverse of :func:`resource_name`: ``svc1-dhcp-files`` -> (``svc1``, ``dhcp``),
    ``web1-base`` -> (``web1``, ``base``); None for any other name."""
    for group in (*ROLE_NAMES, BASE.name):
        suffix = resource_name("", group)
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], group
    return None
