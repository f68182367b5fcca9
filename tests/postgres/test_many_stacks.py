"""``uniform up|preview`` over many customers (cli/stacks_run.py, issue 16 item 3) through the
real engine against the test PostgreSQL: six copies of stacks/demo in two shards run by two
processes at the same time, each stack applied exactly once; then a no-change preview of all;
then one customer with a broken inventory fails in the table while the others succeed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import inventory
import payloads
from harness.engine import ROOT, add_customer, copy_project

pytestmark = pytest.mark.slow

DEMO = ROOT / "stacks" / "demo"
STACKS = [f"cust{i}" for i in range(1, 7)]


def uniform(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(p: subprocess.Popen[str]) -> tuple[int, list[dict], str]:
    out, err = p.communicate(timeout=300)
    return p.returncode, json.loads(out) if out.strip().startswith("[") else [], err


def files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_six_customers_two_shards_two_processes(tmp_path: Path, pg_engine) -> None:
    proj = copy_project(tmp_path / "proj")
    for s in STACKS:
        add_customer(proj, DEMO, s)
    eng = pg_engine(proj)
    for s in STACKS:
        eng.run("stack", "init", s)
    env = eng.env
    common = ("--all", "--project", str(proj), "--parallel", "2", "--json")
    runners = [uniform(env, "up", *common, "--shard", f"{i}/2") for i in (1, 2)]
    results = [finish(p) for p in runners]
    seen: list[str] = []
    for rc, rows, err in results:
        assert rc == 0, err
        for r in rows:
            assert r["ok"] and r["counts"].get("create", 0) > 0, r
        seen += [r["stack"] for r in rows]
    assert sorted(seen) == STACKS  # every customer exactly once across the shards
    for s in STACKS:
        history = json.loads(eng.run("stack", "history", "--json", "--stack", s).stdout)
        assert [h["kind"] for h in history] == ["update"], (s, history)
        want = {
            f"{m}{f.path}": f.content
            for m, pl in payloads.render_customer(inventory.load(proj / "stacks" / s)).items()
            for f in pl.files
        }
        assert files(proj / "out" / s) == want

    rc, rows, err = finish(uniform(env, "preview", *common, "--expect-no-changes"))
    assert rc == 0, (rows, err)
    assert [r["stack"] for r in rows] == STACKS and not any(r["changed"] for r in rows)

    web1 = proj / "stacks" / "cust4" / "machines" / "web1.yaml"
    web1.write_text(web1.read_text().replace("cores: 2", "cores: many"))
    p = subprocess.run(
        [sys.executable, "-m", "cli", "up", "--all", "--project", str(proj), "--parallel", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 1, p.stdout + p.stderr
    table = {line.split()[0]: line for line in p.stdout.splitlines()[1:-1]}
    assert sorted(table) == STACKS
    assert "FAILED" in table["cust4"] and "inventory cust4" in table["cust4"], p.stdout
    assert all(" ok " in table[s] for s in STACKS if s != "cust4"), p.stdout
    assert p.stdout.splitlines()[-1] == "6 stack(s): 5 ok, 1 failed, 0 changed"
    assert "Traceback" not in p.stdout + p.stderr
