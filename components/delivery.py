"""Delivery of a set of payload files to one target, as a Pulumi resource.

Why a dynamic provider and not pulumi-command: the pulumi-resource-command
provider cannot be built here (the Go proxy refuses every version of its
`provider` module, see tools/engine/README.md), and a dynamic provider runs
inside the real engine with the language host we do have.  It also fixes two
pulumi-command traps by construction:

* deletes are real: removing a file from a payload, or a whole machine, removes
  the file on the target (CopyToRemote has no delete, command#6);
* a delete whose host no longer answers does not wedge the stack
  (command#104/#553): a connection failure on delete is reported as a warning
  and the resource leaves the state; a command failure on a reachable host
  still fails.

One resource carries one group of files ("base", "dhcp", "dns", "vms") of one
machine.  The engine diffs the file hashes, so a machine whose payload did not
change is not contacted at all, and a changed group re-sends only the files that
changed, deletes the ones that went, then runs that group's reload commands.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from connectors.ssh import known_hosts_line, ssh_options

SSH_TIMEOUT = 15  # seconds to connect; every wait in delivery is bounded
COMMAND_TIMEOUT = 300


class DeliveryError(Exception):
    pass


class UnreachableError(DeliveryError):
    pass


def _changed(olds: dict[str, Any], news: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Files to (re)write and paths to remove, going from olds to news."""
    old_files = olds.get("files") or {}
    new_files = news.get("files") or {}
    write = {
        p: f
        for p, f in new_files.items()
        if p not in old_files or old_files[p]["sha256"] != f["sha256"] or old_files[p]["mode"] != f["mode"]
    }
    remove = sorted(p for p in old_files if p not in new_files)
    return write, remove


# --- local target: a directory per machine -----------------------------------


def _local_apply(root: str, write: dict[str, Any], remove: list[str]) -> None:
    base = Path(root)
    for path, f in sorted(write.items()):
        dest = base / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.uniform-tmp")
        tmp.write_text(f["content"])
        os.chmod(tmp, int(f["mode"], 8))
        os.replace(tmp, dest)  # atomic: a reader never sees half a file
    for path in remove:
        dest = base / path.lstrip("/")
        dest.unlink(missing_ok=True)
        # prune directories the payload created and no longer uses, up to and
        # including the machine's own directory (a machine that left leaves nothing)
        parent = dest.parent
        while parent != base.parent and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


# --- ssh target: one OpenSSH session per change -------------------------------


