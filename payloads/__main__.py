"""``python -m payloads <customer_dir> <outdir>``: render a customer's payload tree for review."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import render_customer, write_tree


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m payloads", description=__doc__)
    p.add_argument("customer_dir", type=Path)
    p.add_argument("outdir", type=Path)
    args = p.parse_args(argv)
    import inventory
    from inventory.errors import InventoryError

    try:
        inv = inventory.load(args.customer_dir)
    except InventoryError as e:
        print(e, file=sys.stderr)
        return 1
    payloads = render_customer(inv)
    written = write_tree(payloads, args.outdir)
    for name, pl in payloads.items():
        print(f"{name}\t{pl.digest}\t{len(pl.files)} files\treloads: {' '.join(pl.reloads()) or '-'}")
    print(f"{len(written)} files for {len(payloads)} machines in {args.outdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
