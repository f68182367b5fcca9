"""The real daemons' checkers, for tests/daemons: find a tool or skip (fail in CI), run it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

#: tool -> the Debian package that provides it (tools/debian-packages.txt)
PACKAGES = {
    "cloud-init": "cloud-init",
    "dnsmasq": "dnsmasq-base",
    "named-checkzone": "bind9-utils",
    "named-checkconf": "bind9-utils",
    "named-compilezone": "bind9-utils",
    "kea-dhcp4": "kea-dhcp4-server",
    "kea-dhcp6": "kea-dhcp6-server",
    "dhcpd": "isc-dhcp-server",
    "virt-xml-validate": "libvirt-clients (+ libxml2-utils for xmllint)",
    "xmllint": "libxml2-utils",
    "debconf-set-selections": "debconf",
    "genisoimage": "genisoimage",
    "xorriso": "xorriso",
    "isoinfo": "genisoimage",
    "promtool": "prometheus",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def tool(name: str) -> str:
    """The path of ``name``; a missing tool skips, or fails with UNIFORM_REQUIRE_DAEMONS=1."""
    path = shutil.which(name) or next(
        (p for d in ("/usr/sbin", "/sbin") if os.access(p := f"{d}/{name}", os.X_OK)), None
    )
    if path:
        return path
    msg = f"{name} not installed (Debian package {PACKAGES.get(name, '?')})"
    if os.environ.get("UNIFORM_REQUIRE_DAEMONS") == "1":
        pytest.fail(msg + " but UNIFORM_REQUIRE_DAEMONS=1")
    pytest.skip(msg)


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    """Run ``argv``; its stdout+stderr, asserting exit 0."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"{' '.join(argv)} exited {p.returncode}:\n{out}"
    return out


def kea_test(kea: str, path: str | Path) -> str:
    """``kea-dhcpN -t path`` where the interfaces its subnets name exist.  Kea refuses a subnet
    ``interface`` this machine lacks, and uniform names the DHCP server's own interface in each
    DHCPv6 subnet (Kea selects a directly connected client's subnet by it): the check runs in a
    throwaway network namespace holding a bridge of each such name (as root ``unshare -n``; else
    in a user namespace, ``unshare -rn``).  Bridges, not dummies: the lab needs that module anyway,
    and containers often lack the dummy one."""
    cfg = json.loads(Path(path).read_text())
    names = sorted(
        {
            s["interface"]
            for top in cfg.values()
            if isinstance(top, dict)
            for key in ("subnet4", "subnet6")
            for s in top.get(key, [])
            if isinstance(s, dict) and "interface" in s
        }
    )
    if not names:
        return run(kea, "-t", str(path))
    links = "".join(f"ip link add {shlex.quote(n)} type bridge && " for n in names)
    unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    return run(*unshare, "sh", "-c", links + 'exec "$0" -t "$1"', kea, str(path))
