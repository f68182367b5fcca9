"""Before the first ``up``: how the files on the hosts today differ from what uniform would deliver.

    uniform verify --adopt -C acme [--identity KEY] [--machine NAME] [--json]   (cli/ops_commands.py)

``uniform verify`` compares a host with the manifest uniform delivered there.  A host
uniform has never delivered to (one adopted with ``uniform import``) has no manifest,
and its first ``up`` will overwrite whatever the operator wrote by hand.  This module
shows that before it happens.  It reads every payload file (``payloads.render_customer``,
the same render ``pulumi up`` delivers) on the host, over delivery's own connection:
one OpenSSH session per host (connectors/ssh.py: pinned host key, BatchMode; never a
host whose key is not pinned), or the local tree with ``delivery.mode: local``.  It
reads only: the session runs ``stat``, ``sha256sum`` and ``base64`` and writes nothing.

Per file: identical, differs (a unified diff, bounded), missing (the first up creates
it), mode differs.  The host sends a file's content only when its hash differs and it
is at most :data:`READ_LIMIT` bytes.  A diff is never printed when either side looks
like it holds a secret (:func:`secret_reason`: a private key block, ``secret "..."``
as in a BIND/TSIG key, ``password=`` and the like, or a key-like file name): then only
the two hashes are shown.  Per host it also lists the reload commands the first ``up``
runs: delivery creates every group, writes all of its files and runs every reload
they name (components/delivery.py), whether or not the content was already identical.
"""

from __future__ import annotations

import difflib
import re
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import payloads
from connectors import ssh as session
from connectors.target import SshTarget, endpoint, ssh_target
from inventory import lifecycle
from inventory.model import Inventory
from payloads import MachinePayload, PayloadFile

from .adopt_host import (
    CONF_DIRS,
    READ_LIMIT,
    REMOTE_SCRIPT,
    ParseError,
    Seen,
    conf_dirs,
    observe_local,
    parse_output,
)
from .pool import each_host
from .verify import JOBS, SshOptions

__all__ = [
    "DIFF_LINES", "READ_LIMIT", "REMOTE_SCRIPT", "FileResult", "HostResult", "ParseError", "Seen", "Target",
    "adopt_local", "adopt_ssh", "check_hosts", "compare", "compare_file", "first_up_reloads", "format_text",
    "observe_local", "parse_output", "secret_reason", "targets",
]  # fmt: skip

#: at most this many lines of unified diff per file (the rest is counted, not shown)
DIFF_LINES = 60
#: a diff line longer than this is cut (a minified JSON line would flood the terminal)
LINE_WIDTH = 200

# What makes a file's content unfit to print: either side of a diff matching one of these
# shows hashes only.  Payloads carry no secret today (no private key is ever rendered), but
# the host's hand-written file may: a BIND config with its TSIG/rndc key, a Kea config with
# a database password.
_SECRET_TEXT = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"
    r"|\bsecret\s+\""  # BIND/TSIG: secret "base64";
    r"|\b(password|passwd|passphrase|secret|psk|token|api[_-]?key|private[_-]?key|auth[_-]?key)"
    r"[\"']?\s*[:=]",
    re.IGNORECASE,
)
_SECRET_NAME = re.compile(
    r"(\.key|\.pem|\.p12|\.pfx|\.psk|secret[^/]*|shadow|id_(rsa|dsa|ecdsa|ed25519))$", re.IGNORECASE
)


def secret_reason(path: str, *texts: str) -> str | None:
    """Why ``path`` with these contents must not be printed (None: it may be).  Names the
    line number of the first match, never its text."""
    if _SECRET_NAME.search(path.rsplit("/", 1)[-1]):
        return "a key-like file name"
    for side, text in zip(("on the host", "from uniform"), texts, strict=False):
        m = _SECRET_TEXT.search(text)
        if m:
            return f"line {text.count(chr(10), 0, m.start()) + 1} {side} looks like a secret"
    return None


# ---------------------------------------------------------------- what would be delivered


@dataclass(frozen=True)
class Target:
    """One machine: delivery's ssh target (connectors.target) and its payload as ``up`` renders it."""

    machine: str
    to: SshTarget
    payload: MachinePayload


def targets(
    inv: Inventory, *, user: str | None = None, port: int | None = None, only: Iterable[str] = ()
) -> list[Target]:
    """Every delivered machine with its payload, sorted by name (``only``: a subset)."""
    wanted = set(only)
    return [
        Target(name, ssh_target(inv, inv.machines[name], user=user, port=port), payload)
        for name, payload in sorted(payloads.render_customer(inv).items())
        if lifecycle.delivered(inv.machines[name].state) and (not wanted or name in wanted)
    ]


