"""The PostgreSQL DIY backend through the real engine (issue 16): a team's shared state.

Each test has its own database on the session's throwaway cluster (conftest.py) and its
own project copies; delivery is local, and the delivered tree is compared, file by file
(content and mode), with what the inventory renders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import gen_inventory
from cli.stacks_run import LOCK_RACE  # a lock that vanished while the other run listed it
from harness.engine import ROOT, Engine, add_customer, copy_project
from harness.procs import kill_tree
from tests.helpers.trees import delivered_tree, expected_tree

DEMO = ROOT / "stacks" / "demo"
LOCKED = "the stack is currently locked by 1 lock(s)"


# --- helpers ---------------------------------------------------------------------------


def big_customer(proj: Path, stack: str, machines: int) -> Path:
    """A generated customer (bench/gen_inventory.py) with local delivery into out/<stack>."""
    gen = proj.parent / f"gen-{stack}"
    gen_inventory.generate(gen / "bench", machines)
    dest = proj / "stacks" / stack
    shutil.move(str(gen / "bench"), dest)
    cust = dest / "customer.yaml"
    text = cust.read_text().replace("customer: bench", f"customer: {stack}")
    local = f"delivery: {{mode: local, local_root: out/{stack}}}"
    cust.write_text(re.sub(r"delivery: \{[^}]*\}", local, text))
    (proj / "stacks" / f"Pulumi.{stack}.yaml").write_text(f"config:\n  uniform:inventory: {stack}\n")
    return dest


def finish(p: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out


def assert_clean(out: str) -> None:
    """A refusal or failure the user can read: no Python traceback, no Go panic."""
    for marker in ("Traceback (most recent call last)", "panic:", "goroutine "):
        assert marker not in out, f"{marker!r} in:\n{out}"


def kill_when(p: subprocess.Popen[str], ready: Callable[[], object], what: str) -> None:
    """SIGKILL the run (its whole tree, as when the machine dies) as soon as ``ready()``."""
    deadline = time.monotonic() + 120
    while not ready():
        assert p.poll() is None, p.communicate()[0]
        assert time.monotonic() < deadline, f"no {what} after 120 s"
        time.sleep(0.05)
    kill_tree(p.pid)
    p.wait()
    p.communicate()


def kill_at_first_update(
    p: subprocess.Popen[str], out: Path, want: dict[str, tuple[bytes, int]], changing: set[str]
) -> None:
    """Kill the run as soon as one of ``changing`` holds its new content, and check the kill
    landed partway: local delivery is quick, and on a loaded 2-core machine waiting for a
    third of the files once let the rest land before the kill did."""

    def updated() -> int:
        return sum(v == want.get(k) for k, v in delivered_tree(out).items() if k in changing)

    kill_when(p, updated, "updates")
    assert 0 < updated() < len(changing), "the kill did not land in the middle of the update"


def pending(eng: Engine, stack: str) -> list[dict]:
    state = json.loads(eng.run("stack", "export", "--stack", stack).stdout)
    return state["deployment"].get("pending_operations") or []


def urns(eng: Engine, stack: str) -> list[str]:
    state = json.loads(eng.run("stack", "export", "--stack", stack).stdout)
    return [r["urn"] for r in state["deployment"].get("resources") or []]


# --- the cases -------------------------------------------------------------------------


def test_two_customers_at_once(tmp_path: Path, pg_engine) -> None:
    """Two processes apply two customers at the same time: both succeed, each with its own state."""
    procs = {}
    engines = {}
    for stack in ("alpha", "beta"):
        proj = copy_project(tmp_path / stack)  # one work dir per customer, as uniform --parallel will do
        add_customer(proj, DEMO, stack)
        engines[stack] = eng = pg_engine(proj)
        eng.run("stack", "init", stack)
    for stack, eng in engines.items():
        procs[stack] = eng.start("up", "--yes", "--skip-preview", "--stack", stack)
    for p in procs.values():
        rc, out = finish(p)
        assert rc == 0, out
    for stack, eng in engines.items():
        own = urns(eng, stack)
        assert own and all(u.startswith(f"urn:pulumi:{stack}::") for u in own)
        inv_dir = eng.cwd / "stacks" / stack
        assert delivered_tree(eng.cwd / "out" / stack) == expected_tree(inv_dir)
        eng.run("preview", "--expect-no-changes", "--stack", stack)


def test_same_customer_twice_one_wins(tmp_path: Path, pg, pg_db, pg_engine) -> None:
    """Two administrators' `up` of the same customer at once: exactly one runs, the other is
    refused by the lock (credentials masked in the message), the delivered files are the
    winner's and the state agrees with them."""
    password = "s3cret-Pw"
    url = pg_db.replace("postgres@", f"postgres:{password}@")  # trust auth ignores it; it must never show
    a = copy_project(tmp_path / "admin-a")
    add_customer(a, DEMO, "shared")
    b = copy_project(tmp_path / "admin-b")
    add_customer(b, DEMO, "shared")
    ea, eb = pg_engine(a, url), pg_engine(b, url)
    ea.run("stack", "init", "shared")
    # the second checkout has the committed stack file (its encryption salt) and one more
    # core for web1, so the two runs would deliver different hypervisor files
    shutil.copy(a / "stacks" / "Pulumi.shared.yaml", b / "stacks" / "Pulumi.shared.yaml")
    web1 = b / "stacks" / "shared" / "machines" / "web1.yaml"
    web1.write_text(web1.read_text().replace("cores: 2", "cores: 3"))
    (b / "out").symlink_to(a / "out", target_is_directory=True)  # both deliver to the same hosts
    (a / "out").mkdir()
    trees = {"a": expected_tree(a / "stacks" / "shared"), "b": expected_tree(b / "stacks" / "shared")}
    assert trees["a"] != trees["b"]

    for _attempt in range(3):
        pa = ea.start("up", "--yes", "--skip-preview", "--stack", "shared")
        pb = eb.start("up", "--yes", "--skip-preview", "--stack", "shared")
        results = {"a": finish(pa), "b": finish(pb)}
        for _, out in results.values():
            assert password not in out
            assert_clean(out)
        won = [k for k, (rc, _) in results.items() if rc == 0]
        # Pulumi's lock protocol writes its lock, then looks for others: two writes in the
        # same instant both see each other and both step back. Safe (nothing runs); retry.
        if won:
            break
        # The first to look sees the other's lock; the second may see it too, or see it
        # vanish mid-list (the backend lists keys, then reads each row: LOCK_RACE).
        outs = [out for _, out in results.values()]
        assert any(LOCKED in out for out in outs), results
        assert all(LOCKED in out or LOCK_RACE in out for out in outs), results
        assert delivered_tree(a / "out" / "shared") == {}, "a run that stepped back delivered"
        assert urns(ea, "shared") == []
    assert len(won) == 1, results
    winner, loser = won[0], "b" if won[0] == "a" else "a"
    rc, out = results[loser]
    assert rc != 0 and LOCKED in out and "pulumi cancel" in out, out
    assert "postgres://****:****@127.0.0.1" in out  # the lock's key, with the credentials masked
    assert delivered_tree(a / "out" / "shared") == trees[winner]
    (ea if winner == "a" else eb).run("preview", "--expect-no-changes", "--stack", "shared")
    assert pending(ea, "shared") == []


