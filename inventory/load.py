"""YAML -> checked raw data: types, required keys and unknown keys, with locations for line numbers.

Files are parsed with ruamel's fast safe loader (C parser).  Line numbers are only
looked up when there is a problem to report: ``add_lines`` re-parses just the files
that have problems with the round-trip loader, which records positions.
"""

from __future__ import annotations

import difflib
import hashlib
import marshal
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import __version__ as ruamel_version
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from .errors import Loc, Problem, Reporter, excerpt

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
        return f"string {excerpt(value)}"
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
            return ctx.bad(loc, f"{excerpt(value)} is not one of: {', '.join(choices)}")
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
                return ctx.bad(loc, f"invalid size {excerpt(value)} (expected e.g. '4GiB', '512MiB', '1TiB')")
            mib = int(m.group(1)) * _UNIT_MIB[m.group(2)]
        if mib % per_unit:
            return ctx.bad(loc, f"size {excerpt(value)} is not a whole number of {unit}")
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
                ctx.bad(loc, f"key {excerpt(k)} must be a string")
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
                msg = f"unknown key {excerpt(k)}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
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
        "boot_filename": Field(STR),
        "boot_server": Field(STR),
    }
)

#: installer settings (docs/provisioning.md).  Absent keys stay None here: the defaults
#: live in one place, inventory.model (validate.customer fills them in).
PROVISIONING = obj(
    {
        "base_image": Field(STR),
        "kernel": Field(STR),
        "initrd": Field(STR),
        "kernel_args": Field(STR),
        "console": Field(STR),
        "mirror": Field(STR),
        "mirror_directory": Field(STR),
        "suite": Field(STR),
        "locale": Field(STR),
        "keymap": Field(STR),
        "timezone": Field(STR),
    }
)

#: customer.yaml.  Optional settings have no default here (None, or {} for a section):
#: validate.customer fills them in from inventory.model's dataclasses, the one place
#: that states a default.
CUSTOMER = obj(
    {
        "customer": Field(STR, required=True),
        "domain": Field(STR, required=True),
        "mac_prefix": Field(STR),
        "overcommit": Field(obj({"cpu": Field(number()), "memory": Field(number())}), default=dict),
        "services": Field(
            obj({"dhcp": Field(string(("dnsmasq", "kea"))), "dns": Field(string(("bind", "dnsmasq")))}),
            default=dict,
        ),
        "delivery": Field(
            obj({"mode": Field(string(("local", "ssh"))), "local_root": Field(STR)}), default=dict
        ),
        "ssh": Field(
            obj(
                {
                    "user": Field(STR),
                    "port": Field(integer(1, 65535)),
                    "authorized_keys": Field(list_of(STR), default=list),
                    "host_keys": Field(map_of(STR), default=dict),
                }
            ),
            default=dict,
        ),
        "networks": Field(map_of(NETWORK), default=dict),
        "provisioning": Field(PROVISIONING, default=dict),
        "removed": Field(list_of(STR), default=list),
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
        # a hypervisor's: how it runs its VMs (kvm, or qemu = TCG emulation without /dev/kvm)
        "virtualization": Field(string(("kvm", "qemu"))),
        # a VM's acknowledged move: to which hypervisor, and how its disks got there
        "move": Field(
            obj({"to": Field(STR, required=True), "disk": Field(string(("fresh", "copied")), required=True)})
        ),
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


class _Yaml12Resolver(VersionedResolver):
    """Always YAML 1.2 (ruamel's default), skipping the per-scalar version lookup (~30% of parsing).

    A plain scalar's implicit tag depends on its text alone (no path resolvers are set): the
    tag of each distinct text is resolved once per process, not once per occurrence.  At
    10,000 machines that is ~450,000 regex walks replaced by ~30,000 and a dict lookup
    (the file parse 20-25% faster; bench/README.md)."""

    _scalar_tags: dict[str, Any] = {}  # noqa: RUF012 -- one table for every load in the process
    _MAX_TAGS = 200_000  # distinct texts kept; the table starts over beyond it

    @property
    def processing_version(self) -> Any:
        return (1, 2)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0] and not self.yaml_path_resolvers:
            tags = self._scalar_tags
            tag = tags.get(value)
            if tag is None:
                if len(tags) >= self._MAX_TAGS:
                    tags.clear()
                tag = tags[value] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)


_SAFE = YAML(typ="safe")
_SAFE.Resolver = _Yaml12Resolver


