"""``uniform review`` / ``tools/review``: preview every stack a git change touches, summarised.

1. ``git diff --name-only <base>...HEAD`` (plus, with --uncommitted, the working tree):
   ``stacks/Pulumi.<stack>.yaml`` -> that stack; ``stacks/<dir>/...`` -> every stack whose
   ``uniform:inventory`` is ``<dir>``; uniform's own code (``CODE_PATHS``) -> every stack.
2. ``pulumi preview --diff --json --stack <stack>`` for each (with the policy pack unless
   --no-policy).
3. ``summarize`` reads the steps: ``uniform:machine:Machine`` components created/deleted are
   machines added/removed; a machine whose delivery resources (``<m>-base``,
   ``<m>-dhcp-files``, ``<m>-dns-files``, ``<m>-hypervisor-files``) change is changed, and
   each changed group is a reload of that service on that machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payloads.index import file_hashes
from payloads.roles import group_of

from .exitcodes import Exit, UsageError
from .machine_diff import machine_changes
from .review_md import format_markdown
from .select import find_project, stack_inventory, stack_names

MACHINE_TYPE = "uniform:machine:Machine"
#: the delivery resources' type (components.delivery.Files), and the SDK's anonymous type they
#: had before (states and previews recorded then)
DYNAMIC_TYPES = ("pulumi-python:dynamic/uniform:Files", "pulumi-python:dynamic:Resource")
#: a change to any of these makes every stack's preview suspect: the program, every shipped
#: package (the CLI and ops included: review itself is shipped code) and the policy pack
CODE_PATHS = (
    "__main__.py",
    "Pulumi.yaml",
    "pyproject.toml",
    "policy/",
    "cli/",
    "components/",
    "connectors/",
    "inventory/",
    "ops/",
    "payloads/",
)
#: steps that leave a resource as it was
NO_CHANGE = frozenset({"same", "read", "refresh", "discard"})


def urn_type_name(urn: str) -> tuple[str, str]:
    """``urn:pulumi:s::p::a$b$type::name`` -> (``type``, ``name``)."""
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1], parts[3]


@dataclass
class GroupChange:
    machine: str
    group: str  # base | dhcp | dns | hypervisor
    op: str  # create | update | delete | replace ...
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reload: list[str] = field(default_factory=list)  # the group's reload commands
    mode: str = ""  # delivery mode: local (files only) or ssh (files + reload commands)


@dataclass
class Summary:
    counts: dict[str, int]
    added: list[str]
    removed: list[str]
    changed: dict[str, list[str]]  # machine -> changed groups
    groups: list[GroupChange]

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "machines": {"added": self.added, "changed": self.changed, "removed": self.removed},
            "reloads": [g.__dict__ for g in self.groups],
        }


def _inputs(state: Any) -> dict[str, Any]:
    inputs = state.get("inputs") if isinstance(state, dict) else None
    return dict(inputs) if isinstance(inputs, dict) else {}


def summarize(preview: dict[str, Any]) -> Summary:
    """Machines added/changed/removed and the groups (services) that reload, from ``preview --json``."""
    added: set[str] = set()
    removed: set[str] = set()
    groups: dict[tuple[str, str], GroupChange] = {}
    for step in preview.get("steps") or []:
        op = step.get("op", "")
        urn = step.get("urn", "")
        if op in NO_CHANGE or urn.count("::") < 3:
            continue
        typ, name = urn_type_name(urn)
        if typ == MACHINE_TYPE:
            if op == "create":
                added.add(name)
            elif op == "delete":
                removed.add(name)
            continue
        mg = group_of(name) if typ in DYNAMIC_TYPES else None
        if mg is None or op == "delete-replaced":
            continue
        old, new = _inputs(step.get("oldState")), _inputs(step.get("newState"))
        # each file's (hash, mode), from inputs recorded in either shape (payloads/index.py)
        ofiles, nfiles = file_hashes(old), file_hashes(new)
        gc = groups.setdefault(mg, GroupChange(mg[0], mg[1], op))
        gc.op = op if op != "create-replacement" else "replace"
        gc.added = sorted(set(nfiles) - set(ofiles))
        gc.removed = sorted(set(ofiles) - set(nfiles))
        gc.changed = sorted(p for p in set(ofiles) & set(nfiles) if ofiles[p] != nfiles[p])
        gc.reload = list(new.get("reload") or old.get("reload") or [])
        target = new.get("target") or old.get("target") or {}
        gc.mode = target.get("mode", "") if isinstance(target, dict) else ""
    changed: dict[str, list[str]] = {}
    for (machine, group), _gc in sorted(groups.items()):
        if machine not in added and machine not in removed:
            changed.setdefault(machine, []).append(group)
    counts: dict[str, int] = dict(preview.get("changeSummary") or {})
    return Summary(counts, sorted(added), sorted(removed), changed, [groups[k] for k in sorted(groups)])


def _files(gc: GroupChange) -> str:
    parts = [f"+{p}" for p in gc.added] + [f"~{p}" for p in gc.changed] + [f"-{p}" for p in gc.removed]
    if len(parts) > 8:
        parts = parts[:7] + [f"... ({len(parts) - 7} more)"]
    return " ".join(parts)


def format_summary(stack: str, s: Summary, changes: Sequence[str] = ()) -> str:
    """The preview's summary; ``changes`` (cli.machine_diff: what changed on which machine) lead."""
    counts = ", ".join(f"{n} {op}" for op, n in sorted(s.counts.items()) if op != "same")
    same = s.counts.get("same", 0)
    lines = [f"stack {stack}: {counts or 'no changes'}{f' ({same} unchanged)' if same else ''}"]
    lines += [f"  {line}" for line in changes]
    lines.append(f"  machines added:   {', '.join(s.added) or '-'}")
    lines.append(f"  machines removed: {', '.join(s.removed) or '-'}")
    ch = ", ".join(f"{m} ({', '.join(g)})" for m, g in s.changed.items())
    lines.append(f"  machines changed: {ch or '-'}")
    services = [g for g in s.groups if g.group != "base"]
    svc = ", ".join(f"{g.group} on {g.machine}" for g in services)
    lines.append(f"  services reload:  {svc or '-'}")
    if s.groups:
        modes = sorted({g.mode for g in s.groups if g.mode})
        how = {"local": "local delivery: files written, no reload commands", "ssh": "ssh delivery"}
        lines.append(f"  delivery groups ({'; '.join(how.get(m, m) for m in modes) or '?'}):")
        width = max(len(f"{g.machine} {g.group} [{g.op}]") for g in s.groups)
        for g in s.groups:
            head = f"{g.machine} {g.group} [{g.op}]".ljust(width)
            lines.append(f"    {head}  {_files(g) or 'no file change'}")
            if g.mode == "ssh" and g.reload:
                lines.append(f"    {' ' * width}  then: {'; '.join(g.reload)}")
    return "\n".join(lines)


