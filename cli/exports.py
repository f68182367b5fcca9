"""``uniform export {ansible,prometheus,ssh,csv}``: the inventory for the tools around uniform.

The arguments are declared here once (``cli/main.py`` calls ``add_export_arguments`` per format);
the rendering is ``interop.export`` (pure functions); this module picks the machines, writes the
result -- to stdout, or atomically to ``-o`` -- and maps failures to exit codes.  docs/export.md.

The known_hosts files of ``export ssh`` and ``export ansible --known-hosts`` pin the keys uniform
made for the machines it installs as verify pins them (cli/stack_keys.py): ``--host-keys FILE``,
else the stack's ``hostKeys`` output, read only when an exported machine has no hand-recorded key
and could have a made one (``interop.export.wants_made_keys``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from interop.export import (
    DEFAULT_STATES,
    ExportError,
    Selection,
    ansible,
    csv_table,
    prometheus,
    select,
    ssh_config,
    wants_made_keys,
)
from inventory.model import Inventory, Kind, Machine, State

from .exitcodes import Exit, UsageError
from .fmt import write_atomically
from .progress import Progress, load_with_progress
from .select import resolve_root
from .stack_keys import made_host_keys

__all__ = ["EXPORTS", "add_export_arguments", "cmd_export"]

#: (format, help, examples) of each ``uniform export`` subcommand
EXPORTS: tuple[tuple[str, str, str], ...] = (
    (
        "ansible",
        "an Ansible YAML inventory: groups by role, tag, kind, hypervisor, state; ansible_host set",
        "  uniform export ansible -C acme -o inventory/acme.yml\n"
        "  ansible-inventory -i inventory/acme.yml --graph\n"
        "  uniform export ansible -C acme --state all | ansible-inventory -i /dev/stdin --list\n"
        "  uniform export ansible -C acme --known-hosts inventory/acme.known_hosts -o inventory/acme.yml\n",
    ),
    (
        "prometheus",
        "Prometheus file_sd JSON: one target group per machine, labels customer/role/kind/hypervisor/state",
        "  uniform export prometheus -C acme -o /etc/prometheus/file_sd/acme-node.json\n"
        "  uniform export prometheus -C acme --port 9100 --port 9256 --role dns\n",
    ),
    (
        "ssh",
        "an OpenSSH client config (Include it from ~/.ssh/config) and the known_hosts file it pins",
        "  uniform export ssh -C acme -o ~/.ssh/uniform/acme      # writes config and known_hosts there\n"
        "  # then, at the top of ~/.ssh/config (before any Host line):  Include ~/.ssh/uniform/*/config\n"
        "  uniform export ssh -C acme --known-hosts ~/.ssh/acme_known_hosts > ~/.ssh/acme_config\n",
    ),
    (
        "csv",
        "a CSV table for spreadsheets: one row per machine, a fixed set of columns under a header",
        "  uniform export csv -C acme -o acme-machines.csv\n"
        "  uniform export csv -C acme --kind vm --state active\n",
    ),
)


def _defaults(fmt: str) -> str:
    return ", ".join(sorted(s.value for s in DEFAULT_STATES[fmt]))


def add_export_arguments(p: argparse.ArgumentParser, fmt: str) -> None:
    """The options of ``uniform export FMT``: the machine filters of ``list`` plus the format's own."""
    p.add_argument("root", nargs="?", help="customer directory (same as --dir)")
    if fmt == "ssh":
        p.add_argument(
            "-o",
            "--output",
            metavar="DIR",
            help="write DIR/config and DIR/known_hosts (default: the config on stdout, see --known-hosts)",
        )
        p.add_argument(
            "--known-hosts",
            metavar="FILE",
            help="write the pinned host keys to FILE and name it in the config "
            "(default with -o: DIR/known_hosts; required without -o)",
        )
    else:
        p.add_argument(
            "-o", "--output", metavar="FILE", help="write FILE atomically (default, or '-': stdout)"
        )
    p.add_argument(
        "--state",
        action="append",
        default=[],
        choices=[*(s.value for s in State), "all"],
        help=f"only machines in this state (repeatable; 'all': every state; default: {_defaults(fmt)})",
    )
    p.add_argument(
        "--machine", action="append", default=[], metavar="NAME", help="only this machine (repeatable)"
    )
    p.add_argument(
        "--tag", action="append", default=[], help="machines with this tag (repeatable: all of them)"
    )
    p.add_argument(
        "--role", action="append", default=[], help="machines with this role (repeatable: all of them)"
    )
    p.add_argument(
        "--hypervisor", action="append", default=[], help="the VMs on this hypervisor (repeatable)"
    )
    p.add_argument("--kind", action="append", default=[], choices=[k.value for k in Kind], help="hw or vm")
    p.add_argument(
        "--network", action="append", default=[], help="machines attached to this network (repeatable)"
    )
    if fmt == "ansible":
        p.add_argument(
            "--known-hosts",
            metavar="FILE",
            help="write the pinned host keys to FILE and make each host's ssh check them there "
            "(ansible_ssh_common_args)",
        )
    if fmt in ("ansible", "ssh"):
        p.add_argument(
            "--host-keys",
            metavar="FILE",
            help="the host keys uniform made, as `pulumi stack output hostKeys --json` prints them, "
            "pinned where ssh.host_keys has none (default: read from the customer's stack when an "
            "exported machine has no key in ssh.host_keys)"
            + ("; needs --known-hosts" if fmt == "ansible" else ""),
        )
        p.add_argument("--user", help="the ssh user (default: customer.yaml ssh.user)")
        p.add_argument("--port", type=int, help="the ssh port (default: customer.yaml ssh.port)")
    if fmt == "prometheus":
        default_ports = ", ".join(map(str, prometheus.DEFAULT_PORTS))
        p.add_argument(
            "--port",
            type=int,
            action="append",
            default=[],
            help=f"the exporter port to scrape (repeatable; default: {default_ports}, the node exporter)",
        )


