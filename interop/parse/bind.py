"""BIND zone files (RFC 1035 master file format, as named reads it) -> A, AAAA and PTR records.

Every entry is parsed for syntax; only A, AAAA and PTR become :class:`DnsRecord` (the rest
is not machine data). Decisions (docs/adopt.md has them for operators):

* **Origin**: the ``origin`` argument (the zone name, as named.conf gives it), else the file
  name: ``db.example.com`` / ``example.com.zone`` / ``example.com.db`` -> ``example.com``,
  ``db.192.168.1`` -> ``1.168.192.in-addr.arpa`` (Debian's ``db.127`` convention); any other
  name (``db.64-26.2.0.192``) gives no origin.
  ``$ORIGIN`` changes it from its line on. A relative name with no origin is a problem.
* **$INCLUDE file [origin]**: a relative file is looked up in ``directory`` (named's
  ``options { directory }``) when given, else next to the including file; an absolute one
  under ``root`` when given. Origin and previous owner are restored after it, as RFC 1035 says.
* **$GENERATE** ``start-stop[/step] lhs [ttl] [class] type rhs`` is expanded, with ``$``,
  ``\\$`` and ``${offset[,width[,base]]}`` (base d, o, x, X); the nibble bases n/N are a problem.
* **PTR owners** under in-addr.arpa / ip6.arpa become addresses (four octets; 32 nibbles).
  An RFC 2317 classless owner (``5.0/26.2.0.192.in-addr.arpa``, also ``0-26``) stands for
  192.0.2.5. An owner with fewer labels (an RFC 1101 network name, the zone apex) and a
  wildcard owner are skipped; any other owner there is a problem. PTRs outside the reverse
  trees (DNS-SD service lists) are skipped. Wildcard A/AAAA owners are skipped too.
* Only class IN is read; TTL and class may come in either order.

``parse_named_conf`` finds the primary zones of a named.conf (with its ``include`` files and
``views``); ``parse_named`` parses them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import netaddr

from interop.parse import ParseError
from interop.records import DnsRecord, Site, Source

from ._named_conf import named_conf_zones

__all__ = ["origin_from_filename", "parse", "parse_named", "parse_named_conf"]

Problems = list[tuple[Source, str]]

_TTL = re.compile(r"\d+|(?:\d+[wdhms])+", re.IGNORECASE)
_CLASSLESS = re.compile(r"\d+[/-]\d+")
_RANGE = re.compile(r"(\d+)-(\d+)(?:/(\d+))?")
_TYPEN = re.compile(r"TYPE\d+")
_MODIFIER = re.compile(r"\$\{(-?\d+)(?:,(\d+)(?:,([a-zA-Z]))?)?\}")
#: more $GENERATE lines than this is a typo, not a zone (a whole /16 is 65,536)
_GENERATE_MAX = 1 << 20
_CLASSES = frozenset({"IN", "CH", "CHAOS", "HS", "HESIOD", "CS", "NONE", "ANY"})
_SPECIAL = frozenset('"()\\')
#: rdata field counts named checks, for the common types (the rest: anything non-empty)
_ARITY = {"A": 1, "AAAA": 1, "PTR": 1, "NS": 1, "CNAME": 1, "DNAME": 1, "SOA": 7, "MX": 2, "SRV": 4}
_TYPES = frozenset(
    "A AAAA A6 AFSDB AMTRELAY APL ATMA AVC CAA CDNSKEY CDS CERT CNAME CSYNC DHCID DLV DNAME DNSKEY "
    "DOA DS EID EUI48 EUI64 GID GPOS HINFO HIP HTTPS IPSECKEY ISDN KEY KX L32 L64 LOC LP MB MD MF MG "
    "MINFO MR MX NAPTR NID NIMLOC NINFO NS NSAP NSAP-PTR NSEC NSEC3 NSEC3PARAM NULL NXT OPENPGPKEY "
    "PTR PX RESINFO RKEY RP RRSIG RT SIG SINK SMIMEA SOA SPF SRV SSHFP SVCB TA TALINK TLSA TXT UID "
    "UINFO UNSPEC URI WALLET WKS X25 ZONEMD".split()
)
_V4_TREE = ".in-addr.arpa"
_V6_TREE = ".ip6.arpa"
_HEX = frozenset("0123456789abcdef")


def _scan(line: str) -> tuple[list[str], str | None]:
    """The tokens of one line: words, '(' and ')', and quoted strings kept with a leading '"'
    (so a quoted word is told from a bare one); stops at an unquoted ';'."""
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c in " \t\r":
            i += 1
        elif c == ";":
            break
        elif c in "()":
            out.append(c)
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            if j >= n:
                return out, "unterminated quoted string"
            out.append(line[i:j])
            i = j + 1
        else:
            j = i
            while j < n and line[j] not in ' \t\r;()"':
                j += 2 if line[j] == "\\" else 1
            out.append(line[i:j])
            i = j
    return out, None


def _entries(text: str, shown: str, problems: Problems) -> Iterator[tuple[int, bool, list[str]]]:
    """(first line, owner left blank, tokens) of every entry; parentheses join lines."""
    tokens: list[str] = []
    start, blank, depth, broken = 0, False, 0, False
    for n, line in enumerate(text.splitlines(), 1):
        if _SPECIAL.isdisjoint(line):  # the fast path: most lines
            toks, err = line.split(";", 1)[0].split(), None
        else:
            toks, err = _scan(line)
        if depth == 0:
            if not toks and err is None:
                continue
            start, blank, tokens, broken = n, line[:1] in (" ", "\t"), [], False
        if err is not None:
            problems.append((Source(shown, n), err))
            broken = True
        for t in toks:
            if t == "(":
                depth += 1
            elif t == ")":
                if depth == 0:
                    problems.append((Source(shown, n), "')' without '('"))
                    broken = True
                else:
                    depth -= 1
            else:
                tokens.append(t)
        if depth == 0 and not broken and tokens:
            yield start, blank, tokens
    if depth:
        problems.append((Source(shown, start), "'(' is never closed"))


def origin_from_filename(name: str) -> str | None:
    """The zone a file name stands for by convention, or None (see the module docstring)."""
    if name.startswith("db.") and len(name) > 3:
        zone = name[3:]
    elif name.endswith((".zone", ".db")):
        zone = name.rsplit(".", 1)[0]
    else:
        return None
    labels = zone.split(".")
    if all(x.isascii() and x.isdigit() for x in labels) and len(labels) <= 3:
        return ".".join(reversed(labels)) + _V4_TREE
    # a forward zone ends in a top-level label with a letter; anything else is no guess
    return zone.lower() if any(c.isalpha() for c in labels[-1]) else None


def _address(text: str, version: int) -> str | None:
    try:
        return str(netaddr.IPAddress(text, version))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def _reverse(owner: str) -> str | None | bool:
    """The address a reverse-tree owner stands for; None for a name to skip; False if bad."""
    if owner.endswith(_V4_TREE):
        labels = owner[: -len(_V4_TREE)].split(".")
        if labels[0] == "*" or len(labels) < 4:
            return None
        if len(labels) == 5 and _CLASSLESS.fullmatch(labels[1]):
            del labels[1]
        # "080" is not "80" to a resolver: only the canonical decimal names an address
        if len(labels) != 4 or not all(
            x.isascii() and x.isdigit() and str(int(x)) == x and int(x) < 256 for x in labels
        ):
            return False
        return ".".join(reversed(labels))
    if owner.endswith(_V6_TREE):
        labels = owner[: -len(_V6_TREE)].split(".")
        if labels[0] == "*" or len(labels) < 32:
            return None
        if len(labels) != 32 or not all(len(x) == 1 and x in _HEX for x in labels):
            return False
        return str(netaddr.IPAddress(int("".join(reversed(labels)), 16), 6))
    return None


def _gen_fmt(template: str, i: int) -> str:
    """One $GENERATE substitution (raises ValueError with the reason)."""
    out: list[str] = []
    j, n = 0, len(template)
    while j < n:
        c = template[j]
        if c == "\\" and template.startswith("$", j + 1):  # \$ is a literal $
            out.append("$")
            j += 2
        elif c == "$" and template.startswith("{", j + 1):
            m = _MODIFIER.match(template, j)
            if not m:
                raise ValueError(f"bad modifier in {template!r} (expected ${{offset[,width[,base]]}})")
            if m[3] and m[3] not in "doxX":
                raise ValueError(f"base {m[3]!r} of {template!r} is not supported (use d, o, x or X)")
            out.append(format(i + int(m[1]), f"0{m[2] or 0}{m[3] or 'd'}"))
            j = m.end()
        elif c == "$":
            out.append(str(i))
            j += 1
        else:
            out.append(c)
            j += 1
    return "".join(out)


class _Zone:
    """One zone's reading state across its $INCLUDEd files."""

    def __init__(self, site: Site, problems: Problems, directory: Path | None, root: Path | None) -> None:
        self.site, self.problems, self.directory, self.root = site, problems, directory, root
        self.origin: str | None = None
        self.owner: str | None = None
        self.open: list[Path] = []

    def problem(self, src: Source, msg: str) -> None:
        self.problems.append((src, msg))

    def name(self, src: Source, text: str, what: str) -> str | None:
        """``text`` fully qualified, lower case, no trailing dot (None after a problem)."""
        if text.startswith('"'):
            self.problem(src, f"{what} {text[1:]!r} is quoted")
            return None
        if text == "@":
            name = self.origin
        elif text.endswith("."):
            name = text[:-1].lower()
        elif self.origin is None:
            self.problem(src, f"relative {what} {text!r} and no origin ($ORIGIN or the zone name)")
            return None
        else:
            name = f"{text}.{self.origin}".lower() if self.origin else text.lower()
        if name is None:
            self.problem(src, f"{what} '@' and no origin ($ORIGIN or the zone name)")
        elif name.startswith(".") or ".." in name or len(name) > 253:
            self.problem(src, f"{what} {text!r} is not a domain name")
            return None
        return name

    def resolve(self, path: str, including: Path) -> Path:
        p = Path(path)
        if p.is_absolute():
            return self.root / p.relative_to("/") if self.root else p
        return (self.directory or including.parent) / p

    def read(self, path: Path, shown: str, src: Source | None) -> None:
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as e:
            self.problem(src or Source(shown, 0), f"cannot read {shown}: {e.strerror}")
            return
        self.open.append(path.resolve())
        for line, blank, tokens in _entries(text, shown, self.problems):
            here = Source(shown, line)
            first = tokens[0]
            if not blank and first.startswith("$"):
                self.directive(here, first.upper(), tokens[1:], path)
            else:
                self.record(here, None if blank else first, tokens if blank else tokens[1:])
        self.open.pop()

    def directive(self, src: Source, word: str, args: list[str], path: Path) -> None:
        if word == "$ORIGIN" or word == "$TTL":
            if len(args) != 1:
                self.problem(src, f"{word} takes one argument, not {len(args)}")
            elif word == "$TTL":
                if not _TTL.fullmatch(args[0]):
                    self.problem(src, f"$TTL {args[0]!r} is not a TTL")
            elif (origin := self.name(src, args[0], "$ORIGIN")) is not None:
                self.origin = origin
        elif word == "$INCLUDE":
            self.include(src, args, path)
        elif word == "$GENERATE":
            self.generate(src, args)
        else:
            self.problem(src, f"unknown directive {word}")

    def include(self, src: Source, args: list[str], path: Path) -> None:
        if not 1 <= len(args) <= 2:
            self.problem(src, f"$INCLUDE takes a file and an optional origin, not {len(args)} arguments")
            return
        file = args[0].lstrip('"')
        target = self.resolve(file, path)
        shown = str(target if Path(file).is_absolute() or self.directory else Path(src.file).parent / file)
        if target.resolve() in self.open:
            self.problem(src, f"$INCLUDE {file} includes itself (a loop)")
            return
        saved = self.origin, self.owner
        if len(args) == 2:
            origin = self.name(src, args[1], "$INCLUDE origin")
            if origin is None:
                return
            self.origin = origin
        self.read(target, shown, src)
        self.origin, self.owner = saved

    def generate(self, src: Source, args: list[str]) -> None:
        if len(args) < 4:
            self.problem(src, "$GENERATE needs a range, a left-hand side, a type and a right-hand side")
            return
        m = _RANGE.fullmatch(args[0])
        if not m or int(m[1]) > int(m[2]) or m[3] == "0":
            self.problem(src, f"$GENERATE range {args[0]!r} is not start-stop[/step]")
            return
        if (int(m[2]) - int(m[1])) // int(m[3] or 1) >= _GENERATE_MAX:
            self.problem(src, f"$GENERATE range {args[0]!r} makes more than {_GENERATE_MAX} records")
            return
        lhs, middle, rhs = args[1], args[2:-1], args[-1]
        try:
            lines = [
                (_gen_fmt(lhs, i), _gen_fmt(rhs, i)) for i in range(int(m[1]), int(m[2]) + 1, int(m[3] or 1))
            ]
        except ValueError as e:
            self.problem(src, f"$GENERATE: {e}")
            return
        for owner, value in lines:
            self.record(src, owner, [*middle, value])

    def record(self, src: Source, owner_text: str | None, rest: list[str]) -> None:
        if owner_text is None:
            owner = self.owner
            if owner is None:
                self.problem(src, "blank owner and no previous owner")
                return
        else:
            owner = self.name(src, owner_text, "owner")
            if owner is None:
                return
            self.owner = owner
        i, ttl, cls = 0, False, False
        while i < len(rest) and i < 2:
            word = rest[i]
            if not cls and word.upper() in _CLASSES:
                if word.upper() != "IN":
                    self.problem(src, f"class {word} is not IN: only IN zones are read")
                    return
                cls = True
            elif not ttl and _TTL.fullmatch(word):
                ttl = True
            else:
                break
            i += 1
        if i >= len(rest):
            self.problem(src, f"record of {owner_text or owner} has no type")
            return
        rtype, rdata = rest[i].upper(), rest[i + 1 :]
        if rtype not in _TYPES and not _TYPEN.fullmatch(rtype):
            self.problem(src, f"unknown record type {rest[i]!r}")
            return
        want = _ARITY.get(rtype)
        if not rdata:
            self.problem(src, f"{rtype} record has no data")
            return
        if want is not None and len(rdata) != want:
            fields = "field" if want == 1 else "fields"
            self.problem(src, f"{rtype} record takes {want} data {fields}, not {len(rdata)}")
            return
        if rtype in ("A", "AAAA"):
            version = 4 if rtype == "A" else 6
            addr = _address(rdata[0], version) if not rdata[0].startswith('"') else None
            if addr is None:
                self.problem(src, f"{rtype} value {rdata[0]!r} is not an IPv{version} address")
            elif not owner.startswith("*"):
                self.site.records.append(DnsRecord(src, rtype, owner, addr))
        elif rtype == "PTR":
            target = self.name(src, rdata[0], "PTR target")
            back = _reverse(owner)
            if back is False:
                tree = "in-addr.arpa" if owner.endswith(_V4_TREE) else "ip6.arpa"
                self.problem(src, f"PTR owner {owner} does not name an address under {tree}")
            elif back is not None and target is not None:
                self.site.records.append(DnsRecord(src, "PTR", target, str(back)))


