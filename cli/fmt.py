"""Output helpers of the CLI: machines as table rows, JSON and one-line descriptions.

Memory sizes are ``inventory.units.format_mib`` (the one memory formatter)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from enum import Enum
from pathlib import Path
from typing import Any

from inventory import edit
from inventory.model import Inventory, Machine

from .exitcodes import UsageError

__all__ = ["addresses", "describe_new", "machine_json", "table", "write_atomically"]


def write_atomically(out: Path, text: str) -> None:
    """``text`` into ``out`` atomically: a temporary file beside it, renamed over it (a reader --
    Prometheus's file watcher, a running ssh, a browser -- sees the old file or the new, never
    half), with the usual mode (0666 less the umask: a server may read it as its own user).

    A directory, or a path that cannot be written, is a usage error and nothing is left behind
    (``-o /tmp`` once put a stray ``/.tmp.tmp`` at the root)."""
    if out.is_dir():
        raise UsageError(f"{out} is a directory: name the file to write")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, out)
    except OSError as e:
        with contextlib.suppress(OSError):  # not made, or its directory is not one
            tmp.unlink()
        raise UsageError(f"cannot write {out}: {e.strerror}") from None


def addresses(m: Machine) -> list[str]:
    return [a for n in m.nics for at in n.attachments for a in (at.ipv4, at.ipv6) if a]


def describe_new(inv: Inventory, name: str) -> str:
    """MACs and addresses of ``name`` with what is still unpinned."""
    loose = [line.split(": ", 1)[1] for line in edit.unpinned(inv) if line.startswith(f"{name}: ")]
    m = inv.machines[name]
    parts = [f"{n.name} {n.mac}" for n in m.nics] + addresses(m)
    text = ", ".join(parts) if parts else "no NICs"
    if loose:
        text += f"; not pinned yet ({len(loose)}): run `uniform pin` to write them into the file"
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def machine_json(m: Machine) -> dict[str, Any]:
    d = _jsonable(dataclasses.asdict(m))
    assert isinstance(d, dict)
    return d


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)
