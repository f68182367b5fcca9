"""Drift check: do the hosts hold exactly the files the inventory renders?

    python -m ops verify stacks/acme [--identity KEY] [--jobs 8] [--json]

For every machine whose payload is delivered (`inventory.lifecycle.DELIVERED`)
the expected files are `payloads.render_customer(inv)`.  Each host is read in
ONE OpenSSH session, connected the way delivery connects
(`components/delivery.py`): BatchMode, the pinned host key from
`ssh.host_keys` in a temporary known_hosts, `ssh.user`/`ssh.port`, an optional
private key.  The session reads nothing but metadata: the sha256 and mode of
every expected path, the manifests in /etc/uniform/manifest.d/, and the sha256
of every path those manifests name.  Per host it lists

* missing     an expected file that is not on the host
* changed     an expected file whose content (sha256) or mode differs
* unexpected  a file the host's manifests record as delivered (or a manifest
              in manifest.d) that is no longer expected, and still there

Exit status (bits, for CI and cron): 0 clean; 1 drift; 2 a host could not be
verified (unreachable, no pinned host key, timed out, remote error); 3 both;
4 usage error or invalid inventory.  An unreachable host is reported and the
others are still checked.

With `delivery.mode: local` the same comparison runs on the local tree
(`<local_root>/<machine>/...`, or `--local-root`), without SSH.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import inventory
import payloads
from connectors.ssh import known_hosts_line as _known_hosts_line
from connectors.ssh import ssh_options
from inventory import lifecycle
from inventory.model import Inventory

MANIFEST_DIR = "/etc/uniform/manifest.d/"

EXIT_CLEAN = 0
EXIT_DRIFT = 1
EXIT_UNVERIFIED = 2
EXIT_USAGE = 4

CONNECT_TIMEOUT = 10  # seconds: ssh ConnectTimeout
HOST_TIMEOUT = 60  # seconds: the whole session of one host, connection included
JOBS = 8


# ---------------------------------------------------------------- what should be there


@dataclass(frozen=True)
class Expected:
    sha256: str
    mode: int


@dataclass(frozen=True)
class Target:
    """How to reach one machine: the same fields delivery's ssh target has."""

    machine: str
    host: str | None
    port: int
    user: str
    host_key: str | None
    files: dict[str, Expected]


def targets(
    inv: Inventory,
    *,
    user: str | None = None,
    port: int | None = None,
    only: Iterable[str] = (),
) -> list[Target]:
    """Every delivered machine with its expected files, sorted by name (``only``: a subset)."""
    rendered = payloads.render_customer(inv)
    keys = dict(inv.customer.ssh.host_keys)
    wanted = set(only)
    out = []
    for name, payload in sorted(rendered.items()):
        m = inv.machines[name]
        if not lifecycle.delivered(m.state) or (wanted and name not in wanted):
            continue
        out.append(
            Target(
                machine=name,
                host=m.ssh_address,  # where delivery connects too
                port=port or inv.customer.ssh.port,
                user=user or inv.customer.ssh.user,
                host_key=keys.get(name),
                files={f.path: Expected(f.sha256, f.mode) for f in payload.files},
            )
        )
    return out


# ---------------------------------------------------------------- what is there


@dataclass
class Observed:
    """What one host holds: path -> (sha256, mode) for every path looked at that exists,
    and its manifests (file name in manifest.d -> content)."""

    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    manifests: dict[str, str] = field(default_factory=dict)


#: Runs on the host (POSIX sh + coreutils).  stdin: the expected paths, one per line.
#: Prints the manifests, then `stat` (mode) and `sha256sum` of every expected or
#: manifest-named path that is a regular file, two processes in all; absent paths
#: print nothing.
REMOTE_SCRIPT = r"""
set -u
LC_ALL=C; export LC_ALL
md=/etc/uniform/manifest.d
for m in "$md"/*.json; do
  [ -f "$m" ] || continue
  printf '@@manifest %s\n' "${m##*/}"
  cat -- "$m"
  printf '\n@@end\n'
done
{ cat; for m in "$md"/*.json; do
    [ -f "$m" ] && sed -n 's/^ *"path": "\(.*\)",\{0,1\} *$/\1/p' -- "$m"
  done; } | sort -u | {
  set --
  while IFS= read -r p; do
    [ -n "$p" ] && [ -f "$p" ] && set -- "$@" "$p"
  done
  if [ $# -gt 0 ]; then
    printf '@@stat\n'
    stat -c '%a %n' -- "$@"
    printf '@@sha256\n'
    sha256sum -- "$@"
  fi
  printf '@@done\n'
}
"""


