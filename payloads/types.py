"""The payload data types components/ delivers: files with modes and reload actions.

The reload commands are declared by each group's module (payloads.roles.RELOAD_COMMANDS)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class PayloadFile:
    """One file for one host: absolute path, content, mode and what a change to it must reload."""

    path: str
    content: str
    mode: int = 0o644
    reload: str | None = None
    #: the delivery group: "base" (the machine's own files) or the role that needs it
    #: (payloads/roles/: "dhcp", "dns", "hypervisor").  Each group is delivered, reloaded and listed
    #: in its own manifest apart from the others, so a DHCP change never touches
    #: the base files of the DHCP server.
    group: str = "base"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


@dataclass(frozen=True)
class MachinePayload:
    """Every file one machine receives, sorted by path (the manifest included)."""

    machine: str
    files: tuple[PayloadFile, ...]

    @property
    def digest(self) -> str:
        """sha256 over (path, mode, content) of every file: changes iff the delivered tree changes."""
        h = hashlib.sha256()
        for f in self.files:
            data = f.content.encode()
            h.update(f"{f.path}\0{f.mode:o}\0{len(data)}\0".encode())
            h.update(data)
        return h.hexdigest()

    def groups(self) -> dict[str, tuple[PayloadFile, ...]]:
        """Files by delivery group, each sorted by path; groups in sorted order."""
        out: dict[str, list[PayloadFile]] = {}
        for f in self.files:
            out.setdefault(f.group, []).append(f)
        return {g: tuple(out[g]) for g in sorted(out)}

    def reloads(self) -> tuple[str, ...]:
        return tuple(sorted({f.reload for f in self.files if f.reload is not None}))

    def file(self, path: str) -> PayloadFile:
        """The file at ``path`` (KeyError if absent)."""
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)
