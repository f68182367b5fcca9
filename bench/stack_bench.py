"""`pulumi up` / `pulumi preview` of a whole customer through the real engine, as users run it.

    source .tools/env.sh && .venv/bin/python -m bench.stack_bench --machines 250 500 1000 [--runs 3]
        [--checkpoints both|off|on] [--limit 900]
        [--backend file --backend 'postgres://user@127.0.0.1:5432/db?sslmode=disable']

Two variants, side by side in the same run, each size on a fresh project and backend:

* ``default``: uniform's default, the path users run (``uniform up``, ``.tools/env.sh``,
  ``make demo``, the lab): ``PULUMI_SKIP_CHECKPOINTS=true``, one state write per run
  (docs/team.md "Crashes and recovery");
* ``checkpoints``: ``PULUMI_SKIP_CHECKPOINTS=false``, the engine's own default and uniform's
  before issue 17: the whole state written after every step.

``--checkpoints off`` runs only ``default``, ``on`` only ``checkpoints``.  Per variant: the
first ``up`` (every resource created), a no-change ``preview``, a one-machine change ``up`` (a
VM's cores: its hypervisor's VM definitions change) and a mass change ``up`` (the domain
changes: every machine's files), each with its wall time and the peak RSS (VmHWM, sampled from
/proc every 0.1 s) of the engine, the language host, the program and the dynamic provider,
plus the state's size per machine.  A step that runs past ``--limit`` seconds is stopped and
reported as ``null``: a first ``up`` is then finished with uniform's default (``pulumi cancel``,
``up``) so that the variant's later steps are still measured; after any other, they are skipped.  The
customer is bench/gen_inventory.py's, switched to local delivery.  The program's own share
(load + validate + allocate + render in Python) is timed in-process.

``--backend`` (repeatable, default ``file``): ``file`` is a throwaway file backend; a URL (a
PostgreSQL database, docs/team.md) is used as it is, and the bench's stack is removed from it
afterwards (``stack rm --force``).  The last line is the table of checkpoints/default ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import inventory
import payloads
from bench import gen_inventory
from harness.engine import Engine, copy_project, engine_env
from harness.procs import descendants, kill_tree

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"default": "true", "checkpoints": "false"}  # -> PULUMI_SKIP_CHECKPOINTS
STEPS = ("first_up", "noop_preview", "one_change_up", "mass_change_up")
ROLES = ("engine", "language_host", "program", "dynamic_provider")


class Stopped(Exception):
    """A step ran past the limit (or failed): the variant's later steps are skipped."""


def engine(proj: Path, backend: Path | str, variant: str) -> Engine:
    e = engine_env(backend, passphrase="bench")
    e["PULUMI_SKIP_CHECKPOINTS"] = VARIANTS[variant]
    return Engine(cwd=proj, env=e, timeout=None, error=SystemExit)


def make_project(tmp: Path, machines: int) -> tuple[Path, Path]:
    proj = copy_project(tmp / "proj")
    gen_inventory.generate(tmp / "gen" / "bench", machines)
    shutil.move(str(tmp / "gen" / "bench"), proj / "stacks" / "bench")
    cust = proj / "stacks" / "bench" / "customer.yaml"
    cust.write_text(
        re.sub(r"delivery: \{[^}]*\}", "delivery: {mode: local, local_root: out}", cust.read_text())
    )
    (proj / "stacks" / "Pulumi.bench.yaml").write_text("config:\n  uniform:inventory: bench\n")
    return proj, proj / "stacks" / "bench"


def one_vm_file(inv_dir: Path) -> tuple[Path, str]:
    inv = inventory.load(inv_dir)
    vm = next(m for m in inv.machines.values() if m.is_vm and inventory.lifecycle.delivered(m.state))
    return inv_dir / vm.file, vm.name


