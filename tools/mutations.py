"""Mutation check (dev only, not shipped): does the fast suite catch these regressions?

Each mutation is one exact edit of the source (the old text must occur exactly once).
For each, the project is copied to a temporary directory (the real tree is never
edited), the mutation is applied there and the tests that guard it are run in the copy.
A mutation the tests do not fail on is MISSED.

    .venv/bin/python tools/mutations.py            # all; exit 1 if any is missed
    .venv/bin/python tools/mutations.py --list     # the list
    .venv/bin/python tools/mutations.py allocate-retry-once seniority-macs
    .venv/bin/python tools/mutations.py --ref HEAD # the last commit, not the working tree

Before the mutations, the same tests run unmutated in a copy: they must pass there (exit
2 otherwise), so "caught" always means "caught by the mutation". Each mutation runs its
tests with ``-p no:randomly`` and a fresh Hypothesis database, so nothing of an earlier
run helps. The list and its results are in docs/mutations.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: what is not copied: environments, caches, state, the git directory
SKIP = {
    ".git",
    ".venv",
    ".tools",
    ".pulumi-state",
    ".hypothesis",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "out",
}
PROPS = "tests/unit/test_inventory_props.py"
CASES = "tests/unit/test_inventory_cases.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str


MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "allocate-retry-once",
        "inventory/allocate.py",
        "            while mac in owner:\n",
        "            if mac in owner:\n",
        (PROPS,),
        "a generated MAC that collides is regenerated once, not until free: duplicate MACs",
    ),
    Mutation(
        "allocate-no-probe",
        "inventory/allocate.py",
        "            while mac in owner:\n                attempt += 1\n",
        "            while False:\n                attempt += 1\n",
        (PROPS,),
        "a generated MAC is never regenerated: duplicate MACs",
    ),
    Mutation(
        "seniority-macs",
        "inventory/allocate.py",
        "    dup_macs.clear()\n    for p in sorted(plans, key=seniority):\n",
        "    dup_macs.clear()\n    for p in sorted(plans, key=lambda p: p.name):\n",
        (PROPS, CASES),
        "pinned MACs claimed in name order: a duplicate is blamed on the running machine",
    ),
    Mutation(
        "seniority-addresses",
        "inventory/allocate.py",
        "    for p in sorted(plans, key=seniority):\n        holds = ",
        "    for p in sorted(plans, key=lambda p: p.name):\n        holds = ",
        (PROPS, CASES),
        "pinned addresses claimed in name order: a duplicate is blamed on the running machine",
    ),
    Mutation(
        "validate-no-overlaps",
        "inventory/validate.py",
        "    _overlaps(out, rep)\n",
        "",
        (CASES,),
        "overlapping networks are accepted",
    ),
    Mutation(
        "capacity-cores-at-limit",
        "inventory/capacity.py",
        "        return self.cores > self.cores_allowed\n",
        "        return self.cores >= self.cores_allowed\n",
        (CASES, PROPS),
        "a hypervisor exactly at its core capacity is reported overcommitted",
    ),
    Mutation(
        "load-empty-file-is-no-machines",
        "inventory/load.py",
        "    elif doc is None:\n",
        "    elif doc is None:\n        result = []  # read as no machines\n    elif False:\n",
        (CASES, "tests/unit/test_inventory_files.py"),
        "an empty machine file reads as 'no machines' (silently deletes running machines)",
    ),
    Mutation(
        "load-follows-symlinks",
        "inventory/load.py",
        "    if stat.S_ISLNK(st.st_mode):\n",
        "    if False and stat.S_ISLNK(st.st_mode):\n",
        ("tests/unit/test_inventory_files.py", CASES),
        "a symlinked machine file is followed",
    ),
    Mutation(
        "payloads-no-xml-escape",
        "payloads/_env.py",
        '    return name is not None and name.endswith(".xml.j2")\n',
        "    return False\n",
        ("tests/unit/test_payloads.py",),
        "libvirt XML is rendered without escaping",
    ),
)


def problems(root: Path = ROOT) -> list[str]:
    """Every mutation whose old text does not occur exactly once in its file (under root)."""
    out = []
    for m in MUTATIONS:
        path = root / m.file
        n = path.read_text().count(m.old) if path.exists() else -1
        if n != 1:
            out.append(f"{m.name}: {m.file}: old text occurs {n} times (must be exactly once)")
        for t in m.tests:
            if not (root / t).exists():
                out.append(f"{m.name}: test {t} does not exist")
    return out


def _copy(dest: Path, ref: str | None = None) -> Path:
    """The working tree (or the commit ``ref``, for a checkout others are editing) in ``dest``."""
    root = dest / "uniform"
    if ref is not None:
        root.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
        return root
    shutil.copytree(
        ROOT,
        root,
        symlinks=True,
        ignore=lambda d, names: [n for n in names if (Path(d) == ROOT and n in SKIP) or n == "__pycache__"],
    )
    return root


def _pytest(root: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("UNIFORM_UPDATE_GOLDEN", None)
    env.pop("UNIFORM_INVENTORY_CACHE", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["UNIFORM_MUTATION_RUN"] = "1"  # the property tests skip shrinking: a verdict is enough
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=900)


def _imports_from(root: Path) -> str:
    code = "import inventory, payloads; print(inventory.__file__); print(payloads.__file__)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return proc.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="only these mutations")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--ref", help="test this commit (git archive) instead of the working tree")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    if args.list:
        for m in chosen:
            print(f"{m.name:34} {m.file:28} {m.why}")
        return 0
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    bad = problems()
    if args.ref is not None:
        with tempfile.TemporaryDirectory() as tmp:
            bad = problems(_copy(Path(tmp), args.ref))
    if unknown or bad:
        for line in [f"unknown mutation {n}" for n in sorted(unknown)] + bad:
            print(line, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="uniform-mutations-") as tmp:
        base = _copy(Path(tmp) / "base", args.ref)
        where = _imports_from(base)
        if str(base) not in where:
            print(f"the copy imports the real tree, not itself:\n{where}", file=sys.stderr)
            return 2
        tests = tuple(sorted({t for m in chosen for t in m.tests}))
        proc = _pytest(base, tests)
        if proc.returncode != 0:
            print("the unmutated tests fail in a copy; fix that first:", file=sys.stderr)
            print(proc.stdout[-4000:] + proc.stderr[-2000:], file=sys.stderr)
            return 2
        missed = []
        for m in chosen:
            start = time.monotonic()
            root = _copy(Path(tmp) / m.name, args.ref)
            path = root / m.file
            path.write_text(path.read_text().replace(m.old, m.new, 1))
            proc = _pytest(root, m.tests)
            verdict = "caught" if proc.returncode != 0 else "MISSED"
            if proc.returncode not in (0, 1):  # 1: tests failed; else an error (import, collection)
                verdict = f"caught (pytest exit {proc.returncode})"
            print(f"{verdict:8} {m.name:34} {time.monotonic() - start:5.1f}s  {m.why}", flush=True)
            if proc.returncode == 0:
                missed.append(m.name)
            shutil.rmtree(root)
    if missed:
        print(f"MISSED: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
