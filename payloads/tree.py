"""Write payloads to a directory tree: <outdir>/<machine>/<absolute path>."""

from __future__ import annotations

import os
from pathlib import Path

from .types import MachinePayload


def write_tree(payloads: dict[str, MachinePayload], outdir: Path) -> list[Path]:
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
            target = root / f.path.lstrip("/")
            wanted.add(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = f.content.encode()
            if not (target.is_file() and not target.is_symlink() and target.read_bytes() == data):
                if target.is_symlink() or target.exists():
                    target.unlink()
                target.write_bytes(data)
            os.chmod(target, f.mode)
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