def bump_cores(path: Path, name: str) -> None:
    text = path.read_text()
    # group files hold many machines: change the one block that names this VM
    start = text.index(f"name: {name}\n")
    m = re.compile(r"cores: (\d+)").search(text, start)
    assert m
    new = "2" if m.group(1) == "1" else "1"
    path.write_text(text[: m.start(1)] + new + text[m.end(1) :])


def new_domain(inv_dir: Path, n: int) -> None:
    cust = inv_dir / "customer.yaml"
    cust.write_text(re.sub(r"(?m)^domain: .*$", f"domain: mass{n}.example", cust.read_text()))


def program_seconds(inv_dir: Path) -> float:
    t = time.perf_counter()
    inv = inventory.load(inv_dir)
    payloads.render_customer(inv)
    return time.perf_counter() - t


# --- peak memory of the processes of one command ---------------------------------------


def role(cmdline: list[str]) -> str | None:
    """Which of uniform's engine processes ``cmdline`` is (None: another one)."""
    text = " ".join(cmdline)
    first = os.path.basename(cmdline[0]) if cmdline else ""
    if "pulumi.dynamic" in text or "pulumi-resource-pulumi-python" in text:
        return "dynamic_provider"
    if "pulumi-language-python-exec" in text:
        return "program"
    if first.startswith("pulumi-language-python"):
        return "language_host"
    if first == "pulumi":
        return "engine"
    return None


def hwm_kib(pid: int) -> tuple[str | None, int]:
    """(role, VmHWM in KiB) of ``pid``; (None, 0) when it is gone or not one of ours."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None, 0
    m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return role([c for c in cmd if c]), int(m.group(1)) if m else 0


@contextmanager
def sampling(pid: int, peaks: dict[str, int], every: float = 0.1) -> Iterator[None]:
    """Record into ``peaks`` (role -> MiB) the largest VmHWM seen below ``pid`` while inside."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            for p in descendants(pid):
                r, kib = hwm_kib(p)
                if r:
                    peaks[r] = max(peaks.get(r, 0), round(kib / 1024))
            stop.wait(every)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def timed(eng: Engine, limit: float, *args: str) -> tuple[float, dict[str, int]]:
    """``pulumi ARGS``: (wall seconds, peak MiB per role); Stopped past ``limit`` or on failure."""
    peaks: dict[str, int] = {}
    t = time.perf_counter()
    p = eng.start(*args)
    with sampling(p.pid, peaks):
        try:
            out, _ = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            # the whole tree: the engine starts its plugins in process groups of their own
            kill_tree(p.pid)
            p.communicate()
            raise Stopped(f"stopped after {limit:.0f} s") from None
    if p.returncode != 0:
        raise Stopped(f"pulumi {' '.join(args)} exited {p.returncode}: {out[-2000:]}")
    return time.perf_counter() - t, peaks


# --- one size, one variant --------------------------------------------------------------


def run_variant(machines: int, variant: str, runs: int, limit: float, backend_arg: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="uniform-bench-") as d:
        tmp = Path(d)
        proj, inv_dir = make_project(tmp, machines)
        backend: Path | str
        if backend_arg == "file":
            backend = tmp / "state"
            backend.mkdir()
        else:
            backend = backend_arg
        eng = engine(proj, backend, variant)
        eng.run("stack", "init", "bench")
        try:
            return _run_variant(eng, inv_dir, variant, runs, limit, backend)
        finally:
            if isinstance(backend, str):
                eng.run("stack", "rm", "--force", "--yes", "bench", check=False)


