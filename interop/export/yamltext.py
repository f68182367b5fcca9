"""YAML scalars written by hand, safe whatever the string holds.

The exports write YAML as text (no YAML library above ``inventory``), so each string is
either a plain scalar that every YAML reader (PyYAML's YAML 1.1, as Ansible uses, and
YAML 1.2) reads back as that same string, or a double-quoted scalar escaped to ASCII.
"""

from __future__ import annotations

import re

__all__ = ["scalar"]

#: letters, digits, '_', '-' and '.', starting with a letter or '_': never a number, date,
#: sexagesimal (YAML 1.1 ``1:20``), ``.inf``, anchor, tag, comment or flow indicator
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\Z")
#: YAML 1.1 booleans and nulls that _PLAIN would let through (PyYAML reads ``no`` as False)
_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _escape(c: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    if " " <= c <= "~":
        return c
    # everything else by code point: a raw U+2028, NEL or BOM would be read as a line break or
    # refused by PyYAML; \u and \U are the escapes of both YAML versions (JSON's surrogate
    # pairs are not: PyYAML reads them as two lone surrogates)
    n = ord(c)
    return f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def scalar(value: str) -> str:
    """``value`` as a YAML scalar that reads back as exactly ``value``."""
    if _PLAIN.match(value) and value.lower() not in _WORDS:
        return value
    return '"' + "".join(_escape(c) for c in value) + '"'