def _parse(path: Path, rel: str, rep: Reporter) -> Any:
    try:
        data = path.read_bytes()
    except OSError as e:
        rep.add(rel, (), f"cannot read: {e.strerror or e}")
        return MISSING
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        lineno = data[: e.start].count(b"\n") + 1
        rep.add(rel, (), f"not UTF-8 at line {lineno} (byte 0x{data[e.start]:02x}); save the file as UTF-8")
        return MISSING
    try:
        return _SAFE.load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        rep.add(rel, (), f"invalid YAML{line}: {problem}")
        return MISSING


_CACHE_VERSION = (
    7  # 2: provisioning, boot_filename/boot_server; 3: defaults from the model; 4: removed; 5: move;
    # 6: virtualization; 7: provisioning.console
)
#: (rel path, machine base loc, checked data, machine name) for each machine in a file
Entry = tuple[Loc, dict[str, Any], str | None]
#: problems found in one file, as (machine, field, message, loc) -- the customer is added on use
FileProblems = list[tuple[str | None, str, str, Loc]]


def _check_file(path: Path, rel: str, customer: str) -> tuple[Any, FileProblems]:
    """Parse and type-check one file: ``customer.yaml`` -> its checked dict, a machine file -> entries."""
    rep = Reporter(customer)
    result: Any = None
    doc = _parse(path, rel, rep)
    if rel == "customer.yaml":
        if doc is not MISSING:
            checked = CUSTOMER(doc, (), Ctx(rep, rel))
            result = None if checked is MISSING else checked
    elif doc is None:
        # An empty file is a truncation (a bad merge, a full disk, an editor crash), never
        # "no machines": read as such, it would silently delete running machines.
        rep.add(
            rel,
            (),
            "empty machine file: it declares no machine (to take a machine out, decommission "
            "it; to drop a planned or retired one, `uniform machine remove`)",
        )
    elif doc is not MISSING:
        entries: list[Entry] = []
        for base, d in [((i,), d) for i, d in enumerate(doc)] if isinstance(doc, list) else [((), doc)]:
            name = d.get("name") if isinstance(d, dict) else None
            mname = name if isinstance(name, str) else None
            data = MACHINE(d, (), Ctx(rep, rel, mname, base))
            if data is not MISSING:
                entries.append((base, data, mname))
        result = entries
    return result, [(p.machine, p.field, p.message, p.loc) for p in rep.problems]


class _Cache:
    """Per-file results of ``_check_file`` keyed by (mtime_ns, size), stored with marshal.

    Only used when a cache directory is given (``UNIFORM_INVENTORY_CACHE`` or ``cache_dir``):
    the checked data is plain str/int/float/bool/None/list/dict, so marshal round-trips it."""

    def __init__(self, cache_dir: Path | None, root: Path) -> None:
        self.path: Path | None = None
        self.files: dict[str, Any] = {}
        self.dirty = False
        if cache_dir is None:
            return
        key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
        self.path = cache_dir / f"inventory-{key}.marshal"
        try:
            data = marshal.loads(self.path.read_bytes())
            if data.get("version") == (_CACHE_VERSION, ruamel_version):
                self.files = data["files"]
        except (OSError, ValueError, EOFError, TypeError, AttributeError, KeyError):
            self.files = {}

    def get(self, path: Path, rel: str, customer: str) -> tuple[Any, FileProblems]:
        if self.path is None:
            return _check_file(path, rel, customer)
        try:
            st = path.stat()
        except OSError:
            return _check_file(path, rel, customer)
        stamp = (st.st_mtime_ns, st.st_size)
        hit = self.files.get(rel)
        if hit is not None and hit[0] == stamp and hit[1] == customer:
            return hit[2], hit[3]
        result, problems = _check_file(path, rel, customer)
        self.files[rel] = (stamp, customer, result, problems)
        self.dirty = True
        return result, problems

    def save(self, seen: set[str]) -> None:
        if self.path is None:
            return
        if set(self.files) - seen:
            self.files = {k: v for k, v in self.files.items() if k in seen}
            self.dirty = True
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps({"version": (_CACHE_VERSION, ruamel_version), "files": self.files}))
            os.replace(tmp, self.path)
        except (OSError, ValueError):
            pass  # a cache that cannot be written is only slower