def test_sigkill_mid_update_then_runbook(tmp_path: Path, pg_engine) -> None:
    """`up` SIGKILLed in the middle of a larger customer (and its language host and provider
    with it, as when the machine dies): the stale lock refuses the next run, clearly; the
    runbook (docs/team.md) — cancel, clear pending creates, up — converges, every file right."""
    proj = copy_project(tmp_path / "proj")
    inv_dir = big_customer(proj, "big", 60)
    out = proj / "out" / "big"
    eng = pg_engine(proj)
    # the runbook for checkpoints on (the engine's default): a killed run leaves pending
    # operations; uniform's own default is tests/e2e/test_crash_safety.py
    eng.env["PULUMI_SKIP_CHECKPOINTS"] = "false"
    eng.run("stack", "init", "big")
    want = expected_tree(inv_dir)
    p = eng.start("up", "--yes", "--skip-preview", "--stack", "big")
    kill_when(p, lambda: delivered_tree(out), "deliveries")  # at the first, so that most are not
    partial = delivered_tree(out)
    assert 0 < len(partial) < len(want)

    # the next run is refused by the stale lock, naming it and the way out
    r = eng.run("up", "--yes", "--stack", "big", check=False)
    assert r.returncode != 0
    assert LOCKED in r.stderr and "pulumi cancel" in r.stderr and f"(pid {p.pid})" in r.stderr, r.stderr
    assert_clean(r.stdout + r.stderr)
    assert delivered_tree(out) == partial  # refused: nothing touched

    # the runbook
    eng.run("cancel", "--yes", "--stack", "big")
    ops = pending(eng, "big")
    assert {o["type"] for o in ops} <= {"creating"}, ops  # a first up only creates
    eng.run("refresh", "--clear-pending-creates", "--yes", "--stack", "big")
    assert pending(eng, "big") == []
    eng.run("up", "--yes", "--skip-preview", "--stack", "big")
    eng.run("preview", "--expect-no-changes", "--stack", "big")
    assert delivered_tree(out) == want

    # killed again, in an update that rewrites every machine's files (a new domain): the
    # pending operations are updates, which the runbook strips from an exported state
    cust = inv_dir / "customer.yaml"
    cust.write_text(cust.read_text().replace("domain: bench.example", "domain: bench2.example"))
    want = expected_tree(inv_dir)
    changing = {k for k, v in delivered_tree(out).items() if want.get(k) != v}
    kill_at_first_update(eng.start("up", "--yes", "--skip-preview", "--stack", "big"), out, want, changing)
    assert LOCKED in eng.run("up", "--yes", "--stack", "big", check=False).stderr
    eng.run("cancel", "--yes", "--stack", "big")
    state = json.loads(eng.run("stack", "export", "--stack", "big").stdout)
    # = jq 'del(.deployment.pending_operations)' (docs/team.md, step 3)
    state["deployment"].pop("pending_operations", None)
    eng.run("stack", "import", "--stack", "big", input=json.dumps(state))
    eng.run("up", "--yes", "--skip-preview", "--stack", "big")
    eng.run("preview", "--expect-no-changes", "--stack", "big")
    assert delivered_tree(out) == want


