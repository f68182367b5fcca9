"""``uniform``: inventory commands (check, unpinned, pin, transition).

uniform check stacks/acme                 # validate; exit 1 listing every problem
uniform unpinned stacks/acme              # generated MACs / allocated addresses not yet pinned
uniform pin stacks/acme                   # write them into the machine files
uniform transition stacks/acme web1 active
"""

from __future__ import annotations

import argparse
import sys

from .build import load
from .edit import pin, transition, unpinned
from .errors import InventoryError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="uniform", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("check", "unpinned", "pin"):
        sub.add_parser(name).add_argument("root", help="customer directory, e.g. stacks/acme")
    tr = sub.add_parser("transition")
    tr.add_argument("root")
    tr.add_argument("machine")
    tr.add_argument("state")
    args = ap.parse_args(argv)
    try:
        if args.command == "check":
            inv = load(args.root)
            print(f"{inv.customer.name}: {len(inv.machines)} machines, {len(inv.networks)} networks: ok")
        elif args.command == "unpinned":
            todo = unpinned(load(args.root))
            print("\n".join(todo) if todo else "nothing unpinned")
            return 1 if todo else 0
        elif args.command == "pin":
            done = pin(args.root)
            print("\n".join(f"pinned {line}" for line in done) if done else "nothing to pin")
        else:
            transition(args.root, args.machine, args.state)
            print(f"{args.machine}: {args.state}")
    except InventoryError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
