"""What the three DHCP parsers share: where an included file is, reading it, MACs, names.

Include paths: dnsmasq (``conf-file=``), ISC dhcpd (``include "..."``) and Kea
(``<?include "..."?>``) all open a relative path as it is written, so relative to the
daemon's working directory, not to the including file (checked with ``dnsmasq --test``,
``dhcpd -t -cf`` and ``kea-dhcp4 -t`` run from another directory: the include is not
found). The parsers do the same against ``base`` (default: the current directory).
``root`` maps absolute paths into a copy of a server's tree: with ``root="site"``,
``/etc/kea/x.json`` is read from ``site/etc/kea/x.json``.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import netaddr

from interop.records import Source
from inventory.macs import normalise_mac

__all__ = ["Files", "Problems", "address", "mac", "name", "no_gc"]

Problems = list[tuple[Source, str]]


class Files:
    """Resolves and reads configuration files, naming them as the operator would."""

    def __init__(self, base: Path | str | None, root: Path | str | None) -> None:
        self.base = Path(base) if base is not None else None
        self.root = Path(root) if root is not None else None

    def resolve(self, written: str) -> Path:
        """Where an include names (the file the operator names to a parser is opened as is)."""
        p = Path(written)
        if p.is_absolute():
            return self.root / p.relative_to("/") if self.root is not None else p
        return self.base / p if self.base is not None else p

    @staticmethod
    def key(path: Path) -> str:
        """One key per file however it is reached (symlinks, ``..``), for loop detection."""
        return os.path.realpath(path)

    @staticmethod
    def read(path: Path, src: Source | None, problems: Problems) -> str | None:
        """The text of ``path``; a problem at ``src`` (or the file itself) when unreadable."""
        try:
            return path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as e:
            where = src if src is not None else Source(str(path), 0)
            problems.append((where, f"cannot read {path}: {e.strerror or e}"))
            return None


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a parser builds its (acyclic) records.

    A parse allocates hundreds of thousands of small objects and keeps them; CPython's
    collector then runs full collections over all of them again and again, which made a
    40,000-host file take twice as long (and growing faster than the file). Reference
    counting still frees everything; the collector is restored as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def mac(text: str) -> str | None:
    """``52-54-00-AB-CD-EF`` / ``52:54:00:ab:cd:ef`` -> ``52:54:00:ab:cd:ef``; None if not a MAC."""
    return normalise_mac(text.strip())


def address(text: str, version: int | None = None) -> str | None:
    """The normalised form of an IPv4/IPv6 address, or None (optionally of one family only).

    Only dotted quads count as IPv4 (netaddr would read ``10`` or ``10.1`` as addresses);
    they are checked by hand, the form netaddr gives them being the text itself, because
    netaddr takes ~20 us an address and a site has tens of thousands."""
    text = text.strip()
    if version != 6 and ":" not in text:
        parts = text.split(".")
        ok = len(parts) == 4 and all(
            0 < len(p) <= 3 and p.isascii() and p.isdigit() and (p[0] != "0" or p == "0") and int(p) < 256
            for p in parts
        )
        return text if ok else None
    if version != 4 and ":" in text:
        try:
            return str(netaddr.IPAddress(text, 6))
        except (netaddr.AddrFormatError, ValueError):
            return None
    return None


def name(text: str) -> str:
    """A host or domain name as the records hold it: lower case, no trailing dot."""
    return text.strip().rstrip(".").lower()
