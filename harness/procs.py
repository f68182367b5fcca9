"""Process trees of an engine run, for the tests and benches that kill or watch one.

The engine starts its plugins (language host, dynamic provider) in process groups of their
own, so killing ``pulumi``'s process group leaves them running (facts.md): a killed run is
every process below it, found through /proc."""

from __future__ import annotations

import os
import signal
from pathlib import Path

__all__ = ["descendants", "kill_tree"]


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc), parents first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to ``pid`` and every process below it, all read before the first kill
    (a killed parent's children are re-parented and would be missed); the pids signalled."""
    pids = descendants(pid)
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    return pids
