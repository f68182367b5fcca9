"""What a customer should look like on disk after local delivery, and what it does.

Shared by the crash tests (tests/e2e/test_crash_safety.py, tests/postgres/test_backend.py):
``expected_tree`` renders the inventory, ``delivered_tree`` reads what delivery wrote, and the
two compare with ``==``.  A rendered file naming a host key uniform made holds placeholders
(payloads/secrets.py); the delivered one holds the key, which only the state knows, so such a
file is expected as a pattern (:class:`Substituted`)."""

from __future__ import annotations

import os
from pathlib import Path

import inventory
import payloads
from payloads import secrets

__all__ = ["Substituted", "delivered_tree", "expected_tree", "files_under"]


class Substituted:
    """The content of a rendered file naming a host key: equal to the delivered bytes with
    any key in place of its placeholders."""

    def __init__(self, content: str) -> None:
        self.pattern = secrets.pattern(content)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, bytes) and self.pattern.fullmatch(other.decode(errors="replace")) is not None

    def __repr__(self) -> str:
        return f"Substituted({self.pattern.pattern[:60]!r}...)"

    __hash__ = None  # type: ignore[assignment]


def expected_tree(inv_dir: Path) -> dict[str, tuple[bytes | Substituted, int]]:
    """machine/path -> (content, mode) for every file the inventory renders."""

    def content(text: str) -> bytes | Substituted:
        return Substituted(text) if secrets.names(text) else text.encode()

    return {
        f"{name}{f.path}": (content(f.content), f.mode)
        for name, pl in payloads.render_customer(inventory.load(inv_dir)).items()
        for f in pl.files
    }


def files_under(out: Path) -> list[Path]:
    """Every file under ``out`` (hidden and temporary ones included), sorted; safe while the
    engine creates and removes directories (os.walk skips what vanished)."""
    return sorted(Path(d) / f for d, _, files in os.walk(out) for f in files)


def delivered_tree(out: Path) -> dict[str, tuple[bytes, int]]:
    """machine/path -> (content, mode) of every file under ``out``; one that vanishes while
    being read is left out (only while a run is going)."""
    tree = {}
    for p in files_under(out):
        try:
            tree[str(p.relative_to(out))] = (p.read_bytes(), p.lstat().st_mode & 0o7777)
        except FileNotFoundError:
            continue
    return tree
