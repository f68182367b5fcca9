"""Benchmark: the HTML report of a 10,000-machine inventory.

    .venv/bin/python -m bench.report_bench [--machines 10000] [--repeat 5] [--browser]
    .venv/bin/python -m bench.report_bench --customer-dir DIR

The inventory comes from ``bench/gen_inventory.py`` (generated into a temporary
directory) unless --customer-dir is given; it is loaded once (loading is the
inventory's benchmark).  Timed, median of --repeat runs: ``ops.report.build``
(the figures) and ``render_report`` (Jinja2), and their sum = what `report` adds
to a load.  Also reports the page size.  --browser also times headless Chromium
loading the page and sorting the table by memory (`#sort=-memory`, --dump-dom).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import inventory
from ops import report

ROOT = Path(__file__).resolve().parents[1]

BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--customer-dir", type=Path)
    ap.add_argument("--browser", action="store_true", help="also time headless Chromium on the page")
    ap.add_argument("--keep", type=Path, help="write the page here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="uniform-report-bench-") as tmp:
        cdir = a.customer_dir
        if cdir is None:
            subprocess.run(
                [sys.executable, str(ROOT / "bench/gen_inventory.py"), tmp, "--machines", str(a.machines)],
                check=True,
                timeout=600,
                stdout=subprocess.DEVNULL,
            )
            cdir = Path(tmp) / "bench"
        t0 = time.perf_counter()
        inv = inventory.load(cdir)
        load_s = time.perf_counter() - t0
        builds, renders, cpu = [], [], []
        page = ""
        for _ in range(a.repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            rep = report.build(inv)
            t1 = time.perf_counter()
            page = report.render_report(rep)
            t2 = time.perf_counter()
            builds.append(t1 - t0)
            renders.append(t2 - t1)
            cpu.append(time.process_time() - c0)
        size = len(page.encode())
        hvs = sum(1 for m in inv.machines.values() if "hypervisor" in m.roles)
        print(f"date      {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"host      nproc {os.cpu_count()}, Python {platform.python_version()}, load avg {load}")
        print(
            f"inventory {cdir}: {len(inv.machines)} machines, {len(inv.networks)} networks, "
            f"{hvs} hypervisors (load {load_s:.2f}s, not counted)"
        )
        print(f"build     median {statistics.median(builds):.3f}s  (min {min(builds):.3f})")
        print(f"render    median {statistics.median(renders):.3f}s  (min {min(renders):.3f})")
        total = [b + r for b, r in zip(builds, renders, strict=True)]
        print(f"total     median {statistics.median(total):.3f}s  cpu {statistics.median(cpu):.3f}s")
        per = size / max(1, len(inv.machines))
        print(f"page      {size:,} bytes ({size / 1e6:.1f} MB), {per:.0f} B/machine")
        out = a.keep or Path(tmp) / "report.html"
        out.write_text(page)
        if a.browser:
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            if chromium is None:
                print("browser   chromium not installed", file=sys.stderr)
                return 1
            profile = Path(tmp) / "profile"
            t0 = time.perf_counter()
            proc = subprocess.run(
                [chromium, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                 out.resolve().as_uri() + "#sort=-memory"],
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            dt = time.perf_counter() - t0
            ok = proc.returncode == 0 and 'data-ready="1"' in proc.stdout
            verdict = "ok" if ok else "FAILED"
            print(f"browser   chromium load + sort by memory (--dump-dom): {dt:.2f}s {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
