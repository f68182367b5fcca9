"""YAML -> checked raw data: types, required keys and unknown keys, with locations for line numbers.

Files are parsed with ruamel's fast safe loader (C parser).  Line numbers are only
looked up when there is a problem to report: ``add_lines`` re-parses just the files
that have problems with the round-trip loader, which records positions.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .errors import Loc, Problem, Reporter

_SIZE_RE = re.compile(r"^\s*(\d+)\s*(MiB|GiB|TiB)\s*$")
_UNIT_MIB = {"MiB": 1, "GiB": 1024, "TiB": 1024 * 1024}

MISSING: Any = object()


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# ---------------------------------------------------------------------------- schema

Check = Callable[[Any, Loc, "Ctx"], Any]  # returns the cleaned value, or MISSING after reporting


@dataclass
class Ctx:
    rep: Reporter
    file: str
    machine: str | None = None
    base: Loc = ()

    def bad(self, loc: Loc, message: str) -> Any:
        self.rep.add(self.file, loc, message, self.machine, self.base)
        return MISSING


def string(choices: tuple[str, ...] = ()) -> Check:
    def check(value: Any, loc: Loc, ctx: Ctx) -> Any:
        if not isinstance(value, str):
            return ctx.bad(loc, f"expected a string, got {_describe(value)}")
        if choices and value not in choices:
            return ctx.bad(loc, f"{value!r} is not one of: {', '.join(choices)}")
        return value

    return check


def integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    def check(value: Any, loc: Loc, ctx: Ctx) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            return ctx.bad(loc, f"expected an integer, got {_describe(value)}")
        if minimum is not None and value < minimum:
            return ctx.bad(loc, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            return ctx.bad(loc, f"must be at most {maximum}, got {value}")
        return value

    return check


def number(minimum: float = 0.0) -> Check:
    def check(value: Any, loc: Loc, ctx: Ctx) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return ctx.bad(loc, f"expected a number, got {_describe(value)}")
        if value <= minimum:
            return ctx.bad(loc, f"must be greater than {minimum}, got {value}")
        return float(value)

    return check


def size(unit: str) -> Check:
    """Sizes: an int in ``unit`` (MiB or GiB) or a string like ``4GiB``/``512MiB``/``1TiB``."""
    per_unit = _UNIT_MIB[unit]

    def check(value: Any, loc: Loc, ctx: Ctx) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | str):
            return ctx.bad(loc, f"expected a size (integer {unit} or e.g. '4GiB'), got {_describe(value)}")
        if isinstance(value, int):
            mib = value * per_unit
        else:
            m = _SIZE_RE.match(value)
            if not m:
                return ctx.bad(loc, f"invalid size {value!r} (expected e.g. '4GiB', '512MiB', '1TiB')")
            mib = int(m.group(1)) * _UNIT_MIB[m.group(2)]
        if mib % per_unit:
            return ctx.bad(loc, f"size {value!r} is not a whole number of {unit}")
        if mib <= 0:
            return ctx.bad(loc, f"size must be positive, got {value!r}")
        return mib // per_unit

    return check


def list_of(item: Check) -> Check:
    def check(value: Any, loc: Loc, ctx: Ctx) -> Any:
        if not isinstance(value, list):
            return ctx.bad(loc, f"expected a list, got {_describe(value)}")
        out = []
        for i, v in enumerate(value):
            r = item(v, loc + (i,), ctx)
            out.append(None if r is MISSING else r)
        return out

    return check


def map_of(item: Check) -> Check:
    def check(value: Any, loc: Loc, ctx: Ctx) -> Any:
        if not isinstance(value, dict):
            return ctx.bad(loc, f"expected a mapping, got {_describe(value)}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                ctx.bad(loc, f"key {k!r} must be a string")
                continue
            r = item(v, loc + (k,), ctx)
            if r is not MISSING:
                out[k] = r
        return out

    return check


@dataclass(frozen=True)
class Field:
    check: Check
    required: bool = False
    default: Any = None


def obj(fields: dict[str, Field]) -> Check:
    """A mapping with known keys. Bad or absent optional values become their default;
    bad or absent required values are left out of the result (callers use ``.get``)."""
    known = list(fields)

    def check(value: Any, loc: Loc, ctx: Ctx) -> Any:
        if not isinstance(value, dict):
            return ctx.bad(loc, f"expected a mapping, got {_describe(value)}")
        out: dict[str, Any] = {}
        for k in value:
            if k not in fields:
                hint = difflib.get_close_matches(str(k), known, n=1, cutoff=0.6)
                msg = f"unknown key {k!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                ctx.bad(loc + (str(k),), msg)
        for name, f in fields.items():
            v = value.get(name, MISSING)
            if v is MISSING or v is None:
                if f.required:
                    ctx.bad(loc + (name,) if v is None else loc, f"missing required key {name!r}")
                else:
                    out[name] = f.default() if callable(f.default) else f.default
                continue
            r = f.check(v, loc + (name,), ctx)
            if r is MISSING:
                if not f.required:
                    out[name] = f.default() if callable(f.default) else f.default
            else:
                out[name] = r
        return out

    return check


STR = string()

NETWORK = obj(
    {
        "ipv4": Field(STR),
        "ipv6": Field(STR),
        "gateway4": Field(STR),
        "gateway6": Field(STR),
        "domain": Field(STR),
        "reserved": Field(list_of(STR), default=list),
        "dhcp_pool": Field(STR),
        "bridge": Field(STR),
        "dns_servers": Field(list_of(STR), default=list),
        "mtu": Field(integer(68, 65535)),
    }
)

CUSTOMER = obj(
    {
        "customer": Field(STR, required=True),
        "domain": Field(STR, required=True),
        "mac_prefix": Field(STR, default="52:54:00"),
        "overcommit": Field(
            obj({"cpu": Field(number(), default=4.0), "memory": Field(number(), default=1.0)}),
            default=lambda: {"cpu": 4.0, "memory": 1.0},
        ),
        "services": Field(
            obj(
                {
                    "dhcp": Field(string(("dnsmasq", "kea")), default="dnsmasq"),
                    "dns": Field(string(("bind", "dnsmasq")), default="bind"),
                }
            ),
            default=lambda: {"dhcp": "dnsmasq", "dns": "bind"},
        ),
        "delivery": Field(
            obj({"mode": Field(string(("local", "ssh")), default="local"), "local_root": Field(STR)}),
            default=lambda: {"mode": "local", "local_root": None},
        ),
        "ssh": Field(
            obj(
                {
                    "user": Field(STR, default="root"),
                    "port": Field(integer(1, 65535), default=22),
                    "authorized_keys": Field(list_of(STR), default=list),
                    "host_keys": Field(map_of(STR), default=dict),
                }
            ),
            default=lambda: {"user": "root", "port": 22, "authorized_keys": [], "host_keys": {}},
        ),
        "networks": Field(map_of(NETWORK), default=dict),
    }
)

MACHINE = obj(
    {
        "name": Field(STR, required=True),
        "kind": Field(string(("hw", "vm")), required=True),
        "hypervisor": Field(STR),
        "cores": Field(integer(1), required=True),
        "memory": Field(size("MiB"), required=True),
        "disks": Field(
            list_of(
                obj(
                    {
                        "name": Field(STR, required=True),
                        "size": Field(size("GiB"), required=True),
                        "pool": Field(STR, default="default"),
                    }
                )
            ),
            default=list,
        ),
        "nics": Field(
            list_of(
                obj(
                    {
                        "name": Field(STR, required=True),
                        "mac": Field(STR),
                        "networks": Field(
                            list_of(
                                obj(
                                    {
                                        "network": Field(STR, required=True),
                                        "ipv4": Field(STR),
                                        "ipv6": Field(STR),
                                    }
                                )
                            ),
                            default=list,
                        ),
                    }
                )
            ),
            default=list,
        ),
        "tags": Field(list_of(STR), default=list),
        "roles": Field(list_of(STR), default=list),
        "state": Field(STR, default="planned"),
        "history": Field(list_of(STR), default=list),
        "location": Field(STR),
    }
)


# ---------------------------------------------------------------------------- files


@dataclass
class RawMachine:
    file: str  # relative to the customer dir
    base: Loc  # () for a one-machine file, (i,) for the i-th entry of a group file
    data: dict[str, Any]  # checked against MACHINE; required keys may be missing if they were bad
    name: str | None = None


@dataclass
class RawInventory:
    root: Path
    customer: str  # the directory name (used in every Problem)
    doc: dict[str, Any] = field(default_factory=dict)  # customer.yaml, checked against CUSTOMER
    machines: list[RawMachine] = field(default_factory=list)


_SAFE = YAML(typ="safe")


def _parse(path: Path, rel: str, rep: Reporter) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        rep.add(rel, (), f"cannot read: {e}")
        return MISSING
    try:
        return _SAFE.load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        rep.add(rel, (), f"invalid YAML{line}: {problem}")
        return MISSING


def read(root: Path, rep: Reporter) -> RawInventory:
    """Read and type-check ``customer.yaml`` and ``machines/*.yaml`` under ``root``."""
    raw = RawInventory(root, rep.customer)
    cpath = root / "customer.yaml"
    if not cpath.is_file():
        rep.add("customer.yaml", (), "missing customer.yaml")
    else:
        doc = _parse(cpath, "customer.yaml", rep)
        if doc is not MISSING:
            checked = CUSTOMER(doc, (), Ctx(rep, "customer.yaml"))
            if checked is not MISSING:
                raw.doc = checked
    mdir = root / "machines"
    files = sorted(mdir.glob("*.yaml")) if mdir.is_dir() else []
    for path in files:
        rel = f"machines/{path.name}"
        doc = _parse(path, rel, rep)
        if doc is MISSING:
            continue
        if doc is None:
            continue  # an empty file: nothing to declare
        entries: list[tuple[Loc, Any]] = (
            [((i,), d) for i, d in enumerate(doc)] if isinstance(doc, list) else [((), doc)]
        )
        for base, d in entries:
            name = d.get("name") if isinstance(d, dict) else None
            mname = name if isinstance(name, str) else None
            data = MACHINE(d, (), Ctx(rep, rel, mname, base))
            if data is MISSING:
                continue
            raw.machines.append(RawMachine(rel, base, data, mname))
    return raw


# ---------------------------------------------------------------------------- line numbers


def _line_of(node: Any, loc: Loc) -> int | None:
    line: int | None = getattr(getattr(node, "lc", None), "line", None)
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(part, int) and isinstance(node, list) and part < len(node):
                if lc is not None:
                    line = lc.item(part)[0]
                node = node[part]
            elif isinstance(part, str) and isinstance(node, dict) and part in node:
                if lc is not None:
                    line = lc.key(part)[0]
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):
            break
    return None if line is None else line + 1


def add_lines(root: Path, problems: list[Problem]) -> list[Problem]:
    """Fill in ``line`` for problems in files that parse, using the round-trip loader."""
    by_file: dict[str, Any] = {}
    rt = YAML(typ="rt")
    out = []
    for p in problems:
        if p.line is None and p.file not in by_file:
            try:
                by_file[p.file] = rt.load((root / p.file).read_text(encoding="utf-8"))
            except Exception:  # unreadable or invalid YAML: the problem already says so
                by_file[p.file] = None
        doc = by_file.get(p.file)
        if doc is not None and p.line is None:
            line = _line_of(doc, p.loc)
            p = Problem(p.customer, p.file, p.machine, p.field, p.message, line, p.loc)
        out.append(p)
    return out
