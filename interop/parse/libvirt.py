"""libvirt domain XML (``virsh dumpxml``, /etc/libvirt/qemu/*.xml) -> :class:`Domain` records.

``parse(path)`` reads one file, which may hold several dumps one after the other
(``for d in ...; do virsh dumpxml $d; done > all.xml``), or every ``*.xml`` directly in a
directory (not its ``autostart/`` or ``networks/``). Decisions:

* **cores** = the ``<vcpu>`` count (the maximum; ``current=`` is ignored), 1 without one, as
  libvirt defaults. A ``<cpu><topology>`` must multiply out to the same count (libvirt refuses
  a domain where it does not), else it is a problem.
* **memory** = ``<memory>`` (not ``currentMemory``, the balloon) in any libvirt unit (b, bytes,
  KB, k/KiB, MB, M/MiB, ... E/EiB, case-insensitive; KiB without ``unit``), rounded up to MiB.
* **disks**: ``<disk device='disk'|'lun'>`` of any type, named by ``<target dev>``; cdrom and
  floppy are skipped. Size: the domain XML never says, so None, except for uniform's own
  layout, where ``<name>.disks.sh`` next to ``<name>.xml`` creates each image with
  ``qemu-img create ... <source file> <N>G``: that N is read back. A volume's pool is kept.
  A ``<readonly/>`` disk is skipped too: it holds no data of the VM's own (a medium, such as
  the cloud-init seed uniform attaches to a staged VM as a read-only virtio disk).
* **NICs**: every ``<interface>`` with its ``<mac>`` (required), ``<model type>``, and
  ``bridge`` = ``<source bridge>`` (also present in a running network domain's dump), else the
  ``<source network>`` name (type network), else ``<source dev>`` (type direct: the host
  device macvtap hangs off); ``network`` = ``<source network>``.
* **virtualization** = ``<domain type>`` (``kvm``, ``qemu``, ...): the merge sets the
  hypervisor's ``virtualization`` from it.
* The source line is the line of ``<domain``. XML is read with expat; a DTD (``<!DOCTYPE``) is
  refused (no entity expansion, no external entities: domain XML never has one).
"""

from __future__ import annotations

import re
import shlex
import xml.parsers.expat as expat
from dataclasses import dataclass, field, replace
from pathlib import Path

from interop.parse import ParseError
from interop.records import Domain, DomainDisk, DomainNic, Site, Source

__all__ = ["memory_mib", "parse"]

Problems = list[tuple[Source, str]]

_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_SIZE = re.compile(r"(\d+)G")
_WRAP = b"<uniform-import-wrapper>"
_SKIP_DEVICES = frozenset({"cdrom", "floppy"})
_TEXT = frozenset({"name", "vcpu", "memory"})


def memory_mib(value: str, unit: str | None) -> int | str:
    """``<memory unit=...>value</memory>`` in MiB, rounded up; a str is the problem."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        return f"<memory> {text!r} is not a whole number"
    if not int(text):
        return "<memory> is 0"
    u = (unit or "KiB").lower()
    if u in ("b", "byte", "bytes"):
        scale = 1
    else:
        power = "kmgtpe".find(u[:1]) + 1
        base = 1024 if u[1:] in ("", "ib") else 1000 if u[1:] == "b" else 0
        if not power or not base:
            return f"<memory> unit {unit!r} is not a libvirt unit (b, KB, KiB, MB, MiB, GB, GiB, ...)"
        scale = base**power
    return -(-int(text) * scale // 2**20)


def _sidecar_sizes(xml: Path) -> dict[str, int]:
    """Disk image -> GiB from uniform's ``<name>.disks.sh`` beside ``<name>.xml``, if there."""
    try:
        text = xml.with_suffix(".disks.sh").read_text()
    except OSError:
        return {}
    sizes = {}
    for line in text.splitlines():
        if "qemu-img create" not in line:
            continue
        words = shlex.split(line.split("qemu-img create", 1)[1])
        if len(words) >= 2 and (m := _SIZE.fullmatch(words[-1])):
            sizes[words[-2]] = int(m[1])
    return sizes


