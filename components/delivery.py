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

Secret values (a machine's host key made by uniform, components/hostkey.py) are never in
a payload: the files hold placeholders (payloads/secrets.py) and the values are the
``secrets`` input, secret in the state; the provider substitutes them only when it writes
a file.  The recorded hashes are those of the files as rendered, so a changed value is
found by comparing the values themselves: the files that name it are written again.

A machine being installed (``installing``: staged) may not answer yet: a delivery that
finds it unreachable records that nothing was delivered and warns, instead of failing the
run; the first run after it answers delivers (its host key is pinned, so no keyscan).
"""

from __future__ import annotations

import io
import shlex
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from connectors import local, ssh
from connectors.target import LocalTarget, SshTarget, Target, endpoint

from .delivery_wire import (
    FileRecord,
    FilesInputs,
    FilesOutputs,
    PlacementRecord,
    RecordedFile,
    changed,
    index_of,
    recorded,
    substituted,
    wanted,
)
from .placement import move_problem
from .sdk_provider import trim_provider

SSH_TIMEOUT = 15  # seconds to connect; every wait in delivery is bounded
COMMAND_TIMEOUT = 300

#: the resource type: ``pulumi-python:dynamic/uniform:Files`` (see Files)
TYPE = "pulumi-python:dynamic/uniform:Files"
#: the type delivery resources had before they named theirs; an alias keeps their state
LEGACY_TYPE = "pulumi-python:dynamic:Resource"


class DeliveryError(Exception):
    pass


class UnreachableError(DeliveryError):
    pass


def _contents(props: FilesInputs | FilesOutputs, write: Mapping[str, FileRecord]) -> dict[str, FileRecord]:
    try:
        return substituted(props, write)
    except KeyError as e:
        raise DeliveryError(f"{e.args[0]}: no value for {e.args[1]}") from None


# --- local target: a directory per machine (connectors.local) -----------------


def _local_apply(target: LocalTarget, write: Mapping[str, FileRecord], remove: list[str]) -> None:
    files = {path: (f["content"], int(f["mode"], 8)) for path, f in write.items()}
    local.apply(Path(target["root"]), files, remove)


# --- ssh target: one OpenSSH session per change (connectors.ssh) --------------


def _tar(write: Mapping[str, FileRecord]) -> bytes:
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


def _ssh_run(target: SshTarget, private_key: str | None, script: str, stdin: bytes) -> str:
    """Run ``script`` on the target; its stderr when it succeeded."""
    address = f"{target['user']}@{target['host']}:{int(target['port'])}"
    if not target.get("host_key"):
        # check_delivery refuses such a target before anything is registered; never
        # connect to a host whose key is not pinned.
        raise DeliveryError(f"{address}: no pinned host key")
    try:
        return ssh.run(
            endpoint(target),
            script,
            stdin=stdin,
            private_key=private_key,
            connect_timeout=SSH_TIMEOUT,
            timeout=COMMAND_TIMEOUT,
        ).stderr
    except ssh.Unreachable as e:
        raise UnreachableError(f"{address}: {e}") from e
    except (ssh.SshError, ValueError) as e:
        raise DeliveryError(f"{address}: {e}") from e


RELOAD_FAILED = "uniform: reload failed after delete:"


def _reloads(
    props: Mapping[str, Any], write: Mapping[str, RecordedFile], removed: Mapping[str, RecordedFile]
) -> list[str]:
    """The group's reload commands that the changed files need, in the group's order.

    Each file names the reload its change needs (a config-only change to a DHCP
    server restarts dnsmasq, not networkd); a file recorded before files named
    theirs needs the whole group's.
    """
    group: list[str] = list(props.get("reload") or [])
    changed = [*write.values(), *removed.values()]
    if any("reload" not in f for f in changed):
        return group
    wanted = {f.get("reload") for f in changed if f.get("reload")}
    return [cmd for cmd in group if cmd in wanted]


def _ssh_apply(
    props: FilesInputs | FilesOutputs,
    target: SshTarget,
    write: Mapping[str, FileRecord],
    removed: Mapping[str, RecordedFile],
    deleting: bool,
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
    err = _ssh_run(target, props.get("private_key"), "\n".join(lines), _tar(write) if write else b"")
    return [line for line in err.splitlines() if line.startswith(RELOAD_FAILED)]


def _apply(
    props: FilesInputs | FilesOutputs,
    write: Mapping[str, FileRecord],
    removed: Mapping[str, RecordedFile],
    deleting: bool = False,
) -> list[str]:
    """Apply the change (removed: path -> its recorded entry).

    Returns warnings: reloads that failed after a delete.
    """
    target = props["target"]
    write = _contents(props, write)
    if target["mode"] == "local":
        _local_apply(target, write, sorted(removed))
        return []
    if not (write or removed):
        return []
    return _ssh_apply(props, target, write, removed, deleting)


class FilesProvider(ResourceProvider):
    """Ensures a target holds exactly a set of files; the id is '<target>:<group>'.

    The engine hands plain dicts (the SDK's signatures); each method reads them as
    FilesInputs (news) or FilesOutputs (olds, the recorded outputs).

    A VM's base files also record where the VM is defined (``placement``): only the
    deployed state knows where it ran, so ``check`` -- which sees the recorded inputs
    (olds) and the new ones -- fails the preview, and so the update, of a move the
    machine file does not acknowledge (components/placement.py ``move_problem``,
    docs/inventory.md "Moving a VM").  This was a resource of its own per VM
    (``<vm>-placement``); carried here it costs no registration, Check or Diff.
    """

    # The pickled provider is a reference to this class (55 bytes, no state, no secret):
    # stored in the clear it costs no encryption per resource, and 160 fewer bytes of
    # ciphertext in inputs and outputs each (docs/scale.md).
    serialize_as_secret_always = False

    #: check reads only these inputs and answers with the new inputs as given, so the
    #: provider process answers Check without the round trip of the rest (sdk_provider.py)
    check_reads = ("placement",)

    def check(self, _olds: dict[str, Any], _news: dict[str, Any]) -> CheckResult:
        new = cast(FilesInputs, _news).get("placement")
        old = cast(FilesInputs, _olds or {}).get("placement")
        why = None
        if new:
            move = new.get("move")
            why = move_problem(
                str(new["vm"]),
                str(old["hypervisor"]) if old else None,
                str(new["hypervisor"]),
                (str(move[0]), str(move[1])) if move else None,
            )
        return CheckResult(_news, [CheckFailure("placement", why)] if why else [])

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        olds, news = cast(FilesOutputs, _olds), cast(FilesInputs, _news)
        # olds are the recorded outputs, which keep each file's mode and hash but
        # not its content (see _outputs): compare by hash, and the secret values by value.
        write, remove = changed(recorded(olds), wanted(news), olds.get("secrets"), news.get("secrets"))
        changes = bool(write or remove) or (olds.get("reload") or []) != (news.get("reload") or [])
        # A changed placement (an acknowledged move) is an update that writes nothing and
        # shows the move in the preview.  Outputs recorded before the fold have none: that
        # alone is no change (the engine records the new inputs, which check reads, on an
        # unchanged step), but an acknowledged move still shows.
        placement = news.get("placement")
        if "placement" in olds:
            changes = changes or olds.get("placement") != placement
        elif placement and placement.get("move"):
            changes = True
        # A new target (another host, port or directory) means delivering afresh
        # there and cleaning up the old one: a replacement.  A new pinned host key alone
        # is the same host: an update that writes nothing and records the new pin (the
        # delete of a replacement would remove the files the create just wrote).
        old_t, new_t = dict(olds.get("target") or {}), dict(news.get("target") or {})
        replaces = ["target"] if _place(old_t) != _place(new_t) else []
        changes = changes or old_t.get("host_key") != new_t.get("host_key")
        # private_key is deliberately not compared: rotating the key must not
        # re-deliver every file on every host.
        return DiffResult(
            changes=changes or bool(replaces),
            replaces=replaces,
            delete_before_replace=False,
        )

    def create(self, _props: dict[str, Any]) -> CreateResult:
        props = cast(FilesInputs, _props)
        write, _ = changed({}, wanted(props))
        id_ = f"{_target_id(props['target'])}:{props['group']}"
        try:
            _apply(props, write, {})
        except UnreachableError as e:
            if not props.get("installing"):
                raise
            return CreateResult(id_=id_, outs=_not_yet(id_, props, {}, e))
        return CreateResult(id_=id_, outs=_outputs(props))

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        olds, news = cast(FilesOutputs, _olds), cast(FilesInputs, _news)
        had = recorded(olds)
        write, remove = changed(had, wanted(news), olds.get("secrets"), news.get("secrets"))
        try:
            _apply(news, write, {p: had[p] for p in remove})
        except UnreachableError as e:
            if not news.get("installing"):
                raise
            return UpdateResult(outs=_not_yet(_id, news, had, e))
        return UpdateResult(outs=_outputs(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        props = cast(FilesOutputs, _props)
        try:
            warnings = _apply(props, {}, recorded(props), deleting=True)
        except UnreachableError as e:
            # The host is gone (retired, powered off for good): its files went
            # with it.  Failing here would wedge the stack forever.
            pulumi.log.warn(f"{_id}: host unreachable, dropping it from the stack without cleanup: {e}")
            return
        for w in warnings:
            pulumi.log.warn(f"{_id}: {w}")


def _outputs(props: FilesInputs) -> dict[str, Any]:
    """The inputs minus file contents (a FilesOutputs, as the SDK's plain dict).

    The inputs keep the contents, so `pulumi preview --diff` shows the changed
    lines; the outputs need only each file's mode and hash (the index) to diff,
    update and delete.  Storing contents once instead of twice halves the state.
    """
    return {k: v for k, v in props.items() if k != "files"}


def _not_yet(
    id_: str, props: FilesInputs, delivered: Mapping[str, RecordedFile], why: UnreachableError
) -> dict[str, Any]:
    """The outputs of a delivery to a machine being installed that does not answer yet: what it
    already held (``delivered``) and nothing else, so the next run delivers the rest.  The
    recorded secret values are dropped with the files: every file naming one is written then."""
    pulumi.log.warn(
        f"{id_}: not answering yet (being installed): its files are delivered by the first run "
        f"after it answers, with its pinned host key ({why})"
    )
    outs = _outputs(props)
    outs["index"] = index_of(delivered)
    outs.pop("secrets", None)
    return outs


def _place(target: Mapping[str, Any]) -> dict[str, Any]:
    """Where a target delivers, without the key that proves it (a new key is the same place)."""
    return {k: v for k, v in target.items() if k != "host_key"}


def _target_id(target: Target) -> str:
    if target["mode"] == "local":
        return f"local:{target['root']}"
    # int(): the engine hands numbers back as floats (22.0)
    return f"ssh:{target['user']}@{target['host']}:{int(target['port'])}"


def _no_nulls(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` without its null entries.  The SDK's Check drops them from the inputs it
    answers with; the provider's short Check answers with the inputs as registered
    (components/sdk_provider.py), so they must hold none for both to record the same."""
    return {k: v for k, v in value.items() if v is not None}


class Files(pulumi.dynamic.Resource, module="uniform", name="Files"):
    """The files of one payload group, delivered to one target.

    Its type is ``pulumi-python:dynamic/uniform:Files``: previews and review name it.
    Resources created before it had a name (the SDK's ``pulumi-python:dynamic:Resource``)
    keep their state through an alias: no replace, no delete and create.

    Inputs: each file's content under ``files`` (a preview diff shows its changed lines)
    and its mode, hash and reload in ``index`` (components/delivery_wire.py).  Outputs
    mirror the inputs without the contents.
    """

    def __init__(
        self,
        name: str,
        *,
        group: str,
        target: Target,
        files: Mapping[str, FileRecord],
        reload: list[str],
        private_key: pulumi.Input[str] | None = None,
        placement: PlacementRecord | None = None,
        secrets: pulumi.Input[Mapping[str, str]] | None = None,
        installing: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "group": group,
            "target": _no_nulls(target),
            "files": {path: f["content"] for path, f in files.items()},
            "index": index_of(files),
            "reload": reload,
            "private_key": private_key,
        }
        if placement is not None:
            # only then: every other delivery resource keeps its recorded inputs exactly
            props["placement"] = _no_nulls(placement)
        if secrets is not None:
            # the whole map is one secret (a public half too: it stands next to its private one)
            props["secrets"] = pulumi.Output.secret(secrets)
        if installing:
            props["installing"] = True
        opts = pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                additional_secret_outputs=["private_key", "secrets"],
                aliases=[pulumi.Alias(type_=LEGACY_TYPE)],
            ),
        )
        super().__init__(FilesProvider(), name, props, opts)


# In the dynamic provider's process (which imports this module to unpickle FilesProvider)
# only: its Check then skips the round trip of every file's content (components/sdk_provider.py).
trim_provider()
