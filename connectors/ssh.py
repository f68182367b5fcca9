"""How uniform opens an SSH session: one rule for delivery (components/delivery.py) and verify.

Batch mode (never a prompt), bounded waits, and the pinned host key as the only
key the session accepts: neither the user's nor the global known_hosts is read.
"""

from __future__ import annotations

from pathlib import Path


def known_hosts_line(host: str, port: int, host_key: str) -> str:
    """The known_hosts entry that pins ``host_key`` for ``host:port``."""
    name = f"[{host}]:{port}" if port != 22 else host
    return f"{name} {host_key}\n"


def ssh_options(known_hosts: Path, connect_timeout: int, identity: str | None = None) -> list[str]:
    """OpenSSH ``-o``/``-i`` options; ``known_hosts`` holds the pinned key (known_hosts_line)."""
    opts = [
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={connect_timeout}",
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3",
        "-o", "LogLevel=ERROR",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
    ]  # fmt: skip
    if identity:
        opts += ["-i", identity, "-o", "IdentitiesOnly=yes"]
    return opts
