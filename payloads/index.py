"""The index of a delivered group of files: one line per file, its path, mode, hash and reload.

What a delivery resource records of each file instead of a map per file
(components/delivery_wire.py, docs/scale.md "What changed next"), and what ``uniform review``
reads back from a preview's states -- in either shape a state may hold: the index, or
the map per file recorded before it.  Pure Python: the command line reads it without
the Pulumi SDK (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, cast

__all__ = ["RecordedFile", "file_hashes", "index_of", "parse_index", "recorded"]


class RecordedFile(TypedDict):
    """One delivered file as the outputs record it: enough to diff, update and delete."""

    mode: str  # octal, "0644"
    sha256: str
    # the reload command a change to this file needs ("" = nothing); absent in
    # records made before files named their reload (the whole group's then runs)
    reload: NotRequired[str]


def index_of(files: Mapping[str, RecordedFile]) -> str:
    """The index line of each file, sorted by path: ``path<TAB>mode<TAB>sha256[<TAB>reload]``.

    A record without a reload (made before files named theirs) has three fields, so that
    :func:`parse_index` gives it back as it was."""
    lines = []
    for path in sorted(files):
        f = files[path]
        fields = [path, f["mode"], f["sha256"], *([f["reload"]] if "reload" in f else [])]
        if any("\t" in v or "\n" in v for v in fields):
            raise ValueError(f"{path!r}: a tab or newline in a delivered file's path or reload command")
        lines.append("\t".join(fields))
    return "\n".join(lines)


def parse_index(index: str) -> dict[str, RecordedFile]:
    """path -> its record, from :func:`index_of`'s text."""
    out: dict[str, RecordedFile] = {}
    for line in index.split("\n") if index else []:
        path, mode, sha256, *reload = line.split("\t")
        rec = RecordedFile(mode=mode, sha256=sha256)
        if reload:
            rec["reload"] = reload[0]
        out[path] = rec
    return out


def recorded(olds: Mapping[str, Any]) -> dict[str, RecordedFile]:
    """The files recorded in outputs (or inputs) of either shape, without contents."""
    if "index" in olds:
        return parse_index(olds.get("index") or "")
    return {
        path: cast(RecordedFile, {k: v for k, v in f.items() if k != "content"})
        for path, f in (olds.get("files") or {}).items()
        if isinstance(f, Mapping)
    }


def file_hashes(props: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """path -> (sha256, mode) from inputs or outputs of any shape recorded (for uniform review)."""
    return {p: (f.get("sha256", ""), f.get("mode", "")) for p, f in recorded(props).items()}
