"""uniform's policy pack: the rules of inventory/policy.py, mandatory, in the engine.

The Machine components carry no inputs (nothing says whether an address was pinned), so
the pack reads the inventory itself: the same directory the program reads, named by the
stack's ``uniform:inventory`` config (the engine passes stack config to policy packs),
under the project directory: ``UNIFORM_PROJECT_DIR`` (tools/review sets it), else the
parent of this directory (the checkout the pack lives in).  The engine tells a policy pack
neither the project's directory nor its own working directory (the pack runs in its own
directory, and ``$PWD`` is set to it), hence the variable.  Each violation is reported on the
machine's ``uniform:machine:Machine`` component; an inventory that does not load is
reported once on the stack.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the uniform checkout: the inventory package

import pulumi  # noqa: E402
from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from inventory import InventoryError, load  # noqa: E402
from inventory.model import Inventory  # noqa: E402
from inventory.policy import RULES, Violation, check  # noqa: E402
from payloads import ROLE_NAMES  # noqa: E402

MACHINE = "uniform:machine:Machine"


def project_dir() -> Path:
    env = os.environ.get("UNIFORM_PROJECT_DIR")
    return Path(env) if env else HERE.parent


@cache
def inventory() -> Inventory | str:
    """The stack's inventory, or why it could not be read."""
    name = pulumi.Config("uniform").get("inventory")
    if not name:
        return "stack config sets no uniform:inventory"
    root = project_dir() / "stacks" / name
    if not (root / "customer.yaml").is_file():
        return f"no inventory at {root} (set UNIFORM_PROJECT_DIR to the project directory)"
    try:
        return load(root, known_roles=ROLE_NAMES)
    except InventoryError as e:
        return str(e)


@cache
def violations() -> dict[str, list[Violation]]:
    inv = inventory()
    out: dict[str, list[Violation]] = {}
    if isinstance(inv, Inventory):
        for v in check(inv):
            out.setdefault(v.rule, []).append(v)
    return out


def rule_policy(rule: str) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type != MACHINE:
            return
        for v in violations().get(rule, []):
            if v.machine == args.name:
                report(f"{v.machine}: {v.message}")

    doc = (RULES[rule].__doc__ or rule).strip()
    return ResourceValidationPolicy(name=rule, description=doc, validate=validate)


def inventory_loads(args: StackValidationArgs, report: ReportViolation) -> None:
    inv = inventory()
    if isinstance(inv, str):
        report(inv)


PolicyPack(
    name="uniform",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(
            name="inventory-loads",
            description="The policy pack can read and validate the stack's inventory.",
            validate=inventory_loads,
        ),
        *(rule_policy(rule) for rule in RULES),
    ],
)
