"""Which customer a command works on: the Pulumi project, its stacks, the selection options.

``--customer NAME`` is ``stacks/NAME``; ``--stack NAME`` the directory named by ``uniform:inventory``
in ``stacks/Pulumi.NAME.yaml``; ``--dir PATH`` any customer directory; nothing: the stack
``pulumi stack --show-name`` reports in the project.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .exitcodes import UsageError

__all__ = [
    "add_selection",
    "customer_dir",
    "find_project",
    "resolve_root",
    "selected_stack",
    "stack_inventory",
    "stack_names",
]


def find_project(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: cwd) holding Pulumi.yaml, else cwd."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "Pulumi.yaml").is_file():
            return d
    return here


def _safe_yaml(path: Path) -> Any:
    try:
        return YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None


def stack_config_dir(project: Path) -> Path:
    proj = project / "Pulumi.yaml"
    doc = _safe_yaml(proj) if proj.is_file() else None
    sub = doc.get("stackConfigDir") if isinstance(doc, dict) else None
    return project / sub if isinstance(sub, str) else project


def stack_names(project: Path) -> list[str]:
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in stack_config_dir(project).glob("Pulumi.*.yaml")
    )


def stack_inventory(project: Path, stack: str) -> str:
    """The ``uniform:inventory`` setting of ``stack`` (relative to stacks/)."""
    path = stack_config_dir(project) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(project)) or "none"
        raise UsageError(f"no stack {stack!r}: {path} not found (known stacks: {known})")
    doc = _safe_yaml(path)
    config = doc.get("config") if isinstance(doc, dict) else None
    value = config.get("uniform:inventory") if isinstance(config, dict) else None
    if not isinstance(value, str):
        raise UsageError(f"stack {stack!r}: {path} sets no uniform:inventory")
    return value


def selected_stack(project: Path) -> str | None:
    """``pulumi stack --show-name`` in the project, or None when it cannot be determined."""
    if shutil.which("pulumi") is None:
        return None
    try:
        proc = subprocess.run(
            ["pulumi", "--non-interactive", "stack", "--show-name"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    name = proc.stdout.strip()
    return name if proc.returncode == 0 and name else None


def customer_dir(project: Path, name: str) -> Path:
    root = project / "stacks" / name
    if not (root / "customer.yaml").is_file():
        known = sorted(p.parent.name for p in (project / "stacks").glob("*/customer.yaml"))
        raise UsageError(
            f"no customer {name!r}: {root}/customer.yaml not found (known: {', '.join(known) or 'none'})"
        )
    return root


def resolve_root(args: argparse.Namespace) -> Path:
    """The customer directory: positional root, --dir, --customer, --stack, else the selected stack."""
    given = [
        (flag, value)
        for flag, value in (
            ("<customer_dir>", getattr(args, "root", None)),
            ("--dir", args.dir),
            ("--customer", args.customer),
            ("--stack", args.stack),
        )
        if value
    ]
    if len(given) > 1:
        raise UsageError(f"choose one of {' / '.join(f for f, _ in given)}")
    project = Path(args.project) if args.project else find_project()
    if given:
        flag, value = given[0]
        if flag in ("<customer_dir>", "--dir"):
            root = Path(value)
            if not (root / "customer.yaml").is_file():
                raise UsageError(f"{root} is not a customer directory (no customer.yaml)")
            return root
        if flag == "--customer":
            return customer_dir(project, value)
        return customer_dir(project, stack_inventory(project, value))
    stack = selected_stack(project)
    if stack is None:
        raise UsageError(
            "no customer chosen: pass --customer NAME, --stack NAME or --dir PATH "
            "(or select a stack with `pulumi stack select NAME` in the project)"
        )
    return customer_dir(project, stack_inventory(project, stack))


def add_selection(p: argparse.ArgumentParser, sub: bool) -> None:
    """The customer selection options, accepted before and after the command.

    On subcommands they default to SUPPRESS so that they do not overwrite a value given
    before the command (``uniform -C acme list`` and ``uniform list -C acme`` both work)."""
    d: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    g = p.add_argument_group("customer selection (one of; default: the selected Pulumi stack)")
    g.add_argument("-C", "--customer", metavar="NAME", help="the customer directory stacks/NAME", **d)
    g.add_argument(
        "-s", "--stack", metavar="NAME", help="stacks/<uniform:inventory of stacks/Pulumi.NAME.yaml>", **d
    )
    g.add_argument("--dir", metavar="PATH", help="a customer directory anywhere", **d)
    g.add_argument(
        "--project", metavar="DIR", help="the Pulumi project (default: nearest Pulumi.yaml above cwd)", **d
    )
    g.add_argument(
        "--progress",
        action="store_true",
        help="progress on stderr (default when stderr is a terminal)",
        **(d if sub else {"default": sys.stderr.isatty()}),
    )