@dataclass
class _Device:
    line: int
    attrs: dict[str, str]
    children: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)


@dataclass
class _Dom:
    line: int
    type: str | None = None
    text: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    topology: tuple[int, dict[str, str]] | None = None
    disks: list[_Device] = field(default_factory=list)
    nics: list[_Device] = field(default_factory=list)


class _Reader:
    """The expat handlers for one file: domains and their problems."""

    def __init__(self, shown: str, problems: Problems, sizes: dict[str, int]) -> None:
        self.shown, self.problems, self.sizes = shown, problems, sizes
        self.parser = expat.ParserCreate()
        self.parser.buffer_text = True
        self.parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        # the text handler is set only inside <name>, <vcpu> and <memory>: most text is not read
        self.path: list[str] = []
        self.dom: _Dom | None = None
        self.dev: _Device | None = None
        self.buf: list[str] | None = None
        self.label = ""  # "domain <name>: ", the prefix of a domain's problems
        self.domains: list[Domain] = []
        self.seen = False  # any element of the file's own (a <domain> or not)

    def problem(self, line: int, msg: str) -> None:
        self.problems.append((Source(self.shown, line), msg))

    def start(self, name: str, attrs: dict[str, str]) -> None:
        depth = len(self.path) - 1  # below the wrapper
        self.path.append(name)
        if depth == 0:
            self.seen = True
            if name == "domain":
                self.dom = _Dom(self.parser.CurrentLineNumber, attrs.get("type"))
            else:
                self.dom = None
                self.problem(self.parser.CurrentLineNumber, f"<{name}> is not a libvirt <domain>")
        elif self.dom is None:
            return
        elif depth == 1 and name in _TEXT:
            self.buf = []
            self.parser.CharacterDataHandler = self.buf.append
            self.dom.text.setdefault(name, ("", attrs))
        elif depth == 2 and self.path[2] == "devices" and name in ("disk", "interface"):
            self.dev = _Device(self.parser.CurrentLineNumber, attrs)
            (self.dom.disks if name == "disk" else self.dom.nics).append(self.dev)
        elif depth == 2 and self.path[2] == "cpu" and name == "topology":
            self.dom.topology = (self.parser.CurrentLineNumber, attrs)
        elif depth == 3 and self.dev is not None:
            self.dev.children.setdefault(name, (self.parser.CurrentLineNumber, attrs))

    def end(self, name: str) -> None:
        self.path.pop()
        depth = len(self.path) - 1
        if self.dom is None:
            return
        if depth == 0:
            self.finish(self.dom)
            self.dom = None
        elif depth == 1 and self.buf is not None:
            attrs = self.dom.text[name][1]
            self.dom.text[name] = ("".join(self.buf), attrs)
            self.buf = None
            self.parser.CharacterDataHandler = None
        elif depth == 2:
            self.dev = None

    def finish(self, d: _Dom) -> None:
        before = len(self.problems)
        name = d.text.get("name", ("", {}))[0].strip()
        if not name:
            self.problem(d.line, "domain without a <name>")
        self.label = f"domain {name}: " if name else ""
        cores = 1
        if "vcpu" in d.text:
            text = d.text["vcpu"][0].strip()
            if text.isascii() and text.isdigit() and int(text) > 0:
                cores = int(text)
            else:
                self.problem(d.line, f"{self.label}<vcpu> {text!r} is not a positive whole number")
        if d.topology is not None:
            line, attrs = d.topology
            keys = ("sockets", "dies", "clusters", "cores", "threads")
            values = [attrs.get(k, "1") for k in keys]
            if all(v.isascii() and v.isdigit() for v in values):
                total = 1
                for v in values:
                    total *= int(v)
                if total != cores:
                    self.problem(line, f"{self.label}<topology> makes {total} vCPUs, <vcpu> says {cores}")
            else:
                self.problem(line, f"{self.label}<topology> values are not whole numbers")
        mib: int | str = "no <memory>"
        if "memory" in d.text:
            mib = memory_mib(d.text["memory"][0], d.text["memory"][1].get("unit"))
        if isinstance(mib, str):
            self.problem(d.line, self.label + mib)
        disks = [disk for dev in d.disks if (disk := self.disk(dev)) is not None]
        nics = [nic for dev in d.nics if (nic := self.nic(dev)) is not None]
        if len(self.problems) == before and isinstance(mib, int):
            src = Source(self.shown, d.line)
            dom = Domain(src, name, cores, mib, tuple(disks), tuple(nics), virtualization=d.type)
            self.domains.append(dom)

    def disk(self, dev: _Device) -> DomainDisk | None:
        if dev.attrs.get("device", "disk") in _SKIP_DEVICES or "readonly" in dev.children:
            return None
        target = dev.children.get("target", (0, {}))[1].get("dev")
        if not target:
            self.problem(dev.line, f"{self.label}disk without <target dev=...>")
            return None
        source = dev.children.get("source", (0, {}))[1]
        size = self.sizes.get(source.get("file", ""))
        return DomainDisk(target, size, source.get("pool") if dev.attrs.get("type") == "volume" else None)

    def nic(self, dev: _Device) -> DomainNic | None:
        if "mac" not in dev.children:
            self.problem(dev.line, f"{self.label}interface without <mac address=...>")
            return None
        line, attrs = dev.children["mac"]
        mac = attrs.get("address", "").lower()
        if not _MAC.fullmatch(mac):
            self.problem(line, f"{self.label}MAC {attrs.get('address', '')!r} is not aa:bb:cc:dd:ee:ff")
            return None
        src = dev.children.get("source", (0, {}))[1]
        network = src.get("network")
        bridge = src.get("bridge") or network or src.get("dev")
        model = dev.children.get("model", (0, {}))[1].get("type")
        return DomainNic(mac, bridge, network, model)


