"""``uniform import``: build or extend a customer directory from what a site already runs.

The parsers (``interop.parse.*``) read each file the operator names, in command-line
order; ``interop.merge`` matches the facts against the customer's inventory (loaded once)
and reports; ``interop.write`` writes everything in one checked transaction (loaded once
more at the end, rolled back if that load finds problems)."""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from interop import known_hosts
from interop.merge import Options, merge
from interop.parse import ParseError
from interop.plan import render_json, render_text
from interop.records import Site, Source
from interop.write import apply
from inventory import edit
from inventory.errors import InventoryError
from payloads import ROLE_NAMES  # validation accepts the registry's roles

from .exitcodes import Exit, UsageError
from .select import customer_dir, find_project, resolve_root, stack_inventory

__all__ = ["add_import_arguments", "cmd_import"]

#: source option -> (parser module, what it reads)
SOURCES = {
    "dnsmasq": ("dnsmasq", "dnsmasq configuration (dhcp-host, dhcp-range)"),
    "isc_dhcpd": ("iscdhcp", "ISC dhcpd.conf (host blocks, subnet declarations)"),
    "kea": ("kea", "Kea DHCPv4/DHCPv6 JSON (reservations, subnets)"),
    "zone": ("bind", "BIND zone file; FILE:ORIGIN when the file has no $ORIGIN"),
    "named_conf": ("bind", "named.conf: every master zone it names"),
    "libvirt": ("libvirt", "HOST=PATH: virsh dumpxml output or a directory of domain XML from HOST"),
}


class _InOrder(argparse.Action):
    """Every source option appends (kind, value) to one list: command-line order is kept,
    and with --force the first source wins."""

    def __call__(self, parser: Any, ns: argparse.Namespace, values: Any, option: str | None = None) -> None:
        got = list(getattr(ns, "sources", None) or [])
        got.append((self.dest, values))
        ns.sources = got


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", nargs="?", help="customer directory (same as --dir); created when new")
    p.set_defaults(sources=[])
    for kind, (_, what) in SOURCES.items():
        meta = {"zone": "FILE[:ORIGIN]", "libvirt": "HOST=PATH"}.get(kind, "FILE")
        flag = "--" + kind.replace("_", "-")
        p.add_argument(flag, dest=kind, action=_InOrder, metavar=meta, help=f"repeatable: {what}")
    p.add_argument(
        "--network",
        action="append",
        default=[],
        metavar="CIDR=NAME",
        help="repeatable: the name of the network a DHCP subnet becomes (default: derived)",
    )
    p.add_argument(
        "--known-hosts",
        action="append",
        default=[],
        metavar="FILE",
        help="repeatable: OpenSSH known_hosts whose keys are pinned in ssh.host_keys",
    )
    p.add_argument(
        "--site-root",
        metavar="DIR",
        help="a copy of the servers' root file system (e.g. rsync'ed /etc): absolute and relative "
        "paths inside the sources (conf-dir, include, named.conf's directory) are read under DIR, "
        "not on this machine",
    )
    p.add_argument("--domain", help="a new customer's domain (default: the DHCP/DNS domain)")
    p.add_argument(
        "--group",
        metavar="FILE",
        help="append the new machines to the group file machines/FILE.yaml instead of one file each "
        "(loads faster at thousands of machines)",
    )
    p.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    p.add_argument(
        "--force",
        action="store_true",
        help="write despite conflicts: the first source wins, each choice printed",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="the merge report's format")


def _target(args: argparse.Namespace) -> Path:
    """The customer directory, which need not exist yet (a new customer)."""
    root, given_dir = getattr(args, "root", None), getattr(args, "dir", None)
    customer, stack = getattr(args, "customer", None), getattr(args, "stack", None)
    chosen = [v for v in (root, given_dir, customer, stack) if v]
    if len(chosen) > 1:
        raise UsageError("choose one of <customer_dir> / --dir / --customer / --stack")
    project = Path(args.project) if getattr(args, "project", None) else find_project()
    if root or given_dir:
        return Path(str(root or given_dir))
    if customer:
        return project / "stacks" / str(customer)
    if stack:
        inv_dir = stack_inventory(project, stack)
        path = project / "stacks" / inv_dir
        return customer_dir(project, inv_dir) if path.exists() else path
    found: Path = resolve_root(args)
    return found


def _parser(module: str) -> Any:
    # imported when a source names it: `uniform` starts ~20 ms faster for every other command
    return importlib.import_module(f"interop.parse.{module}")


