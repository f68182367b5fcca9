"""The delivery resource's wire format (what the engine stores and hands back) and the pure
comparisons on it: which files to write, and the files as they go onto the target with the
secret values substituted (payloads/secrets.py).  Split from components/delivery.py, which
holds the provider and the resource; no Pulumi here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NotRequired, TypedDict

from connectors.target import Target
from payloads import secrets as placeholders
from payloads.index import RecordedFile, index_of, parse_index, recorded

__all__ = [
    "FileRecord",
    "FilesInputs",
    "FilesOutputs",
    "PlacementRecord",
    "RecordedFile",
    "changed",
    "index_of",
    "recorded",
    "substituted",
    "wanted",
]


class FileRecord(RecordedFile):
    """One file to deliver (the inputs keep its content, so a preview diff shows lines)."""

    content: str


class PlacementRecord(TypedDict):
    """Where a VM is defined, carried by its base files (see FilesProvider.check)."""

    vm: str
    hypervisor: str
    move: list[str] | None  # [to, "fresh"|"copied"]: the machine file acknowledges this move


class FilesInputs(TypedDict):
    """What the program registers.  Each file is two things: its content under ``files`` (so
    `pulumi preview --diff` shows the changed lines of each file), and its line in ``index``
    (mode, hash, reload).  One string for all the files' metadata, not a map per file: every
    property is a value that the SDK, the engine and the provider each walk, copy and
    (de)serialise on every run, changed or not (docs/scale.md "What changed next")."""

    group: str  # base, dhcp, dns, hypervisor
    target: Target
    files: dict[str, str]  # path -> content
    index: str  # index_of: one line per file, "path<TAB>mode<TAB>sha256<TAB>reload"
    reload: list[str]  # the group's reload commands, in order
    private_key: str | None
    # a VM defined on its hypervisor (base group only); absent in states recorded before
    # the Placement resource was folded in here (docs/scale.md)
    placement: NotRequired[PlacementRecord | None]
    # placeholder name -> value (payloads/secrets.py), only when a file names one
    secrets: NotRequired[dict[str, str]]
    # the machine is being installed (staged): unreachable is no failure, only when True
    installing: NotRequired[bool]


class FilesOutputs(TypedDict):
    """The inputs minus file contents (see components.delivery._outputs).

    Recorded since the index: ``index``.  Recorded before it: ``files``, path -> its mode,
    hash (and reload); such outputs stay until the resource's next update, so both are read
    (:func:`recorded`)."""

    group: str
    target: Target
    index: NotRequired[str]
    files: NotRequired[dict[str, RecordedFile]]
    reload: list[str]
    private_key: str | None
    placement: NotRequired[PlacementRecord | None]
    secrets: NotRequired[dict[str, str]]
    installing: NotRequired[bool]


def wanted(news: FilesInputs) -> dict[str, FileRecord]:
    """The files the inputs ask for, each with its content."""
    contents = news.get("files") or {}
    return {
        path: FileRecord(content=contents[path], **r)
        for path, r in parse_index(news.get("index") or "").items()
    }


def changed(
    old_files: Mapping[str, RecordedFile],
    new_files: Mapping[str, FileRecord],
    old_secrets: Mapping[str, str] | None = None,
    new_secrets: Mapping[str, str] | None = None,
) -> tuple[dict[str, FileRecord], list[str]]:
    """Files to (re)write and paths to remove, going from olds to news.

    A file naming a secret value whose value changed is rewritten too: its recorded hash is
    the placeholder's (payloads/secrets.py)."""
    olds_s = old_secrets if isinstance(old_secrets, Mapping) else {}
    if new_secrets is not None and not isinstance(new_secrets, Mapping):
        # a preview before the values exist (a key being made): every file naming one changes
        moved: set[str] | None = None
    else:
        news_s = new_secrets or {}
        moved = {k for k in set(olds_s) | set(news_s) if olds_s.get(k) != news_s.get(k)}

    def revalued(content: str) -> bool:
        found = placeholders.names(content)
        return bool(found) and (moved is None or bool(found & moved))

    write = {
        p: f
        for p, f in new_files.items()
        if p not in old_files
        or old_files[p]["sha256"] != f["sha256"]
        or old_files[p]["mode"] != f["mode"]
        or revalued(f["content"])
    }
    remove = sorted(p for p in old_files if p not in new_files)
    return write, remove


def substituted(props: FilesInputs | FilesOutputs, write: Mapping[str, FileRecord]) -> dict[str, FileRecord]:
    """``write`` with the secret values substituted: the files as they go onto the target.

    Raises KeyError(path, name) for a placeholder without its value (never the value)."""
    values = props.get("secrets") or {}
    out = dict(write)
    for path, f in write.items():
        if placeholders.names(f["content"]):
            try:
                out[path] = {**f, "content": placeholders.substitute(f["content"], values)}
            except KeyError as e:
                raise KeyError(path, e.args[0]) from None
    return out
