"""``uniform preview`` / ``uniform up`` over many stacks at once (issue 16, item 3).

* **Which stacks.** ``--all`` (every ``stacks/Pulumi.<stack>.yaml``) or ``-s/--stack`` repeated,
  then ``--shard I/N``: the sorted list is dealt round-robin, stack number ``k`` (0-based, in
  sorted order) going to shard ``k % N + 1``. N runners with the same stack files therefore
  cover every stack exactly once; a stack added or removed moves the ones after it to other
  shards, which is harmless (each run takes the stack's lock).
* **One work directory per stack.** ``pulumi`` is run as a subprocess with ``--stack <name>``
  (never ``pulumi stack select``) in a private directory of symlinks to the project's entries
  (``Pulumi.yaml``, ``__main__.py``, ``stacks/``, ``.venv``, ``out/`` ...). The engine keys its
  per-project workspace file on the project's path, so no two runs share one (pulumi#8186:
  parallel selection in one work dir corrupts ``workspace.json``); local delivery still lands
  in the project's ``out/`` through the symlink.
* **Environment.** ``PULUMI_DIY_BACKEND_PARALLEL=1`` (the PostgreSQL backend's listing
  deadlock), ``PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true`` (a shared ``PULUMI_HOME``
  races on plugin installs, pulumi#22784: install plugins before a parallel run) and
  ``PULUMI_SKIP_UPDATE_CHECK=true``, and ``PULUMI_SKIP_CHECKPOINTS=true`` (the state is written
  once per run instead of after every step, which is quadratic on the file and PostgreSQL
  backends; a killed run leaves the previous state and rerunning it converges: docs/team.md
  "Crashes and recovery"), and ``GOMEMLIMIT=1600MiB`` (:data:`ENGINE_MEMORY_LIMIT`), unless
  already set. Passphrases as usual from
  ``PULUMI_CONFIG_PASSPHRASE`` / ``_FILE``, or ``--passphrase-dir DIR``: stack S reads
  ``DIR/S`` (as tools/migrate-backend does); a missing file is that stack's error.
* **Result.** Per stack the changes by kind (``changeSummary`` of ``preview --json``, the
  ``summaryEvent`` of ``up --json``), seconds and error (a lock refusal included). Exit 1 if a
  stack failed or, with ``--expect-no-changes``, changed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exitcodes import Exit, UsageError
from .progress import Progress
from .select import find_project, stack_names

__all__ = ["KINDS", "StackResult", "add_run_arguments", "cmd_preview", "cmd_up", "parse_shard", "shard"]

#: the change kinds of the summary table, in its column order
KINDS = ("create", "update", "delete", "replace", "same")
#: project entries a work directory never links (the engine's and tools' own)
SKIP = frozenset({".git", ".pulumi", ".pulumi-state", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


#: what the engine says when another run holds the stack's lock
LOCKED = "the stack is currently locked"
#: what to do about it when that run is dead (docs/team.md "Crashes and recovery")
LOCK_HINT = (
    "if that run is dead: `pulumi cancel`, then rerun the inventory it had before any newer one, "
    "docs/team.md 'Crashes and recovery'"
)
#: what the PostgreSQL backend says when a lock it is listing vanishes under it: its list
#: reads each key, then that key's row, and another run of the same customer that took the
#: lock in the same instant deletes its lock in between.  Nothing has run yet.  The vanished
#: row shows in the list itself or, one step later, in the read of that lock's key.
LOCK_RACE = "(code=NotFound): sql: no rows in result set"
LOCK_RACE_WHERE = ("could not list bucket", ".pulumi/locks/")
LOCK_RACE_HINT = (
    "another run of this customer took the lock at the same instant and both stepped back; "
    "nothing was changed, run again (docs/team.md 'How the lock behaves')"
)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 1 <= I <= N."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 1/4") from None
    if not 1 <= i <= n:
        raise UsageError(f"--shard {text!r}: need 1 <= I <= N")
    return i, n


def shard(stacks: Sequence[str], i: int, n: int) -> list[str]:
    """Shard ``i`` of ``n`` (1-based): round-robin over the sorted, de-duplicated stack names."""
    return [s for k, s in enumerate(sorted(set(stacks))) if k % n == i - 1]


@dataclass
class StackResult:
    stack: str
    ok: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""

    @property
    def changed(self) -> bool:
        return any(n for k, n in self.counts.items() if k not in ("same", "read", "refresh", "discard"))

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "changed": self.changed}


def json_docs(text: str) -> list[dict[str, Any]]:
    """The JSON objects of ``pulumi up --json`` (a preview document, then an event stream)."""
    dec = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        try:
            doc, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            return out
        if isinstance(doc, dict):
            out.append(doc)


def read_output(stdout: str) -> tuple[dict[str, int] | None, list[str]]:
    """(change counts or None, error diagnostics) from ``preview --json`` or ``up --json``."""
    counts: dict[str, int] | None = None
    errors: list[str] = []
    for doc in json_docs(stdout):
        if isinstance(doc.get("changeSummary"), dict):
            counts = dict(doc["changeSummary"])
        summary = doc.get("summaryEvent")
        if isinstance(summary, dict) and isinstance(summary.get("resourceChanges"), dict):
            counts = dict(summary["resourceChanges"])
        diag = doc.get("diagnosticEvent")
        if isinstance(diag, dict) and diag.get("severity") == "error":
            errors.append(str(diag.get("message", "")).strip())
        for d in doc.get("diagnostics") or []:  # preview --json's own list
            if isinstance(d, dict) and d.get("severity") == "error":
                errors.append(str(d.get("message", "")).strip())
    return counts, [e for e in errors if e]


def first_error(errors: Sequence[str], stderr: str, rc: int) -> str:
    """One line for the table: the most telling error line."""
    lines = [ln.strip() for e in errors for ln in e.splitlines() if ln.strip()]
    lines += [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if "locked" in ln or ln.lower().startswith("error:"):
            return ln
    return lines[0] if lines else f"pulumi exited {rc}"


def with_hint(error: str) -> str:
    """The error line, with what to do about the lock refusals."""
    if LOCKED in error:
        return f"{error} ({LOCK_HINT})"
    if LOCK_RACE in error and any(w in error for w in LOCK_RACE_WHERE):
        return f"{error} ({LOCK_RACE_HINT})"
    return error


def work_dir(project: Path, parent: Path, stack: str) -> Path:
    """A private directory of symlinks to the project's entries, for one stack's run."""
    d = parent / stack
    d.mkdir()
    (project / "out").mkdir(exist_ok=True)  # local delivery's default root, shared through the link
    for entry in project.iterdir():
        if entry.name not in SKIP:
            (d / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    return d


#: the engine's soft memory limit (Go's GOMEMLIMIT), unless the user sets one: without it the
#: Go runtime lets the heap grow to twice what is live before collecting, 3.4 GB in an
#: update of a 10,000-machine customer whose state needs ~1.1 GB; with it the engine
#: collects sooner near the limit, for a little more CPU (docs/scale.md).  .tools/env.sh
#: (tools/bootstrap.sh) and harness.engine_env set the same.
ENGINE_MEMORY_LIMIT = "1600MiB"


def stack_env(project: Path, stack: str, passphrase_dir: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOMEMLIMIT", ENGINE_MEMORY_LIMIT)
    env.setdefault("PULUMI_DIY_BACKEND_PARALLEL", "1")
    env.setdefault("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    env.setdefault("PULUMI_SKIP_CHECKPOINTS", "true")
    env["UNIFORM_PROJECT_DIR"] = str(project)
    if passphrase_dir is not None:
        env.pop("PULUMI_CONFIG_PASSPHRASE", None)
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(passphrase_dir / stack)
    return env


def run_stack(
    project: Path, parent: Path, stack: str, command: str, passphrase_dir: Path | None
) -> StackResult:
    """``pulumi preview|up --json --stack <stack>`` in the stack's own work directory."""
    res = StackResult(stack)
    start = time.monotonic()
    try:
        if passphrase_dir is not None and not (passphrase_dir / stack).is_file():
            res.error = f"no passphrase file {passphrase_dir / stack}"
            return res
        cmd = ["pulumi", "--non-interactive", command, "--json", "--stack", stack]
        if command == "up":
            cmd += ["--yes", "--skip-preview"]
        try:
            proc = subprocess.run(
                cmd,
                cwd=work_dir(project, parent, stack),
                env=stack_env(project, stack, passphrase_dir),
                capture_output=True,
                text=True,
            )
        except OSError as e:
            res.error = f"cannot run pulumi: {e}"
            return res
        counts, errors = read_output(proc.stdout)
        res.counts = {k: v for k, v in (counts or {}).items() if v}
        res.ok = proc.returncode == 0 and counts is not None
        if not res.ok:
            res.error = first_error(errors, proc.stderr, proc.returncode)
            res.error = with_hint(res.error)
        return res
    finally:
        res.seconds = time.monotonic() - start