def read_sources(sources: Sequence[tuple[str, str]], site_root: Path | None = None) -> list[Site]:
    """Parse each source in order; every parse problem of every file at once (ParseError).

    With ``site_root`` (a copy of the servers' file system), the paths a source names inside
    it -- absolute ones and, since the daemons run from ``/``, relative ones -- are read under
    it: a copied dnsmasq.conf's ``conf-dir=/etc/dnsmasq.d`` must not read this machine's."""
    sites: list[Site] = []
    problems: list[tuple[Source, str]] = []
    within: dict[str, Any] = {} if site_root is None else {"root": site_root}
    includes: dict[str, Any] = {} if site_root is None else {"root": site_root, "base": site_root}
    for kind, value in sources:
        mod = _parser(SOURCES[kind][0])
        try:
            if kind == "zone":
                path, sep, origin = value.rpartition(":")
                if not sep or "/" in origin or not origin:
                    path, origin = value, ""
                sites.append(mod.parse(path, origin=origin or None, **within))
            elif kind == "named_conf":
                sites.append(mod.parse_named(value, **within))
            elif kind == "libvirt":
                host, sep, path = value.partition("=")
                if not sep or not host or not path:
                    raise UsageError(f"--libvirt {value!r}: expected HOST=PATH (the hypervisor it came from)")
                sites.append(mod.parse(path, hypervisor=host))
            else:
                sites.append(mod.parse(value, **includes))
        except ParseError as e:
            problems.extend(e.problems)
        except OSError as e:
            problems.append((Source(value, 0), f"cannot read: {e.strerror or e}"))
    if problems:
        raise ParseError(problems)
    return sites


def _network_names(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        cidr, sep, name = item.partition("=")
        try:
            prefix = str(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            raise UsageError(
                f"--network {item!r}: {cidr!r} is not a prefix (e.g. 10.20.0.0/24=lan)"
            ) from None
        if not sep or not name or name != name.lower() or not name.replace("-", "").isalnum():
            raise UsageError(
                f"--network {item!r}: expected CIDR=NAME, NAME a DNS label (e.g. 10.20.0.0/24=lan)"
            )
        out[prefix] = name
    return out


def cmd_import(args: argparse.Namespace) -> int:
    if not args.sources:
        raise UsageError("import: name at least one source (--dnsmasq, --isc-dhcpd, --kea, --zone, ...)")
    root = _target(args)
    names = _network_names(args.network)
    if args.group is not None and (not args.group or "/" in args.group or args.group.startswith(".")):
        raise UsageError(f"--group {args.group!r}: a file name in machines/, without .yaml (e.g. imported)")
    exists = (root / "customer.yaml").is_file()
    if not exists and root.exists() and any(root.iterdir()):
        raise UsageError(f"{root} exists and is not a customer directory (no customer.yaml)")
    inv = edit.cached_load(root, ROLE_NAMES) if exists else None
    if inv is not None and args.domain and args.domain != inv.customer.domain:
        raise UsageError(
            f"--domain {args.domain}: {inv.customer.name}'s domain is {inv.customer.domain} "
            "(--domain names a new customer's)"
        )
    try:
        site_root = Path(args.site_root) if args.site_root else None
        if site_root is not None and not site_root.is_dir():
            raise UsageError(f"--site-root {args.site_root}: not a directory")
        sites = read_sources(args.sources, site_root)
        keys = [k for f in args.known_hosts for k in known_hosts.parse(f)]
    except ParseError as e:
        for src, msg in e.problems:
            print(f"{src}: {msg}", file=sys.stderr)
        print(
            f"uniform import: {len(e.problems)} problem(s) in the input files: nothing written",
            file=sys.stderr,
        )
        return Exit.PROBLEMS
    used = {k for k, _ in args.sources}
    services = {}
    if "dnsmasq" in used or used & {"kea", "isc_dhcpd"}:
        services["dhcp"] = "dnsmasq" if "dnsmasq" in used else "kea"
    if used & {"zone", "named_conf"}:
        services["dns"] = "bind"
    opts = Options(
        customer=inv.customer.name if inv is not None else root.name,
        domain=args.domain,
        network_names=names,
        known_hosts=keys if args.known_hosts else None,
        force=args.force,
        services=services,
    )
    plan = merge(inv, sites, opts)
    if inv is None and not plan.domain:
        raise UsageError("a new customer needs --domain (no DHCP domain or DNS zone says it)")
    sys.stdout.write(render_json(plan) if args.format == "json" else render_text(plan))
    if plan.blocked:
        print(
            f"uniform import: {len(plan.conflicts)} conflict(s): nothing written "
            "(resolve them in the sources, or pass --force: the first source wins)",
            file=sys.stderr,
        )
        return Exit.PROBLEMS
    if args.dry_run:
        print("uniform import: dry run: nothing written", file=sys.stderr)
        return Exit.OK
    if plan.empty:
        print("uniform import: nothing to change", file=sys.stderr)
        return Exit.OK
    try:
        after = apply(root, plan, inv, known_roles=ROLE_NAMES, group=args.group)
    except InventoryError as e:
        print(e, file=sys.stderr)
        print(
            "uniform import: the result does not load: nothing written (every file restored)", file=sys.stderr
        )
        return Exit.PROBLEMS
    print(
        f"uniform import: {root}: {len(plan.created)} created, {len(plan.updated)} updated; "
        f"{len(after.machines)} machines, {len(after.networks)} networks",
        file=sys.stderr,
    )
    return Exit.OK