class ParseError(Exception):
    pass


def parse_output(text: str) -> Observed:
    """Parse what REMOTE_SCRIPT printed (raises ParseError on a truncated answer)."""
    obs = Observed()
    modes: dict[str, int] = {}
    sums: dict[str, str] = {}
    lines = text.split("\n")
    i, done, section = 0, False, ""
    while i < len(lines):
        line = lines[i]
        if line.startswith("@@manifest "):
            name, content = line[len("@@manifest ") :], []
            i += 1
            while i < len(lines) and lines[i] != "@@end":
                content.append(lines[i])
                i += 1
            obs.manifests[name] = "\n".join(content)
        elif line in ("@@stat", "@@sha256"):
            section = line
        elif line == "@@done":
            done = True
            break
        elif section == "@@stat" and line:
            octal, _, path = line.partition(" ")
            try:
                modes[path] = int(octal, 8)
            except ValueError as e:
                raise ParseError(f"bad stat line: {line!r}") from e
        elif section == "@@sha256" and line:
            escaped = line.startswith("\\")  # sha256sum escapes names holding \ or a newline
            body = line[1:] if escaped else line
            digest, path = body[:64], body[66:]
            if escaped:
                path = path.replace("\\n", "\n").replace("\\\\", "\\")
            if len(digest) != 64 or body[64:66] not in ("  ", " *"):
                raise ParseError(f"bad sha256sum line: {line!r}")
            sums[path] = digest
        i += 1
    if not done:
        raise ParseError("the host's answer ended early")
    for path, perm in modes.items():
        obs.files[path] = (sums.get(path, "unreadable"), perm)
    return obs


def observe_local(root: Path, paths: Iterable[str]) -> Observed:
    """The same observation on a local tree (delivery.mode local): <root>/<absolute path>."""
    import hashlib

    obs = Observed()
    md = root / MANIFEST_DIR.lstrip("/")
    if md.is_dir():
        for p in sorted(md.glob("*.json")):
            if p.is_file():
                obs.manifests[p.name] = p.read_text(errors="replace")
    wanted = set(paths)
    for text in obs.manifests.values():
        wanted.update(recorded_paths(text))
    for path in sorted(wanted):
        local = root / path.lstrip("/")
        if local.is_file():
            obs.files[path] = (hashlib.sha256(local.read_bytes()).hexdigest(), local.stat().st_mode & 0o7777)
    return obs


# ---------------------------------------------------------------- comparison (pure)


@dataclass(frozen=True)
class Change:
    path: str
    detail: str  # "content", "mode 0600 -> 0644", "content, mode ..."


@dataclass(frozen=True)
class HostResult:
    machine: str
    address: str  # user@host:port, or the local directory
    missing: tuple[str, ...] = ()
    changed: tuple[Change, ...] = ()
    unexpected: tuple[str, ...] = ()
    error: str | None = None  # the host could not be verified
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.error is not None:
            return "unreachable"
        return "drift" if self.missing or self.changed or self.unexpected else "clean"

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "address": self.address,
            "status": self.status,
            "missing": list(self.missing),
            "changed": [{"path": c.path, "detail": c.detail} for c in self.changed],
            "unexpected": list(self.unexpected),
            "error": self.error,
        }


def recorded_paths(manifest_text: str) -> list[str]:
    """The paths a manifest names (an unparseable manifest names none)."""
    try:
        data = json.loads(manifest_text)
        return [str(f["path"]) for f in data.get("files", []) if isinstance(f, dict) and "path" in f]
    except (ValueError, AttributeError, TypeError):
        return []


def compare(machine: str, address: str, expected: dict[str, Expected], obs: Observed) -> HostResult:
    """Missing, changed and unexpected files of one host (sorted by path)."""
    missing, changed = [], []
    for path in sorted(expected):
        want = expected[path]
        got = obs.files.get(path)
        if got is None:
            missing.append(path)
            continue
        why = []
        if got[0] != want.sha256:
            why.append("unreadable" if got[0] == "unreadable" else "content")
        if got[1] != want.mode and got[1] >= 0:
            why.append(f"mode {got[1]:04o}, expected {want.mode:04o}")
        if why:
            changed.append(Change(path, ", ".join(why)))
    recorded: set[str] = set()
    for text in obs.manifests.values():
        recorded.update(recorded_paths(text))
    present = {p for p in recorded if p in obs.files} | {MANIFEST_DIR + name for name in obs.manifests}
    unexpected = sorted(present - set(expected))
    return HostResult(machine, address, tuple(missing), tuple(changed), tuple(unexpected))