# ------------------------------------------------------------------ git -> stacks


def git_changed_files(project: Path, base: str, uncommitted: bool) -> list[str]:
    def git(*args: str) -> list[str]:
        proc = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
        return [line for line in proc.stdout.splitlines() if line]

    files = git("diff", "--name-only", f"{base}...HEAD")
    if uncommitted:
        files += git("diff", "--name-only", "HEAD")
        files += git("ls-files", "--others", "--exclude-standard")
    return sorted(set(files))


def stacks_for(files: list[str], project: Path) -> tuple[list[str], list[str]]:
    """(stacks to preview, notes) for the changed ``files`` (relative to the project)."""
    inv_of: dict[str, str] = {}
    for s in stack_names(project):
        try:
            inv_of[s] = stack_inventory(project, s)
        except UsageError:
            continue
    notes: list[str] = []
    if any(f == p or f.startswith(p) for f in files for p in CODE_PATHS):
        return sorted(inv_of), ["uniform's code changed: every stack is previewed"]
    out: set[str] = set()
    for f in files:
        parts = f.split("/")
        if (
            len(parts) == 2
            and parts[0] == "stacks"
            and parts[1].startswith("Pulumi.")
            and parts[1].endswith(".yaml")
        ):
            s = parts[1][len("Pulumi.") : -len(".yaml")]
            if s in inv_of:
                out.add(s)
            else:
                notes.append(f"{f}: stack {s} has no config file any more (removed?): not previewed")
        elif len(parts) > 2 and parts[0] == "stacks":
            users = [s for s, d in inv_of.items() if d == parts[1]]
            out.update(users)
            if not users:
                notes.append(f"{f}: no stack uses stacks/{parts[1]}: not previewed")
    return sorted(out), sorted(set(notes))


# ------------------------------------------------------------------ running previews


