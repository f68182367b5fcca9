"""Per-process cost of a large customer through the real engine, code versions side by side.

    source .tools/env.sh && .venv/bin/python -m bench.scale_probe --machines 1000 3000 \\
        [--code /tmp/old --code .] [--runs 2] [--steps first,noop,one,mass] [--profile DIR]

For each size, one generated customer (bench/gen_inventory.py, local delivery) and,
for each ``--code`` checkout (default: this one), its own project copy and file
backend, running that checkout's program and packages (``PYTHONPATH``).  Make an old
checkout with ``git worktree add --detach /tmp/old <commit>`` (and its ``.venv`` and
``.tools`` symlinked to this one's).  Steps, each timed for every checkout in turn,
alternated ``--runs`` times so that both see the same machine load:

* ``first``: the first ``up`` (PULUMI_SKIP_CHECKPOINTS=true: wall 1 is not measured here);
* ``noop``: a no-change ``preview --expect-no-changes``;
* ``one``: ``up`` after one VM's cores change (its hypervisor's VM definitions change),
  checkpoints skipped;
* ``mass``: ``up`` after the customer's domain changes (every machine's files change),
  checkpoints skipped, then the domain changes back (also timed).

Every process of a run is watched through /proc (10 Hz): CPU seconds and peak RSS
(VmHWM) of the engine, the language host's program and the dynamic provider, since
on 2 shared cores the wall clock varies more than the CPU seconds do.  Also printed:
resources, state bytes (``stack export``) per machine.  ``--profile DIR`` adds the
engine's ``--profiling`` output and, when ``py-spy`` is on PATH, a ``py-spy record
--gil`` of the program and of the provider (docs/scale.md "Where the time goes").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import inventory
from bench import gen_inventory
from harness.engine import ROOT, copy_project, engine_env

__all__ = ["Checkout", "main", "watch"]

CLK = os.sysconf("SC_CLK_TCK")
ROLES = {"pulumi": "engine", "pulumi-language-python-exec": "program", "pulumi.dynamic": "provider"}


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except OSError:
        pass
    return out


def _role(cmd: list[str]) -> str | None:
    for arg in cmd[:4]:
        for key, role in ROLES.items():
            if arg == key or arg.endswith("/" + key):
                return role
    return None


def _sample(pid: int) -> tuple[list[str], float, int] | None:
    try:
        cmd = [c for c in Path(f"/proc/{pid}/cmdline").read_text().split("\0") if c]
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        hwm = next(
            (
                int(line.split()[1])
                for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmHWM")
            ),
            0,
        )
    except (OSError, StopIteration):
        return None
    return cmd, (int(stat[11]) + int(stat[12])) / CLK, hwm * 1024


def watch(argv: list[str], cwd: Path, env: dict[str, str], spy: Path | None = None) -> dict[str, Any]:
    """Run ``argv``; wall seconds, exit code and per role (engine/program/provider) CPU s and peak RSS MB."""
    start = time.perf_counter()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    seen: dict[int, tuple[str, float, int]] = {}
    spies: list[subprocess.Popen[bytes]] = []
    while proc.poll() is None:
        todo = [proc.pid]
        while todo:
            pid = todo.pop()
            todo += _children(pid)
            sample = _sample(pid)
            role = _role(sample[0]) if sample else None
            if sample is None or role is None:
                continue
            _, cpu, rss = sample
            old = seen.get(pid, (role, 0.0, 0))
            seen[pid] = (role, max(old[1], cpu), max(old[2], rss))
            if spy is not None and role != "engine" and pid not in {int(s.args[3]) for s in spies}:  # type: ignore[index]
                out = spy / f"{role}.{pid}.txt"
                spies.append(
                    subprocess.Popen(
                        [
                            "py-spy",
                            "record",
                            "--pid",
                            str(pid),
                            "--gil",
                            "--rate",
                            "100",
                            "--format",
                            "raw",
                            "-o",
                            str(out),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        time.sleep(0.1)
    wall = time.perf_counter() - start
    for s in spies:
        s.wait()
    result: dict[str, Any] = {"rc": proc.returncode, "wall_s": round(wall, 2)}
    for role in ROLES.values():
        mine = [v for v in seen.values() if v[0] == role]
        result[f"{role}_cpu_s"] = round(sum(v[1] for v in mine), 2)
        result[f"{role}_rss_mb"] = round(max((v[2] for v in mine), default=0) / 2**20)
    if proc.returncode != 0:
        log.seek(0)
        result["output"] = log.read().decode(errors="replace")[-3000:]
    return result


@dataclass
class Checkout:
    """One code version, with its own project copy and file backend."""

    code: Path
    proj: Path
    backend: Path
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def env(self, skip_checkpoints: bool) -> dict[str, str]:
        env = engine_env(self.backend, passphrase="bench")
        env["PYTHONPATH"] = str(self.code)
        if skip_checkpoints:
            env["PULUMI_SKIP_CHECKPOINTS"] = "true"
        return env

    def pulumi(
        self, *args: str, skip_checkpoints: bool = True, profile: Path | None = None
    ) -> dict[str, Any]:
        pre = ["--profiling", str(profile / f"{self.code.name}-{args[0]}")] if profile else []
        argv = ["pulumi", "--non-interactive", *pre, *args, "--stack", "bench"]
        spy = None
        if profile and shutil.which("py-spy"):
            spy = profile / f"{self.code.name}-{args[0]}-{int(time.time())}"
            spy.mkdir(parents=True)
        return watch(argv, self.proj, self.env(skip_checkpoints), spy)

    def record(self, step: str, result: dict[str, Any]) -> None:
        if result["rc"] != 0:
            raise SystemExit(f"{self.code}: {step} failed:\n{result.get('output', '')}")
        self.results.setdefault(step, []).append(result)


def make_customer(dest: Path, machines: int) -> Path:
    gen_inventory.generate(dest, machines)
    cust = dest / "customer.yaml"
    cust.write_text(
        re.sub(r"delivery: \{[^}]*\}", "delivery: {mode: local, local_root: out}", cust.read_text())
    )
    return dest


def setup(tmp: Path, customer: Path, code: Path, i: int) -> Checkout:
    proj = copy_project(tmp / f"proj{i}", program=code / "__main__.py")
    shutil.copytree(customer, proj / "stacks" / "bench")
    (proj / "stacks" / "Pulumi.bench.yaml").write_text("config:\n  uniform:inventory: bench\n")
    backend = tmp / f"state{i}"
    backend.mkdir()
    co = Checkout(code=code, proj=proj, backend=backend)
    subprocess.run(
        ["pulumi", "--non-interactive", "stack", "init", "bench"],
        cwd=proj,
        env=co.env(False),
        check=True,
        capture_output=True,
    )
    return co


def bump_cores(inv_dir: Path) -> None:
    """One delivered VM's cores 1 <-> 2 (in its file, which may hold several machines)."""
    inv = inventory.load(inv_dir)
    vm = next(m for m in inv.machines.values() if m.is_vm and inventory.lifecycle.delivered(m.state))
    path = inv_dir / vm.file
    text = path.read_text()
    m = re.compile(r"cores: (\d+)").search(text, text.index(f"name: {vm.name}\n"))
    assert m
    path.write_text(text[: m.start(1)] + ("2" if m.group(1) == "1" else "1") + text[m.end(1) :])


