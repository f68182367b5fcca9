"""Drift check: do the hosts hold exactly the files the inventory renders?

    uniform verify -C acme [--identity KEY] [--jobs 8] [--json]      (cli/ops_commands.py)

For every machine whose payload is delivered (`inventory.lifecycle.DELIVERED`)
the expected files are `payloads.render_customer(inv)`.  Each host is read in
ONE OpenSSH session, delivery's own (`connectors/ssh.py`, to the target
`connectors/target.py` computes for delivery too): BatchMode, the pinned host key
(from `ssh.host_keys`, else the one uniform made for the machine: the stack's `hostKeys`
output, handed in as ``host_keys``) in a temporary known_hosts, `ssh.user`/`ssh.port`, an
optional private key.  The session reads nothing but metadata: the host sends its manifests
(/etc/uniform/manifest.d/, layout in `payloads/manifest.py`), verify parses them and
sends back the expected paths and those the manifests name, and the host answers
with the sha256 and mode of each.  Per host it lists

* missing     an expected file that is not on the host
* changed     an expected file whose content (sha256) or mode differs
* unexpected  a file the host's manifests record as delivered (or a manifest
              in manifest.d) that is no longer expected, and still there

A file that holds a value made in the state (a staged machine's host key in the seed or
preseed it is installed from: payloads/secrets.py) is compared by presence and mode only:
verify knows its rendered form, never the secret in it.

``check_hosts`` returns one ``HostResult`` per host; the command line turns them into
its exit status (docs/cli.md).  An unreachable host is reported and the others are
still checked.

With `delivery.mode: local` the same comparison runs on the local tree
(`<local_root>/<machine>/...`, or `--local-root`), without SSH.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import payloads
from connectors import local
from connectors import ssh as session
from connectors.target import SshTarget, endpoint, ssh_target
from inventory import lifecycle
from inventory.model import Inventory
from payloads import manifest, secrets

from .pool import each_host

MANIFEST_DIR = manifest.DIR

CONNECT_TIMEOUT = 10  # seconds: ssh ConnectTimeout
HOST_TIMEOUT = 60  # seconds: the whole session of one host, connection included
JOBS = 8


# ---------------------------------------------------------------- what should be there


@dataclass(frozen=True)
class Expected:
    sha256: str
    mode: int
    # the file holds a secret substituted at delivery: its content cannot be compared
    secret: bool = False


@dataclass(frozen=True)
class Target:
    """One machine to verify: delivery's ssh target (connectors.target) and the files expected."""

    machine: str
    to: SshTarget
    files: dict[str, Expected]

    @property
    def host(self) -> str | None:
        return self.to["host"]

    @property
    def port(self) -> int:
        return int(self.to["port"])

    @property
    def user(self) -> str:
        return self.to["user"]

    @property
    def host_key(self) -> str | None:
        return self.to["host_key"]