def first_up_reloads(payload: MachinePayload) -> dict[str, list[str]]:
    """group -> the reload commands the first ``up`` runs on the host, in delivery's order.

    The same list components/stack.py gives each group's delivery resource: creating it
    writes every file and so runs every reload its files name."""
    out: dict[str, list[str]] = {}
    for group, files in payload.groups().items():
        cmds = sorted({payloads.RELOAD_COMMANDS[f.reload] for f in files if f.reload})
        if cmds:
            out[group] = cmds
    return out


# ---------------------------------------------------------------- comparison (pure)


@dataclass(frozen=True)
class FileResult:
    path: str
    status: str  # identical | differs | missing | mode | other | unreadable
    detail: str = ""  # mode change, size, why no diff is shown
    diff: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "detail": self.detail, "diff": list(self.diff)}


@dataclass(frozen=True)
class HostResult:
    machine: str
    address: str
    files: tuple[FileResult, ...] = ()
    reloads: dict[str, list[str]] | None = None  # group -> commands the first up runs
    #: (path, reader) of files in a CONF_DIRS directory that uniform does not deliver
    others: tuple[tuple[str, str], ...] = ()
    error: str | None = None  # the host could not be read
    seconds: float = 0.0

    @property
    def status(self) -> str:
        """unchanged (every file identical) | changes (the first up changes files) | unreachable"""
        if self.error is not None:
            return "unreachable"
        return "changes" if any(f.status != "identical" for f in self.files) else "unchanged"

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "address": self.address,
            "status": self.status,
            "files": [f.as_dict() for f in self.files],
            "reloads": self.reloads or {},
            "others": [{"path": p, "reader": r} for p, r in self.others],
            "error": self.error,
        }


def _diff(machine: str, path: str, host: str, want: str) -> tuple[str, ...]:
    lines = list(
        difflib.unified_diff(
            host.splitlines(),
            want.splitlines(),
            fromfile=f"{machine}:{path} (on the host)",
            tofile=f"{path} (uniform)",
            lineterm="",
        )
    )
    shown = [ln if len(ln) <= LINE_WIDTH else ln[:LINE_WIDTH] + "..." for ln in lines[:DIFF_LINES]]
    if len(lines) > DIFF_LINES:
        shown.append(f"... {len(lines) - DIFF_LINES} more diff lines")
    return tuple(shown)


def compare_file(machine: str, f: PayloadFile, seen: Seen | None) -> FileResult:
    """One payload file against what the host holds at its path."""
    if seen is None or seen.kind == "missing":
        return FileResult(f.path, "missing", f"would be created, mode {f.mode:04o}")
    if seen.kind == "other":
        return FileResult(f.path, "other", "not a regular file on the host")
    if seen.sha256 == "unreadable":
        return FileResult(f.path, "unreadable", "the host could not read it")
    mode = f"mode {seen.mode:04o} -> {f.mode:04o}" if seen.mode != f.mode else ""
    if seen.sha256 == f.sha256:
        return FileResult(f.path, "mode" if mode else "identical", mode)
    why = [mode] if mode else []
    hashes = f"sha256 {seen.sha256[:12]} on the host, {f.sha256[:12]} from uniform"
    if seen.content is None:
        return FileResult(
            f.path, "differs", ", ".join([*why, f"{seen.size} bytes, {hashes} (too large to diff)"])
        )
    host = seen.content.decode("utf-8", errors="replace")
    secret = secret_reason(f.path, host, f.content)
    if secret:
        return FileResult(f.path, "differs", ", ".join([*why, f"{hashes}; no diff shown: {secret}"]))
    if "\0" in host:
        return FileResult(f.path, "differs", ", ".join([*why, f"binary on the host, {hashes}"]))
    return FileResult(f.path, "differs", ", ".join(why), _diff(machine, f.path, host, f.content))


def compare(machine: str, address: str, payload: MachinePayload, seen: dict[str, Seen]) -> HostResult:
    files = tuple(compare_file(machine, f, seen.get(f.path)) for f in payload.files)
    ours = {f.path for f in payload.files}
    others = tuple(
        (p, reader)
        for p, s in sorted(seen.items())
        if s.kind == "listed" and p not in ours
        for d, (reader, suffixes) in CONF_DIRS.items()
        if p.startswith(d) and p.endswith(suffixes)
    )
    return HostResult(machine, address, files, first_up_reloads(payload), others)