def _clean(origin: str | None) -> str | None:
    return origin.rstrip(".").lower() if origin is not None else None


def parse(
    path: Path | str,
    origin: str | None = None,
    *,
    directory: Path | str | None = None,
    root: Path | str | None = None,
) -> Site:
    """The A, AAAA and PTR records of the zone file ``path``; raises ParseError with every problem.

    ``origin`` is the zone name (default: from the file name, see the module docstring);
    ``directory`` is where relative ``$INCLUDE`` files are (named's working directory);
    ``root`` re-roots absolute ``$INCLUDE`` paths (a copy of a server's files)."""
    path = Path(path)
    site, problems = Site(), list[tuple[Source, str]]()
    zone = _Zone(site, problems, Path(directory) if directory else None, Path(root) if root else None)
    zone.origin = _clean(origin) if origin is not None else origin_from_filename(path.name)
    zone.read(path, str(path), None)
    if problems:
        raise ParseError(problems)
    return site


def parse_named_conf(path: Path | str, *, root: Path | str | None = None) -> list[tuple[str, Path]]:
    """(zone name, zone file) of every primary zone in the named.conf ``path`` and its
    ``include`` files, views included, files resolved against ``options { directory }``;
    ``root`` re-roots absolute paths. Raises ParseError with every problem."""
    zones, _, problems = named_conf_zones(Path(path), Path(root) if root else None)
    if problems:
        raise ParseError(problems)
    return [(name, file) for name, file, _ in zones]


def parse_named(path: Path | str, *, root: Path | str | None = None) -> Site:
    """Every primary zone of the named.conf ``path``, parsed (one ParseError for all files)."""
    zones, directory, problems = named_conf_zones(Path(path), Path(root) if root else None)
    site = Site()
    for name, file, _src in zones:
        zone = _Zone(site, problems, directory, Path(root) if root else None)
        zone.origin = name
        zone.read(file, str(file), _src)
    if problems:
        raise ParseError(problems)
    return site
