"""The layering of docs/architecture.md, read from the code's own imports (``ast``).

Each package sits on a floor and may import only packages on lower floors; the Pulumi
SDK only where resources are wired.  Imports inside functions count (a lazy import is
still a dependency); imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: package -> floor; a package may import packages on strictly lower floors only
FLOORS: dict[str, int] = {
    "inventory": 1,
    "payloads": 2,
    "interop": 2,  # import from live DHCP/DNS/libvirt, export to Ansible/Prometheus/ssh; inventory only
    "connectors": 3,
    "components": 4,
    "ops": 4,
    "cli": 5,
    "policy": 5,
    "harness": 6,  # dev-only: tests, bench and the lab use it; nothing shipped does
}
#: packages that may import the Pulumi SDK (``pulumi``, ``pulumi_policy``)
PULUMI_ALLOWED = {"components", "policy", "harness"}
#: lower floors a package still never imports (docs/architecture.md): the command line runs
#: the engine as a command, and components/ would bring the Pulumi SDK with it
NEVER: dict[str, set[str]] = {"cli": {"components"}}
#: the program itself: ``__main__.py`` wires components and stops on inventory errors
PROGRAM_IMPORTS = {"components", "inventory"}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path`` (under ``root``) that runs."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    out = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                # relative: resolve against the importing module's package
                pkg = parts if path.name == "__init__.py" else parts[:-1]
                anchor = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if node.module is None and node.level:
                out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, base))
    return out


def _sources() -> list[tuple[str, Path]]:
    out = []
    for pkg in FLOORS:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            out.append((pkg, f))
    return out


def test_every_package_is_on_a_floor() -> None:
    """A new top-level package must be placed on a floor here (and in docs/architecture.md)."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - {"tests", "bench"} <= set(FLOORS), packages - set(FLOORS)


@pytest.mark.parametrize("pkg", list(FLOORS))
def test_no_upward_or_sideways_import(pkg: str) -> None:
    bad = []
    for owner, f in _sources():
        if owner != pkg:
            continue
        for line, mod in imports_of(f):
            top = mod.split(".")[0]
            where = f"{f.relative_to(ROOT)}:{line} imports {mod}"
            if top in FLOORS and top != pkg and FLOORS[top] >= FLOORS[pkg]:
                bad.append(where)
            if top in NEVER.get(pkg, set()):
                bad.append(where + f" ({pkg}/ never imports {top}/)")
            if top in {"pulumi", "pulumi_policy"} and pkg not in PULUMI_ALLOWED:
                bad.append(where + " (only components/ and policy/ use the Pulumi SDK)")
            if top in {"tests", "bench"}:
                bad.append(where + " (shipped and harness code never imports tests or bench)")
    assert not bad, "\n".join(bad)


def test_program_imports_only_what_it_wires() -> None:
    tops = {mod.split(".")[0] for _, mod in imports_of(ROOT / "__main__.py")}
    assert tops & set(FLOORS) <= PROGRAM_IMPORTS, tops


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every back edge of a depth-first walk, as the cycle it closes."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return cycles


def test_find_cycles() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycle_between_modules() -> None:
    """No cycle among uniform's modules (packages are acyclic by the floors already)."""
    modules: dict[str, Path] = {}
    for _, f in _sources():
        rel = f.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = f
    graph: dict[str, set[str]] = {}
    for name, f in modules.items():
        deps = set()
        for _, mod in imports_of(f):
            # `from pkg import name` may name a submodule or an attribute: take the longest module
            while mod and mod not in modules:
                mod = mod.rpartition(".")[0]
            if mod and mod != name and not name.startswith(mod + "."):
                deps.add(mod)
        graph[name] = deps

    cycles = find_cycles(graph)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: absolute, relative, lazy and TYPE_CHECKING imports."""
    f = tmp_path / "inventory" / "bad.py"
    f.parent.mkdir()
    f.write_text(
        "from typing import TYPE_CHECKING\n"
        "import payloads\n"
        "from .model import Machine\n"
        "from . import lifecycle\n"
        "if TYPE_CHECKING:\n"
        "    from components.machine import Machine as M\n"
        "def f():\n"
        "    from cli.main import main\n"
    )
    found = {mod for _, mod in imports_of(f, tmp_path)}
    assert found == {"typing", "payloads", "inventory.model", "inventory.lifecycle", "cli.main"}