def targets(
    inv: Inventory,
    *,
    user: str | None = None,
    port: int | None = None,
    only: Iterable[str] = (),
    host_keys: Mapping[str, str] | None = None,
) -> list[Target]:
    """Every delivered machine with its expected files, sorted by name (``only``: a subset).

    ``host_keys``: the public keys uniform made (the stack's ``hostKeys``), pinned for the
    machines without one recorded by hand."""
    rendered = payloads.render_customer(inv)
    wanted = set(only)
    out = []
    for name, payload in sorted(rendered.items()):
        m = inv.machines[name]
        if not lifecycle.delivered(m.state) or (wanted and name not in wanted):
            continue
        out.append(
            Target(
                machine=name,
                to=ssh_target(inv, m, user=user, port=port, made=host_keys),  # where delivery connects too
                files={
                    f.path: Expected(f.sha256, f.mode, bool(secrets.names(f.content))) for f in payload.files
                },
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


#: Runs on the host (POSIX sh + coreutils).  Prints the manifests, then ``@@paths``
#: and reads the paths to look at on stdin, one per line (verify sends the expected
#: paths and those the manifests name, parsed in Python: payloads.manifest), then
#: prints `stat` (mode) and `sha256sum` of every one that is a regular file, two
#: processes in all; absent paths print nothing.
REMOTE_SCRIPT = (
    r"""
set -u
LC_ALL=C; export LC_ALL
md="""
    + shlex.quote(manifest.DIR.rstrip("/"))
    + r"""
for m in "$md"/*"""
    + manifest.SUFFIX
    + r"""; do
  [ -f "$m" ] || continue
  printf '@@manifest %s\n' "${m##*/}"
  cat -- "$m"
  printf '\n@@end\n'
done
printf '@@paths\n'
sort -u | {
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
)
#: the line after which REMOTE_SCRIPT reads the paths to look at
PATHS_PROMPT = "@@paths\n"


class ParseError(Exception):
    pass


def parse_output(text: str, *, complete: bool = True) -> Observed:
    """Parse what REMOTE_SCRIPT printed (raises ParseError on a truncated answer;
    ``complete=False``: the manifests so far, before the host was asked for paths)."""
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
    if complete and not done:
        raise ParseError("the host's answer ended early")
    for path, perm in modes.items():
        obs.files[path] = (sums.get(path, "unreadable"), perm)
    return obs


def paths_to_read(expected: Iterable[str], manifests: dict[str, str]) -> list[str]:
    """The expected paths and every path the manifests name, sorted."""
    wanted = set(expected)
    for text in manifests.values():
        wanted.update(manifest.recorded_paths(text))
    return sorted(wanted)


def observe_local(root: Path, paths: Iterable[str]) -> Observed:
    """The same observation on a local tree (delivery.mode local): <root>/<absolute path>."""
    manifests = local.read_texts(root, manifest.DIR, "*" + manifest.SUFFIX)
    return Observed(files=local.observe(root, paths_to_read(paths, manifests)), manifests=manifests)


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
        if got[0] == "unreadable" or (got[0] != want.sha256 and not want.secret):
            why.append("unreadable" if got[0] == "unreadable" else "content")
        if got[1] != want.mode and got[1] >= 0:
            why.append(f"mode {got[1]:04o}, expected {want.mode:04o}")
        if why:
            changed.append(Change(path, ", ".join(why)))
    recorded: set[str] = set()
    for text in obs.manifests.values():
        recorded.update(manifest.recorded_paths(text))
    present = {p for p in recorded if p in obs.files} | {MANIFEST_DIR + name for name in obs.manifests}
    unexpected = sorted(present - set(expected))
    return HostResult(machine, address, tuple(missing), tuple(changed), tuple(unexpected))


# ---------------------------------------------------------------- ssh


@dataclass(frozen=True)
class SshOptions:
    identity: str | None = None  # private key file
    connect_timeout: int = CONNECT_TIMEOUT
    host_timeout: float = HOST_TIMEOUT
    ssh: str = "ssh"


def verify_ssh(t: Target, o: SshOptions) -> HostResult:
    """Read one host in one session (connectors.ssh, as delivery connects) and compare."""
    address = f"{t.user}@{t.host}:{t.port}"
    start = time.monotonic()

    def fail(msg: str) -> HostResult:
        return HostResult(t.machine, address, error=msg, seconds=round(time.monotonic() - start, 3))

    if t.host is None:
        return fail("no address to connect to")
    if not t.host_key:
        return fail(
            f"no pinned host key (customer.yaml ssh.host_keys.{t.machine}, or the stack's hostKeys); "
            "not connecting"
        )

    def ask(head: bytes) -> bytes:
        # the host printed its manifests: send back the paths to read
        manifests = parse_output(head.decode(errors="replace"), complete=False).manifests
        return "".join(p + "\n" for p in paths_to_read(t.files, manifests)).encode()

    try:
        res = session.run(
            endpoint(t.to),
            "sh -c " + shlex.quote(REMOTE_SCRIPT),
            reply=ask,
            reply_after=PATHS_PROMPT.encode(),
            identity=o.identity,
            connect_timeout=o.connect_timeout,
            timeout=o.host_timeout,
            ssh=o.ssh,
        )
        obs = parse_output(res.stdout.decode(errors="replace"))
    except (session.SshError, ParseError) as e:
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


def run(
    tgts: list[Target],
    check: Callable[[Target], HostResult],
    jobs: int = JOBS,
    progress: Callable[[int, int, HostResult], None] | None = None,
) -> list[HostResult]:
    """``check`` every target, at most ``jobs`` at a time; results sorted by machine.

    ``progress(done, total, result)`` is called for each result as it arrives, one call at a time."""
    return each_host(
        tgts,
        check,
        lambda t, e: HostResult(t.machine, str(t.host), error=f"{type(e).__name__}: {e}"),
        lambda r: r.machine,
        jobs,
        progress,
    )


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
    host_keys: Mapping[str, str] | None = None,
) -> list[HostResult]:
    """Verify every delivered machine of ``inv`` (``machines``: only these), sorted by name.

    ``host_keys``: the public keys uniform made (machine -> key line), pinned where no key is
    recorded by hand.

    With ``delivery.mode: local`` the tree under ``local_root`` (default: the customer's
    ``delivery.local_root``) is read, else each host over ssh with ``ssh``'s options."""
    tgts = targets(inv, user=user, port=port, only=machines, host_keys=host_keys)
    if inv.customer.delivery.mode == "local":
        root = Path(local_root or inv.customer.delivery.local_root)
        return run(tgts, lambda t: verify_local(t, root), jobs=jobs, progress=progress)
    opts = ssh or SshOptions()
    return run(tgts, lambda t: verify_ssh(t, opts), jobs=jobs, progress=progress)