def _not_plain(path: Path, root: Path) -> str | None:
    """Why ``path`` is not read, or None for a regular file inside the customer directory.

    Inventories come from pull requests that CI reads: a link to ``/etc/shadow`` or to a
    key file must not be followed (its lines would come back as "problems"), and a FIFO
    would hang the run.  Nothing of the target is read or quoted."""
    try:
        st = path.lstat()
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    if stat.S_ISLNK(st.st_mode):
        return _LINK
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file: not read"
    # (a regular file, not a link, listed in the customer directory or in its machines/,
    # itself not a link, is inside the customer directory: nothing to resolve)
    return None


_LINK = "is a symbolic link: uniform reads only regular files inside the customer directory"


def read(root: Path, rep: Reporter, cache_dir: Path | None = None) -> RawInventory:
    """Read and type-check ``customer.yaml`` and ``machines/*.yaml`` under ``root``."""
    raw = RawInventory(root, rep.customer)
    if cache_dir is None and os.environ.get("UNIFORM_INVENTORY_CACHE"):
        cache_dir = Path(os.environ["UNIFORM_INVENTORY_CACHE"])
    cache = _Cache(cache_dir, root)
    seen: set[str] = set()

    def problems(rel: str, found: FileProblems) -> None:
        for machine, fld, message, loc in found:
            rep.problems.append(Problem(rep.customer, rel, machine, fld, message, None, tuple(loc)))

    cpath = root / "customer.yaml"
    if not cpath.is_file() and not cpath.is_symlink():
        rep.add("customer.yaml", (), "missing customer.yaml")
    elif why := _not_plain(cpath, root):
        rep.add("customer.yaml", (), why)
    else:
        seen.add("customer.yaml")
        doc, found = cache.get(cpath, "customer.yaml", rep.customer)
        problems("customer.yaml", found)
        if doc is not None:
            raw.doc = doc
    mdir = root / "machines"
    files: list[tuple[str, str | None]] = []  # (name, why it is not read)
    if mdir.is_symlink():
        rep.add("machines", (), _LINK)
    elif mdir.is_dir():
        # the directory entry's own type, without following links and without a stat per
        # file (10,000 files): a link or a FIFO is refused, never opened
        for e in os.scandir(mdir):
            if e.name.endswith(".yaml"):
                plain = e.is_file(follow_symlinks=False)
                files.append(
                    (e.name, None if plain else _LINK if e.is_symlink() else _not_plain(Path(e.path), root))
                )
        files.sort()
    for fname, why in files:
        path = mdir / fname
        rel = f"machines/{fname}"
        if why:
            rep.add(rel, (), why)
            continue
        seen.add(rel)
        entries, found = cache.get(path, rel, rep.customer)
        problems(rel, found)
        for base, data, mname in entries or ():
            raw.machines.append(RawMachine(rel, tuple(base), data, mname))
    cache.save(seen)
    return raw


# ---------------------------------------------------------------------------- line numbers


def _aliased(child: Any, line: int | None) -> bool:
    """``child`` is reached through a YAML alias (``*name``) written on ``line``: an anchored
    node that starts elsewhere than right there, where its anchor (``&name``) is."""
    anchor = getattr(getattr(child, "anchor", None), "value", None)
    start = getattr(getattr(child, "lc", None), "line", None)
    return bool(anchor) and line is not None and start is not None and start not in (line, line + 1)


def _line_of(node: Any, loc: Loc) -> int | None:
    line: int | None = getattr(getattr(node, "lc", None), "line", None)
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(part, int) and isinstance(node, list) and part < len(node):
                if lc is not None:
                    line = lc.item(part)[0]
                child = node[part]
            elif isinstance(part, str) and isinstance(node, dict) and part in node:
                if lc is not None:
                    line = lc.key(part)[0]
                child = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):
            break
        if _aliased(child, line):
            break  # the problem is where the alias is used, not at the anchor it copies
        node = child
    return None if line is None else line + 1


def add_lines(root: Path, problems: list[Problem]) -> list[Problem]:
    """Fill in ``line`` for problems in files that parse, using the round-trip loader."""
    by_file: dict[str, Any] = {}
    rt = YAML(typ="rt")
    out = []
    for p in problems:
        if p.line is None and p.file not in by_file:
            by_file[p.file] = None
            if _not_plain(root / p.file, root) is None:  # never a link, a FIFO, ...
                try:
                    by_file[p.file] = rt.load((root / p.file).read_text(encoding="utf-8"))
                except Exception:  # unreadable or invalid YAML: the problem already says so
                    pass
        doc = by_file.get(p.file)
        if doc is not None and p.line is None:
            line = _line_of(doc, p.loc)
            p = Problem(p.customer, p.file, p.machine, p.field, p.message, line, p.loc)
        out.append(p)
    return out
