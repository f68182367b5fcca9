"""The delivery manifests: what uniform records on a host about the files it delivered.

One JSON file per delivery group, ``/etc/uniform/manifest.d/<group>.json``:
``{"files": [{"mode", "path", "reload", "sha256"}, ...], "machine": ...}``.
Written by payloads (render), read back by verify from the host.  This module is
the only place that knows the layout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

__all__ = ["DIR", "dump", "group_of", "path", "recorded_paths"]

#: the directory holding one <group>.json per delivery group (a host path)
DIR = "/etc/uniform/manifest.d/"
SUFFIX = ".json"

_dumps = json.encoder.encode_basestring_ascii


class _Entry(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def mode(self) -> int: ...
    @property
    def reload(self) -> str | None: ...
    @property
    def sha256(self) -> str: ...


def path(group: str) -> str:
    """The manifest's host path for delivery group ``group``."""
    return f"{DIR}{group}{SUFFIX}"


def group_of(name: str) -> str | None:
    """The group a manifest file name (``dhcp.json``) or host path belongs to; None if not one."""
    base = name[len(DIR) :] if name.startswith(DIR) else name
    if "/" in base or not base.endswith(SUFFIX):
        return None
    return base[: -len(SUFFIX)]


def dump(machine: str, files: Sequence[_Entry]) -> str:
    """The manifest JSON, byte-identical to ``json.dumps(obj, indent=2, sort_keys=True) + "\\n"`` of
    ``{"machine": ..., "files": [{"mode", "path", "reload", "sha256"}, ...]}`` but written
    directly: the stdlib's indenting encoder is pure Python and was half the render time."""
    entries = [
        "    {\n"
        f'      "mode": "{f.mode:04o}",\n'
        f'      "path": {_dumps(f.path)},\n'
        f'      "reload": {_dumps(f.reload) if f.reload is not None else "null"},\n'
        f'      "sha256": "{f.sha256}"\n'
        "    }"
        for f in files
    ]
    body = "[\n" + ",\n".join(entries) + "\n  ]" if entries else "[]"
    return f'{{\n  "files": {body},\n  "machine": {_dumps(machine)}\n}}\n'


def recorded_paths(text: str) -> list[str]:
    """The paths a manifest names (an unparseable manifest names none)."""
    try:
        data = json.loads(text)
        return [str(f["path"]) for f in data.get("files", []) if isinstance(f, dict) and "path" in f]
    except (ValueError, AttributeError, TypeError):
        return []
