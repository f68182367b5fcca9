"""Run one check per host, a few at a time: verify and verify --adopt alike."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["each_host"]

T = TypeVar("T")
R = TypeVar("R")


def each_host(
    targets: Sequence[T],
    check: Callable[[T], R],
    failed: Callable[[T, Exception], R],
    machine: Callable[[R], str],
    jobs: int,
    progress: Callable[[int, int, R], None] | None = None,
) -> list[R]:
    """``check`` every target, at most ``jobs`` at a time; results sorted by ``machine``.

    An exception on one host becomes its ``failed`` result: a bug or an OS error on one host
    must not hide the others. ``progress(done, total, result)`` is called for each result as
    it arrives, one call at a time."""
    lock = threading.Lock()
    done = [0]

    def one(t: T) -> R:
        try:
            r = check(t)
        except Exception as e:
            r = failed(t, e)
        if progress:
            with lock:
                done[0] += 1
                progress(done[0], len(targets), r)
        return r

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, targets))
    return sorted(results, key=machine)