# ---------------------------------------------------------------- reading the hosts


def adopt_ssh(t: Target, o: SshOptions) -> HostResult:
    """Read one host in one session (connectors.ssh, as delivery connects) and compare."""
    address = f"{t.to['user']}@{t.to['host']}:{t.to['port']}"
    start = time.monotonic()

    def fail(msg: str) -> HostResult:
        return HostResult(t.machine, address, error=msg, seconds=round(time.monotonic() - start, 3))

    if t.to["host"] is None:
        return fail("no address to connect to")
    if not t.to["host_key"]:
        return fail(f"no pinned host key (customer.yaml ssh.host_keys.{t.machine}); not connecting")
    ask = "".join(
        [
            *(f"{f.sha256} {f.path}\n" for f in t.payload.files),
            *(f"dir {d}\n" for d in conf_dirs(t.payload.files)),
        ]
    ).encode()
    try:
        res = session.run(
            endpoint(t.to),
            "sh -c " + shlex.quote(REMOTE_SCRIPT),
            stdin=ask,
            identity=o.identity,
            connect_timeout=o.connect_timeout,
            timeout=o.host_timeout,
            ssh=o.ssh,
        )
        seen = parse_output(res.stdout.decode(errors="replace"))
    except (session.SshError, ParseError) as e:
        return fail(str(e))
    r = compare(t.machine, address, t.payload, seen)
    return HostResult(
        r.machine, r.address, r.files, r.reloads, r.others, None, round(time.monotonic() - start, 3)
    )


def adopt_local(t: Target, root: Path) -> HostResult:
    """The local tree of one machine; local delivery writes files and runs no reloads."""
    start = time.monotonic()
    base = root / t.machine
    r = compare(t.machine, str(base), t.payload, observe_local(base, t.payload.files))
    return HostResult(r.machine, r.address, r.files, {}, r.others, None, round(time.monotonic() - start, 3))


def check_hosts(
    inv: Inventory,
    *,
    ssh: SshOptions | None = None,
    local_root: Path | None = None,
    user: str | None = None,
    port: int | None = None,
    machines: Iterable[str] = (),
    jobs: int = JOBS,
    progress: Callable[[int, int, HostResult], None] | None = None,
) -> list[HostResult]:
    """Every delivered machine of ``inv`` (``machines``: only these) against its host, sorted."""
    tgts = targets(inv, user=user, port=port, only=machines)
    check: Callable[[Target], HostResult]
    if inv.customer.delivery.mode == "local":
        root = Path(local_root or inv.customer.delivery.local_root)
        check = lambda t: adopt_local(t, root)  # noqa: E731
    else:
        opts = ssh or SshOptions()
        check = lambda t: adopt_ssh(t, opts)  # noqa: E731
    return each_host(
        tgts,
        check,
        lambda t, e: HostResult(t.machine, str(t.to["host"]), error=f"{type(e).__name__}: {e}"),
        lambda r: r.machine,
        jobs,
        progress,
    )


# ---------------------------------------------------------------- text


def format_text(customer: str, results: list[HostResult], seconds: float) -> str:
    n = {s: sum(1 for r in results if r.status == s) for s in ("unchanged", "changes", "unreachable")}
    lines = [
        f"verify --adopt {customer}: {len(results)} host(s): {n['unchanged']} unchanged by the first up, "
        f"{n['changes']} with changes, {n['unreachable']} unreachable ({seconds:.1f}s)"
    ]
    for r in results:
        if r.status == "unreachable":
            lines.append(f"{r.machine}: UNREACHABLE {r.address}: {r.error}")
            continue
        same = sum(1 for f in r.files if f.status == "identical")
        head = "unchanged" if r.status == "unchanged" else "CHANGES"
        lines.append(f"{r.machine}: {head} {r.address} ({same} of {len(r.files)} files identical)")
        for f in r.files:
            if f.status == "identical":
                continue
            label = "NOT A FILE" if f.status == "other" else f.status.upper()
            lines.append(f"  {label:<11} {f.path}" + (f" ({f.detail})" if f.detail else ""))
            lines += [f"    {d}" for d in f.diff]
        for path, reader in r.others:
            lines.append(f"  ALSO READ   {path} (not uniform's: {reader} reads it with uniform's files)")
        for group, cmds in (r.reloads or {}).items():
            lines += [f"  reload      {group}: {c}" for c in cmds]
    return "\n".join(lines) + "\n"