def _tar(write: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, f in sorted(write.items()):
            data = f["content"].encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = int(f["mode"], 8)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ssh_run(target: dict[str, Any], private_key: str | None, script: str, stdin: bytes) -> str:
    """Run ``script`` on the target; its stderr when it succeeded."""
    host, port, user = target["host"], int(target["port"]), target["user"]
    if not target.get("host_key"):
        # check_delivery refuses such a target before anything is registered; never
        # connect to a host whose key is not pinned.
        raise DeliveryError(f"{user}@{host}:{port}: no pinned host key")
    with tempfile.TemporaryDirectory(prefix="uniform-ssh-") as tmp:
        # Pinned host key: the session fails unless the host proves this key.
        known = Path(tmp) / "known_hosts"
        known.write_text(known_hosts_line(host, port, target["host_key"]))
        keyfile = None
        if private_key:
            keyfile = Path(tmp) / "id"
            keyfile.touch(mode=0o600)
            keyfile.write_text(private_key if private_key.endswith("\n") else private_key + "\n")
        opts = ssh_options(known, SSH_TIMEOUT, str(keyfile) if keyfile else None)
        cmd = ["ssh", *opts, "-p", str(port), f"{user}@{host}", script]
        try:
            proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            raise DeliveryError(f"{user}@{host}:{port}: timed out after {COMMAND_TIMEOUT}s") from e
    err = proc.stderr.decode(errors="replace").strip()
    if proc.returncode == 255:  # ssh's own failure: could not connect or authenticate
        raise UnreachableError(f"{user}@{host}:{port}: ssh failed: {err}")
    if proc.returncode != 0:
        raise DeliveryError(f"{user}@{host}:{port}: remote command failed (exit {proc.returncode}): {err}")
    return err


RELOAD_FAILED = "uniform: reload failed after delete:"


def _reloads(props: dict[str, Any], write: dict[str, Any], removed: dict[str, Any]) -> list[str]:
    """The group's reload commands that the changed files need, in the group's order.

    Each file names the reload its change needs (a config-only change to a DHCP
    server restarts dnsmasq, not networkd); a file recorded before files named
    theirs needs the whole group's.
    """
    changed = [*write.values(), *removed.values()]
    if any("reload" not in f for f in changed):
        return list(props.get("reload") or [])
    wanted = {f["reload"] for f in changed if f["reload"]}
    return [cmd for cmd in props.get("reload") or [] if cmd in wanted]


def _ssh_apply(
    props: dict[str, Any], write: dict[str, Any], removed: dict[str, Any], deleting: bool
) -> list[str]:
    lines = ["set -e"]
    if write:
        lines.append("tar -x -p -o -C / -f -")
    if removed:
        lines.append("rm -f -- " + " ".join(shlex.quote(p) for p in sorted(removed)))
    if not deleting:
        lines += _reloads(props, write, removed)
    else:
        # The whole group is gone.  Its reload commands still run (a service whose
        # config went must drop it), but they may need the files just removed
        # (`hostname -F /etc/hostname` fails without it): a failure is reported,
        # and does not fail the delete, or a decommissioned machine wedges the stack.
        for cmd in props.get("reload") or []:
            label = shlex.quote(f"{RELOAD_FAILED} {cmd}:")
            lines.append(f'out=$( ( {cmd} ) 2>&1 ) || printf "%s %s\\n" {label} "$out" >&2')
    err = _ssh_run(props["target"], props.get("private_key"), "\n".join(lines), _tar(write) if write else b"")
    return [line for line in err.splitlines() if line.startswith(RELOAD_FAILED)]


def _apply(
    props: dict[str, Any], write: dict[str, Any], removed: dict[str, Any], deleting: bool = False
) -> list[str]:
    """Apply the change (removed: path -> its recorded entry).

    Returns warnings: reloads that failed after a delete.
    """
    target = props["target"]
    if target["mode"] == "local":
        _local_apply(target["root"], write, sorted(removed))
        return []
    if not (write or removed):
        return []
    return _ssh_apply(props, write, removed, deleting)


class FilesProvider(ResourceProvider):
    """Ensures a target holds exactly a set of files; the id is '<target>:<group>'."""

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # olds are the recorded outputs, which keep each file's mode and hash but
        # not its content (see _outputs): compare by hash.
        write, remove = _changed(olds, news)
        changes = bool(write or remove) or (olds.get("reload") or []) != (news.get("reload") or [])
        # A new target (another host, port or directory) means delivering afresh
        # there and cleaning up the old one: a replacement.
        replaces = ["target"] if olds.get("target") != news.get("target") else []
        # private_key is deliberately not compared: rotating the key must not
        # re-deliver every file on every host.
        return DiffResult(
            changes=changes or bool(replaces),
            replaces=replaces,
            delete_before_replace=False,
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        write, _ = _changed({}, props)
        _apply(props, write, {})
        return CreateResult(id_=f"{_target_id(props['target'])}:{props['group']}", outs=_outputs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        write, remove = _changed(olds, news)
        _apply(news, write, {p: olds["files"][p] for p in remove})
        return UpdateResult(outs=_outputs(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _, remove = _changed(props, {})
        try:
            warnings = _apply(props, {}, {p: props["files"][p] for p in remove}, deleting=True)
        except UnreachableError as e:
            # The host is gone (retired, powered off for good): its files went
            # with it.  Failing here would wedge the stack forever.
            pulumi.log.warn(f"{_id}: host unreachable, dropping it from the stack without cleanup: {e}")
            return
        for w in warnings:
            pulumi.log.warn(f"{_id}: {w}")


def _outputs(props: dict[str, Any]) -> dict[str, Any]:
    """The inputs minus file contents.

    The inputs keep the contents, so `pulumi preview --diff` shows the changed
    lines; the outputs need only each file's mode and hash to diff, update and
    delete.  Storing contents once instead of twice halves the checkpoint the
    file backend rewrites after every step.
    """
    files = {p: {k: v for k, v in f.items() if k != "content"} for p, f in (props.get("files") or {}).items()}
    return {**props, "files": files}


def _target_id(target: dict[str, Any]) -> str:
    if target["mode"] == "local":
        return f"local:{target['root']}"
    # int(): the engine hands numbers back as floats (22.0)
    return f"ssh:{target['user']}@{target['host']}:{int(target['port'])}"


class Files(pulumi.dynamic.Resource):
    """The files of one payload group, delivered to one target.

    Outputs mirror the inputs; ``files`` maps each path to its mode and sha256
    (and content, so a preview diff shows the changed lines).
    """

    def __init__(
        self,
        name: str,
        *,
        group: str,
        target: dict[str, Any],
        files: dict[str, dict[str, str]],
        reload: list[str],
        private_key: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "group": group,
            "target": target,
            "files": files,
            "reload": reload,
            "private_key": private_key,
        }
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["private_key"])
        )
        super().__init__(FilesProvider(), name, props, opts)
