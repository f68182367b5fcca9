"""What a host holds at the paths ``uniform verify --adopt`` looks at (ops/adopt.py): the
script the host runs over one SSH session and its answer, or the same on a local tree.

Read-only: the host runs ``stat``, ``sha256sum``, ``base64`` and a directory listing, nothing
else, and sends a file's content only when its hash differs from uniform's and it is at most
:data:`READ_LIMIT` bytes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from connectors import local
from payloads import PayloadFile

__all__ = [
    "CONF_DIRS",
    "READ_LIMIT",
    "REMOTE_SCRIPT",
    "ParseError",
    "Seen",
    "conf_dirs",
    "observe_local",
    "parse_output",
]

#: a host file larger than this (bytes) is compared by hash only, never transferred
READ_LIMIT = 256 * 1024

#: directories a daemon reads whole (reader, file suffixes): a file there that uniform does
#: not deliver is read alongside uniform's after the first up.  dnsmasq refuses to start on a
#: keyword repeated across files, so an operator's old lan.conf next to uniform-dhcp.conf
#: means no DHCP: listed per host, to be moved onto uniform's path or removed (docs/adopt.md).
CONF_DIRS = {
    "/etc/dnsmasq.d/": ("dnsmasq", (".conf",)),
    "/etc/systemd/network/": ("systemd-networkd", (".link", ".network", ".netdev")),
}


@dataclass(frozen=True)
class Seen:
    """One path on the host.  ``kind``: file | missing | other (a directory, a device) | listed
    (a file found in a CONF_DIRS directory); ``content`` only when it differs and is small."""

    kind: str
    sha256: str = ""  # "unreadable" when the host could not read it
    mode: int = 0
    size: int = 0
    content: bytes | None = None


#: Runs on the host (POSIX sh + coreutils).  Reads "<expected sha256> <path>" lines on stdin
#: and answers for each: @@missing, @@other, or @@file MODE SIZE SHA256 PATH followed by the
#: content in base64 when the hash differs and the file is small, then @@end; for a line
#: "dir <directory/>", @@listed and the path of each regular file in it.  Read-only.
REMOTE_SCRIPT = f"""
set -u
LC_ALL=C; export LC_ALL
limit={READ_LIMIT}
while IFS=" " read -r want p; do
  [ -n "$p" ] || continue
  if [ "$want" = dir ]; then
    for f in "$p"*; do [ -f "$f" ] && printf '@@listed %s\\n' "$f"; done
    continue
  fi
  if [ -f "$p" ]; then
    st=$(stat -L -c '%a %s' -- "$p" 2>/dev/null) || st='0 0'
    if got=$(sha256sum < "$p" 2>/dev/null); then got=${{got%% *}}; else got=unreadable; fi
    printf '@@file %s %s %s\\n' "$st" "$got" "$p"
    if [ "$got" != "$want" ] && [ "$got" != unreadable ] && [ "${{st#* }}" -le "$limit" ]; then
      head -c "$limit" < "$p" | base64
    fi
    printf '@@end\\n'
  elif [ -e "$p" ] || [ -L "$p" ]; then
    printf '@@other %s\\n' "$p"
  else
    printf '@@missing %s\\n' "$p"
  fi
done
printf '@@done\\n'
"""


class ParseError(Exception):
    pass


def parse_output(text: str) -> dict[str, Seen]:
    """What REMOTE_SCRIPT printed: path -> Seen (raises ParseError on a truncated answer)."""
    seen: dict[str, Seen] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == "@@done":
            return seen
        if line.startswith("@@missing "):
            seen[line[len("@@missing ") :]] = Seen("missing")
        elif line.startswith("@@other "):
            seen[line[len("@@other ") :]] = Seen("other")
        elif line.startswith("@@listed "):
            seen.setdefault(line[len("@@listed ") :], Seen("listed"))
        elif line.startswith("@@file "):
            parts = line.split(" ", 4)
            if len(parts) != 5:
                raise ParseError(f"bad file line: {line!r}")
            _, mode, size, digest, path = parts
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != "@@end":
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ParseError("the host's answer ended early")
            try:
                content = base64.b64decode("".join(body), validate=True) if body else None
                seen[path] = Seen("file", digest, int(mode, 8), int(size), content)
            except ValueError as e:
                raise ParseError(f"bad answer for {path}: {e}") from e
        elif line:
            raise ParseError(f"unexpected line: {line[:80]!r}")
        i += 1
    raise ParseError("the host's answer ended early")


def observe_local(root: Path, files: Iterable[PayloadFile]) -> dict[str, Seen]:
    """The same observation on a local tree (delivery.mode local): <root>/<absolute path>."""
    seen: dict[str, Seen] = {}
    for f in files:
        p = local.local_path(root, f.path)
        if p.is_file():
            data = p.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            small = len(data) <= READ_LIMIT and digest != f.sha256
            seen[f.path] = Seen("file", digest, p.stat().st_mode & 0o7777, len(data), data if small else None)
        elif p.exists() or p.is_symlink():
            seen[f.path] = Seen("other")
        else:
            seen[f.path] = Seen("missing")
    for d in conf_dirs(files):
        folder = local.local_path(root, d)
        for p in sorted(folder.iterdir()) if folder.is_dir() else ():
            if p.is_file():
                seen.setdefault(d + p.name, Seen("listed"))
    return seen


def conf_dirs(files: Iterable[PayloadFile]) -> list[str]:
    """The CONF_DIRS directories the payload delivers into."""
    return sorted(
        {d for f in files for d in CONF_DIRS if f.path.startswith(d) and "/" not in f.path[len(d) :]}
    )
