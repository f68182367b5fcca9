"""``uniform preview|up`` over many stacks (cli/stacks_run.py): the shard split, reading the
engine's JSON, the table and exit status (with a stand-in ``pulumi``; the real engine runs in
tests/postgres/test_many_stacks.py)."""

from __future__ import annotations

import json
import os
import random
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli import stacks_run
from cli.exitcodes import Exit, UsageError
from cli.main import main
from cli.stacks_run import StackResult, format_table, parse_shard, read_output, shard

RECORDED = Path(__file__).with_name("test_cli_review_preview.json")
NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,11}", fullmatch=True), max_size=40, unique=True)


@given(NAMES, st.integers(1, 9), st.randoms())
def test_every_stack_in_exactly_one_shard_whatever_the_order(
    names: list[str], n: int, rnd: random.Random
) -> None:
    shards = [shard(names, i, n) for i in range(1, n + 1)]
    assert sorted(s for sh in shards for s in sh) == sorted(names)
    shuffled = list(names)
    rnd.shuffle(shuffled)
    assert [shard(shuffled + shuffled[:3], i, n) for i in range(1, n + 1)] == shards
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced


def test_shard_is_round_robin_on_the_sorted_names() -> None:
    names = ["f", "a", "e", "b", "d", "c", "g"]
    assert shard(names, 1, 3) == ["a", "d", "g"]
    assert shard(names, 2, 3) == ["b", "e"]
    assert shard(names, 3, 3) == ["c", "f"]
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x", "1/0", "1/2/3"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_read_output_preview_and_up() -> None:
    counts, errors = read_output(RECORDED.read_text())
    assert counts == json.loads(RECORDED.read_text())["changeSummary"] and errors == []
    up = "\n".join(
        json.dumps(d)
        for d in (
            {"sequence": 1, "diagnosticEvent": {"severity": "info", "message": "hi"}},
            {"sequence": 2, "diagnosticEvent": {"severity": "error", "message": "boom\n"}},
            {"sequence": 3, "summaryEvent": {"resourceChanges": {"update": 2, "same": 5}}},
        )
    )
    assert read_output(up) == ({"update": 2, "same": 5}, ["boom"])
    assert read_output("not json") == (None, [])


