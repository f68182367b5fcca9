"""One SSH session: the only way uniform runs something on a host.

Used by delivery (components/delivery.py), verify (ops/verify.py) and the lab
harness alike.  Batch mode (never a prompt), bounded waits, and the pinned host
key as the only key the session accepts: neither the user's nor the global
known_hosts is read.  A private key given as text lives in a 0600 temporary file
for the duration of the session only, and never appears in a message.

``ssh`` exits 255 when it could not connect (:class:`Unreachable`) or when the host
it reached failed the pinned host key or refused our key (:class:`Refused`); any
other failure (the remote command's exit status, a timeout, no ssh binary) is
:class:`SshError`.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Endpoint",
    "Refused",
    "Result",
    "SshError",
    "Unreachable",
    "known_hosts_line",
    "run",
    "ssh_command",
    "ssh_options",
]


class SshError(Exception):
    """The session did not succeed (the message names no address: callers add theirs)."""


class Unreachable(SshError):
    """ssh itself failed (exit 255): the host could not be reached."""


class Refused(SshError):
    """ssh reached a host that is not the pinned one, or that would not let us in (exit 255
    with a host-key or authentication failure).  Not "gone": a delete must not treat it as
    a host that took its files with it."""


#: what ssh prints when it reached a host but the host is not ours or refused our key
_REFUSED = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED", "Permission denied")


@dataclass(frozen=True)
class Endpoint:
    """Where a session goes: ``user@host:port``, proving ``host_key`` (an OpenSSH public key line)."""

    host: str
    port: int
    user: str
    host_key: str | None

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


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


def ssh_command(
    endpoint: Endpoint,
    known_hosts: Path,
    command: str,
    *,
    connect_timeout: int,
    identity: str | None = None,
    ssh: str = "ssh",
) -> list[str]:
    """The full ``ssh`` command line running ``command`` (a shell command line) on ``endpoint``."""
    opts = ssh_options(known_hosts, connect_timeout, identity)
    return [ssh, *opts, "-p", str(endpoint.port), f"{endpoint.user}@{endpoint.host}", command]


def run(
    endpoint: Endpoint,
    command: str,
    *,
    stdin: bytes = b"",
    reply: Callable[[bytes], bytes] | None = None,
    reply_after: bytes = b"",
    private_key: str | None = None,
    identity: str | None = None,
    connect_timeout: int,
    timeout: float,
    ssh: str = "ssh",
) -> Result:
    """Run ``command`` on ``endpoint`` in one session, ``stdin`` on its standard input.

    A conversation instead of a fixed input: with ``reply``, once the command has
    printed the line ``reply_after`` (newline included), ``reply(what it printed so far)``
    becomes its standard input.  That keeps parsing on this side (verify reads the
    host's manifests in Python, then asks for the paths they name) in one session.
    The command must print that line before it reads its input (or it waits for
    ``timeout``); one that ends without printing it gets an empty input.

    ``private_key`` (the key's text) or ``identity`` (a key file) authenticates;
    with neither, OpenSSH uses the operator's agent and keys.  ``timeout`` bounds
    the whole session, connection included.  Raises :class:`Unreachable` on ssh's
    own failure (exit 255), :class:`SshError` on a timeout, a missing ssh or a remote
    command that failed.
    """
    if not endpoint.host_key:
        # never connect to a host whose key is not pinned
        raise SshError("no pinned host key; not connecting")
    with tempfile.TemporaryDirectory(prefix="uniform-ssh-") as tmp:
        known = Path(tmp) / "known_hosts"
        known.write_text(known_hosts_line(endpoint.host, endpoint.port, endpoint.host_key))
        if private_key:
            keyfile = Path(tmp) / "id"
            keyfile.touch(mode=0o600)
            keyfile.write_text(private_key if private_key.endswith("\n") else private_key + "\n")
            identity = str(keyfile)
        cmd = ssh_command(
            endpoint, known, command, connect_timeout=connect_timeout, identity=identity, ssh=ssh
        )
        try:
            if reply is None:
                proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
                code, out, errb = proc.returncode, proc.stdout, proc.stderr
            else:
                code, out, errb = _converse(cmd, reply, reply_after, timeout)
        except subprocess.TimeoutExpired as e:
            raise SshError(f"timed out after {timeout:g}s") from e
        except OSError as e:
            raise SshError(f"cannot run ssh: {e}") from e
    err = errb.decode(errors="replace").strip()
    if code == 255:  # ssh's own failure: could not connect, or could not authenticate
        if any(marker in err for marker in _REFUSED):
            raise Refused(f"ssh refused: {err}")
        raise Unreachable(f"ssh failed: {err}")
    if code != 0:
        raise SshError(f"remote command failed (exit {code}): {err}")
    return Result(out, err)


@dataclass(frozen=True)
class Result:
    stdout: bytes
    stderr: str  # decoded and stripped


def _converse(
    cmd: list[str], reply: Callable[[bytes], bytes], after: bytes, timeout: float
) -> tuple[int, bytes, bytes]:
    """Popen ``cmd``; answer ``reply(head)`` once stdout printed the line ``after``; within ``timeout``."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    errs: list[bytes] = []
    # stderr drains on its own, and stdin is fed on its own: no pipe can fill and stall the session
    drain = threading.Thread(target=lambda: errs.append(stderr.read()), daemon=True)
    drain.start()

    def feed(data: bytes) -> None:
        try:
            stdin.write(data)
            stdin.close()
        except (BrokenPipeError, ValueError):
            pass  # the session ended before reading it

    feeder: threading.Thread | None = None
    try:
        head: list[bytes] = []
        for line in iter(stdout.readline, b""):
            head.append(line)
            if line == after:
                feeder = threading.Thread(target=feed, args=(reply(b"".join(head)),), daemon=True)
                feeder.start()
                break
        else:
            feed(b"")
        rest = stdout.read()
        proc.wait()
        drain.join()
        if feeder:
            feeder.join()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (stdin, stdout, stderr):
            try:
                pipe.close()
            except (BrokenPipeError, ValueError):
                pass
    if expired.is_set():
        raise subprocess.TimeoutExpired(cmd, timeout)
    return proc.returncode, b"".join(head) + rest, b"".join(errs)
