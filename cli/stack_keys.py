"""The host keys uniform made (components/hostkey.py), as verify pins them: the stack's ``hostKeys``.

The program exports the public halves as a plain output map; the command line reads it by
running the engine as a command (``pulumi stack output hostKeys --json --stack <stack>``), the
same way review runs previews.  Only when a delivered machine of an ssh customer has no key
recorded by hand: every other verify runs without the engine.  ``--host-keys FILE`` gives the
same map from a file instead (that command's output, saved).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from inventory import lifecycle
from inventory.model import Inventory, Machine

from .exitcodes import UsageError
from .select import find_project, stack_inventory, stack_names

__all__ = ["made_host_keys", "parse_host_keys", "stack_host_keys", "stack_of"]

OUTPUT = "hostKeys"
TIMEOUT = 120  # seconds for `pulumi stack output`


def parse_host_keys(text: str, source: str) -> dict[str, str]:
    """machine -> public key line from ``text`` (a JSON object), or UsageError naming ``source``."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{source}: not JSON: {e}") from None
    if not isinstance(doc, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in doc.items()
    ):
        raise UsageError(f"{source}: expected a JSON object of machine name -> public key line")
    return dict(doc)


def stack_of(project: Path, root: Path) -> str | None:
    """The stack whose ``uniform:inventory`` is the customer directory ``root`` (one, else None)."""
    want = root.resolve()
    found = []
    for stack in stack_names(project):
        try:
            if (project / "stacks" / stack_inventory(project, stack)).resolve() == want:
                found.append(stack)
        except UsageError:
            continue
    return found[0] if len(found) == 1 else None


def stack_host_keys(project: Path, stack: str) -> dict[str, str]:
    """``hostKeys`` of ``stack`` (empty when it has none); UsageError when the engine cannot tell."""
    if shutil.which("pulumi") is None:
        raise UsageError("pulumi not found on PATH")
    cmd = ["pulumi", "--non-interactive", "stack", "output", OUTPUT, "--json", "--stack", stack]
    try:
        proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UsageError(f"{' '.join(cmd[2:])}: {e}") from None
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        if any(f"current stack does not have output property '{OUTPUT}'" in line for line in err):
            return {}  # deployed before uniform made keys, or none made
        raise UsageError(f"{' '.join(cmd[2:])}: {err[-1] if err else f'exit {proc.returncode}'}")
    return parse_host_keys(proc.stdout, f"stack {stack} output {OUTPUT}")


def made_host_keys(
    inv: Inventory,
    root: Path,
    *,
    project: str | None,
    stack: str | None,
    file: str | None,
    needs: Sequence[Machine] | None = None,
    who: str = "verify",
) -> dict[str, str]:
    """The made keys verify pins: from ``file``, else from the customer's stack when a delivered
    machine of an ssh customer has no hand-recorded key (``needs``: the machines that would use a
    made key instead, as ``uniform export`` computes them); a stack that cannot be read is reported
    on stderr (prefixed ``who``) and pins nothing (verify: those hosts are then not verified, exit 3)."""
    if file:
        try:
            return parse_host_keys(Path(file).read_text(), file)
        except OSError as e:
            raise UsageError(f"--host-keys {file}: {e.strerror}") from None
    if needs is None:
        hand = dict(inv.customer.ssh.host_keys)
        ssh = inv.customer.delivery.mode == "ssh"
        needs = [
            m for m in inv.machines.values() if ssh and lifecycle.delivered(m.state) and m.name not in hand
        ]
    if not needs:
        return {}
    proj = Path(project) if project else find_project()
    name = stack or stack_of(proj, root)
    if name is None:
        print(
            f"{who}: no stack of {root} found in {proj}: no host key made by uniform is pinned",
            file=sys.stderr,
        )
        return {}
    try:
        return stack_host_keys(proj, name)
    except UsageError as e:
        print(f"{who}: the host keys uniform made are not pinned: {e}", file=sys.stderr)
        return {}
