"""The primary zones of a named.conf: just enough of its grammar to find them (for ``bind``).

Statements are ``words... [{ statements }] ;`` with ``//``, ``#`` and ``/* */`` comments.
``include`` is followed at the top level and inside ``view`` blocks. Relative paths follow
named: it starts in the main named.conf's directory (here) and chdir()s into
``options { directory }`` the moment it reads it, so an include before ``options`` is relative
to the former, one after it and every zone file to the latter. ``root`` re-roots absolute
paths (a copy of a server's tree), as ``named-checkconf -t`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from interop.records import Source

__all__ = ["named_conf_zones"]

Problems = list[tuple[Source, str]]

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\n]+)|(?P<comment>(?://|\#)[^\n]*)|(?P<long>/\*.*?\*/)|(?P<open>/\*)"""
    r"""|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<bad>")|(?P<punct>[{};])|(?P<word>(?:[^\s{};"#/]|/(?![/*]))+)""",
    re.DOTALL,
)
_PRIMARY = frozenset({"master", "primary"})


@dataclass
class _Stmt:
    src: Source
    words: list[str]
    block: list[_Stmt] | None


def _tokens(text: str, shown: str, problems: Problems) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    line = 1
    for m in _TOKEN.finditer(text):
        kind, value = m.lastgroup, m[0]
        if kind == "open":
            problems.append((Source(shown, line), "'/*' comment is never closed"))
            break
        if kind == "bad":
            problems.append((Source(shown, line), "unterminated quoted string"))
            break
        if kind in ("str", "punct", "word"):
            out.append((line, value))
        line += value.count("\n")
    return out


def _block(
    toks: list[tuple[int, str]], pos: int, shown: str, problems: Problems, opened: int | None
) -> tuple[list[_Stmt], int, bool]:
    """Statements from ``pos`` to the '}' closing the block opened on line ``opened`` (or EOF):
    the statements, the position after them, and whether the '}' came."""
    stmts: list[_Stmt] = []
    words: list[str] = []
    first = 0
    while pos < len(toks):
        line, t = toks[pos]
        pos += 1
        if t == "{":
            sub, pos, closed = _block(toks, pos, shown, problems, line)
            if words:
                stmts.append(_Stmt(Source(shown, first), words, sub))
            else:
                problems.append((Source(shown, line), "'{' with no statement before it"))
            words = []
            if pos < len(toks) and toks[pos][1] == ";":
                pos += 1
            elif closed:
                problems.append((Source(shown, toks[pos - 1][0]), "missing ';' after '}'"))
        elif t == "}":
            if opened is None:
                problems.append((Source(shown, line), "'}' without '{'"))
                continue
            if words:
                problems.append((Source(shown, first), f"missing ';' after {' '.join(words)}"))
            return stmts, pos, True
        elif t == ";":
            if words:
                stmts.append(_Stmt(Source(shown, first), words, None))
                words = []
        else:
            if not words:
                first = line
            words.append(t)
    if opened is not None:
        problems.append((Source(shown, opened), "'{' is never closed"))
    elif words:
        problems.append((Source(shown, first), f"missing ';' after {' '.join(words)}"))
    return stmts, pos, False


def _unquote(word: str) -> str:
    return word[1:-1] if word.startswith('"') else word


def _resolve(path: str, base: Path, root: Path | None) -> Path:
    p = Path(path)
    if p.is_absolute():
        return root / p.relative_to("/") if root else p
    return base / p


class _Conf:
    def __init__(self, top: Path, root: Path | None) -> None:
        self.top, self.root = top, root
        self.problems: Problems = []
        self.cwd = top.parent  # named's working directory while reading
        self.directory: Path | None = None
        self.zones: list[tuple[str, str, Source]] = []
        self.open: list[Path] = []

    def load(self, path: Path, src: Source | None) -> list[_Stmt]:
        shown = str(path)
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as e:
            self.problems.append((src or Source(shown, 0), f"cannot read {shown}: {e.strerror}"))
            return []
        return _block(_tokens(text, shown, self.problems), 0, shown, self.problems, None)[0]

    def walk(self, path: Path, src: Source | None) -> None:
        if path.resolve() in self.open:
            self.problems.append((src or Source(str(path), 0), f"include {path} includes itself (a loop)"))
            return
        self.open.append(path.resolve())
        self.statements(self.load(path, src))
        self.open.pop()

    def statements(self, stmts: list[_Stmt]) -> None:
        for s in stmts:
            kw = s.words[0].lower()
            if kw == "include":
                if len(s.words) != 2 or s.block is not None:
                    self.problems.append((s.src, "include takes one file name"))
                else:
                    self.walk(_resolve(_unquote(s.words[1]), self.cwd, self.root), s.src)
            elif kw == "options" and s.block:
                for o in s.block:
                    if o.words[0].lower() == "directory" and len(o.words) == 2:
                        self.directory = self.cwd = _resolve(_unquote(o.words[1]), self.cwd, self.root)
            elif kw == "view" and s.block is not None:
                self.statements(s.block)
            elif kw == "zone":
                self.zone(s)

    def zone(self, s: _Stmt) -> None:
        if len(s.words) < 2 or s.block is None:
            self.problems.append((s.src, "zone needs a name and a { } block"))
            return
        name = _unquote(s.words[1]).rstrip(".").lower()
        opts = {o.words[0].lower(): o.words[1:] for o in s.block if o.words}
        if "in-view" in opts:
            return
        kind = [w.lower() for w in opts.get("type", [])]
        if not kind:
            self.problems.append((s.src, f"zone {name} has no type"))
        elif kind[0] in _PRIMARY:
            file = opts.get("file", [])
            if len(file) != 1:
                self.problems.append((s.src, f"primary zone {name} has no file"))
            else:
                self.zones.append((name, _unquote(file[0]), s.src))


def named_conf_zones(
    path: Path, root: Path | None
) -> tuple[list[tuple[str, Path, Source]], Path | None, Problems]:
    """(zone, file, zone statement) of each primary zone, named's directory, and the problems."""
    conf = _Conf(path, root)
    conf.walk(path, None)
    base = conf.directory or path.parent
    zones = [(name, _resolve(file, base, root), src) for name, file, src in conf.zones]
    return zones, conf.directory, conf.problems