def set_domain(inv_dir: Path, domain: str) -> None:
    cust = inv_dir / "customer.yaml"
    cust.write_text(re.sub(r"(?m)^domain: .*$", f"domain: {domain}", cust.read_text()))


def state_stats(co: Checkout, machines: int) -> dict[str, Any]:
    env = co.env(False)
    out = subprocess.run(
        ["pulumi", "--non-interactive", "stack", "export", "--stack", "bench"],
        cwd=co.proj,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    resources = [r for r in json.loads(out)["deployment"]["resources"] if "::" in r["urn"]]
    return {
        "resources": len(resources),
        "resources_per_machine": round(len(resources) / machines, 2),
        "state_kb_per_machine": round(len(out) / machines / 1024, 1),
    }


def run_size(
    machines: int,
    codes: list[Path],
    runs: int,
    steps: set[str],
    profile: Path | None,
    keep: Path | None = None,
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="uniform-scale-") as d:
        tmp = Path(d) if keep is None else keep / f"m{machines}"
        customer = make_customer(tmp / "gen" / "bench", machines)
        cos = [setup(tmp, customer, code, i) for i, code in enumerate(codes)]
        for co in cos:  # the first up, always (every other step needs it)
            co.record("first", co.pulumi("up", "--yes", "--skip-preview"))
        for _ in range(runs):
            for co in cos:
                inv_dir = co.proj / "stacks" / "bench"
                if "noop" in steps:
                    co.record("noop", co.pulumi("preview", "--expect-no-changes", profile=profile))
                if "one" in steps:
                    bump_cores(inv_dir)
                    co.record("one", co.pulumi("up", "--yes", "--skip-preview"))
                if "mass" in steps:
                    set_domain(inv_dir, "mass.example")
                    co.record("mass", co.pulumi("up", "--yes", "--skip-preview"))
                    set_domain(inv_dir, "bench.example")
                    co.record("mass", co.pulumi("up", "--yes", "--skip-preview"))
        rows = []
        for co in cos:
            row: dict[str, Any] = {"machines": machines, "code": str(co.code), **state_stats(co, machines)}
            for step, results in co.results.items():
                best = min(results, key=lambda r: r["wall_s"])
                row[step] = {k: v for k, v in best.items() if k != "rc"} | {
                    "walls": [r["wall_s"] for r in results]
                }
            rows.append(row)
        return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, nargs="+", default=[1000])
    ap.add_argument(
        "--code", type=Path, action="append", help="a checkout to run (repeatable; default: this one)"
    )
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--steps", default="first,noop,one", help="comma-separated: first,noop,one,mass")
    ap.add_argument("--profile", type=Path, help="engine --profiling output (and py-spy, when on PATH) here")
    ap.add_argument(
        "--keep", type=Path, help="build the projects and backends here and keep them, for more runs by hand"
    )
    args = ap.parse_args()
    codes = [c.resolve() for c in args.code or [ROOT]]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} nproc={os.cpu_count()} runs={args.runs} (best wall of the runs)"
    )
    for m in args.machines:
        for row in run_size(m, codes, args.runs, set(args.steps.split(",")), args.profile, args.keep):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
