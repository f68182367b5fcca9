"""Problems found while loading an inventory, and the exception that carries them all."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: a location inside one YAML document: mapping keys and list indices from the document root
Loc = tuple[str | int, ...]


#: how much of a value that uniform does not know an error message may quote
EXCERPT = 40


def excerpt(value: object, limit: int = EXCERPT) -> str:
    """A short, escaped quotation of unknown input: ``repr`` (so control characters, quotes
    and newlines are escaped), cut to ``limit`` characters.  An error message never echoes
    more of a file than this: a pull request that points a machine file at a secret must
    not make CI print the secret."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(str(value))} characters)"


def _key(part: str) -> str:
    """A mapping key as it appears in a field path: plain when it is a short identifier."""
    if len(part) <= EXCERPT and part.replace("_", "").replace("-", "").isalnum() and part.isascii():
        return part
    return excerpt(part)


def render_path(path: Loc) -> str:
    """``("nics", 0, "networks", 0, "ipv4")`` -> ``nics[0].networks[0].ipv4``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_key(part)}" if out else _key(part)
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a customer's inventory."""

    customer: str
    file: str  # relative to the customer directory, e.g. "machines/web1.yaml"
    machine: str | None
    field: str  # e.g. "nics[0].networks[0].ipv4"; "" for the whole file/machine
    message: str
    line: int | None = None  # 1-based YAML line, when known
    #: location from the document root (used to find ``line``); not part of equality
    loc: Loc = dataclasses.field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [self.customer, where]
        if self.machine is not None:
            parts.append(_key(self.machine))  # a bad name is quoted, never printed raw
        if self.field:
            parts.append(self.field)
        return ": ".join(parts) + ": " + self.message


class InventoryError(Exception):
    """Raised by ``load`` (and friends) with every problem found, never just the first."""

    def __init__(self, customer: str, problems: list[Problem]) -> None:
        self.customer = customer
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"inventory {self.customer}: {len(self.problems)} problem(s)"]
        lines.extend(str(p) for p in self.problems)
        return "\n".join(lines)


class Reporter:
    """Collects problems for one customer; each problem is tied to a file and a location in it."""

    def __init__(self, customer: str) -> None:
        self.customer = customer
        self.problems: list[Problem] = []

    def add(
        self,
        file: str,
        loc: Loc,
        message: str,
        machine: str | None = None,
        base: Loc = (),
    ) -> None:
        """Record a problem. ``loc`` is relative to ``base`` (a machine's position in a group file)."""
        self.problems.append(
            Problem(self.customer, file, machine, render_path(loc), message, None, base + loc)
        )

    def __bool__(self) -> bool:
        return bool(self.problems)
