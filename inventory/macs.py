"""MAC addresses: parsing, prefix checks and deterministic generation."""

from __future__ import annotations

import hashlib
import re

from .errors import excerpt

_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}\Z")
_OCTET_RE = re.compile(r"^[0-9a-fA-F]{2}\Z")


def normalise_mac(text: str) -> str | None:
    """``52-54-00-AB-CD-EF`` -> ``52:54:00:ab:cd:ef``; None when it is not a 6-octet MAC."""
    if not _MAC_RE.match(text):
        return None
    return text.replace("-", ":").lower()


def is_multicast(mac: str) -> bool:
    return bool(int(mac[:2], 16) & 0x01)


def parse_prefix(prefix: str) -> list[int] | None:
    """``"52:54:00"`` -> ``[0x52, 0x54, 0x00]``; None unless 1-5 hex octets separated by ':'."""
    parts = prefix.split(":")
    if not 1 <= len(parts) <= 5 or not all(_OCTET_RE.match(p) for p in parts):
        return None
    return [int(p, 16) for p in parts]


def prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot be used to generate MACs, or None when it can."""
    octets = parse_prefix(prefix)
    if octets is None:
        return f"invalid MAC prefix {excerpt(prefix)} (expected 1-5 hex octets like '52:54:00')"
    if octets[0] & 0x01:
        return f"MAC prefix {prefix!r} has the multicast bit set (first octet must be even)"
    return None


def generate_mac(prefix: str, customer: str, machine: str, nic: str, attempt: int = 0) -> str:
    """A MAC under ``prefix`` derived from sha256 of (customer, machine, nic, attempt).

    Deterministic: the same inputs give the same MAC on every machine and Python version.
    The prefix fixes the first octet, so the result is unicast when the prefix is (checked
    by ``prefix_problem``) and locally administered when the prefix is (e.g. ``52:..``, ``02:..``).
    """
    octets = parse_prefix(prefix)
    if octets is None or octets[0] & 0x01:
        raise ValueError(prefix_problem(prefix) or f"bad prefix {prefix!r}")
    digest = hashlib.sha256(f"{customer}\0{machine}\0{nic}\0{attempt}".encode()).digest()
    rest = list(digest[: 6 - len(octets)])
    return ":".join(f"{o:02x}" for o in octets + rest)
