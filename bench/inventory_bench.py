"""Time inventory.load (read + validate + allocate + model) on a generated customer.

    .venv/bin/python bench/gen_inventory.py /tmp/ib --machines 10000
    .venv/bin/python -m bench.inventory_bench /tmp/ib/bench --runs 5                     # cold
    .venv/bin/python -m bench.inventory_bench /tmp/ib/bench --runs 5 --cache /tmp/icache # warm

Reports the median wall time of ``--runs`` loads and the median of each stage.  With
``--cache`` one untimed load first fills the parse cache (see docs/inventory.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from inventory.build import load_timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="customer directory (e.g. /tmp/ib/bench)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cache", type=Path, help="parse cache directory (filled by an untimed first load)")
    args = ap.parse_args()
    if args.cache:
        load_timed(args.root, None, cache_dir=args.cache)
    totals: list[float] = []
    stages: dict[str, list[float]] = {}
    n = 0
    for _ in range(max(3, args.runs)):
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        inv = load_timed(args.root, timings, cache_dir=args.cache)
        totals.append(time.perf_counter() - t0)
        n = len(inv.machines)
        for k, v in timings.items():
            stages.setdefault(k, []).append(v)
    print(
        f"{n} machines, {len(totals)} runs: median {statistics.median(totals):.3f} s "
        f"(min {min(totals):.3f}, max {max(totals):.3f})"
    )
    for k, vs in stages.items():
        print(f"  {k:<12} {statistics.median(vs):.3f} s")


if __name__ == "__main__":
    main()
