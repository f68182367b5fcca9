"""The facts the merge works on: each value with where it was read and its rank (the
source's place in command-line order), per MAC and per machine (a group of MACs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from interop.records import Domain, Source

__all__ = ["Fact", "Group", "MacFacts", "Rank", "short"]

Rank = tuple[int, int]  # (site index in command-line order, position in that site)


@dataclass
class Fact:
    value: str
    source: Source
    rank: Rank


@dataclass
class MacFacts:
    mac: str
    rank: Rank
    v4: list[Fact] = field(default_factory=list)
    v6: list[Fact] = field(default_factory=list)
    names: list[Fact] = field(default_factory=list)  # DHCP host names, short
    domain: tuple[Domain, int, Rank] | None = None  # (domain, NIC index, rank)
    ipv4: Fact | None = None  # chosen
    ipv6: Fact | None = None


@dataclass
class Group:
    """The MACs of one machine, and what is decided about it."""

    macs: list[str]
    rank: Rank
    existing: str | None = None  # the inventory machine it is
    domain: tuple[Domain, Rank] | None = None
    name: Fact | None = None
    how: str = ""  # where the name came from: inventory, dhcp, dns, libvirt, address
    dropped: bool = False


def short(name: str) -> str:
    return name.rstrip(".").split(".", 1)[0].lower()
