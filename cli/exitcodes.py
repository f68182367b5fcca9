"""The exit status of every ``uniform`` command, defined once (docs/cli.md has the table)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Exit", "UsageError"]


class Exit(IntEnum):
    """What a ``uniform`` command's exit status means."""

    #: done; nothing to report (a valid inventory, no drift, no violation, previews passed)
    OK = 0
    #: the command ran and found problems: an invalid inventory, a refused edit, unpinned
    #: addresses, policy violations, drift on a host, a failed preview
    PROBLEMS = 1
    #: the command line was wrong (argparse's own status): unknown option, missing argument,
    #: no customer chosen, unknown stack or customer
    USAGE = 2
    #: ``verify``: at least one host could not be verified (unreachable, no pinned host key,
    #: timed out); the others were checked and their drift is reported too
    UNVERIFIED = 3
    #: Ctrl-C (128 + SIGINT); an interrupted edit is undone
    INTERRUPTED = 130


class UsageError(Exception):
    """A user error that is not an inventory problem: printed as one line, exit ``Exit.USAGE``."""