def policy_env(project: Path, policy_pack: Path | None, passphrase: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if passphrase is not None:  # --passphrase-dir: this stack's own file
        env.pop("PULUMI_CONFIG_PASSPHRASE", None)
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(passphrase)
    env["UNIFORM_PROJECT_DIR"] = str(project)
    if policy_pack is not None:
        # the analyzer shim that runs the Python policy pack (see policy/README.md)
        env["PATH"] = os.pathsep.join([str(policy_pack / "bin"), env.get("PATH", "")])
    return env


def run_preview(
    project: Path, stack: str, policy_pack: Path | None, passphrase: Path | None = None
) -> tuple[int, dict[str, Any] | None, str]:
    """(exit code, parsed JSON or None, stderr) of ``pulumi preview --diff --json`` for ``stack``."""
    cmd = ["pulumi", "--non-interactive", "preview", "--diff", "--json", "--stack", stack]
    if policy_pack is not None:
        cmd += ["--policy-pack", str(policy_pack)]
    proc = subprocess.run(
        cmd, cwd=project, env=policy_env(project, policy_pack, passphrase), capture_output=True, text=True
    )
    try:
        data = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        data = None
    return proc.returncode, data if isinstance(data, dict) else None, proc.stderr


def report_blocks(text: str) -> list[str]:
    """The ``Policies:`` and ``Diagnostics:`` blocks of a text-mode preview (``--json`` leaves out
    policy violations in engine v3.259.0), without the analyzer shim's PATH warning."""
    out: list[str] = []
    keep = False
    for line in text.splitlines():
        if line in ("Policies:", "Diagnostics:"):
            keep = True
        elif line and not line.startswith(" "):
            keep = False
        if keep and line.strip() and "from $PATH at" not in line:
            out.append(line)
    return out


def failure_report(
    project: Path, stack: str, policy_pack: Path | None, passphrase: Path | None = None
) -> list[str]:
    """Why a preview failed: the policy violations and errors of a second, text-mode preview."""
    cmd = ["pulumi", "--non-interactive", "preview", "--stack", stack, "--color", "never"]
    if policy_pack is not None:
        cmd += ["--policy-pack", str(policy_pack)]
    proc = subprocess.run(
        cmd, cwd=project, env=policy_env(project, policy_pack, passphrase), capture_output=True, text=True
    )
    return report_blocks(proc.stdout) or proc.stderr.strip().splitlines()[-20:]


def add_review_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", default="origin/main", help="git ref to diff against (default origin/main)")
    p.add_argument("--uncommitted", action="store_true", help="also count uncommitted and untracked files")
    p.add_argument("--stack", action="append", default=[], help="preview these stacks instead of asking git")
    p.add_argument(
        "--project", metavar="DIR", help="the Pulumi project (default: nearest Pulumi.yaml above cwd)"
    )
    p.add_argument("--policy-pack", metavar="DIR", help="policy pack (default: <project>/policy)")
    p.add_argument("--no-policy", action="store_true", help="preview without the policy pack")
    p.add_argument(
        "--passphrase-dir", metavar="DIR", help="stack S's passphrase is the file DIR/S (default: the env)"
    )
    p.add_argument("--json", action="store_true", help="the summaries as JSON (= --format json)")
    p.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text (default), markdown (a pull-request comment) or json",
    )


def cmd_review(args: argparse.Namespace) -> int:
    project = Path(args.project).resolve() if args.project else find_project()
    pack = None if args.no_policy else Path(args.policy_pack or project / "policy").resolve()
    if pack is not None and not (pack / "PulumiPolicy.yaml").is_file():
        raise UsageError(f"no policy pack at {pack} (pass --policy-pack DIR or --no-policy)")
    if shutil.which("pulumi") is None:
        raise UsageError(
            "no pulumi on PATH (run tools/bootstrap.sh, then source .tools/env.sh; tools/review does)"
        )
    fmt = "json" if args.json else args.format
    notes: list[str] = []
    if args.stack:
        stacks = list(args.stack)
    else:
        try:
            files = git_changed_files(project, args.base, args.uncommitted)
        except RuntimeError as e:
            raise UsageError(str(e)) from None
        stacks, notes = stacks_for(files, project)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    if not stacks:
        print(format_markdown({}, notes, None) if fmt == "markdown" else "no stack touched by this change")
        return Exit.OK
    failed = 0
    results: dict[str, Any] = {}
    for stack in stacks:
        print(f"previewing {stack} ...", file=sys.stderr)
        pfile = Path(args.passphrase_dir).resolve() / stack if args.passphrase_dir else None
        rc, data, err = run_preview(project, stack, pack, pfile)
        changes: list[str] = []
        if not args.stack:  # a git change: what it does to each machine, base -> working tree
            try:
                changes = machine_changes(project, args.base, stack_inventory(project, stack))
            except UsageError:
                changes = []
        if rc != 0 or data is None:
            failed += 1
            problems = failure_report(project, stack, pack, pfile)
            would = summarize(data).as_dict() if data is not None else {}
            results[stack] = {**would, "ok": False, "problems": problems, "machine_changes": changes}
            if fmt == "text":
                print(f"stack {stack}: PREVIEW FAILED (exit {rc})")
                print("\n".join(f"  {line}" for line in problems))
            if data is not None and fmt == "text":
                print(format_summary(stack, summarize(data), changes).split("\n", 1)[1])
            continue
        s = summarize(data)
        results[stack] = {"ok": True, "machine_changes": changes, **s.as_dict()}
        if fmt == "text":
            print(format_summary(stack, s, changes))
    if fmt == "json":
        print(json.dumps(results, indent=2))
    elif fmt == "markdown":
        print(format_markdown(results, notes, None if pack is None else pack.name), end="")
    return Exit.PROBLEMS if failed else Exit.OK
