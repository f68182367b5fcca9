"""The one progress display of ``uniform``: a line on stderr, rewritten in place on a terminal.

Shown when stderr is a terminal or with ``--progress``. Without a terminal each update is a
line of its own (``running`` prints one every 5 seconds). Loading, ``pin``'s file counter and
``verify``'s per-host lines all go through it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from inventory.build import load
from inventory.model import Inventory
from payloads import ROLE_NAMES  # validation accepts the registry's roles

__all__ = ["Progress", "load_with_progress"]


class Progress:
    """A one-line display on stderr; does nothing unless ``enabled``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._shown = False
        self._lock = threading.Lock()

    def show(self, text: str) -> None:
        if self.enabled:
            with self._lock:
                sys.stderr.write(f"\r\033[K{text}" if sys.stderr.isatty() else f"{text}\n")
                sys.stderr.flush()
                self._shown = True

    def done(self) -> None:
        """Clear the line on a terminal (the command's own output follows)."""
        if self.enabled and self._shown and sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
        self._shown = False

    def counter(self, label: str) -> Callable[[int, int], None]:
        """``tick(done, total)`` showing ``label done/total``, at most five times a second."""
        last = [0.0]

        def tick(done: int, total: int) -> None:
            now = time.monotonic()
            if done == total or now - last[0] >= 0.2:
                last[0] = now
                self.show(f"{label} {done}/{total}")

        return tick

    @contextmanager
    def running(self, label: str) -> Iterator[None]:
        """Elapsed seconds while a step with no counter of its own (loading) runs."""
        if not self.enabled:
            yield
            return
        stop = threading.Event()
        start = time.monotonic()

        def loop() -> None:
            while not stop.wait(0.5 if sys.stderr.isatty() else 5.0):
                self.show(f"{label} {time.monotonic() - start:.0f}s")

        self.show(f"{label}")
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()
            self.done()


def count_files(root: Path) -> int:
    try:
        return sum(1 for e in os.scandir(root / "machines") if e.name.endswith((".yaml", ".yml")))
    except OSError:
        return 0


def load_with_progress(root: Path, progress: Progress, *, require_pinned: bool = True) -> Inventory:
    with progress.running(f"loading {root} ({count_files(root)} machine files)"):
        return load(root, known_roles=ROLE_NAMES, require_pinned=require_pinned)
