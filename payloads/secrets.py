"""Placeholders for values the payloads must not hold: a machine's host key, made in Pulumi state.

A rendered file that needs such a value holds a placeholder instead,
``@@uniform-secret:<name>:<encoding>@@``.  ``uniform render``, review, the delivery manifest
and the delivery resource's recorded inputs therefore hold only the placeholder; the value is
a (secret) input of the delivery resource, and the delivery provider substitutes it when it
writes the file (components/delivery.py).  Pure Python: payloads know the names, never the
values.

The encoding says how the value is written in place, so the substituted file stays valid:

* ``json``: the body of a JSON string (no quotes): inside a double-quoted YAML scalar
  (cloud-init user-data) JSON's escapes are YAML's;
* ``base64``: one word for a shell command line (the preseed's late_command).

docs/provisioning.md "Host keys".
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping

__all__ = [
    "ENCODINGS",
    "host_key_names",
    "names",
    "pattern",
    "placeholder",
    "substitute",
]

ENCODINGS = ("json", "base64")

_PATTERN = re.compile(r"@@uniform-secret:([a-z0-9][a-z0-9._-]*):(json|base64)@@")


def placeholder(name: str, encoding: str) -> str:
    """The text standing for the value ``name``, written with ``encoding``."""
    if encoding not in ENCODINGS or not _PATTERN.fullmatch(f"@@uniform-secret:{name}:{encoding}@@"):
        raise ValueError(f"bad placeholder {name!r}:{encoding!r}")
    return f"@@uniform-secret:{name}:{encoding}@@"


def host_key_names(machine: str) -> tuple[str, str]:
    """The names of ``machine``'s host key values: (private key, public key line)."""
    return f"hostkey.{machine}.private", f"hostkey.{machine}.public"


def names(content: str) -> set[str]:
    """The value names ``content`` refers to."""
    return {m.group(1) for m in _PATTERN.finditer(content)} if "@@uniform-secret:" in content else set()


def _encode(value: str, encoding: str) -> str:
    if encoding == "json":
        return json.dumps(value)[1:-1]
    return base64.b64encode(value.encode()).decode()


def substitute(content: str, values: Mapping[str, str]) -> str:
    """``content`` with every placeholder replaced by its value, encoded.

    Raises KeyError naming (only) the missing value: content is never half substituted."""
    missing = sorted(names(content) - set(values))
    if missing:
        raise KeyError(", ".join(missing))
    return _PATTERN.sub(lambda m: _encode(values[m.group(1)], m.group(2)), content)


#: what each encoding can produce in place of a placeholder
_ENCODED = {"json": r'(?:[^"\\]|\\.)*', "base64": r"[A-Za-z0-9+/]*={0,2}"}


def pattern(content: str) -> re.Pattern[str]:
    """A pattern matching ``content`` with any values substituted: how a test recognises a
    delivered file as its rendered one without knowing the secret."""
    out, last = [], 0
    for m in _PATTERN.finditer(content):
        out += [re.escape(content[last : m.start()]), _ENCODED[m.group(2)]]
        last = m.end()
    out.append(re.escape(content[last:]))
    return re.compile("".join(out), re.DOTALL)