def _selection(args: argparse.Namespace, inv: Inventory) -> Selection:
    unknown = sorted(set(args.machine) - set(inv.machines))
    if unknown:
        raise UsageError(f"--machine: not in the inventory: {', '.join(unknown)}")
    states = None
    if args.state:
        states = frozenset(State) if "all" in args.state else frozenset(State(s) for s in args.state)
    return Selection(
        states=states,
        names=tuple(args.machine),
        tags=tuple(args.tag),
        roles=tuple(args.role),
        hypervisors=tuple(args.hypervisor),
        kinds=tuple(args.kind),
        networks=tuple(args.network),
    )


def _made(args: argparse.Namespace, inv: Inventory, ms: list[Machine], root: Path) -> dict[str, str]:
    """The host keys uniform made that the known_hosts file may need (verify's way: --host-keys
    FILE, else the stack's hostKeys when an exported machine lacks a hand-recorded key)."""
    return made_host_keys(
        inv, root, project=args.project, stack=args.stack, file=args.host_keys,
        needs=wants_made_keys(inv, ms), who=f"export {args.format}",
    )  # fmt: skip


def _ssh(
    args: argparse.Namespace, inv: Inventory, ms: list[Machine], made: dict[str, str]
) -> list[tuple[Path | None, str]]:
    """(where, text) of the config and the known_hosts file; the known_hosts file first, so the
    config never names a file that is not there yet."""
    if args.output is None and args.known_hosts is None:
        raise UsageError("export ssh: give -o DIR, or --known-hosts FILE for the config on stdout")
    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"export ssh: -o {out}: not a directory (the config and known_hosts go in it)")
    # without --known-hosts, -o was given (checked above)
    kh = Path(args.known_hosts) if args.known_hosts else Path(args.output) / "known_hosts"
    config = ssh_config.render(
        inv, ms, known_hosts_file=os.path.abspath(kh), user=args.user, port=args.port, made=made
    )
    return [(kh, ssh_config.known_hosts(inv, ms, made)), (out / "config" if out else None, config)]


def _render(
    fmt: str, args: argparse.Namespace, inv: Inventory, ms: list[Machine], root: Path
) -> list[tuple[Path | None, str]]:
    out = None if args.output in (None, "-") else Path(args.output)
    if fmt == "ansible":
        if args.known_hosts is None:
            if args.host_keys is not None:
                raise UsageError("export ansible: --host-keys needs --known-hosts (the file the keys go to)")
            return [(out, ansible.render(inv, ms, user=args.user, port=args.port))]
        kh = Path(args.known_hosts)  # written first: the inventory never names a missing file
        made = _made(args, inv, ms, root)
        text = ansible.render(
            inv, ms, user=args.user, port=args.port, known_hosts_file=os.path.abspath(kh), made=made
        )
        return [(kh, ssh_config.known_hosts(inv, ms, made)), (out, text)]
    if fmt == "prometheus":
        return [(out, prometheus.render(inv, ms, ports=args.port or prometheus.DEFAULT_PORTS))]
    if fmt == "csv":
        return [(out, csv_table.render(inv, ms))]
    if args.output is None and args.known_hosts is None:  # before the engine is asked
        raise UsageError("export ssh: give -o DIR, or --known-hosts FILE for the config on stdout")
    return _ssh(args, inv, ms, _made(args, inv, ms, root))


def cmd_export(args: argparse.Namespace) -> int:
    fmt: str = args.format
    given = getattr(args, "port", None)  # ssh/ansible: one ssh port; prometheus: a list; csv: none
    ports = given if isinstance(given, list) else [given] if given is not None else []
    bad = [p for p in ports if not 0 < p < 65536]
    if bad:
        raise UsageError(f"--port {bad[0]}: a port is 1-65535")
    root = resolve_root(args)
    inv = load_with_progress(root, Progress(args.progress))
    ms = select(inv, fmt, _selection(args, inv))
    try:
        # everything is rendered before anything is written: a refusal writes nothing
        results = _render(fmt, args, inv, ms, root)
        for where, _ in results:
            if where is not None and where.is_dir():
                raise UsageError(f"{where} is a directory: name the file to write")
    except ExportError as e:
        print("\n".join(f"{inv.customer.name}: {p}" for p in e.problems), file=sys.stderr)
        return Exit.PROBLEMS
    for where, text in results:
        if where is None:
            sys.stdout.write(text)
        else:
            write_atomically(where, text)
    written = ", ".join(str(w) if w is not None else "stdout" for w, _ in results)
    print(
        f"{inv.customer.name}: {fmt}: {len(ms)} of {len(inv.machines)} machines -> {written}", file=sys.stderr
    )
    return Exit.OK