def test_sigkill_with_uniforms_default_then_cancel_and_rerun(tmp_path: Path, pg_engine) -> None:
    """uniform's default (PULUMI_SKIP_CHECKPOINTS=true, docs/team.md "Crashes and recovery") on
    PostgreSQL: an `up` of a new domain SIGKILLed partway leaves the state exactly as
    before it, nothing pending, and the lock; `pulumi cancel` and the same `up` converge."""
    proj = copy_project(tmp_path / "proj")
    inv_dir = big_customer(proj, "big", 60)
    out = proj / "out" / "big"
    eng = pg_engine(proj)
    assert eng.env["PULUMI_SKIP_CHECKPOINTS"] == "true"
    eng.run("stack", "init", "big")
    eng.run("up", "--yes", "--skip-preview", "--stack", "big")
    before = json.loads(eng.run("stack", "export", "--stack", "big").stdout)["deployment"]["resources"]
    cust = inv_dir / "customer.yaml"
    cust.write_text(cust.read_text().replace("domain: bench.example", "domain: bench2.example"))
    want = expected_tree(inv_dir)
    changing = {k for k, v in delivered_tree(out).items() if want.get(k) != v}
    kill_at_first_update(eng.start("up", "--yes", "--skip-preview", "--stack", "big"), out, want, changing)
    assert LOCKED in eng.run("up", "--yes", "--stack", "big", check=False).stderr
    eng.run("cancel", "--yes", "--stack", "big")
    after = json.loads(eng.run("stack", "export", "--stack", "big").stdout)["deployment"]
    assert not after.get("pending_operations") and after["resources"] == before  # nothing written
    eng.run("up", "--yes", "--skip-preview", "--stack", "big")
    eng.run("preview", "--expect-no-changes", "--stack", "big")
    assert delivered_tree(out) == want


