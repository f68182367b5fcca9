"""One local file tree: how uniform writes, removes and reads files under a directory.

A host's absolute path ``/etc/hostname`` lives at ``<root>/etc/hostname``.  Used by
delivery's local mode (components/delivery.py), verify's local mode (ops/verify.py)
and ``uniform render`` (:func:`write_tree`).  Pure Python, no Pulumi.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from payloads import MachinePayload

__all__ = ["apply", "local_path", "observe", "read_texts", "remove", "write", "write_tree"]


def local_path(root: Path, path: str) -> Path:
    """Where the host path ``path`` lives under ``root``."""
    return root / path.lstrip("/")


def write(root: Path, path: str, content: str, mode: int) -> Path:
    """Write one file with its mode, atomically: a reader never sees half a file."""
    dest = local_path(root, path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.uniform-tmp")
    tmp.write_bytes(content.encode())
    os.chmod(tmp, mode)
    os.replace(tmp, dest)
    return dest


def remove(root: Path, path: str) -> None:
    """Remove one file, then the directories that held only it, up to and including ``root``
    (a machine that left leaves nothing behind)."""
    dest = local_path(root, path)
    dest.unlink(missing_ok=True)
    parent = dest.parent
    while parent != root.parent and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def apply(root: Path, files: Mapping[str, tuple[str, int]], removed: Iterable[str]) -> None:
    """Write ``files`` (path -> (content, mode)), then remove the paths in ``removed``."""
    for path, (content, mode) in sorted(files.items()):
        write(root, path, content, mode)
    for path in removed:
        remove(root, path)


def observe(root: Path, paths: Iterable[str]) -> dict[str, tuple[str, int]]:
    """path -> (sha256, mode) of each of ``paths`` that is a regular file under ``root``."""
    out: dict[str, tuple[str, int]] = {}
    for path in sorted(set(paths)):
        local = local_path(root, path)
        if local.is_file():
            out[path] = (hashlib.sha256(local.read_bytes()).hexdigest(), local.stat().st_mode & 0o7777)
    return out


def read_texts(root: Path, directory: str, pattern: str = "*") -> dict[str, str]:
    """File name -> text of the regular files matching ``pattern`` in the host directory ``directory``."""
    d = local_path(root, directory)
    if not d.is_dir():
        return {}
    return {p.name: p.read_text(errors="replace") for p in sorted(d.glob(pattern)) if p.is_file()}


def write_tree(payloads: Mapping[str, MachinePayload], outdir: Path) -> list[Path]:
    """Write every payload under ``outdir/<machine>/`` with its modes.

    Files under ``outdir/<machine>`` that are not in the payload are removed (and
    directories left empty by that), so each machine's tree equals its payload
    exactly.  Machine directories of machines not in ``payloads`` are left alone.
    Returns the written paths, sorted.  Unchanged files are not rewritten.
    """
    outdir = Path(outdir)
    written: list[Path] = []
    for name in sorted(payloads):
        root = outdir / name
        wanted: set[Path] = set()
        for f in payloads[name].files:
            target = local_path(root, f.path)
            wanted.add(target)
            if target.is_file() and not target.is_symlink() and target.read_bytes() == f.content.encode():
                os.chmod(target, f.mode)
            else:
                write(root, f.path, f.content, f.mode)
            written.append(target)
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root, topdown=False):
                d = Path(dirpath)
                for fn in filenames:
                    p = d / fn
                    if p not in wanted:
                        p.unlink()
                for dn in dirnames:
                    sub = d / dn
                    if sub.is_symlink():
                        sub.unlink()
                    elif not any(sub.iterdir()):
                        sub.rmdir()
    return sorted(written)
