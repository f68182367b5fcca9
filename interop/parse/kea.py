"""Kea DHCPv4/DHCPv6 configuration (JSON with Kea's comments and includes): reservations, subnets.

Read as Kea's own lexer reads it: ``#`` and ``//`` comments to the end of the line,
``/* ... */`` over lines, ``<?include "file"?>`` replaced by the file's tokens wherever it
stands (a relative name is relative to the working directory, ``base``, as for
``kea-dhcp4 -t``; an include loop is a problem), and a comma before ``]`` or ``}``
accepted, as Kea accepts it with a warning. Lines survive all of it: every object knows the
file and line of its opening brace, and **a reservation's source line is that of its ``{``**.

* ``Dhcp4`` / ``Dhcp6``: ``subnet4`` / ``subnet6``, at the top and in ``shared-networks``;
  the pool is the first of ``pools`` (``"a - b"`` or ``"prefix/len"``); ``option-data``
  ``routers`` (3), ``domain-name-servers`` (6), ``domain-name`` (15), ``dns-servers`` (23),
  ``domain-search`` (24, the first name), by name or code, inherited global -> shared
  network -> subnet; ``"csv-format": false`` (hex) data is skipped.
* ``reservations`` in a subnet and global ones: ``hw-address`` (the MAC), ``ip-address``,
  ``ip-addresses`` (one reservation per address; the merge reports the clash), ``hostname``.
  A reservation by ``duid`` / ``client-id`` / ``circuit-id`` / ``flex-id`` only has
  ``mac=None``; one with neither MAC nor address gives nothing.
* ``hosts-database(s)`` or ``config-control`` is a problem: reservations or subnets live
  in a database the file does not show, and adopting without them would drop them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import netaddr

from interop.parse import ParseError
from interop.parse._dhcpcommon import Files, Problems, address, mac, name, no_gc
from interop.records import Reservation, Site, Source, Subnet

__all__ = ["parse", "parse_text"]

_TOKEN = re.compile(
    r"(?P<ws>\s+)|(?P<c>(?:#|//)[^\n]*)|(?P<cc>/\*.*?\*/)|(?P<open>/\*)"  # blanks, comments
    r'|(?P<inc><\?\s*include\s*"(?P<file>[^"\n]+)"\s*\?>)|(?P<dir><\?)'  # include directive
    r'|(?P<s>"(?:[^"\\\n]|\\.)*")|(?P<p>[{}\[\]:,])'  # string, punctuation
    r"|(?P<v>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null)",  # number (Kea: no 00), literal
    re.DOTALL,
)
_V4 = {"routers": "router", "3": "router", "domain-name-servers": "dns", "6": "dns"}
_V4 |= {"domain-name": "domain", "15": "domain"}
_V6 = {"dns-servers": "dns", "23": "dns", "domain-search": "domain", "24": "domain"}
#: keys that move reservations or subnets out of the file (Kea ARM: host backends, config backend)
_ELSEWHERE = {
    "hosts-database": "reservations kept in a host database",
    "hosts-databases": "reservations kept in host databases",
    "config-control": "subnets and reservations from a configuration backend",
}
_Tok = tuple[str, Any, str, int]  # kind ("{", "s", "v", ...), value, file, line


class _Obj(dict[str, Any]):
    """A JSON object that remembers where its ``{`` was."""

    __slots__ = ("src",)
    src: Source


class _Syntax(Exception):
    def __init__(self, src: Source, msg: str) -> None:
        self.src, self.msg = src, msg


@dataclass
class _State:
    files: Files
    site: Site = field(default_factory=Site)
    problems: Problems = field(default_factory=list)


def parse(path: Path | str, *, base: Path | str | None = None, root: Path | str | None = None) -> Site:
    """Read ``path`` and everything it includes; raise :class:`ParseError` with all problems."""
    st = _State(Files(base, root))
    with no_gc():
        toks = _file_tokens(st, str(path), None, ())
        return _finish(st, toks, str(path))


def parse_text(
    text: str, file: str = "kea-dhcp4.conf", *, base: Path | str | None = None, root: Path | str | None = None
) -> Site:
    """Read configuration ``text`` as if it were the file ``file`` (includes are still read)."""
    st = _State(Files(base, root))
    with no_gc():
        chain = ((Files.key(Path(file)), file),)
        return _finish(st, _tokens(st, text, file, chain), file)


def _finish(st: _State, toks: list[_Tok] | None, file: str) -> Site:
    if toks is not None and not st.problems:
        try:
            top, end = _value(toks, 0, Source(file, 1))
            if end < len(toks):
                raise _Syntax(
                    Source(toks[end][2], toks[end][3]), f"unexpected {_show(toks[end])} after the end"
                )
            _config(st, top, Source(file, 1))
        except _Syntax as e:
            st.problems.append((e.src, e.msg))
        except RecursionError:
            st.problems.append((Source(file, 1), "nested too deeply"))
    if st.problems:
        raise ParseError(st.problems)
    return st.site


# --- tokens and values -----------------------------------------------------

_Chain = tuple[tuple[str, str], ...]


def _file_tokens(st: _State, written: str, src: Source | None, chain: _Chain) -> list[_Tok] | None:
    path = st.files.resolve(written) if src is not None else Path(written)  # the entry: as named
    key = Files.key(path)
    if key in (k for k, _ in chain):
        assert src is not None
        st.problems.append((src, "include loop: " + " -> ".join([n for _, n in chain] + [str(path)])))
        return None
    text = Files.read(path, src, st.problems)
    return None if text is None else _tokens(st, text, str(path), (*chain, (key, str(path))))


def _tokens(st: _State, text: str, file: str, chain: _Chain) -> list[_Tok] | None:
    out: list[_Tok] = []
    line, pos = 1, 0
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            break  # a character no token starts with: reported below
        pos = m.end()
        kind, tok = m.lastgroup, m.group()
        if kind in ("ws", "cc"):
            line += tok.count("\n")
        elif kind == "s":
            try:
                out.append(("s", json.loads(tok), file, line))
            except ValueError:
                st.problems.append((Source(file, line), f"bad string {tok}"))
                return None
        elif kind == "p":
            out.append((tok, None, file, line))
        elif kind == "v":
            out.append(("v", json.loads(tok), file, line))
        elif kind == "inc":
            inner = _file_tokens(st, m.group("file"), Source(file, line), chain)
            if inner is None:
                return None
            out += inner
            line += tok.count("\n")
        elif kind == "open":
            st.problems.append((Source(file, line), "comment not closed: /* without */"))
            return None
        elif kind == "dir":
            st.problems.append((Source(file, line), 'directive not closed: expected <?include "file"?>'))
            return None
    if pos != len(text):
        bad = text[pos : pos + 20].split("\n")[0]
        st.problems.append((Source(file, line), f"syntax error at {bad!r}"))
        return None
    return out


def _show(t: _Tok) -> str:
    return json.dumps(t[1]) if t[0] in ("s", "v") else repr(t[0])


def _value(toks: list[_Tok], i: int, eof: Source) -> tuple[Any, int]:
    """The JSON value at ``toks[i]`` and the index after it."""
    if i >= len(toks):
        raise _Syntax(eof, "unexpected end of file")
    kind, val, file, line = toks[i]
    if kind in ("s", "v"):
        return val, i + 1
    if kind == "[":
        arr: list[Any] = []
        i += 1
        while True:
            if i < len(toks) and toks[i][0] == "]":
                return arr, i + 1
            item, i = _value(toks, i, eof)
            arr.append(item)
            i = _after(toks, i, "]", eof)
    if kind == "{":
        obj = _Obj()
        obj.src = Source(file, line)
        i += 1
        while True:
            if i < len(toks) and toks[i][0] == "}":
                return obj, i + 1
            if i >= len(toks) or toks[i][0] != "s":
                raise _Syntax(
                    _at(toks, i, eof),
                    f'expected a "key", got {_show(toks[i]) if i < len(toks) else "end of file"}',
                )
            key = toks[i][1]
            if i + 1 >= len(toks) or toks[i + 1][0] != ":":
                raise _Syntax(_at(toks, i + 1, eof), f"expected ':' after {json.dumps(key)}")
            obj[key], i = _value(toks, i + 2, eof)
            i = _after(toks, i, "}", eof)
    raise _Syntax(Source(file, line), f"unexpected {_show(toks[i])}")


def _after(toks: list[_Tok], i: int, close: str, eof: Source) -> int:
    """Past the ``,`` after an item (and a trailing one before ``close``, as Kea allows)."""
    if i < len(toks) and toks[i][0] == ",":
        return i + 1
    if i < len(toks) and toks[i][0] == close:
        return i
    got = _show(toks[i]) if i < len(toks) else "end of file"
    raise _Syntax(_at(toks, i, eof), f"expected ',' or '{close}', got {got}")


def _at(toks: list[_Tok], i: int, eof: Source) -> Source:
    return Source(toks[i][2], toks[i][3]) if i < len(toks) else eof


# --- interpretation ----------------------------------------------------------


def _config(st: _State, top: Any, src: Source) -> None:
    if not isinstance(top, _Obj) or not ({"Dhcp4", "Dhcp6"} & top.keys()):
        st.problems.append((src, 'not a Kea DHCP configuration: no "Dhcp4" or "Dhcp6" object'))
        return
    for fam in (4, 6):
        d = top.get(f"Dhcp{fam}")
        if d is None:
            continue
        if not isinstance(d, _Obj):
            st.problems.append((src, f'"Dhcp{fam}" must be an object'))
            continue
        for key, what in _ELSEWHERE.items():
            if key in d:
                st.problems.append(
                    (d.src, f'"{key}": {what} are not in this file, and an import would drop them')
                )
        opts = _options(st, d, fam, {})
        for sn in _list(st, d, f"subnet{fam}"):
            _subnet(st, sn, fam, opts)
        for shared in _list(st, d, "shared-networks"):
            inner = _options(st, shared, fam, opts)
            for sn in _list(st, shared, f"subnet{fam}"):
                _subnet(st, sn, fam, inner)
        for r in _list(st, d, "reservations"):
            _reservation(st, r, fam)


def _list(st: _State, obj: _Obj, key: str) -> list[_Obj]:
    """The objects in ``obj[key]`` (a list of objects); anything else is a problem."""
    val = obj.get(key, [])
    if not isinstance(val, list):
        st.problems.append((obj.src, f'"{key}" must be a list'))
        return []
    bad = [v for v in val if not isinstance(v, _Obj)]
    if bad:
        st.problems.append((obj.src, f'"{key}" must hold objects, not {json.dumps(bad[0])}'))
    return [v for v in val if isinstance(v, _Obj)]


def _str(st: _State, obj: _Obj, key: str) -> str | None:
    val = obj.get(key)
    if val is not None and not isinstance(val, str):
        st.problems.append((obj.src, f'"{key}" must be a string, not {json.dumps(val)}'))
        return None
    return val


def _options(st: _State, obj: _Obj, fam: int, inherited: dict[str, list[str]]) -> dict[str, list[str]]:
    got = dict(inherited)
    table = _V4 if fam == 4 else _V6
    for o in _list(st, obj, "option-data"):
        if o.get("csv-format") is False or o.get("space", f"dhcp{fam}") != f"dhcp{fam}":
            continue
        kind = table.get(str(o.get("name", o.get("code", ""))))
        data = _str(st, o, "data")
        if kind is None or data is None:
            continue
        vals = [v.strip() for v in re.split(r"(?<!\\),", data) if v.strip()]
        if kind == "domain":
            got[kind] = [name(vals[0].replace("\\,", ","))] if vals else []
            continue
        addrs = [address(v, fam) for v in vals]
        for v, a in zip(vals, addrs, strict=True):
            if a is None:
                st.problems.append((o.src, f"option-data {o.get('name', o.get('code'))}: bad address {v!r}"))
        got[kind] = [a for a in addrs if a is not None]
    return got


def _subnet(st: _State, sn: _Obj, fam: int, inherited: dict[str, list[str]]) -> None:
    text = _str(st, sn, "subnet")
    try:
        if text is None:
            raise ValueError
        net = netaddr.IPNetwork(text, version=fam).cidr  # Kea takes 192.0.2.1/24 as 192.0.2.0/24
    except (netaddr.AddrFormatError, ValueError):
        st.problems.append(
            (sn.src, f'subnet{fam}: "subnet" must be an IPv{fam} prefix, not {json.dumps(text)}')
        )
        return
    pool = None
    for p in _list(st, sn, "pools"):
        rng = _pool(_str(st, p, "pool") or "", fam)
        if rng is None:
            st.problems.append(
                (p.src, f'pool {json.dumps(p.get("pool"))}: expected "first - last" or a prefix')
            )
        elif rng[0] not in net or rng[1] not in net:
            st.problems.append((p.src, f"pool {p.get('pool')} is outside subnet {net}"))
        elif pool is None:
            pool = (str(rng[0]), str(rng[1]))
    opts = _options(st, sn, fam, inherited)
    router = opts.get("router", [])
    dom = opts.get("domain", [])
    st.site.subnets.append(
        Subnet(
            sn.src,
            str(net),
            pool,
            router[0] if router else None,
            tuple(opts.get("dns", [])),
            dom[0] if dom else None,
        )
    )
    for r in _list(st, sn, "reservations"):
        _reservation(st, r, fam)


def _pool(text: str, fam: int) -> tuple[netaddr.IPAddress, netaddr.IPAddress] | None:
    try:
        if "/" in text:
            net = netaddr.IPNetwork(text.strip(), version=fam)
            return net[0], net[-1]
        lo, sep, hi = text.partition("-")  # no address holds a "-"; Kea allows no blanks as well
        a, b = address(lo, fam), address(hi, fam)
        if not sep or a is None or b is None:
            return None
        return netaddr.IPAddress(a), netaddr.IPAddress(b)
    except (netaddr.AddrFormatError, ValueError):
        return None


def _reservation(st: _State, r: _Obj, fam: int) -> None:
    hw = _str(st, r, "hw-address")
    m = None
    if hw is not None:
        m = mac(hw) or (mac(":".join(hw[i : i + 2] for i in range(0, 12, 2))) if len(hw) == 12 else None)
        if m is None:
            st.problems.append((r.src, f"reservation: hw-address {hw!r} is not a MAC"))
            return
    if fam == 4:
        texts = [t] if (t := _str(st, r, "ip-address")) is not None else []
    else:
        raw = r.get("ip-addresses", [])
        texts = raw if isinstance(raw, list) and all(isinstance(x, str) for x in raw) else []
        if texts is not raw:
            st.problems.append((r.src, '"ip-addresses" must be a list of strings'))
    addrs = []
    for t in texts:
        a = address(t, fam)
        if a is None:
            st.problems.append((r.src, f"reservation: {t!r} is not an IPv{fam} address"))
            return
        addrs.append(a)
    host = _str(st, r, "hostname")
    if m is None and not addrs:
        return
    fours: list[str | None] = [*addrs] if fam == 4 else [None]
    sixes: list[str | None] = [*addrs] if fam == 6 else [None]
    for a4 in fours or [None]:
        for a6 in sixes or [None]:
            st.site.reservations.append(Reservation(r.src, m, a4, a6, name(host) if host else None))
