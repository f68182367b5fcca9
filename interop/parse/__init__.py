"""Parsers of live configuration, one module per format; each returns an ``interop.records.Site``.

A malformed input raises ``interop.parse.ParseError`` naming the file and line; every
problem in a file is collected before raising, as the inventory loader does."""

from __future__ import annotations

from interop.records import Source

__all__ = ["ParseError"]


class ParseError(Exception):
    """Problems in input files, each with its source: raised once with all of them."""

    def __init__(self, problems: list[tuple[Source, str]]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(f"{src}: {msg}" for src, msg in self.problems))