def exit_code(results: Iterable[HostResult]) -> int:
    code = EXIT_CLEAN
    for r in results:
        if r.status == "drift":
            code |= EXIT_DRIFT
        elif r.status == "unreachable":
            code |= EXIT_UNVERIFIED
    return code


# ---------------------------------------------------------------- ssh


@dataclass(frozen=True)
class SshOptions:
    identity: str | None = None  # private key file
    connect_timeout: int = CONNECT_TIMEOUT
    host_timeout: float = HOST_TIMEOUT
    ssh: str = "ssh"


def ssh_command(t: Target, known_hosts: Path, o: SshOptions) -> list[str]:
    """OpenSSH as delivery runs it: batch mode, only the pinned host key, bounded waits."""
    opts = ssh_options(known_hosts, o.connect_timeout, o.identity)
    return [o.ssh, *opts, "-p", str(t.port), f"{t.user}@{t.host}", "sh -c " + shlex.quote(REMOTE_SCRIPT)]


def known_hosts_line(t: Target) -> str:
    return _known_hosts_line(str(t.host), t.port, str(t.host_key))


def verify_ssh(t: Target, o: SshOptions) -> HostResult:
    address = f"{t.user}@{t.host}:{t.port}"
    start = time.monotonic()

    def fail(msg: str) -> HostResult:
        return HostResult(t.machine, address, error=msg, seconds=round(time.monotonic() - start, 3))

    if t.host is None:
        return fail("no address to connect to")
    if not t.host_key:
        return fail(f"no pinned host key (customer.yaml ssh.host_keys.{t.machine}); not connecting")
    with tempfile.TemporaryDirectory(prefix="uniform-verify-") as tmp:
        known = Path(tmp) / "known_hosts"
        known.write_text(known_hosts_line(t))
        stdin = "".join(p + "\n" for p in sorted(t.files)).encode()
        try:
            proc = subprocess.run(
                ssh_command(t, known, o),
                input=stdin,
                capture_output=True,
                timeout=o.host_timeout,
            )
        except subprocess.TimeoutExpired:
            return fail(f"timed out after {o.host_timeout:g}s")
        except OSError as e:
            return fail(f"cannot run ssh: {e}")
    err = proc.stderr.decode(errors="replace").strip()
    if proc.returncode == 255:
        return fail(f"ssh failed: {err}")
    if proc.returncode != 0:
        return fail(f"remote command failed (exit {proc.returncode}): {err}")
    try:
        obs = parse_output(proc.stdout.decode(errors="replace"))
    except ParseError as e:
        return fail(str(e))
    r = compare(t.machine, address, t.files, obs)
    return HostResult(
        r.machine, r.address, r.missing, r.changed, r.unexpected, None, round(time.monotonic() - start, 3)
    )


def verify_local(t: Target, root: Path) -> HostResult:
    start = time.monotonic()
    base = root / t.machine
    r = compare(t.machine, str(base), t.files, observe_local(base, t.files))
    return HostResult(
        r.machine, r.address, r.missing, r.changed, r.unexpected, None, round(time.monotonic() - start, 3)
    )


# ---------------------------------------------------------------- running it


class Progress:
    """`[done/total] host status (time)` on stderr: one rewritten line on a terminal, else a line each."""

    def __init__(self, total: int, stream: TextIO, enabled: bool = True) -> None:
        self.total, self.done, self.stream, self.enabled = total, 0, stream, enabled
        self.tty = enabled and stream.isatty()
        self.lock = threading.Lock()

    def update(self, r: HostResult) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.done += 1
            msg = f"[{self.done}/{self.total}] {r.machine}: {r.status} ({r.seconds:.1f}s)"
            if self.tty:
                self.stream.write("\r\033[K" + msg + ("\n" if self.done == self.total else ""))
            else:
                self.stream.write(msg + "\n")
            self.stream.flush()


def run(
    tgts: list[Target],
    check: Callable[[Target], HostResult],
    jobs: int = JOBS,
    progress: Progress | None = None,
) -> list[HostResult]:
    """``check`` every target, at most ``jobs`` at a time; results sorted by machine."""

    def one(t: Target) -> HostResult:
        try:
            r = check(t)
        except Exception as e:  # a bug or an OS error on one host must not hide the others
            r = HostResult(t.machine, str(t.host), error=f"{type(e).__name__}: {e}")
        if progress:
            progress.update(r)
        return r

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, tgts))
    return sorted(results, key=lambda r: r.machine)


