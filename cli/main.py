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
  uniform report --customer acme -o /tmp/acme.html
  uniform verify --customer acme --identity ~/.ssh/acme_deploy
  uniform export ansible --customer acme -o inventory/acme.yml
  uniform review --base origin/main
  uniform preview --all --expect-no-changes
  uniform up --all --parallel 4 --shard 1/2

Exit status: 0 ok; 1 problems (invalid inventory, refused edit, policy violations, drift,
failed previews); 2 usage errors; 3 hosts not verified (verify); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from inventory.errors import InventoryError
from inventory.model import Kind, State

from .edits import (
    cmd_mac_generate,
    cmd_machine_add,
    cmd_machine_move,
    cmd_machine_remove,
    cmd_nic_add,
    cmd_transition,
    cmd_values,
)
from .exitcodes import Exit, UsageError
from .exports import EXPORTS, add_export_arguments, cmd_export
from .imports import add_import_arguments, cmd_import
from .ops_commands import add_report_arguments, add_verify_arguments, cmd_report, cmd_verify
from .reads import cmd_check, cmd_list, cmd_pin, cmd_policy, cmd_render, cmd_unpinned
from .review import add_review_arguments, cmd_review
from .select import add_selection
from .stacks_run import add_run_arguments, cmd_preview, cmd_up

__all__ = ["build_parser", "main"]


#: examples and notes in the help keep their line breaks
_Fmt = argparse.RawDescriptionHelpFormatter


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
    p.add_argument(
        "--virtualization",
        choices=("kvm", "qemu"),
        help="role hypervisor: how libvirt runs its VMs (default kvm; qemu: TCG, no usable /dev/kvm)",
    )
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
        "move a VM to another hypervisor (capacity is checked; a defined VM says what happens to its disks)",
        cmd_machine_move,
        "  uniform machine move web1 --hypervisor hv2 -C acme                 # a planned VM\n"
        "  uniform machine move web1 --hypervisor hv2 --disk-copied -C acme   # disks copied by hand\n",
    )
    p.add_argument("name")
    p.add_argument("--hypervisor", required=True)
    disks = p.add_mutually_exclusive_group()
    disks.add_argument(
        "--disk-copied", action="store_true", help="its disks were copied to the new hypervisor (kept)"
    )
    disks.add_argument("--fresh-disk", action="store_true", help="it starts from empty disks there")

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
                cmd_values(key),
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

    exp = sub.add_parser(
        "export",
        help="render the inventory for Ansible, Prometheus, ssh or a spreadsheet",
        description="render the inventory for the tools around uniform (docs/export.md)",
        formatter_class=_Fmt,
        epilog="examples:\n" + "".join(examples.splitlines(keepends=True)[0] for _, _, examples in EXPORTS),
    )
    esub = exp.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for fmt, what, examples in EXPORTS:
        add_export_arguments(add(esub, fmt, what, cmd_export, examples), fmt)

    p = add(
        sub,
        "report",
        "write one self-contained HTML page: networks, machines, hypervisors, lifecycle",
        cmd_report,
        "  uniform report -C acme                   # report-acme.html\n"
        "  uniform report -C acme -o /tmp/acme.html\n  uniform report -s acme -o - | gzip > acme.html.gz\n",
    )
    add_report_arguments(p)
    p = add(
        sub,
        "verify",
        "compare every delivered host's files with the expected "
        "(exit 0 clean, 1 drift, 3 a host not verified)",
        cmd_verify,
        "  uniform verify -C acme --identity ~/.ssh/acme_deploy --jobs 8\n"
        "  pulumi config get uniform:sshPrivateKey --stack acme | uniform verify -s acme --identity -\n"
        "  uniform verify -C demo --local-root out/demo --json\n"
        "  uniform verify -C acme --adopt --identity ~/.ssh/acme_deploy   # before the first up\n",
    )
    add_verify_arguments(p)

    p = add(
        sub,
        "import",
        "build or extend a customer from live DHCP, DNS and libvirt config, everything pinned "
        "(docs/adopt.md)",
        cmd_import,
        "  uniform import stacks/acme --dnsmasq /etc/dnsmasq.conf --named-conf /etc/bind/named.conf \\\n"
        "      --libvirt hv1=hv1-xml/ --network 10.20.0.0/24=lan --known-hosts ~/.ssh/known_hosts --dry-run\n"
        "  uniform import -C acme --kea kea-dhcp4.conf --zone db.acme.example:acme.example --force\n",
    )
    add_import_arguments(p)

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

    for name, func, what in (
        ("preview", cmd_preview, "pulumi preview"),
        ("up", cmd_up, "pulumi up --yes"),
    ):
        p = sub.add_parser(
            name,
            help=f"{what} of several stacks at once (--all or -s repeated), summarised in a table",
            description=f"{what} of several stacks at once, each in its own work directory, "
            "then a table: per stack the changes by kind, seconds and error. Exit 1 if a stack "
            "failed or, with --expect-no-changes, changed.",
            formatter_class=_Fmt,
            epilog=f"examples:\n  uniform {name} --all --parallel 4\n"
            f"  uniform {name} -s acme -s globex --expect-no-changes\n"
            f"  uniform {name} --all --shard 1/3 --passphrase-dir /run/secrets/uniform\n",
        )
        add_run_arguments(p)
        p.set_defaults(func=func)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = ap.parse_args(argv)
        rc: int = args.func(args)
        return rc
    except InventoryError as e:
        print(e, file=sys.stderr)
        return Exit.PROBLEMS
    except UsageError as e:
        print(f"uniform: error: {e}", file=sys.stderr)
        return Exit.USAGE
    except KeyboardInterrupt:
        print("uniform: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
