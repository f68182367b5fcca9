"""OpenSSH ``known_hosts`` files: the host keys an operator's ssh already trusts.

``uniform import --known-hosts FILE`` pins them in ``ssh.host_keys``, so the first
delivery to an adopted host is not trust-on-first-use. Plain host patterns
(``web1,10.20.0.5``, ``[10.20.0.5]:2222``) and hashed ones (``|1|salt|hash``, from
``HashKnownHosts``) are both read; a key on a ``@revoked`` line is never pinned, for any host;
``@cert-authority`` lines name no host key and are skipped. Wildcard patterns (``*.example``) match nothing:
a pinned key belongs to one host."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from interop.parse import ParseError
from interop.records import Source

__all__ = ["PREFERENCE", "HostKey", "Index", "parse"]

#: which key is pinned when a host has several (ssh.host_keys holds one per machine)
PREFERENCE = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")


@dataclass(frozen=True)
class HostKey:
    source: Source
    hosts: tuple[str, ...]  # plain patterns, lower case ("web1", "[10.0.0.5]:2222")
    hashed: tuple[tuple[bytes, bytes], ...]  # (salt, hash) of hashed patterns
    key: str  # "ssh-ed25519 AAAA..." (type and base64, no comment)
    revoked: bool = False  # an @revoked line: this key is never pinned

    @property
    def type(self) -> str:
        return self.key.split(" ", 1)[0]


def parse(path: str | Path) -> list[HostKey]:
    path = Path(path)
    out: list[HostKey] = []
    problems: list[tuple[Source, str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ParseError([(Source(str(path), 0), f"cannot read: {e}")]) from None
    for no, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        src = Source(str(path), no)
        revoked = words[0] == "@revoked"
        if words[0].startswith("@"):
            if not revoked:
                continue  # @cert-authority: a CA, not a host key
            words = words[1:]
        if len(words) < 3:
            problems.append((src, "expected: hosts keytype base64-key [comment]"))
            continue
        hosts, ktype, blob = words[0], words[1], words[2]
        try:
            base64.b64decode(blob, validate=True)
        except ValueError:
            problems.append((src, f"the key of {ktype} is not base64"))
            continue
        plain: list[str] = []
        hashed: list[tuple[bytes, bytes]] = []
        for pat in hosts.split(","):
            if pat.startswith("|1|"):
                try:
                    salt, digest = (base64.b64decode(x) for x in pat[3:].split("|", 1))
                except ValueError:
                    problems.append((src, "a hashed host name that is not |1|salt|hash"))
                    continue
                hashed.append((salt, digest))
            elif not pat.startswith("!") and "*" not in pat and "?" not in pat:
                plain.append(pat.lower())
        out.append(HostKey(src, tuple(plain), tuple(hashed), f"{ktype} {blob}", revoked))
    if problems:
        raise ParseError(problems)
    return out


def _forms(name: str, port: int) -> list[str]:
    return [name] if port == 22 else [f"[{name}]:{port}"]


class Index:
    """Keys by plain host pattern (one dict look-up per name); hashed lines are tried in turn."""

    def __init__(self, keys: Iterable[HostKey]) -> None:
        self.plain: dict[str, list[HostKey]] = {}
        self.hashed: list[HostKey] = []
        keys = list(keys)
        revoked = {k.key for k in keys if k.revoked}
        for k in keys:
            if k.key in revoked:
                continue
            for h in k.hosts:
                self.plain.setdefault(h, []).append(k)
            if k.hashed:
                self.hashed.append(k)

    def match(self, names: Iterable[str], port: int = 22) -> list[HostKey]:
        """The keys whose host patterns name one of ``names`` (machine name, FQDNs, addresses)."""
        forms = [f for n in names for f in _forms(n.lower(), port)]
        found = {id(k): k for f in forms for k in self.plain.get(f, ())}
        for k in self.hashed:
            if id(k) not in found and any(
                hmac.compare_digest(hmac.new(salt, f.encode(), hashlib.sha1).digest(), digest)
                for salt, digest in k.hashed
                for f in forms
            ):
                found[id(k)] = k
        return sorted(found.values(), key=lambda k: k.source)
