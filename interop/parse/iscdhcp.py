"""ISC dhcpd configuration (``dhcpd.conf`` and ``dhcpd6.conf``): hosts and subnets.

A tokenizer (``#`` comments, strings with ``\\"`` escapes, ``{ } ; ,``, words) feeds a
statement tree: a statement is words up to ``;`` or a ``{ block }``; statements span lines
freely. ``include "file";`` is replaced by that file's statements wherever it stands; a
relative name is relative to the working directory (``base``), as for ``dhcpd -cf``; an
include loop is a problem. Only what names a reservation or a network is interpreted;
classes, pools' allow/deny lists, ``if`` blocks, failover, keys, zones are skipped.

* ``host NAME { ... }`` (anywhere: top level, ``group``, ``subnet``, ``shared-network``):
  ``hardware ethernet``, ``fixed-address`` (several addresses give one reservation each,
  the merge reports the clash), ``fixed-address6``, the name from ``option host-name``,
  else ``ddns-hostname``, else the declaration's name. A host with ``deny booting`` or
  ``ignore booting`` gives nothing, nor one with neither MAC nor address. A host found by
  ``host-identifier option ...`` (a DUID) has ``mac=None``.
  A ``fixed-address`` that is a DNS name is a problem: dhcpd resolves it when it starts,
  the file does not hold the address, and an import must not guess it (write the address).
* ``subnet A netmask M { ... }`` and ``subnet6 P/L { ... }``: the pool is the first
  ``range`` / ``range6`` in file order, in the subnet or a ``pool``/``pool6`` in it (a
  ``range`` in a shared network's pool goes to the subnet that holds it); ``option routers``,
  ``domain-name-servers``, ``domain-name``, ``dhcp6.name-servers``, ``dhcp6.domain-search``
  (first name), inherited from the enclosing ``shared-network``/``group``/global scope.
  A name among the DNS servers is skipped (only addresses are records).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import netaddr

from interop.parse import ParseError
from interop.parse._dhcpcommon import Files, Problems, address, mac, name, no_gc
from interop.records import Reservation, Site, Source, Subnet

__all__ = ["parse", "parse_text"]

_TOKEN = re.compile(
    r"(?P<nl>\n)|[ \t\r\f\v]+|(?P<c>#[^\n]*)"  # newline, blanks, comment
    r'|(?P<s>"(?:[^"\\]|\\.)*")|(?P<bad>")'  # a string (may span lines), an unterminated one
    r'|(?P<p>[{};,])|(?P<w>[^\s{};,"#]+)',  # punctuation, a word
    re.DOTALL,
)
_DNS_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


class _Q(str):
    """A word that was a quoted string (``include "f"`` needs one; ``"host"`` is no keyword)."""

    __slots__ = ()


class _Stmt:
    """Words up to ``;``, or words and a ``{ block }``. Plain slots and strings: a site has
    hundreds of thousands of these, and dataclasses with a Source each cost seconds."""

    __slots__ = ("block", "file", "head", "line", "words")

    def __init__(self, file: str, line: int, words: list[str], block: list[_Stmt] | None = None) -> None:
        self.file, self.line, self.words, self.block = file, line, words, block
        self.head = words[0].lower() if words and not isinstance(words[0], _Q) else ""

    @property
    def src(self) -> Source:
        return Source(self.file, self.line)


@dataclass
class _Scope:
    router: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    domain: str | None = None
    dns6: list[str] = field(default_factory=list)
    domain6: str | None = None


@dataclass
class _State:
    files: Files
    site: Site = field(default_factory=Site)
    problems: Problems = field(default_factory=list)
    # ranges of a shared network's pools, given to the subnet that holds them at the end
    loose: list[tuple[netaddr.IPAddress, netaddr.IPAddress]] = field(default_factory=list)


def parse(path: Path | str, *, base: Path | str | None = None, root: Path | str | None = None) -> Site:
    """Read ``path`` and everything it includes; raise :class:`ParseError` with all problems."""
    st = _State(Files(base, root))
    with no_gc():
        return _finish(st, _nested(st, str(path), lambda: _file(st, str(path), None, ()) or []))


def parse_text(
    text: str, file: str = "dhcpd.conf", *, base: Path | str | None = None, root: Path | str | None = None
) -> Site:
    """Read configuration ``text`` as if it were the file ``file`` (includes are still read)."""
    st = _State(Files(base, root))
    with no_gc():
        chain = ((Files.key(Path(file)), file),)
        return _finish(st, _nested(st, file, lambda: _expand(st, _statements(st, text, file), chain)))


def _nested(st: _State, file: str, read: Callable[[], list[_Stmt]]) -> list[_Stmt]:
    """``read()``, or nothing and a problem when blocks nest deeper than Python recurses."""
    try:
        return read()
    except RecursionError:
        st.problems.append((Source(file, 1), "blocks nested too deeply"))
        return []


def _finish(st: _State, stmts: list[_Stmt]) -> Site:
    subnets: list[tuple[Subnet, list[tuple[netaddr.IPAddress, netaddr.IPAddress]]]] = []
    try:
        _walk(st, stmts, _Scope(), subnets)
    except RecursionError:
        st.problems.append((stmts[0].src if stmts else Source("?", 1), "blocks nested too deeply"))
    for sub, ranges in subnets:
        net = netaddr.IPNetwork(sub.prefix)
        ranges += [r for r in st.loose if r[0] in net]
        pool = (str(ranges[0][0]), str(ranges[0][1])) if ranges else None
        st.site.subnets.append(Subnet(sub.source, sub.prefix, pool, sub.gateway, sub.dns_servers, sub.domain))
    if st.problems:
        raise ParseError(st.problems)
    return st.site


# --- tokens, statements, includes ------------------------------------------


def _statements(st: _State, text: str, file: str) -> list[_Stmt]:
    """The statement tree of one file; unbalanced braces and a missing ``;`` are problems."""
    line = first = 1
    top: list[_Stmt] = []
    stack: list[tuple[list[_Stmt], _Stmt | None]] = [(top, None)]
    words: list[str] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind is None or kind == "c":
            continue
        if kind == "nl":
            line += 1
            continue
        tok = m.group()
        if not words:
            first = line
        if kind == "s":
            words.append(_Q(_UNESCAPE.sub(r"\1", tok[1:-1]) if "\\" in tok else tok[1:-1]))
            line += tok.count("\n")
        elif kind == "w" or tok == ",":
            words.append(tok)
        elif tok == ";":
            if words:
                stack[-1][0].append(_Stmt(file, first, words))
            words = []
        elif tok == "{":
            stmt = _Stmt(file, first, words, [])
            stack[-1][0].append(stmt)
            assert stmt.block is not None
            stack.append((stmt.block, stmt))
            words = []
        elif kind == "bad":
            st.problems.append((Source(file, line), "unterminated string"))
            return top
        else:  # "}"
            if words:
                st.problems.append((Source(file, first), f"missing ';' after {words[-1]!r}"))
                words = []
            if len(stack) == 1:
                st.problems.append((Source(file, line), "'}' closes no block"))
            else:
                stack.pop()
    if words:
        st.problems.append((Source(file, first), f"missing ';' after {words[-1]!r}"))
    for _, opened in stack[1:]:
        assert opened is not None
        st.problems.append((opened.src, f"missing '}}' for the block opened here ({_show(opened)})"))
    return top


def _show(s: _Stmt) -> str:
    return " ".join(s.words[:3]) or "{"


_Chain = tuple[tuple[str, str], ...]  # (key, name) of every file being read, outermost first


def _file(st: _State, written: str, src: Source | None, chain: _Chain) -> list[_Stmt] | None:
    path = st.files.resolve(written) if src is not None else Path(written)  # the entry: as named
    key = Files.key(path)
    if key in (k for k, _ in chain):
        assert src is not None
        trail = " -> ".join([n for _, n in chain] + [str(path)])
        st.problems.append((src, f"include loop: {trail}"))
        return None
    text = Files.read(path, src, st.problems)
    if text is None:
        return None
    return _expand(st, _statements(st, text, str(path)), (*chain, (key, str(path))))


def _expand(st: _State, stmts: list[_Stmt], chain: _Chain) -> list[_Stmt]:
    out: list[_Stmt] = []
    for s in stmts:
        if s.head == "include" and s.block is None:
            if len(s.words) != 2 or not isinstance(s.words[1], _Q):
                st.problems.append((s.src, 'include needs one quoted file name: include "file";'))
                continue
            out += _file(st, s.words[1], s.src, chain) or []
        else:
            if s.block is not None:
                s.block = _expand(st, s.block, chain)
            out.append(s)
    return out


# --- interpretation ----------------------------------------------------------


def _values(s: _Stmt, skip: int) -> list[str]:
    return [w for w in s.words[skip:] if w != "," or isinstance(w, _Q)]


def _options(st: _State, stmts: list[_Stmt], inherited: _Scope) -> _Scope:
    scope = _Scope(inherited.router, inherited.dns, inherited.domain, inherited.dns6, inherited.domain6)
    for s in stmts:
        if s.head != "option" or len(s.words) < 2 or s.block is not None:
            continue
        opt, vals = s.words[1].lower(), _values(s, 2)
        if opt in ("routers", "domain-name-servers", "dhcp6.name-servers"):
            v6 = opt.startswith("dhcp6")
            got = []
            for v in vals:
                a = address(v, 6 if v6 else 4)
                if a is not None:
                    got.append(a)
                elif v6 or isinstance(v, _Q) or not _is_dns_name(v):
                    st.problems.append((s.src, f"option {opt}: bad address {v!r}"))
                elif opt == "routers":  # a name dhcpd resolves at start: the file holds no address
                    st.problems.append(
                        (s.src, f"option routers: {v} is a DNS name; import needs the address")
                    )
            if opt == "routers":
                scope.router = got
            elif v6:
                scope.dns6 = got
            else:
                scope.dns = got
        elif opt == "domain-name" and vals:
            scope.domain = name(vals[0].split()[0]) if vals[0].strip() else None
        elif opt == "dhcp6.domain-search" and vals:
            scope.domain6 = name(vals[0])
    return scope


_Ranges = list[tuple[netaddr.IPAddress, netaddr.IPAddress]]


def _walk(st: _State, stmts: list[_Stmt], inherited: _Scope, subnets: list[tuple[Subnet, _Ranges]]) -> None:
    _declarations(st, stmts, _options(st, stmts, inherited), subnets)


def _declarations(
    st: _State, stmts: list[_Stmt], scope: _Scope, subnets: list[tuple[Subnet, _Ranges]]
) -> None:
    for s in stmts:
        head = s.head
        if head == "host" and s.block is not None:
            _host(st, s)
        elif head in ("subnet", "subnet6") and s.block is not None:
            _subnet(st, s, scope, subnets)
        elif head in ("shared-network", "group") and s.block is not None:
            _walk(st, s.block, scope, subnets)
        elif head in ("pool", "pool6") and s.block is not None:
            st.loose += _ranges(st, s.block)


def _ranges(st: _State, stmts: list[_Stmt]) -> _Ranges:
    out: _Ranges = []
    for s in stmts:
        if s.block is not None:
            if s.head in ("pool", "pool6"):
                out += _ranges(st, s.block)
            continue
        if s.head not in ("range", "range6"):
            continue
        v6 = s.head == "range6"
        vals = [w for w in _values(s, 1) if w.lower() not in ("dynamic-bootp", "temporary")]
        try:
            if v6 and len(vals) == 1 and "/" in vals[0]:
                net = netaddr.IPNetwork(vals[0], version=6)
                out.append((net[0], net[-1]))
                continue
            addrs = [address(v, 6 if v6 else 4) for v in vals]
            if not 1 <= len(vals) <= 2 or None in addrs:
                raise ValueError
        except (netaddr.AddrFormatError, ValueError):
            st.problems.append((s.src, f"{s.head}: bad range {' '.join(vals)!r}"))
            continue
        lo, hi = netaddr.IPAddress(str(addrs[0])), netaddr.IPAddress(str(addrs[-1]))
        out.append((min(lo, hi), max(lo, hi)))
    return out


def _subnet(st: _State, s: _Stmt, inherited: _Scope, subnets: list[tuple[Subnet, _Ranges]]) -> None:
    assert s.block is not None
    words = s.words
    v6 = s.head == "subnet6"
    try:
        if v6 and len(words) == 2:
            net = netaddr.IPNetwork(words[1], version=6)
        elif not v6 and len(words) == 4 and words[2].lower() == "netmask" and address(words[1], 4):
            net = netaddr.IPNetwork(f"{words[1]}/{words[3]}", version=4)
        else:
            raise ValueError
    except (netaddr.AddrFormatError, ValueError):
        form = "subnet6 PREFIX/LENGTH" if v6 else "subnet ADDRESS netmask MASK"
        st.problems.append((s.src, f"{s.head}: expected {form} {{ ... }}, got {' '.join(words[1:])!r}"))
        return
    if net.ip != net.network:
        st.problems.append((s.src, f"{s.head} {' '.join(words[1:])}: bad subnet number/mask combination"))
        return
    scope = _options(st, s.block, inherited)
    ranges = _ranges(st, s.block)
    for lo, hi in ranges:
        if lo not in net or hi not in net:
            st.problems.append((s.src, f"{s.head} {net.cidr}: range {lo} {hi} is outside it"))
    sub = Subnet(
        s.src,
        str(net.cidr),
        gateway=None if v6 or not scope.router else scope.router[0],
        dns_servers=tuple(scope.dns6 if v6 else scope.dns),
        domain=scope.domain6 if v6 else scope.domain,
    )
    subnets.append((sub, ranges))
    _declarations(st, [x for x in s.block if x.head not in ("pool", "pool6")], scope, subnets)


def _host(st: _State, s: _Stmt) -> None:
    assert s.block is not None
    label = s.words[1] if len(s.words) == 2 else None
    if label is None:
        st.problems.append((s.src, "host: expected host NAME { ... }"))
        return
    macs: list[str] = []
    v4: list[str] = []
    v6: list[str] = []
    names: dict[str, str] = {}
    skip = False
    for x in s.block:
        vals = _values(x, 1)
        if x.head == "hardware" and len(vals) == 2:
            if vals[0].lower() != "ethernet":
                st.problems.append((x.src, f"host {label}: hardware {vals[0]} is not Ethernet"))
            elif (m := _mac(vals[1])) is None:
                st.problems.append((x.src, f"host {label}: hardware ethernet {vals[1]}: not a MAC"))
            else:
                macs.append(m)
        elif x.head == "hardware":
            st.problems.append(
                (x.src, f"host {label}: expected 'hardware ethernet MAC;' (is a ';' missing?)")
            )
        elif x.head in ("fixed-address", "fixed-address6"):
            fam = 6 if x.head == "fixed-address6" else 4
            for v in vals:
                a = address(v, fam)
                if a is not None:
                    (v6 if fam == 6 else v4).append(a)
                elif fam == 4 and _is_dns_name(v):
                    st.problems.append(
                        (
                            x.src,
                            f"host {label}: fixed-address {v} is a DNS name; import needs the address",
                        )
                    )
                else:
                    st.problems.append((x.src, f"host {label}: {x.head} {v}: not an IPv{fam} address"))
        elif x.head == "option" and len(x.words) >= 3 and x.words[1].lower() == "host-name":
            names["option"] = x.words[2]
        elif x.head == "ddns-hostname" and len(x.words) >= 2:
            names["ddns"] = x.words[1]
        elif x.head in ("deny", "ignore") and len(x.words) == 2 and x.words[1].lower() == "booting":
            skip = True
    if skip or not (macs or v4 or v6):
        return
    host = name(names.get("option") or names.get("ddns") or label)
    keys: list[str | None] = [*macs] or [None]
    fours: list[str | None] = [*v4] or [None]
    sixes: list[str | None] = [*v6] or [None]
    for m in keys:
        for a4 in fours:
            for a6 in sixes:
                st.site.reservations.append(Reservation(s.src, mac=m, ipv4=a4, ipv6=a6, name=host))


def _is_dns_name(text: str) -> bool:
    """A name dhcpd would look up (``web1.example.org``), not a mistyped address (``10.1.1.300``)."""
    return bool(_DNS_NAME.fullmatch(text)) and not text.replace(".", "").isdigit()


def _mac(text: str) -> str | None:
    """dhcpd writes octets without leading zeros (``0:c0:c3:49:2b:57``)."""
    parts = text.split(":")
    if len(parts) == 6 and all(1 <= len(p) <= 2 for p in parts):
        return mac(":".join(p.rjust(2, "0") for p in parts))
    return mac(text)
