"""The lab's primitives: commands with a timeout, tools, processes, network namespaces.

Nothing here knows the lab's layout (harness/labbase.py) or its hosts (harness/labhosts.py);
harness/libvirt.py, harness/qemu.py and harness/netboot.py use these too."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

__all__ = [
    "LabError",
    "LabUnavailable",
    "alive",
    "del_netns",
    "keygen",
    "kill",
    "run",
    "udhcpc",
    "which",
]


class LabUnavailable(Exception):
    """This machine cannot host the lab (not root, no namespaces, a tool missing)."""


class LabError(Exception):
    pass


def run(
    cmd: list[str],
    *,
    timeout: float = 30,
    check: bool = True,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
        )
    except subprocess.TimeoutExpired as e:
        raise LabError(f"timed out after {timeout}s: {' '.join(cmd)}") from e
    if check and proc.returncode != 0:
        raise LabError(f"exit {proc.returncode}: {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return proc


def which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin")


def keygen(path: Path, comment: str) -> None:
    """A fresh ed25519 key pair at ``path`` (no passphrase): a host key or the deploy key."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def udhcpc(ns: str, iface: str, script: Path) -> dict[str, str] | None:
    """A real DHCP exchange from ``iface`` in ``ns``: the lease ``script`` prints, or None."""
    proc = run(
        ["ip", "netns", "exec", ns, "udhcpc", "-i", iface, "-f", "-q", "-n", "-t", "3", "-T", "1", "-A", "1",
         "-s", str(script)],
        timeout=20, check=False,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("LEASE "):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    return None


def kill(pids: list[int]) -> None:
    """SIGTERM, then SIGKILL to what is still alive after 3 s (by PID, never by name)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                left.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while left and time.monotonic() < deadline:
            left = [p for p in left if alive(p)]
            time.sleep(0.05)
        if not left:
            return
        pids = left


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def del_netns(ns: str) -> None:
    """Kill every process in ``ns`` (by namespace, never by name), then delete it."""
    proc = run(["ip", "netns", "pids", ns], timeout=10, check=False)
    if proc.returncode == 0:
        kill([int(p) for p in proc.stdout.split()])
    run(["ip", "netns", "del", ns], timeout=10, check=False)