def _run_variant(
    eng: Engine, inv_dir: Path, variant: str, runs: int, limit: float, backend: Path | str
) -> dict[str, Any]:
    n = len(inventory.load(inv_dir).machines)
    res: dict[str, Any] = {
        "machines": n,
        "variant": variant,
        "PULUMI_SKIP_CHECKPOINTS": VARIANTS[variant],
        "backend": "file" if isinstance(backend, Path) else backend.split("://", 1)[0],
        "program_s": round(statistics.median(program_seconds(inv_dir) for _ in range(runs)), 2),
    }
    peaks: dict[str, int] = {}

    def step(name: str, times: int, args: tuple[str, ...], before: Any = None) -> None:
        secs = []
        for _ in range(times):
            if before:
                before()
            s, p = timed(eng, limit, *args)
            secs.append(s)
            for r, mib in p.items():
                peaks[r] = max(peaks.get(r, 0), mib)
            res[f"peak_mib[{name}]"] = p
        res[f"{name}_s"] = round(statistics.median(secs), 2)

    up = ("up", "--yes", "--skip-preview")
    path, vm = one_vm_file(inv_dir)
    mass = iter(range(1, 1000))
    try:
        try:
            step("first_up", 1, up)
        except Stopped as e:
            # too slow to wait for: stop it as a crash would, recover as docs/team.md says
            # (cancel, the same up, here with uniform's default), and go on measuring the
            # later steps with this variant
            res["first_up_stopped"] = str(e)
            res["first_up_s"] = None
            eng.run("cancel", "--yes")
            engine(eng.cwd, backend, "default").run(*up)
        state = eng.run("stack", "export").stdout
        resources = json.loads(state)["deployment"]["resources"]
        res["resources"] = len(resources)
        res["state_bytes_per_machine"] = round(len(state.encode()) / n)
        step("noop_preview", runs, ("preview", "--expect-no-changes"))
        step("one_change_up", runs, up, lambda: bump_cores(path, vm))
        step("mass_change_up", 1, up, lambda: new_domain(inv_dir, next(mass)))
    except Stopped as e:
        res["stopped"] = str(e)
        for s in STEPS:
            res.setdefault(f"{s}_s", None)
    res["peak_mib"] = {r: peaks.get(r) for r in ROLES}
    return res


def ratio_table(rows: list[dict[str, Any]], limit: float) -> str:
    """checkpoints / default per size and step (">" when the checkpoints run was stopped)."""
    lines = ["machines  " + "  ".join(f"{s:>16}" for s in STEPS)]
    by = {(r["machines"], r["backend"], r["variant"]): r for r in rows}
    for (m, b, v), new in sorted(by.items()):
        old = by.get((m, b, "checkpoints"))
        if v != "default" or old is None:
            continue
        cells = []
        for s in STEPS:
            a, o = new.get(f"{s}_s"), old.get(f"{s}_s")
            if a and o:
                cells.append(f"{o / a:.1f}x ({o}/{a})")
            elif a and (old.get("stopped") or old.get(f"{s}_stopped")):
                cells.append(f">{int(limit)}/{a}")
            else:
                cells.append("-")
        lines.append(f"{m:>8}  " + "  ".join(f"{c:>16}" for c in cells) + f"  [{b}]")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, nargs="+", default=[250, 500, 1000])
    ap.add_argument("--runs", type=int, default=3, help="runs of the preview and one-change up (median)")
    ap.add_argument("--backend", action="append", help="file (default) or a backend URL; repeatable")
    ap.add_argument(
        "--checkpoints",
        choices=("both", "off", "on"),
        default="both",
        help="both: uniform's default and the engine's checkpoints side by side; off/on: one of them",
    )
    ap.add_argument("--limit", type=float, default=1800, help="seconds a step may take before it is stopped")
    args = ap.parse_args()
    variants = {"both": ["default", "checkpoints"], "off": ["default"], "on": ["checkpoints"]}[
        args.checkpoints
    ]
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} nproc={os.cpu_count()} runs={args.runs} "
        f"limit={args.limit:.0f}s (medians)",
        flush=True,
    )
    rows = []
    for m in args.machines:
        for b in args.backend or ["file"]:
            for v in variants:
                row = run_variant(m, v, args.runs, args.limit, b)
                rows.append(row)
                print(json.dumps(row), flush=True)
    if len(variants) == 2:
        print("# checkpoints / default (seconds old/new)")
        print(ratio_table(rows, args.limit))


if __name__ == "__main__":
    main()