def test_postgres_down_before_a_run(tmp_path: Path, pg, pg_engine) -> None:
    """The database is down: preview and up stop with a clear error, no traceback, nothing changed."""
    proj = copy_project(tmp_path / "proj")
    inv_dir = add_customer(proj, DEMO, "c1")
    eng = pg_engine(proj)
    eng.run("stack", "init", "c1")
    eng.run("up", "--yes", "--skip-preview", "--stack", "c1")
    before = delivered_tree(proj / "out" / "c1")
    web1 = inv_dir / "machines" / "web1.yaml"
    web1.write_text(web1.read_text().replace("cores: 2", "cores: 3"))  # a pending change
    pg.stop()
    try:
        for args in (("preview",), ("up", "--yes", "--skip-preview")):
            r = eng.run(*args, "--stack", "c1", check=False, timeout=120)
            text = r.stdout + r.stderr
            assert r.returncode != 0, text
            assert_clean(text)
            assert "connection refused" in text.lower() or "connect" in text.lower(), text
            assert delivered_tree(proj / "out" / "c1") == before
    finally:
        pg.start()
    eng.run("up", "--yes", "--skip-preview", "--stack", "c1")
    assert delivered_tree(proj / "out" / "c1") == expected_tree(inv_dir)


def test_postgres_restarted_during_a_run(tmp_path: Path, pg, pg_engine) -> None:
    """The database restarts in the middle of an `up`: that run ends without a traceback. With
    v3.259 it rides the restart out on new connections (measured: exit 0, whole state); a run
    that fails instead is recovered by the runbook. The next run converges, every file right."""
    proj = copy_project(tmp_path / "proj")
    inv_dir = big_customer(proj, "big", 40)
    out = proj / "out" / "big"
    eng = pg_engine(proj)
    # the runbook for checkpoints on (the engine's default): a killed run leaves pending
    # operations; uniform's own default is tests/e2e/test_crash_safety.py
    eng.env["PULUMI_SKIP_CHECKPOINTS"] = "false"
    eng.run("stack", "init", "big")
    want = expected_tree(inv_dir)
    p = eng.start("up", "--yes", "--skip-preview", "--stack", "big")
    deadline = time.monotonic() + 120
    while len(delivered_tree(out)) < len(want) // 4:
        assert p.poll() is None, p.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    try:
        pg.stop()
        time.sleep(1)
    finally:
        pg.start()
    rc, text = finish(p)
    assert_clean(text)
    if rc == 0:  # it rode the restart out (database/sql reconnects): then its state is whole
        eng.run("preview", "--expect-no-changes", "--stack", "big")
    else:  # it noticed: the runbook (docs/team.md), as after a crash
        if LOCKED in eng.run("preview", "--stack", "big", check=False).stderr:
            eng.run("cancel", "--yes", "--stack", "big")
        eng.run("refresh", "--clear-pending-creates", "--yes", "--stack", "big")
    eng.run("up", "--yes", "--skip-preview", "--stack", "big")
    eng.run("preview", "--expect-no-changes", "--stack", "big")
    assert delivered_tree(out) == want


