"""The HostKey and Files providers, called as the engine calls them (components/hostkey.py,
components/delivery.py): a key made once and only for a machine being installed; secret values
substituted on write and never recorded in a file's hash; a changed value re-delivers, an
unchanged one does not; a machine being installed that does not answer yet is no failure."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.delivery import DeliveryError, FilesProvider, UnreachableError
from components.delivery_wire import FileRecord, index_of, recorded
from components.hostkey import HostKeyProvider, generate
from payloads.secrets import placeholder
from payloads.types import PayloadFile


def test_generate_makes_a_valid_ed25519_pair(tmp_path: Path) -> None:
    private, public = generate("web1.example")
    f = tmp_path / "k"
    f.touch(mode=0o600)
    f.write_text(private)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(f)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == public.split()[:2]
    assert public.startswith("ssh-ed25519 ") and public.endswith(" web1.example")
    assert generate("x")[0] != private  # a new key every time


@pytest.mark.parametrize(
    ("olds", "state", "refused"),
    [
        ({}, "staged", False),  # a machine being installed: made
        ({}, "active", True),  # installed already: its key exists, uniform cannot know it
        ({}, "failed", True),
        ({"machine": "web1", "state": "staged"}, "active", False),  # made while staged: kept
    ],
)
def test_a_key_is_made_only_for_a_machine_being_installed(olds: dict, state: str, refused: bool) -> None:
    news = {"machine": "web1", "state": state, "comment": "web1.example"}
    result = HostKeyProvider().check(olds, news)
    assert bool(result.failures) == refused
    if refused:
        assert result.failures[0].property == "state"
        assert (
            "ssh.host_keys.web1" in result.failures[0].reason and "ssh-keyscan" in result.failures[0].reason
        )


def test_a_key_never_changes_with_its_inputs() -> None:
    p = HostKeyProvider()
    made = p.create({"machine": "web1", "state": "staged", "comment": "c"})
    assert made.id == "web1" and "PRIVATE KEY" in made.outs["private_key"]
    later = {"machine": "web1", "state": "active", "comment": "other"}
    diff = p.diff("web1", made.outs, later)
    assert diff.changes is False and not diff.replaces


PRIV = placeholder("hostkey.vm1.private", "json")
PUB = placeholder("hostkey.vm1.public", "json")


def _props(
    root: Path, secrets: dict[str, str] | None, only: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    """The inputs of a Files resource for two seed files (or ``only`` those), as the engine hands them."""
    files = {
        "/seed/user-data": PayloadFile("/seed/user-data", f'k: "{PRIV}"\np: "{PUB}"\n'),
        "/seed/meta-data": PayloadFile("/seed/meta-data", "instance-id: x\n"),
    }
    records = {
        p: FileRecord(content=f.content, mode="0644", sha256=f.sha256, reload="")
        for p, f in files.items()
        if not only or p in only
    }
    props: dict[str, Any] = {
        "group": "hypervisor",
        "target": {"mode": "local", "root": str(root)},
        "files": {p: f["content"] for p, f in records.items()},
        "index": index_of(records),
        "reload": [],
        "private_key": None,
        **extra,
    }
    if secrets is not None:
        props["secrets"] = secrets
    return props


def test_files_substitute_on_write_and_diff_by_value(tmp_path: Path) -> None:
    p = FilesProvider()
    one = {"hostkey.vm1.private": "KEY-ONE\nline", "hostkey.vm1.public": "ssh-ed25519 AAAA one"}
    news = _props(tmp_path, one)
    made = p.create(news)
    written = (tmp_path / "seed/user-data").read_text()
    assert written == 'k: "KEY-ONE\\nline"\np: "ssh-ed25519 AAAA one"\n'
    # the recorded hash is the rendered file's (placeholders), as in the manifest and review
    assert recorded(made.outs)["/seed/user-data"]["sha256"] == recorded(news)["/seed/user-data"]["sha256"]
    assert "files" not in made.outs, "the outputs keep no content"
    assert made.outs["secrets"] == one  # recorded (the resource marks it secret) to diff by value
    # unchanged values: nothing to do
    assert p.diff("id", made.outs, _props(tmp_path, dict(one))).changes is False
    # a new key: only the file naming it is written again
    two = {**one, "hostkey.vm1.private": "KEY-TWO"}
    assert p.diff("id", made.outs, _props(tmp_path, two)).changes is True
    (tmp_path / "seed/meta-data").write_text("hand edit\n")
    p.update("id", made.outs, _props(tmp_path, two))
    assert 'k: "KEY-TWO"' in (tmp_path / "seed/user-data").read_text()
    assert (tmp_path / "seed/meta-data").read_text() == "hand edit\n", "an unchanged file is not rewritten"


def test_files_refuse_a_placeholder_without_its_value(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="hostkey.vm1.public") as e:
        FilesProvider().create(_props(tmp_path, {"hostkey.vm1.private": "KEY-ONE"}))
    assert "KEY-ONE" not in str(e.value)
    assert not (tmp_path / "seed/user-data").exists()


def test_a_new_pin_alone_is_an_update_that_writes_nothing(tmp_path: Path) -> None:
    target = {
        "mode": "ssh",
        "host": "127.0.0.1",
        "port": 22,
        "user": "root",
        "host_key": "ssh-ed25519 AAAA old",
    }
    olds = {**_props(tmp_path, None), "target": target}
    news = {**olds, "target": {**target, "host_key": "ssh-ed25519 AAAA new"}}
    diff = FilesProvider().diff("id", olds, news)
    assert diff.changes is True and diff.replaces == []  # a replace would delete what its create wrote
    moved = {**olds, "target": {**target, "host": "127.0.0.2"}}
    assert FilesProvider().diff("id", olds, moved).replaces == ["target"]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("installing", [True, False])
def test_a_machine_being_installed_that_does_not_answer_yet(tmp_path: Path, installing: bool) -> None:
    """Staged: unreachable is recorded as "nothing delivered" (the next run delivers); otherwise it fails."""
    target = {
        "mode": "ssh",
        "host": "127.0.0.1",
        "port": _closed_port(),
        "user": "root",
        "host_key": "ssh-ed25519 AAAA k",
    }
    props = {**_props(tmp_path, {"hostkey.vm1.private": "K", "hostkey.vm1.public": "P"}), "target": target}
    if installing:
        props["installing"] = True
        made = FilesProvider().create(props)
        assert recorded(made.outs) == {} and "secrets" not in made.outs
        assert FilesProvider().diff("id", made.outs, props).changes is True  # the next run tries again
        again = FilesProvider().update("id", made.outs, props)
        assert recorded(again.outs) == {}
    else:
        with pytest.raises(UnreachableError):
            FilesProvider().create(props)


def test_a_preview_before_the_key_exists_shows_the_files_naming_it(tmp_path: Path) -> None:
    """In a preview the values of a key being made are unknown (the engine's Unknown)."""
    from pulumi.output import Unknown

    made = FilesProvider().create(_props(tmp_path, {"hostkey.vm1.private": "K", "hostkey.vm1.public": "P"}))
    assert FilesProvider().diff("id", made.outs, _props(tmp_path, Unknown())).changes is True  # type: ignore[arg-type]
    # a group recorded before it named a key, and still naming none, is unchanged
    plain = _props(tmp_path, None, only=("/seed/meta-data",))
    recorded = FilesProvider().create(plain)
    assert FilesProvider().diff("id", recorded.outs, {**plain, "secrets": Unknown()}).changes is False
