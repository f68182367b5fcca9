"""``uniform report`` and ``uniform verify``: the arguments, parsed here once, over ``ops``.

``ops.report.render(inv)`` makes the page; ``ops.verify.check_hosts(inv, ...)`` checks the hosts.
Neither has a command line of its own."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from ops import adopt, report, verify

from .exitcodes import Exit, UsageError
from .fmt import write_atomically
from .progress import Progress, load_with_progress
from .select import resolve_root
from .stack_keys import made_host_keys

__all__ = [
    "add_report_arguments",
    "add_verify_arguments",
    "cmd_report",
    "cmd_verify",
    "verify_exit",
]


# ------------------------------------------------------------------ report


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", nargs="?", help="customer directory (same as --dir)")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="the HTML file to write, '-' for stdout (default: report-<customer>.html here)",
    )


def cmd_report(args: argparse.Namespace) -> int:
    inv = load_with_progress(resolve_root(args), Progress(args.progress))
    page = report.render(inv)
    if args.output == "-":
        sys.stdout.write(page)
        return Exit.OK
    out = Path(args.output or f"report-{inv.customer.name}.html")
    write_atomically(out, page)
    print(f"{out}: {len(page.encode()):,} bytes, {len(inv.machines)} machines", file=sys.stderr)
    return Exit.OK


# ------------------------------------------------------------------ verify


def add_verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", nargs="?", help="customer directory (same as --dir)")
    p.add_argument(
        "-i",
        "--identity",
        metavar="KEY",
        help="private key file for ssh, '-' to read the key from stdin (default: ssh's own keys/agent)",
    )
    p.add_argument(
        "-j", "--jobs", type=int, default=verify.JOBS, help="hosts checked at once (default %(default)s)"
    )
    p.add_argument("--user", help="ssh user (default: customer.yaml ssh.user)")
    p.add_argument("--port", type=int, help="ssh port (default: customer.yaml ssh.port)")
    p.add_argument(
        "--connect-timeout",
        type=int,
        metavar="SECONDS",
        default=verify.CONNECT_TIMEOUT,
        help="ssh ConnectTimeout (default %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        default=verify.HOST_TIMEOUT,
        help="seconds per host, connection included (default %(default)s)",
    )
    p.add_argument(
        "--machine", action="append", default=[], metavar="NAME", help="only this machine (repeatable)"
    )
    p.add_argument(
        "--local-root", metavar="DIR", help="delivery.mode local: the tree to check (default: its local_root)"
    )
    p.add_argument(
        "--adopt",
        action="store_true",
        help="before the first up: diff each host's files today against what uniform would deliver, "
        "and list the reloads the first up runs (read-only; exit 1 when files would change)",
    )
    p.add_argument(
        "--host-keys",
        metavar="FILE",
        help="the host keys uniform made, as `pulumi stack output hostKeys --json` prints them "
        "(default: read from the customer's stack when a machine has no key in ssh.host_keys)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr, even on a terminal")


def verify_exit(results: list[verify.HostResult] | list[adopt.HostResult]) -> Exit:
    """UNVERIFIED when a host could not be verified (whatever the others show), else PROBLEMS on
    drift (--adopt: when the first up would change a file), else OK."""
    statuses = {r.status for r in results}
    if "unreachable" in statuses:
        return Exit.UNVERIFIED
    return Exit.PROBLEMS if statuses & {"drift", "changes"} else Exit.OK


def cmd_verify(args: argparse.Namespace) -> int:
    if args.jobs < 1 or args.connect_timeout < 1 or args.timeout <= 0:
        raise UsageError("--jobs, --connect-timeout and --timeout must be positive")
    if args.identity and args.identity != "-" and not os.path.isfile(args.identity):
        raise UsageError(f"--identity {args.identity}: no such file")
    progress = Progress(args.progress and not args.quiet)
    root = resolve_root(args)
    inv = load_with_progress(root, progress)
    unknown = sorted(set(args.machine) - set(inv.machines))
    if unknown:
        raise UsageError(f"--machine: not in the inventory: {', '.join(unknown)}")
    # pinned where no key is recorded by hand (verify --adopt runs before any key was made)
    made = (
        {}
        if args.adopt
        else made_host_keys(inv, root, project=args.project, stack=args.stack, file=args.host_keys)
    )
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="uniform-verify-key-") as keydir:
        identity = args.identity
        if identity == "-":
            # e.g. `pulumi config get uniform:sshPrivateKey | uniform verify --identity -`: the key
            # lives in a 0600 file only while verify runs, as delivery keeps it
            key = sys.stdin.read()
            keyfile = Path(keydir) / "id"
            keyfile.touch(mode=0o600)
            keyfile.write_text(key if key.endswith("\n") else key + "\n")
            identity = str(keyfile)
        opts = verify.SshOptions(
            identity=identity, connect_timeout=args.connect_timeout, host_timeout=args.timeout
        )
        local_root = Path(args.local_root) if args.local_root else None

        def show(n: int, total: int, r: verify.HostResult | adopt.HostResult) -> None:
            progress.show(f"[{n}/{total}] {r.machine}: {r.status} ({r.seconds:.1f}s)")

        if args.adopt:
            found = adopt.check_hosts(
                inv, ssh=opts, local_root=local_root, user=args.user, port=args.port,
                machines=args.machine, jobs=args.jobs, progress=show,
            )  # fmt: skip
            text = adopt.format_text(inv.customer.name, found, time.monotonic() - start)
            results: list[verify.HostResult] | list[adopt.HostResult] = found
        else:
            drift = verify.check_hosts(
                inv, ssh=opts, local_root=local_root, user=args.user, port=args.port,
                machines=args.machine, jobs=args.jobs, progress=show, host_keys=made,
            )  # fmt: skip
            text = verify.format_text(inv.customer.name, drift, time.monotonic() - start)
            results = drift
    progress.done()
    code = verify_exit(results)
    if args.json:
        hosts = [r.as_dict() for r in results]
        doc = {"customer": inv.customer.name, "exit": int(code), "adopt": args.adopt, "hosts": hosts}
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        sys.stdout.write(text)
    return code