def format_text(customer: str, results: list[HostResult], seconds: float) -> str:
    n = {s: sum(1 for r in results if r.status == s) for s in ("clean", "drift", "unreachable")}
    lines = [
        f"verify {customer}: {len(results)} host(s): {n['clean']} clean, {n['drift']} drifted, "
        f"{n['unreachable']} unreachable ({seconds:.1f}s)"
    ]
    for r in results:
        if r.status == "clean":
            lines.append(f"{r.machine}: clean")
        elif r.status == "unreachable":
            lines.append(f"{r.machine}: UNREACHABLE {r.address}: {r.error}")
        else:
            lines.append(f"{r.machine}: DRIFT {r.address}")
            lines += [f"  missing     {p}" for p in r.missing]
            lines += [f"  changed     {c.path} ({c.detail})" for c in r.changed]
            lines += [f"  unexpected  {p}" for p in r.unexpected]
    return "\n".join(lines) + "\n"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors exit 4, not argparse's 2 (= unreachable)
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    ap = _Parser(
        prog="uniform verify",
        description="Compare every delivered host's files with what the inventory renders.",
        epilog="exit status: 0 clean, 1 drift, 2 host(s) not verified (unreachable), 3 both, "
        "4 usage error or invalid inventory",
    )
    ap.add_argument("customer_dir", help="the customer's inventory directory, e.g. stacks/acme")
    ap.add_argument(
        "-i",
        "--identity",
        help="private key file for ssh, '-' to read the key from stdin (default: ssh's own keys/agent)",
    )
    ap.add_argument("-j", "--jobs", type=int, default=JOBS, help=f"hosts checked at once (default {JOBS})")
    ap.add_argument("--user", help="ssh user (default: customer.yaml ssh.user)")
    ap.add_argument("--port", type=int, help="ssh port (default: customer.yaml ssh.port)")
    ap.add_argument(
        "--connect-timeout", type=int, default=CONNECT_TIMEOUT, help="ConnectTimeout (default %(default)s)"
    )
    ap.add_argument(
        "--timeout", type=float, default=HOST_TIMEOUT, help="seconds per host, all in (default %(default)s)"
    )
    ap.add_argument("--machine", action="append", default=[], help="only this machine (repeatable)")
    ap.add_argument("--local-root", help="delivery.mode local: the tree to check (default: its local_root)")
    ap.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    a = ap.parse_args(argv)
    if a.jobs < 1 or a.connect_timeout < 1 or a.timeout <= 0:
        ap.error("--jobs, --connect-timeout and --timeout must be positive")
    if a.identity and a.identity != "-" and not os.path.isfile(a.identity):
        ap.error(f"--identity {a.identity}: no such file")
    try:
        inv = inventory.load(a.customer_dir)
    except inventory.InventoryError as e:
        print(e, file=sys.stderr)
        return EXIT_USAGE
    unknown = sorted(set(a.machine) - set(inv.machines))
    if unknown:
        ap.error(f"--machine: not in the inventory: {', '.join(unknown)}")
    tgts = targets(inv, user=a.user, port=a.port, only=a.machine)
    start = time.monotonic()
    progress = Progress(len(tgts), sys.stderr, enabled=not a.quiet)
    if inv.customer.delivery.mode == "local":
        root = Path(a.local_root or inv.customer.delivery.local_root)
        results = run(tgts, lambda t: verify_local(t, root), jobs=a.jobs, progress=progress)
    else:
        with tempfile.TemporaryDirectory(prefix="uniform-verify-key-") as keydir:
            identity = a.identity
            if identity == "-":
                # e.g. `pulumi config get uniform:sshPrivateKey | ... --identity -`: the key
                # lives in a 0600 file only while verify runs, as delivery keeps it
                key = sys.stdin.read()
                keyfile = Path(keydir) / "id"
                keyfile.touch(mode=0o600)
                keyfile.write_text(key if key.endswith("\n") else key + "\n")
                identity = str(keyfile)
            opts = SshOptions(identity=identity, connect_timeout=a.connect_timeout, host_timeout=a.timeout)
            results = run(tgts, lambda t: verify_ssh(t, opts), jobs=a.jobs, progress=progress)
    seconds = time.monotonic() - start
    code = exit_code(results)
    if a.json:
        doc = {"customer": inv.customer.name, "exit": code, "hosts": [r.as_dict() for r in results]}
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        sys.stdout.write(format_text(inv.customer.name, results, seconds))
    return code


if __name__ == "__main__":
    sys.exit(main())
