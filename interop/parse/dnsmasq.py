"""dnsmasq configuration: ``dhcp-host``, ``dhcp-range``, router/DNS options, ``host-record``.

Read as dnsmasq 2.90 reads it (``src/option.c``): one ``option[=value]`` per line, ``#``
starts a comment at the start of a word, double quotes hide ``, : . #`` and spaces, spaces
around ``=`` and ``,`` are dropped. ``--dhcp-host=`` is a command-line spelling that the
daemon refuses in a file ("bad option"), so it is a problem here too. Options that carry no
reservation or network (``interface=``, ``server=`` ...) are skipped, unknown ones as well.

Includes: ``conf-file=``, ``conf-dir=dir[,ext|*ext...]`` (hidden files, ``~`` and ``#..#``
files skipped, the rest in byte order), ``dhcp-hostsfile=`` / ``dhcp-hostsdir=`` (a file,
or every file in a directory, alphabetically; one ``dhcp-host`` value per line). Relative
paths are relative to the working directory, as for the daemon (``base``). A configuration
file read a second time is skipped, as dnsmasq skips it: an include loop ends, silently.

What becomes a record:
* ``dhcp-host``: one :class:`Reservation` per hardware address (a laptop's two MACs give two),
  or one with ``mac=None`` for a client-id or name-only host with an address; every extra
  ``[IPv6]`` address gives one more reservation (the merge reports the clash). A wildcard
  MAC, an ARP type other than Ethernet (``06-...``) or a ``aa-bb-cc-dd-ee-ff`` MAC (without a
  ``:`` dnsmasq takes it for a host name) is a problem. ``ignore`` hosts and hosts with
  neither MAC nor address give nothing.
  ``[::56]`` (host part only, for a ``constructor:`` range) is kept as ``::56``: the merge
  reports it outside every network. ``[1234::50/126]`` keeps its first address.
* ``dhcp-range``: one :class:`Subnet`. IPv4 without a netmask: dnsmasq takes the mask from
  the interface, which a file does not say; the prefix is then the narrowest one (at most
  /24) holding the range, and ``prefix_inferred`` is set. IPv6 ``constructor:`` ranges and
  ``::`` (stateless anywhere) name no network and give no subnet.
* ``dhcp-option`` router (3), dns-server (6), domain-name (15), ``option6:dns-server``
  (23): onto the subnets they reach (untagged: all of that family; ``tag:X``: ranges with
  ``set:X``, preferred). ``0.0.0.0`` / ``[::]`` (dnsmasq's own address) is skipped.
* ``domain=name[,range]``: the domain of the subnets it covers (option 15 wins).
* ``read-ethers``: ``/etc/ethers`` (under ``root``), ``MAC name-or-IPv4`` a line.
* ``host-record=name[,name..],[ipv4],[ipv6][,ttl]``: A/AAAA :class:`DnsRecord`s (names as
  written, lower case). ``address=/dom/ip`` is a wildcard, not a host: skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import netaddr

from interop.parse import ParseError
from interop.parse._dhcpcommon import Files, Problems, address, name, no_gc
from interop.parse._dnsmasq_net import HEX, LEASE, UNHIDE, Networks
from interop.records import DnsRecord, Reservation, Site, Source

__all__ = ["parse", "parse_text"]

# dnsmasq's "meta" characters inside quotes are hidden so they lose their meaning; these
# stand-ins (ASCII separators) never occur in a sane configuration.
_HIDE = str.maketrans({",": "\x1c", ":": "\x1d", ".": "\x1e", "#": "\x1f"})
_ESCAPES = {"t": "\t", "n": "\n", "e": "\x1b", "b": "\b", "r": "\r"}
_COMMENT = re.compile(r"(?:^|\s)#")
_DASHED_MAC = re.compile(r"\A[0-9a-fA-F]{2}(-[0-9a-fA-F]{2}){5}\Z")
_LABEL0 = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]*(\.|\Z)")


@dataclass
class _State:
    files: Files
    site: Site = field(default_factory=Site)
    problems: Problems = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    net: Networks = field(init=False)

    def __post_init__(self) -> None:
        self.net = Networks(self.problems)


def parse(path: Path | str, *, base: Path | str | None = None, root: Path | str | None = None) -> Site:
    """Read ``path`` and everything it includes; raise :class:`ParseError` with all problems."""
    st = _State(Files(base, root))
    with no_gc():
        _conf_file(st, str(path), None)
        return _finish(st)


def parse_text(
    text: str, file: str = "dnsmasq.conf", *, base: Path | str | None = None, root: Path | str | None = None
) -> Site:
    """Read configuration ``text`` as if it were the file ``file`` (includes are still read)."""
    st = _State(Files(base, root))
    with no_gc():
        _lines(st, text, file, hosts_only=False)
        return _finish(st)


def _finish(st: _State) -> Site:
    st.site.subnets += st.net.subnets()
    if st.problems:
        raise ParseError(st.problems)
    return st.site


# --- lines and files -------------------------------------------------------


def _clean(line: str) -> str:
    """One configuration line as dnsmasq sees it: quotes resolved, comment and spaces gone.
    Raises ValueError on an unterminated quote."""
    if '"' in line:
        out, i, n = [], 0, len(line)
        while i < n:
            c = line[i]
            if c == '"':
                j = i + 1
                chunk = []
                while j < n and line[j] != '"':
                    if line[j] == "\\" and j + 1 < n and line[j + 1] in '"tnebr\\':
                        j += 1
                        chunk.append(_ESCAPES.get(line[j], line[j]))
                    else:
                        chunk.append(line[j])
                    j += 1
                if j >= n:
                    raise ValueError('missing "')
                out.append("".join(chunk).translate(_HIDE))
                i = j + 1
                continue
            if c == "#" and (not out or out[-1][-1:].isspace()):
                break
            out.append(c)
            i += 1
        line = "".join(out)
    elif "#" in line:
        m = _COMMENT.search(line)
        if m:
            line = line[: m.start()]
    return " ".join(line.split()) if "\t" in line or "  " in line else line.strip()


def _lines(st: _State, text: str, file: str, *, hosts_only: bool) -> None:
    for no, raw in enumerate(text.splitlines(), 1):
        src = Source(file, no)
        try:
            line = _clean(raw)
        except ValueError as e:
            st.problems.append((src, str(e)))
            continue
        if not line:
            continue
        if hosts_only:
            _dhcp_host(st, src, line)
            continue
        key, eq, arg = line.partition("=")
        key, arg = key.strip(), arg.strip()
        if key.startswith("-"):
            st.problems.append((src, f"bad option {key!r}: a configuration file names options without '--'"))
            continue
        handler = _HANDLERS.get(key)
        if handler is None:
            continue
        if key in _NO_ARG:
            handler(st, src, arg)
        elif not eq:
            st.problems.append((src, f"{key}: missing parameter"))
        else:
            handler(st, src, arg)


def _conf_file(st: _State, written: str, src: Source | None) -> None:
    path = st.files.resolve(written) if src is not None else Path(written)  # the entry: as named
    key = Files.key(path)
    if key in st.seen:  # dnsmasq ignores a file it has read already (option.c one_file)
        return
    text = Files.read(path, src, st.problems)
    if text is None:
        return
    st.seen.add(key)
    _lines(st, text, str(path), hosts_only=False)


def _conf_dir(st: _State, src: Source, arg: str) -> None:
    directory, *suffixes = [s.strip() for s in arg.split(",")]
    match = [s[1:] for s in suffixes if s.startswith("*") and len(s) > 1]
    skip = [s for s in suffixes if s and not s.startswith("*")]
    path = st.files.resolve(directory)
    try:
        names = os.listdir(path)
    except OSError as e:
        st.problems.append((src, f"cannot access directory {directory}: {e.strerror}"))
        return
    picked = []
    for n in names:  # (listdir worked, so the names are short enough for is_file)
        if not n or n.endswith("~") or n.startswith(".") or (n.startswith("#") and n.endswith("#")):
            continue
        if match and not any(len(n) > len(s) and n.endswith(s) for s in match):
            continue
        if any(len(n) > len(s) and n.endswith(s) for s in skip):
            continue
        if (path / n).is_file():
            picked.append(f"{directory.rstrip('/')}/{n}")
    for written in sorted(picked, key=lambda s: s.encode()):
        _conf_file(st, written, src)


def _hostsfile(st: _State, src: Source, arg: str) -> None:
    path = st.files.resolve(arg)
    try:
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    except OSError as e:
        st.problems.append((src, f"cannot read {arg}: {e.strerror or e}"))
        return
    for p in files:
        text = Files.read(p, src, st.problems)
        if text is not None:
            _lines(st, text, str(p), hosts_only=True)


# --- dhcp-host -------------------------------------------------------------


def _hwaddr(token: str) -> tuple[str | None, str | None]:
    """(mac, problem) for a dhcp-host hardware address, read as dnsmasq's parse_hex does:
    ``06-...`` is an ARP type (1 is Ethernet), ``*`` a wildcard byte."""
    arp, orig = 1, token
    head, dash, rest = token.partition("-")
    if dash:
        if not head or any(c not in HEX for c in head):
            return None, f"bad hex constant {token}"
        arp, token = int(head, 16), rest
    parts = token.replace("-", ":").split(":")
    if "*" in parts:
        return None, f"hardware address {orig} has wildcard bytes: it names many machines, not one"
    if any(not p or len(p) > 2 or any(c not in HEX for c in p) for p in parts):
        return None, f"bad hex constant {orig}"
    if arp != 1:
        return None, f"hardware address {orig} is not Ethernet (ARP type {arp})"
    if len(parts) != 6:
        return None, f"hardware address {orig} is not a 6-byte Ethernet MAC"
    return ":".join(p.rjust(2, "0") for p in parts).lower(), None


def _dhcp_host(st: _State, src: Source, arg: str) -> None:
    macs: list[str] = []
    v4: str | None = None
    v6: list[str] = []
    host: str | None = None
    ignore = False
    problems = []
    for token in (t.strip() for t in arg.split(",")):
        if not token:
            continue
        low = token[:4].lower()
        if ":" in token:
            if low[:3] == "id:" or low in ("set:", "net:", "tag:"):
                continue  # client-id (the merge matches by MAC or name) and tags carry no address
            if token[0] == "[" and token[-1] == "]":
                addr, _, pref = token[1:-1].partition("/")
                a = address(addr, 6)
                if a is None:
                    problems.append(f"bad IPv6 address {token}")
                elif pref and (
                    not pref.isdigit()
                    or int(pref) > 128
                    or int(netaddr.IPAddress(a)) & ((1 << (128 - int(pref))) - 1)
                ):
                    problems.append(f"bad IPv6 prefix {token}")
                else:
                    v6.append(a)
                continue
            m, problem = _hwaddr(token)
            if problem:
                problems.append(problem)
            elif m:
                macs.append(m)
        elif "." in token and (a := address(token, 4)) is not None:
            v4 = a  # the last one wins, as in dnsmasq
        elif token == "infinite" or LEASE.match(token):
            continue
        elif token == "ignore":
            ignore = True
        else:
            text = token.translate(UNHIDE)
            if _DASHED_MAC.match(text):
                problems.append(f"{text!r} is read by dnsmasq as a host name, not a MAC (a MAC needs ':')")
            elif not _legal_hostname(text):
                problems.append(f"bad DHCP host name {text!r}")
            else:
                host = name(text)
    for p in problems:
        st.problems.append((src, f"dhcp-host: {p}"))
    if problems or ignore or not (macs or v4 or v6):
        return
    first = Reservation(src, mac=None, ipv4=v4, ipv6=v6[0] if v6 else None, name=host)
    keys: list[str | None] = [*macs] or [None]
    for m in keys:
        r = replace(first, mac=m)
        st.site.reservations.append(r)
        st.site.reservations.extend(replace(r, ipv6=a) for a in v6[1:])


def _legal_hostname(text: str) -> bool:
    """dnsmasq's check_name + legal_hostname: the first label is letters, digits, - and _."""
    labels = text.rstrip(".").split(".")
    return bool(_LABEL0.match(text)) and all(
        0 < len(x) <= 63 and x.isprintable() and x.isascii() for x in labels
    )