def _read(path: Path, shown: str, problems: Problems) -> list[Domain]:
    try:
        data = path.read_bytes()
    except OSError as e:
        problems.append((Source(shown, 0), f"cannot read {shown}: {e.strerror}"))
        return []
    reader = _Reader(shown, problems, _sidecar_sizes(path))
    # A wrapper element lets one file hold several dumps; it goes after an XML declaration
    # (which must come first) and adds no newline, so expat's line numbers stay the file's.
    head = b""
    if data.lstrip(b"\xef\xbb\xbf").startswith(b"<?xml") and (end := data.find(b"?>")) > 0:
        head, data = data[: end + 2], data[end + 2 :]
    try:
        reader.parser.Parse(head + _WRAP + data + _WRAP.replace(b"<", b"</"), True)
    except expat.ExpatError as e:
        lines = (head + data).splitlines()
        bad = lines[e.lineno - 1] if e.lineno <= len(lines) else b""
        if b"<!DOCTYPE" in bad:
            msg = "a DTD (<!DOCTYPE>) is refused: libvirt domain XML has none, and it could define entities"
        else:
            msg = f"not well-formed XML: {expat.ErrorString(e.code)}"
        problems.append((Source(shown, e.lineno), msg))
        return []
    if not reader.domains and not reader.seen:
        problems.append((Source(shown, 0), f"no libvirt <domain> in {shown}"))
    return reader.domains


def parse(path: Path | str, hypervisor: str | None = None) -> Site:
    """The domains of a domain XML file, or of every ``*.xml`` in a directory, placed on
    ``hypervisor`` when given; raises ParseError with every problem in every file."""
    path = Path(path)
    files = sorted(p for p in path.glob("*.xml") if p.is_file()) if path.is_dir() else [path]
    problems: Problems = []
    if not files:
        problems.append((Source(str(path), 0), f"no domain XML (*.xml) in {path}"))
    site = Site()
    seen: dict[str, Source] = {}
    for file in files:
        for dom in _read(file, str(file), problems):
            if dom.name in seen:
                problems.append((dom.source, f"domain {dom.name} is also defined at {seen[dom.name]}"))
                continue
            seen[dom.name] = dom.source
            if hypervisor is not None:
                dom = replace(dom, hypervisor=hypervisor)
            site.domains.append(dom)
    if problems:
        raise ParseError(problems)
    return site