def run_all(
    project: Path,
    stacks: Sequence[str],
    command: str,
    parallel: int,
    passphrase_dir: Path | None,
    on_event: Callable[[str, StackResult | None], None] = lambda s, r: None,
) -> list[StackResult]:
    """Every stack's run, ``parallel`` at a time; ``on_event(stack, None)`` when one starts and
    ``on_event(stack, result)`` when it ends. Results in the order of ``stacks``."""
    with tempfile.TemporaryDirectory(prefix="uniform-run-") as tmp:

        def one(stack: str) -> StackResult:
            on_event(stack, None)
            res = run_stack(project, Path(tmp), stack, command, passphrase_dir)
            on_event(stack, res)
            return res

        with ThreadPoolExecutor(max_workers=parallel) as pool:
            return list(pool.map(one, stacks))


def format_table(results: Sequence[StackResult], expect_no_changes: bool) -> str:
    width = max([len("stack"), *(len(r.stack) for r in results)])
    head = f"{'stack'.ljust(width)}  {'result':<7}" + "".join(f" {k:>7}" for k in KINDS)
    lines = [head + f" {'seconds':>8}  error"]
    for r in results:
        result = "ok" if r.ok else "FAILED"
        if r.ok and expect_no_changes and r.changed:
            result = "CHANGED"
        cells = "".join(f" {r.counts.get(k, 0):>7}" for k in KINDS)
        lines.append(f"{r.stack.ljust(width)}  {result:<7}{cells} {r.seconds:>8.1f}  {r.error}".rstrip())
    failed = sum(not r.ok for r in results)
    changed = sum(r.ok and r.changed for r in results)
    lines.append(f"{len(results)} stack(s): {len(results) - failed} ok, {failed} failed, {changed} changed")
    return "\n".join(lines)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--all", action="store_true", help="every stack of the project (stacks/Pulumi.*.yaml)")
    g.add_argument("-s", "--stack", action="append", metavar="NAME", help="this stack (repeatable)")
    p.add_argument(
        "--shard", metavar="I/N", help="only shard I of N: stack k of the sorted list goes to shard k%%N+1"
    )
    p.add_argument("-j", "--parallel", type=int, default=4, metavar="N", help="stacks at once (default 4)")
    p.add_argument(
        "--expect-no-changes", action="store_true", help="exit 1 if any stack has (or made) changes"
    )
    p.add_argument(
        "--passphrase-dir", metavar="DIR", help="stack S's passphrase is the file DIR/S (default: the env)"
    )
    p.add_argument("--json", action="store_true", help="the results as JSON on stdout instead of the table")
    p.add_argument(
        "--project", metavar="DIR", help="the Pulumi project (default: nearest Pulumi.yaml above cwd)"
    )
    p.add_argument(
        "--progress",
        action="store_true",
        default=sys.stderr.isatty(),
        help="per-stack progress on stderr (default when stderr is a terminal)",
    )