def _read_ethers(st: _State, src: Source, arg: str) -> None:
    """``read-ethers``: the server's /etc/ethers, ``MAC name-or-IPv4`` a line (under ``root``)."""
    path = st.files.resolve("/etc/ethers")
    text = Files.read(path, src, st.problems)
    for no, raw in enumerate((text or "").splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        where = Source(str(path), no)
        m, problem = _hwaddr(fields[0]) if len(fields) == 2 else (None, "expected MAC and a name or address")
        if problem or m is None:
            st.problems.append((where, f"ethers: {problem}"))
        elif (a := address(fields[1], 4)) is not None:
            st.site.reservations.append(Reservation(where, mac=m, ipv4=a))
        elif _legal_hostname(fields[1]):
            st.site.reservations.append(Reservation(where, mac=m, name=name(fields[1])))
        else:
            st.problems.append((where, f"ethers: bad host name or address {fields[1]!r}"))


# --- host-record -----------------------------------------------------------


def _host_record(st: _State, src: Source, arg: str) -> None:
    names: list[str] = []
    addrs: list[str] = []
    for i, t in enumerate(x.strip() for x in arg.split(",")):
        if (a := address(t)) is not None:
            addrs.append(a)
        elif addrs and t.isdigit():
            continue  # TTL
        elif addrs or not t or not _legal_hostname(t.translate(UNHIDE)):
            st.problems.append((src, f"host-record: bad field {i + 1} {t!r}"))
            return
        else:
            names.append(name(t.translate(UNHIDE)))
    if not names or not addrs:
        st.problems.append((src, "host-record: needs a name and an address"))
        return
    for n in names:
        st.site.records.extend(DnsRecord(src, "AAAA" if ":" in a else "A", n, a) for a in addrs)


_NO_ARG = {"conf-file", "read-ethers"}  # "conf-file" alone names no file: dnsmasq reads nothing
_HANDLERS: dict[str, Callable[[_State, Source, str], None]] = {
    "conf-file": lambda st, src, arg: _conf_file(st, arg, src) if arg else None,
    "conf-dir": _conf_dir,
    "dhcp-hostsfile": _hostsfile,
    "dhcp-hostsdir": _hostsfile,
    "dhcp-host": _dhcp_host,
    "dhcp-range": lambda st, src, arg: st.net.dhcp_range(src, arg),
    "dhcp-option": lambda st, src, arg: st.net.dhcp_option(src, arg),
    "dhcp-option-force": lambda st, src, arg: st.net.dhcp_option(src, arg),
    "domain": lambda st, src, arg: st.net.domain(src, arg),
    "host-record": _host_record,
    "read-ethers": _read_ethers,
    "conf-script": lambda st, src, arg: st.problems.append((src, "conf-script: import does not run scripts")),
}