def test_table() -> None:
    rows = [
        StackResult("acme", True, {"same": 18}, 2.0),
        StackResult("globex", True, {"update": 1, "same": 17}, 3.0),
        StackResult("initech", False, {}, 1.0, "error: the stack is currently locked by 1 lock(s)"),
    ]
    text = format_table(rows, expect_no_changes=True)
    lines = text.splitlines()
    assert lines[0].split() == [
        "stack",
        "result",
        "create",
        "update",
        "delete",
        "replace",
        "same",
        "seconds",
        "error",
    ]
    assert lines[1].split() == ["acme", "ok", "0", "0", "0", "0", "18", "2.0"]
    assert lines[2].split()[:3] == ["globex", "CHANGED", "0"]
    assert (
        lines[3].startswith("initech") and "FAILED" in lines[3] and lines[3].endswith("locked by 1 lock(s)")
    )
    assert lines[4] == "3 stack(s): 2 ok, 1 failed, 1 changed"


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ("error: the stack is currently locked by 1 lock(s). Either wait", stacks_run.LOCK_HINT),
        # as printed by CI on 2026-11-27 (tests/postgres/test_backend.py, two runs at once)
        (
            "error: could not list bucket: blob (code=NotFound): sql: no rows in result set",
            stacks_run.LOCK_RACE_HINT,
        ),
        (
            'error: blob (key ".pulumi/locks/organization/uniform/shared/1f.json") (code=NotFound): '
            "sql: no rows in result set",
            stacks_run.LOCK_RACE_HINT,
        ),
        # a missing key elsewhere is not the lock race: no hint that would mislead
        (
            'error: blob (key ".pulumi/stacks/uniform/shared.json") (code=NotFound): '
            "sql: no rows in result set",
            None,
        ),
        ("error: unable to open state database: connection refused", None),
    ],
)
def test_lock_refusals_say_what_to_do(error: str, hint: str | None) -> None:
    got = stacks_run.with_hint(error)
    assert got.startswith(error)
    assert got == (f"{error} ({hint})" if hint else error)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three stacks; a stand-in pulumi that fails for stack 'bad' and records each call's cwd."""
    proj = tmp_path / "proj"
    (proj / "stacks").mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text("name: uniform\nruntime: python\nstackConfigDir: stacks\n")
    for s in ("a", "b", "bad"):
        (proj / "stacks" / f"Pulumi.{s}.yaml").write_text(f"config:\n  uniform:inventory: {s}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$PWD $* ${{PULUMI_CONFIG_PASSPHRASE_FILE:-}}" >> {tmp_path}/calls\n'
        f'echo "${{PULUMI_SKIP_CHECKPOINTS-unset}}" >> {tmp_path}/checkpoints\n'
        'case " $* " in *" bad "*)\n'
        '  echo "error: the stack is currently locked by 1 lock(s)" >&2; exit 255;;\nesac\n'
        f"cat {RECORDED}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return proj


def test_run_each_stack_in_its_own_work_dir(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["up", "--all", "--project", str(project), "-j", "3"])
    out = capsys.readouterr().out
    assert rc == Exit.PROBLEMS
    assert "bad " in out and "locked by 1 lock(s)" in out and "3 stack(s): 2 ok, 1 failed, 2 changed" in out
    assert "then rerun the inventory it had" in out  # the runbook's way out of a dead run's lock
    calls = (project.parent / "calls").read_text().splitlines()
    dirs = {c.split()[0] for c in calls}
    assert len(calls) == 3 and len(dirs) == 3 and str(project) not in dirs
    assert all("--stack" in c and "--yes" in c and "select" not in c for c in calls)


def test_shard_and_passphrase_dir(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pdir = tmp_path / "pass"
    pdir.mkdir()
    (pdir / "a").write_text("pa\n")
    rc = main(
        [
            "preview",
            "--all",
            "--project",
            str(project),
            "--shard",
            "1/2",
            "--passphrase-dir",
            str(pdir),
            "--json",
        ]
    )
    results = {r["stack"]: r for r in json.loads(capsys.readouterr().out)}
    assert rc == Exit.PROBLEMS and sorted(results) == ["a", "bad"]  # shard 1/2 of a, b, bad
    assert results["a"]["ok"] and results["a"]["changed"]
    assert "passphrase" in results["bad"]["error"]  # no file pass/bad: never run
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 1 and calls[0].endswith(str(pdir / "a"))
    assert main(["preview", "-s", "nope", "--project", str(project)]) == Exit.USAGE


@pytest.mark.parametrize(("given", "engine_sees"), [(None, "true"), ("false", "false"), ("true", "true")])
def test_checkpoints_skipped_unless_the_user_says_otherwise(
    project: Path, monkeypatch: pytest.MonkeyPatch, given: str | None, engine_sees: str
) -> None:
    """`uniform up` writes the state once per run (docs/team.md "Crashes and recovery");
    PULUMI_SKIP_CHECKPOINTS=false restores the engine's own per-step checkpoints."""
    if given is None:
        monkeypatch.delenv("PULUMI_SKIP_CHECKPOINTS", raising=False)
    else:
        monkeypatch.setenv("PULUMI_SKIP_CHECKPOINTS", given)
    main(["up", "-s", "a", "--project", str(project)])
    assert (project.parent / "checkpoints").read_text().split() == [engine_sees]


@pytest.mark.parametrize(("given", "engine_sees"), [(None, "1600MiB"), ("3GiB", "3GiB")])
def test_the_engine_gets_a_soft_memory_limit_unless_the_user_sets_one(
    project: Path, monkeypatch: pytest.MonkeyPatch, given: str | None, engine_sees: str
) -> None:
    if given is None:
        monkeypatch.delenv("GOMEMLIMIT", raising=False)
    else:
        monkeypatch.setenv("GOMEMLIMIT", given)
    assert stacks_run.stack_env(project, "c01", None)["GOMEMLIMIT"] == engine_sees


def test_env_sh_sets_the_same_memory_limit() -> None:
    """tools/bootstrap.sh writes .tools/env.sh: the shell's default is the command line's."""
    script = (Path(__file__).resolve().parents[2] / "tools" / "bootstrap.sh").read_text()
    assert f'export GOMEMLIMIT="\\${{GOMEMLIMIT:-{stacks_run.ENGINE_MEMORY_LIMIT}}}"' in script
