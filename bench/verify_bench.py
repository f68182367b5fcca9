"""Benchmark: `verify` over real SSH against the lab's hosts (needs root, like the lab).

    sudo .venv/bin/python -m bench.verify_bench [--extra 15] [--repeat 3] [--jobs 1,4,8]

Brings the lab up (harness/lab.py, its own namespace prefix and run directory), adds
--extra plain hw hosts to the lab inventory's copy (each a real host with sshd, as
the lab makes them), delivers everything with `pulumi up`, then times
`uniform verify` (`python -m cli verify`) from the controller namespace, for each --jobs value
(median of --repeat runs; every run must exit 0).  The lab is torn down at the end,
also on failure.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from harness import lab as L

ROOT = Path(__file__).resolve().parents[1]


def node(i: int) -> str:
    return textwrap.dedent(f"""\
        name: node{i:02d}
        kind: hw
        cores: 2
        memory: 2GiB
        nics:
          - name: eth0
            networks: [{{network: lan}}]
        state: active
        history: [planned, staged]
        """)


def verify_cmd(lab, *args: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        "ip", "netns", "exec", lab.ctl, sys.executable, "-m", "cli", "verify",
        "--dir", str(lab.inv_dir), "--identity", str(lab.client_key), "-q", *args,
    ]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extra", type=int, default=15, help="hw hosts added to the lab's five (default 15)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", default="1,4,8")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="uniform-verify-bench-") as tmp:
        lab = L.Lab(Path(tmp) / "lab", prefix=f"ub{os.getpid() % 100000}-")
        try:
            t0 = time.monotonic()
            lab.up()
            for i in range(1, a.extra + 1):
                (lab.inv_dir / "machines" / f"node{i:02d}.yaml").write_text(node(i))
                lab.add_host(f"node{i:02d}")
            eng = lab.init_stack()
            lab.guard()
            eng.run("up", "--yes", "--skip-preview", timeout=1200)
            setup = time.monotonic() - t0
            hosts = len(lab.hosts)
            print(f"date      {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
            load = " ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"host      nproc {os.cpu_count()}, Python {platform.python_version()}, load avg {load}")
            print(f"lab       {hosts} hosts up and delivered in {setup:.0f}s")
            # the fixed part: interpreter, inventory load and render, one host
            one = sorted(lab.hosts)[0]
            times = []
            for _ in range(a.repeat):
                t1 = time.perf_counter()
                L.run(verify_cmd(lab, "--machine", one), timeout=600, cwd=ROOT)
                times.append(time.perf_counter() - t1)
            print(f"verify    1 host (--machine {one}): median {statistics.median(times):.2f}s")
            for jobs in [int(j) for j in a.jobs.split(",")]:
                times = []
                for _ in range(a.repeat):
                    t1 = time.perf_counter()
                    proc = L.run(verify_cmd(lab, "--jobs", str(jobs)), check=False, timeout=600, cwd=ROOT)
                    times.append(time.perf_counter() - t1)
                    if proc.returncode != 0:
                        print(proc.stdout + proc.stderr, file=sys.stderr)
                        return 1
                print(
                    f"verify    {hosts} hosts, --jobs {jobs}: median {statistics.median(times):.2f}s "
                    f"(min {min(times):.2f}, max {max(times):.2f}) over {a.repeat} runs, exit 0"
                )
        finally:
            lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