def test_migrate_every_customer(tmp_path: Path, pg, pg_db, pg_engine) -> None:
    """tools/migrate-backend moves every customer from the file backend to PostgreSQL, and
    from one database to a fresh one: afterwards each customer's preview shows no change."""
    proj = copy_project(tmp_path / "proj")
    stacks = ("c1", "c2", "c3")
    for s in stacks:
        add_customer(proj, DEMO, s)
    file_url = f"file://{tmp_path / 'state'}"
    file_eng = Engine(cwd=proj, env={**pg_engine(proj).env, "PULUMI_BACKEND_URL": file_url})
    (tmp_path / "state").mkdir()
    for s in stacks:
        file_eng.run("stack", "init", s)
        file_eng.run("up", "--yes", "--skip-preview", "--stack", s)
    fresh = pg.createdb(pg_db.rsplit("/", 1)[1].split("?")[0] + "_fresh")
    steps = [(file_eng.env["PULUMI_BACKEND_URL"], pg_db), (pg_db, fresh)]
    for src, dst in steps:
        r = subprocess.run(
            [str(ROOT / "tools" / "migrate-backend"), "--check", src, dst],
            cwd=proj,
            env=file_eng.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        for s in stacks:
            assert f"{s}: " in r.stdout
    eng = pg_engine(proj, fresh)
    listed = {s["name"] for s in json.loads(eng.run("stack", "ls", "--json").stdout)}
    assert listed == set(stacks)
    for s in stacks:
        eng.run("preview", "--expect-no-changes", "--stack", s)
        assert urns(eng, s) == urns(file_eng, s)


@pytest.mark.parametrize("url", ["postgres://admin:hunter2@127.0.0.1:1/db?sslmode=disable"])
def test_migrate_never_prints_a_password(tmp_path: Path, url: str) -> None:
    """The script's own messages name a backend by scheme and host only."""
    r = subprocess.run(
        [str(ROOT / "tools" / "migrate-backend"), url, url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert "hunter2" not in r.stdout + r.stderr


def test_stack_ls_with_many_stacks(tmp_path: Path, pg_engine) -> None:
    """`pulumi stack ls` over more stacks than 2 x GOMAXPROCS answers (PULUMI_DIY_BACKEND_PARALLEL=1,
    set by engine_env and .tools/env.sh; with the default 10 workers v3.259 hangs, docs/team.md)."""
    proj = copy_project(tmp_path / "proj")
    eng = pg_engine(proj)
    assert eng.env["PULUMI_DIY_BACKEND_PARALLEL"] == "1"
    names = [f"c{i}" for i in range(max(6, 2 * (os.cpu_count() or 1) + 1))]
    for s in names:
        eng.run("stack", "init", s)
    listed = json.loads(eng.run("stack", "ls", "--json", timeout=60).stdout)
    assert sorted(s["name"] for s in listed) == sorted(names)


def test_credentials_from_pgpass(tmp_path: Path, pg, pg_db, pg_engine) -> None:
    """A role with a password: the URL names the user only, the password comes from a
    ~/.pgpass-style file (PGPASSFILE), and `up` works. A password inside the URL is printed
    whole by Pulumi when the database cannot be reached (why docs/team.md keeps it out)."""
    db = pg_db.rsplit("/", 1)[1].split("?")[0]
    password = "team-Pw-7d3"
    pg._run(
        "psql",
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        str(pg.port),
        "-U",
        "postgres",
        "-d",
        db,
        "-c",
        f"CREATE ROLE team LOGIN PASSWORD '{password}'; GRANT ALL ON SCHEMA public TO team;",
    )
    hba = pg.data / "pg_hba.conf"
    if "team" not in hba.read_text():
        text = hba.read_text()
        hba.write_text("host all team 127.0.0.1/32 scram-sha-256\n" + text)
        pg._run("pg_ctl", "-D", str(pg.data), "reload")
    url = pg_db.replace("postgres://postgres@", "postgres://team@")
    proj = copy_project(tmp_path / "proj")
    add_customer(proj, DEMO, "c1")
    eng = pg_engine(proj, url)
    r = eng.run("stack", "init", "c1", check=False)
    assert r.returncode != 0 and "password authentication failed" in r.stderr, r.stderr
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg.port}:{db}:team:{password}\n")
    pgpass.chmod(0o600)
    eng.env["PGPASSFILE"] = str(pgpass)
    eng.run("stack", "init", "c1")
    r = eng.run("up", "--yes", "--skip-preview", "--stack", "c1")
    assert password not in r.stdout + r.stderr

    leaky = url.replace("team@", f"team:{password}@").replace(f":{pg.port}/", ":1/")
    r = eng.run("preview", "--stack", "c1", check=False, env={"PULUMI_BACKEND_URL": leaky})
    assert r.returncode != 0
    assert password in r.stderr, "Pulumi now masks a password in this error: relax docs/team.md"
