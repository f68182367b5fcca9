"""`pulumi preview` / `pulumi up` of a whole customer through the real engine.

    source .tools/env.sh && .venv/bin/python -m bench.stack_bench --machines 100 1000 [--runs 3]
        [--backend file --backend 'postgres://user@127.0.0.1:5432/db?sslmode=disable'] [--checkpoints on]

For each size: a generated customer (bench/gen_inventory.py, switched to local
delivery) in a throwaway project and file backend; the first `up`; a no-change
`preview`; a one-machine change (`up` after a VM's cores change, which touches
its hypervisor's VM definitions) — each with checkpoints on, and the last two
also with PULUMI_SKIP_CHECKPOINTS=true, side by side in the same run.  The
program's own share (load + validate + allocate + render in Python) is timed
in-process, so the rest of a preview is engine and language-host time.

``--backend`` (repeatable, default ``file``): ``file`` is a throwaway file backend;
a URL (e.g. a PostgreSQL database, docs/team.md) is used as it is, and the bench's
stack is removed from it afterwards (``stack rm --force``), so one database serves
every size.  Each size runs on every backend in turn, in the same process.
``--checkpoints on`` skips the PULUMI_SKIP_CHECKPOINTS=true variants.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import inventory
import payloads
from bench import gen_inventory
from harness.engine import Engine, copy_project, engine_env

ROOT = Path(__file__).resolve().parents[1]


def engine(proj: Path, backend: Path | str, skip_checkpoints: bool) -> Engine:
    """The engine on ``proj`` with the bench's backend; a failure stops the benchmark."""
    e = engine_env(backend, passphrase="bench")
    if skip_checkpoints:
        e["PULUMI_SKIP_CHECKPOINTS"] = "true"
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


def one_vm_file(inv_dir: Path) -> Path:
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


def program_seconds(inv_dir: Path) -> float:
    t = time.perf_counter()
    inv = inventory.load(inv_dir)
    payloads.render_customer(inv)
    return time.perf_counter() - t


def bench(
    machines: int, runs: int, backend_arg: str = "file", variants: tuple[bool, ...] = (False, True)
) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="uniform-bench-") as d:
        tmp = Path(d)
        proj, inv_dir = make_project(tmp, machines)
        backend: Path | str
        if backend_arg == "file":
            backend = tmp / "state"
            backend.mkdir()
        else:
            backend = backend_arg
        eng = engine(proj, backend, skip_checkpoints=False)
        eng.run("stack", "init", "bench")
        try:
            return _bench(proj, inv_dir, backend, runs, variants)
        finally:
            if isinstance(backend, str):
                eng.run("stack", "rm", "--force", "--yes", "bench", check=False)


def _bench(
    proj: Path, inv_dir: Path, backend: Path | str, runs: int, variants: tuple[bool, ...]
) -> dict[str, object]:
    eng = engine(proj, backend, skip_checkpoints=False)
    # The first up creates every resource; with checkpoints on, the file
    # backend rewrites the whole (growing) state after each of them, which
    # is quadratic.  It is timed with checkpoints skipped; see bench/README.md.
    first_up = engine(proj, backend, skip_checkpoints=True).seconds("up", "--yes", "--skip-preview")
    export = eng.run("stack", "export", check=False)
    resources = [r for r in json.loads(export.stdout)["deployment"]["resources"] if "::" in r["urn"]]
    custom = [r for r in resources if r.get("custom") and not r["type"].startswith("pulumi:providers:")]
    n = len(inventory.load(inv_dir).machines)
    path, vm = one_vm_file(inv_dir)
    result: dict[str, object] = {
        "machines": n,
        "resources": len(resources),
        "resources_per_machine": round(len(resources) / n, 2),
        "delivery_resources": len(custom),
        "backend": "file" if isinstance(backend, Path) else backend.split("://", 1)[0],
        "backend_bytes_with_history": (
            sum(p.stat().st_size for p in backend.rglob("*.json")) if isinstance(backend, Path) else None
        ),
        "first_up_s[skipckpt]": round(first_up, 2),
        "program_s": round(statistics.median(program_seconds(inv_dir) for _ in range(runs)), 2),
    }
    for skip in variants:
        eng = engine(proj, backend, skip_checkpoints=skip)
        tag = "skipckpt" if skip else "ckpt"
        result[f"noop_preview_s[{tag}]"] = round(
            statistics.median(eng.seconds("preview", "--expect-no-changes") for _ in range(runs)), 2
        )
        ups = []
        for _ in range(runs):
            bump_cores(path, vm)
            ups.append(eng.seconds("up", "--yes", "--skip-preview"))
        result[f"one_change_up_s[{tag}]"] = round(statistics.median(ups), 2)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--backend", action="append", help="file (default) or a backend URL; repeatable")
    ap.add_argument("--checkpoints", choices=("both", "on"), default="both")
    args = ap.parse_args()
    variants = (False, True) if args.checkpoints == "both" else (False,)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} nproc={os.cpu_count()} runs={args.runs} (medians)")
    for m in args.machines:
        for b in args.backend or ["file"]:
            print(json.dumps(bench(m, args.runs, b, variants)), flush=True)


if __name__ == "__main__":
    main()