def _run(args: argparse.Namespace, command: str) -> int:
    project = Path(args.project).resolve() if args.project else find_project()
    known = stack_names(project)
    if args.all:
        stacks = known
    else:
        unknown = [s for s in args.stack if s not in known]
        if unknown:
            raise UsageError(
                f"no stack {', '.join(unknown)} in {project} (known: {', '.join(known) or 'none'})"
            )
        stacks = sorted(set(args.stack))
    if args.shard:
        stacks = shard(stacks, *parse_shard(args.shard))
    if args.parallel < 1:
        raise UsageError("--parallel must be at least 1")
    pdir = Path(args.passphrase_dir).resolve() if args.passphrase_dir else None
    if pdir is not None and not pdir.is_dir():
        raise UsageError(f"--passphrase-dir {pdir}: not a directory")
    if shutil.which("pulumi") is None:
        raise UsageError("no pulumi on PATH (run tools/bootstrap.sh, then source .tools/env.sh)")
    if not stacks:
        print("no stacks to run" + (f" in shard {args.shard}" if args.shard else ""))
        return Exit.OK
    progress = Progress(args.progress)
    done = [0]

    def event(stack: str, res: StackResult | None) -> None:
        if res is None:
            progress.show(f"[{done[0]}/{len(stacks)}] {stack}: {command} started")
            return
        done[0] += 1
        what = ", ".join(f"{n} {k}" for k, n in sorted(res.counts.items()) if k != "same") or "no changes"
        status = what if res.ok else f"FAILED: {res.error}"
        progress.show(f"[{done[0]}/{len(stacks)}] {stack}: {status} ({res.seconds:.1f}s)")

    results = run_all(project, stacks, command, args.parallel, pdir, event)
    progress.done()
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print(format_table(results, args.expect_no_changes))
    bad = any(not r.ok or (args.expect_no_changes and r.changed) for r in results)
    return Exit.PROBLEMS if bad else Exit.OK


def cmd_preview(args: argparse.Namespace) -> int:
    return _run(args, "preview")


def cmd_up(args: argparse.Namespace) -> int:
    return _run(args, "up")
