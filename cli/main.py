"""``uniform``: the daily command line over a customer's inventory files.

Every edit is made in place with ruamel's round-trip mode (comments, key order and
formatting are kept, so a change shows in review as the few lines it is), then the
inventory is re-loaded; if it has problems, every touched file is restored and the
problems are printed (exit 1).

Choose the customer with --customer NAME (stacks/NAME), --stack NAME (the directory
named by uniform:inventory in stacks/Pulumi.NAME.yaml), --dir PATH, or nothing: the
currently selected Pulumi stack (`pulumi stack select`).

examples:
  uniform check --customer acme
  uniform machine add web3 --kind vm --hypervisor hv1 --cores 2 --memory 4GiB \\
      --disk root=20GiB --nic eth0:lan --tag web --state planned --customer acme
  uniform pin --stack acme
  uniform transition web3 staged --customer acme
  uniform list --tag web --state active --customer acme
  uniform render acme /tmp/acme-tree
  uniform review --base origin/main

Exit status: 0 ok, 1 inventory problems / policy violations / failed previews, 2 usage errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from inventory import edit
from inventory.build import load
from inventory.errors import InventoryError
from inventory.model import Inventory, Kind, Machine, State


class UsageError(Exception):
    """A user error that is not an inventory problem: printed as one line, exit 2."""


# ------------------------------------------------------------------ selection


def find_project(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: cwd) holding Pulumi.yaml, else cwd."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "Pulumi.yaml").is_file():
            return d
    return here


def _safe_yaml(path: Path) -> Any:
    try:
        return YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None


def stack_config_dir(project: Path) -> Path:
    proj = project / "Pulumi.yaml"
    doc = _safe_yaml(proj) if proj.is_file() else None
    sub = doc.get("stackConfigDir") if isinstance(doc, dict) else None
    return project / sub if isinstance(sub, str) else project


def stack_names(project: Path) -> list[str]:
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in stack_config_dir(project).glob("Pulumi.*.yaml")
    )


def stack_inventory(project: Path, stack: str) -> str:
    """The ``uniform:inventory`` setting of ``stack`` (relative to stacks/)."""
    path = stack_config_dir(project) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(project)) or "none"
        raise UsageError(f"no stack {stack!r}: {path} not found (known stacks: {known})")
    doc = _safe_yaml(path)
    config = doc.get("config") if isinstance(doc, dict) else None
    value = config.get("uniform:inventory") if isinstance(config, dict) else None
    if not isinstance(value, str):
        raise UsageError(f"stack {stack!r}: {path} sets no uniform:inventory")
    return value


def selected_stack(project: Path) -> str | None:
    """``pulumi stack --show-name`` in the project, or None when it cannot be determined."""
    if shutil.which("pulumi") is None:
        return None
    try:
        proc = subprocess.run(
            ["pulumi", "--non-interactive", "stack", "--show-name"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    name = proc.stdout.strip()
    return name if proc.returncode == 0 and name else None


def customer_dir(project: Path, name: str) -> Path:
    root = project / "stacks" / name
    if not (root / "customer.yaml").is_file():
        known = sorted(p.parent.name for p in (project / "stacks").glob("*/customer.yaml"))
        raise UsageError(
            f"no customer {name!r}: {root}/customer.yaml not found (known: {', '.join(known) or 'none'})"
        )
    return root


def resolve_root(args: argparse.Namespace) -> Path:
    """The customer directory: positional root, --dir, --customer, --stack, else the selected stack."""
    given = [
        (flag, value)
        for flag, value in (
            ("<customer_dir>", getattr(args, "root", None)),
            ("--dir", args.dir),
            ("--customer", args.customer),
            ("--stack", args.stack),
        )
        if value
    ]
    if len(given) > 1:
        raise UsageError(f"choose one of {' / '.join(f for f, _ in given)}")
    project = Path(args.project) if args.project else find_project()
    if given:
        flag, value = given[0]
        if flag in ("<customer_dir>", "--dir"):
            root = Path(value)
            if not (root / "customer.yaml").is_file():
                raise UsageError(f"{root} is not a customer directory (no customer.yaml)")
            return root
        if flag == "--customer":
            return customer_dir(project, value)
        return customer_dir(project, stack_inventory(project, value))
    stack = selected_stack(project)
    if stack is None:
        raise UsageError(
            "no customer chosen: pass --customer NAME, --stack NAME or --dir PATH "
            "(or select a stack with `pulumi stack select NAME` in the project)"
        )
    return customer_dir(project, stack_inventory(project, stack))


# ------------------------------------------------------------------ progress


class Progress:
    """A one-line counter on stderr, shown when stderr is a terminal or --progress is given."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._shown = False

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\033[K{text}" if sys.stderr.isatty() else f"{text}\n")
            sys.stderr.flush()
            self._shown = True

    def done(self) -> None:
        if self.enabled and self._shown and sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
        self._shown = False

    def counter(self, label: str) -> Callable[[int, int], None]:
        last = [0.0]

        def tick(done: int, total: int) -> None:
            now = time.monotonic()
            if done == total or now - last[0] >= 0.2:
                last[0] = now
                self.show(f"{label} {done}/{total}")

        return tick

    @contextmanager
    def running(self, label: str) -> Iterator[None]:
        """Elapsed seconds while a step with no counter of its own (loading) runs."""
        if not self.enabled:
            yield
            return
        stop = threading.Event()
        start = time.monotonic()

        def loop() -> None:
            while not stop.wait(0.5 if sys.stderr.isatty() else 5.0):
                self.show(f"{label} {time.monotonic() - start:.0f}s")

        self.show(f"{label}")
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()
            self.done()


def count_files(root: Path) -> int:
    try:
        return sum(1 for e in os.scandir(root / "machines") if e.name.endswith((".yaml", ".yml")))
    except OSError:
        return 0


def load_with_progress(root: Path, progress: Progress) -> Inventory:
    with progress.running(f"loading {root} ({count_files(root)} machine files)"):
        return load(root)


# ------------------------------------------------------------------ output helpers


def fmt_mib(mib: int) -> str:
    if mib % (1024 * 1024) == 0:
        return f"{mib // (1024 * 1024)}TiB"
    if mib % 1024 == 0:
        return f"{mib // 1024}GiB"
    return f"{mib}MiB"


def addresses(m: Machine) -> list[str]:
    return [a for n in m.nics for at in n.attachments for a in (at.ipv4, at.ipv6) if a]


def describe_new(inv: Inventory, name: str) -> str:
    """MACs and addresses of ``name`` with what is still unpinned."""
    loose = [line.split(": ", 1)[1] for line in edit.unpinned(inv) if line.startswith(f"{name}: ")]
    m = inv.machines[name]
    parts = [f"{n.name} {n.mac}" for n in m.nics] + addresses(m)
    text = ", ".join(parts) if parts else "no NICs"
    if loose:
        text += f"; not pinned yet ({len(loose)}): run `uniform pin` to write them into the file"
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def machine_json(m: Machine) -> dict[str, Any]:
    d = _jsonable(dataclasses.asdict(m))
    assert isinstance(d, dict)
    return d


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


# ------------------------------------------------------------------ commands


def cmd_check(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    inv = load_with_progress(root, Progress(args.progress))
    print(f"{inv.customer.name}: {len(inv.machines)} machines, {len(inv.networks)} networks: ok")
    return 0


def cmd_unpinned(args: argparse.Namespace) -> int:
    todo = edit.unpinned(load_with_progress(resolve_root(args), Progress(args.progress)))
    print("\n".join(todo) if todo else "nothing unpinned")
    return 1 if todo else 0


def cmd_pin(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    progress = Progress(args.progress)
    with progress.running(f"loading {root} ({count_files(root)} machine files)"):
        load(root)  # the same load pin() does first: fail here with the problems, before any counter
    with edit.guarded(root, reload=False) as txn:  # pin() re-loads; an interrupted pin is undone
        done = edit.pin(root, progress=progress.counter("pinning: files"), txn=txn)
    progress.done()
    print("\n".join(f"pinned {line}" for line in done) if done else "nothing to pin")
    return 0


def cmd_transition(args: argparse.Namespace) -> int:
    words = args.words
    if len(words) == 3:
        args.root, machine, state = words
    elif len(words) == 2:
        machine, state = words
    else:
        raise UsageError("usage: uniform transition [<customer_dir>] MACHINE STATE")
    root = resolve_root(args)
    edit.checked_transition(root, machine, state)
    print(f"{machine}: {state}")
    return 0


def _parse_nic(text: str) -> edit.NicSpec:
    name, sep, nets = text.partition(":")
    if not sep or not name or not nets:
        raise UsageError(f"--nic {text!r}: expected NAME:NETWORK[,NETWORK...] (e.g. eth0:lan)")
    return edit.NicSpec(name, [n for n in nets.split(",") if n])


def _parse_disk(text: str) -> tuple[str, str]:
    name, sep, size = text.partition("=")
    if not sep or not name or not size:
        raise UsageError(f"--disk {text!r}: expected NAME=SIZE (e.g. root=20GiB)")
    return name, size


def cmd_machine_add(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    inv = edit.add_machine(
        root,
        args.name,
        args.kind,
        cores=args.cores,
        memory=args.memory,
        hypervisor=args.hypervisor,
        disks=[_parse_disk(d) for d in args.disk],
        nics=[_parse_nic(n) for n in args.nic],
        tags=args.tag,
        roles=args.role,
        state=args.state,
        location=args.location,
        group=args.group,
    )
    m = inv.machines[args.name]
    print(f"{m.name}: added to {m.file} ({m.kind.value}, {m.state.value}): {describe_new(inv, m.name)}")
    return 0


def cmd_machine_remove(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    edit.remove_machine(root, args.name, force=args.force)
    print(f"{args.name}: removed")
    return 0


def cmd_machine_move(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    edit.set_hypervisor(root, args.name, args.hypervisor)
    print(f"{args.name}: now on {args.hypervisor}")
    return 0


def cmd_nic_add(args: argparse.Namespace) -> int:
    root = resolve_root(args)
    if not args.network:
        raise UsageError("nic add: give at least one --network")
    inv = edit.add_nic(root, args.machine, edit.NicSpec(args.nic, args.network, args.mac, args.ipv4))
    nic = next(n for n in inv.machines[args.machine].nics if n.name == args.nic)
    addrs = [a for at in nic.attachments for a in (at.ipv4, at.ipv6) if a]
    state = "pinned" if nic.mac_pinned else "generated, run `uniform pin`"
    print(f"{args.machine}: added {nic.name} {nic.mac} ({state}) {' '.join(addrs)}".rstrip())
    return 0


def cmd_mac_generate(args: argparse.Namespace) -> int:
    inv = load(resolve_root(args))
    mac, how = edit.mac_for(inv, args.machine, args.nic)
    print(mac)
    print(f"{args.machine} {args.nic}: {how}", file=sys.stderr)
    return 0


def _values(key: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        root = resolve_root(args)
        if args.action == "add":
            new = edit.add_values(root, args.machine, key, args.values)
            print(f"{args.machine}: {key} +{' +'.join(new)}" if new else f"{args.machine}: nothing to add")
        else:
            edit.remove_values(root, args.machine, key, args.values)
            print(f"{args.machine}: {key} -{' -'.join(args.values)}")
        return 0

    return run


def cmd_list(args: argparse.Namespace) -> int:
    inv = load_with_progress(resolve_root(args), Progress(args.progress))
    ms = [
        m
        for m in inv.machines.values()
        if (not args.tag or set(args.tag) <= set(m.tags))
        and (not args.role or set(args.role) <= set(m.roles))
        and (not args.state or m.state.value in args.state)
        and (not args.hypervisor or m.hypervisor in args.hypervisor)
        and (not args.kind or m.kind.value == args.kind)
        and (not args.network or any(at.network in args.network for n in m.nics for at in n.attachments))
    ]
    if args.json:
        print(json.dumps([machine_json(m) for m in ms], indent=2))
        return 0
    rows = [
        [
            m.name,
            m.kind.value,
            m.state.value,
            str(m.cores),
            fmt_mib(m.memory_mib),
            m.hypervisor or "-",
            " ".join(addresses(m)) or "-",
            ",".join(m.tags) or "-",
            ",".join(m.roles) or "-",
        ]
        for m in ms
    ]
    head = ["NAME", "KIND", "STATE", "CORES", "MEMORY", "HYPERVISOR", "ADDRESSES", "TAGS", "ROLES"]
    print(table(rows, head))
    print(f"{len(ms)} of {len(inv.machines)} machines", file=sys.stderr)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    import payloads

    if args.target and len(args.target) == 2:
        who, outdir = args.target
        if Path(who, "customer.yaml").is_file():
            args.dir = who
        else:
            args.customer = who
    elif args.target and len(args.target) == 1:
        outdir = args.target[0]
    else:
        raise UsageError("usage: uniform render [CUSTOMER|DIR] OUTDIR")
    inv = load_with_progress(resolve_root(args), Progress(args.progress))
    rendered = payloads.render_customer(inv)
    written = payloads.write_tree(rendered, Path(outdir))
    for name, pl in rendered.items():
        print(f"{name}\t{pl.digest}\t{len(pl.files)} files\treloads: {' '.join(pl.reloads()) or '-'}")
    print(f"{len(written)} files for {len(rendered)} machines in {outdir}", file=sys.stderr)
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    from inventory.policy import RULES, check

    inv = load_with_progress(resolve_root(args), Progress(args.progress))
    found = check(inv)
    for v in found:
        print(f"{inv.customer.name}: {v}")
    if not found:
        print(f"{inv.customer.name}: {len(RULES)} rules, no violations")
    return 1 if found else 0


def cmd_review(args: argparse.Namespace) -> int:
    from .review import run_review

    return run_review(args)


# ------------------------------------------------------------------ parser


class _Fmt(argparse.RawDescriptionHelpFormatter):
    pass


def add_selection(p: argparse.ArgumentParser, sub: bool) -> None:
    """The customer selection options, accepted before and after the command.

    On subcommands they default to SUPPRESS so that they do not overwrite a value given
    before the command (``uniform -C acme list`` and ``uniform list -C acme`` both work)."""
    d: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    g = p.add_argument_group("customer selection (one of; default: the selected Pulumi stack)")
    g.add_argument("-C", "--customer", metavar="NAME", help="the customer directory stacks/NAME", **d)
    g.add_argument(
        "-s", "--stack", metavar="NAME", help="stacks/<uniform:inventory of stacks/Pulumi.NAME.yaml>", **d
    )
    g.add_argument("--dir", metavar="PATH", help="a customer directory anywhere", **d)
    g.add_argument(
        "--project", metavar="DIR", help="the Pulumi project (default: nearest Pulumi.yaml above cwd)", **d
    )
    g.add_argument(
        "--progress",
        action="store_true",
        help="progress on stderr (default when stderr is a terminal)",
        **(d if sub else {"default": sys.stderr.isatty()}),
    )


def build_parser() -> argparse.ArgumentParser:
    sel = argparse.ArgumentParser(add_help=False)
    add_selection(sel, sub=True)

    ap = argparse.ArgumentParser(prog="uniform", description=__doc__, formatter_class=_Fmt)
    add_selection(ap, sub=False)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        parent: Any,
        name: str,
        help: str,
        func: Callable[[argparse.Namespace], int],
        examples: str = "",
        aliases: tuple[str, ...] = (),
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(
            name,
            aliases=list(aliases),
            help=help,
            description=help,
            parents=[sel],
            formatter_class=_Fmt,
            epilog=f"examples:\n{examples}" if examples else None,
        )
        p.set_defaults(func=func)
        return p

    p = add(
        sub, "check", "validate; exit 1 listing every problem", cmd_check, "  uniform check --customer acme\n"
    )
    p.add_argument("root", nargs="?", help="customer directory (same as --dir)")
    p = add(
        sub,
        "unpinned",
        "list generated MACs / allocated addresses not yet pinned (exit 1 if any)",
        cmd_unpinned,
        "  uniform unpinned --stack acme\n",
    )
    p.add_argument("root", nargs="?", help="customer directory (same as --dir)")
    p = add(
        sub,
        "pin",
        "write generated MACs and allocated addresses into the files",
        cmd_pin,
        "  uniform pin -C acme\n",
    )
    p.add_argument("root", nargs="?", help="customer directory (same as --dir)")
    p = add(
        sub,
        "transition",
        "move a machine to another lifecycle state (checked against the allowed transitions)",
        cmd_transition,
        "  uniform transition web3 staged -C acme\n  uniform transition stacks/acme web1 offline\n",
    )
    p.add_argument("words", nargs="+", metavar="[customer_dir] MACHINE STATE")

    mach = sub.add_parser(
        "machine",
        aliases=["host"],
        help="add, remove or move a machine",
        description="add, remove or move a machine",
        formatter_class=_Fmt,
        epilog="examples:\n"
        "  uniform machine add web3 --kind vm --hypervisor hv1 --cores 2 --memory 4GiB -C acme\n"
        "  uniform machine remove web3 -C acme\n  uniform machine move web1 --hypervisor hv2 -C acme\n",
    )
    msub = mach.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(
        msub,
        "add",
        "add a machine (one file machines/NAME.yaml, or appended to a group file with --group)",
        cmd_machine_add,
        "  uniform machine add web3 --kind vm --hypervisor hv1 --cores 2 --memory 4GiB \\\n"
        "      --disk root=20GiB --nic eth0:lan --tag web --role dns --state planned -C acme\n"
        "  uniform machine add hv2 --kind hw --cores 32 --memory 256GiB --nic eno1:lan \\\n"
        "      --role hypervisor -C acme\n",
    )
    p.add_argument("name")
    p.add_argument("--kind", required=True, choices=[k.value for k in Kind])
    p.add_argument("--hypervisor", help="VMs: the machine (role hypervisor) it runs on")
    p.add_argument("--cores", type=int, required=True)
    p.add_argument("--memory", required=True, help="MiB, or 512MiB / 4GiB / 1TiB")
    p.add_argument(
        "--disk", action="append", default=[], metavar="NAME=SIZE", help="repeatable, e.g. root=20GiB"
    )
    p.add_argument(
        "--nic", action="append", default=[], metavar="NAME:NET[,NET]", help="repeatable, e.g. eth0:lan"
    )
    p.add_argument("--tag", action="append", default=[], help="repeatable")
    p.add_argument("--role", action="append", default=[], help="repeatable: dhcp, dns, hypervisor")
    p.add_argument("--state", default="planned", choices=[s.value for s in State])
    p.add_argument("--location")
    p.add_argument("--group", metavar="FILE", help="append to the group file machines/FILE.yaml")
    p = add(
        msub,
        "remove",
        "remove a machine's file (or group entry) and its host key; only planned/retired without --force",
        cmd_machine_remove,
        "  uniform machine remove web3 -C acme\n",
        aliases=("del", "rm"),
    )
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="also remove a machine in another state")
    p = add(
        msub,
        "move",
        "move a VM to another hypervisor (capacity is checked)",
        cmd_machine_move,
        "  uniform machine move web1 --hypervisor hv2 -C acme\n",
    )
    p.add_argument("name")
    p.add_argument("--hypervisor", required=True)

    nic = sub.add_parser(
        "nic",
        help="add a NIC",
        description="add a NIC",
        formatter_class=_Fmt,
        epilog="examples:\n  uniform nic add web1 eth1 --network mgmt -C acme\n",
    )
    nsub = nic.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(
        nsub,
        "add",
        "add a NIC to a machine; MAC and addresses are generated unless given",
        cmd_nic_add,
        "  uniform nic add web1 eth1 --network mgmt -C acme\n"
        "  uniform nic add hv1 eno2 --network lan --mac 0c:c4:7a:10:20:03 --ipv4 10.20.0.12 -C acme\n",
    )
    p.add_argument("machine")
    p.add_argument("nic")
    p.add_argument("--network", action="append", default=[], help="repeatable")
    p.add_argument("--mac")
    p.add_argument("--ipv4", help="pinned IPv4 address (needs exactly one --network)")

    mac = sub.add_parser(
        "mac",
        help="MAC addresses",
        description="MAC addresses",
        formatter_class=_Fmt,
        epilog="examples:\n  uniform mac generate web3 eth0 -C acme\n",
    )
    macsub = mac.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(
        macsub,
        "generate",
        "print the deterministic MAC the machine's NIC has or would be assigned",
        cmd_mac_generate,
        "  uniform mac generate web3 eth0 -C acme\n",
    )
    p.add_argument("machine")
    p.add_argument("nic", nargs="?", default="eth0")

    for key in ("tags", "roles"):
        one = key[:-1]
        t = sub.add_parser(
            one,
            help=f"add or remove {key}",
            description=f"add or remove {key}",
            formatter_class=_Fmt,
            epilog=f"examples:\n  uniform {one} add web1 {'web' if one == 'tag' else 'dns'} -C acme\n",
        )
        tsub = t.add_subparsers(dest="action", required=True, metavar="ACTION")
        for action in ("add", "remove"):
            example = "web" if key == "tags" else "dns"
            p = add(
                tsub,
                action,
                f"{action} {key}",
                _values(key),
                f"  uniform {one} {action} web1 {example} -C acme\n",
            )
            p.add_argument("machine")
            p.add_argument("values", nargs="+", metavar=one.upper())

    p = add(
        sub,
        "list",
        "list machines (filters combine; repeat one to match any of its values, tags/roles: all given)",
        cmd_list,
        "  uniform list -C acme --tag web --state active\n  uniform list -C acme --hypervisor hv1 --json\n",
        aliases=("ls",),
    )
    p.add_argument("--tag", action="append", default=[])
    p.add_argument("--role", action="append", default=[])
    p.add_argument("--state", action="append", default=[], choices=[s.value for s in State])
    p.add_argument("--hypervisor", action="append", default=[])
    p.add_argument("--network", action="append", default=[])
    p.add_argument("--kind", choices=[k.value for k in Kind])
    p.add_argument("--json", action="store_true", help="machines as JSON (everything resolved)")

    p = add(
        sub,
        "render",
        "write the customer's payload tree (every file of every machine) for diffing",
        cmd_render,
        "  uniform render acme /tmp/acme-after\n  uniform render --stack acme /tmp/acme-after\n",
    )
    p.add_argument("target", nargs="+", metavar="[CUSTOMER|DIR] OUTDIR")

    add(
        sub,
        "policy",
        "check the mandatory rules (also enforced by the policy pack in policy/); exit 1 on violations",
        cmd_policy,
        "  uniform policy -C acme\n",
    )

    for name, help_text in OPS_COMMANDS.items():
        p = add(
            sub,
            name,
            help_text,
            cmd_ops,
            f"  uniform {name} -C acme {'/tmp/a.html' if name == 'report' else '--identity KEY --jobs 8'}\n"
            f"  (every option of `python -m ops {name} --help` passes through)\n",
        )
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    from .review import add_review_arguments

    p = sub.add_parser(
        "review",
        help="pulumi preview of every customer a git change touches, summarised",
        description="pulumi preview --diff --json of every stack whose files (or uniform's code) a git "
        "change touches, with the policy pack, summarised: machines added/changed/removed, reloads.",
        formatter_class=_Fmt,
        epilog="examples:\n  uniform review --base origin/main\n  tools/review --base HEAD~1 --json\n",
    )
    add_review_arguments(p)
    p.set_defaults(func=cmd_review)
    return ap


#: commands served by the ops package; their own options pass through unchanged
OPS_COMMANDS = {
    "report": "one self-contained HTML page: networks, machines, hypervisors, lifecycle",
    "verify": "compare every host's delivered files with the expected (exit 0 clean, 1 drift, 2 unreachable)",
}


def cmd_ops(args: argparse.Namespace) -> int:
    """`uniform report|verify [selection] ARGS...` = `python -m ops report|verify <customer_dir> ARGS...`."""
    import importlib

    module = importlib.import_module(f"ops.{args.command}")
    rest: list[str] = list(args.rest)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    try:
        root = resolve_root(args)
    except UsageError:
        # no selection: the first argument is the customer directory, as for python -m ops
        rc: int = module.main(rest)
        return rc
    rc = module.main([str(root), *rest])
    return rc


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, extra = ap.parse_known_args(argv)
        if getattr(args, "command", None) in OPS_COMMANDS:
            args.rest = [*extra, *args.rest]
        elif extra:
            ap.error(f"unrecognized arguments: {' '.join(extra)}")
        rc: int = args.func(args)
        return rc
    except InventoryError as e:
        print(e, file=sys.stderr)
        return 1
    except UsageError as e:
        print(f"uniform: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("uniform: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
