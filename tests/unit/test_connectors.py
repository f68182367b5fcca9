"""connectors/: the one SSH session and the one local tree, without a network."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from connectors import local, ssh
from connectors.target import endpoint, local_target, ssh_target, target_for

# ---------------------------------------------------------------- local tree


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_apply_writes_with_modes_and_prunes_what_it_removes(tmp_path: Path) -> None:
    root = tmp_path / "web1"
    local.apply(root, {"/etc/a/b.conf": ("b\n", 0o600), "/etc/hostname": ("web1\n", 0o644)}, [])
    assert (root / "etc/a/b.conf").read_text() == "b\n" and mode(root / "etc/a/b.conf") == 0o600
    assert not list(root.rglob(".*uniform-tmp"))
    local.apply(root, {"/etc/hostname": ("web1\n", 0o640)}, ["/etc/a/b.conf", "/etc/never.conf"])
    assert not (root / "etc/a").exists() and mode(root / "etc/hostname") == 0o640
    # the last file gone: the machine's own directory goes too, its parent stays
    local.apply(root, {}, ["/etc/hostname"])
    assert not root.exists() and tmp_path.is_dir()


def test_observe_and_read_texts(tmp_path: Path) -> None:
    local.write(tmp_path, "/etc/x", "x", 0o640)
    local.write(tmp_path, "/etc/m.d/a.json", "{}", 0o644)
    (tmp_path / "etc/m.d/sub.json").mkdir()
    obs = local.observe(tmp_path, ["/etc/x", "/etc/absent", "/etc/x"])
    assert obs == {"/etc/x": ("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", 0o640)}
    assert local.read_texts(tmp_path, "/etc/m.d/", "*.json") == {"a.json": "{}"}
    assert local.read_texts(tmp_path, "/nowhere/") == {}


# ---------------------------------------------------------------- target


def test_target_for_follows_the_delivery_mode(tmp_path: Path) -> None:
    import dataclasses

    import inventory

    inv = inventory.load(Path(__file__).resolve().parents[2] / "stacks" / "demo")
    m = next(iter(inv.machines.values()))
    assert target_for(inv, m) == local_target(inv, m) == {"mode": "local", "root": f"out/demo/{m.name}"}
    ssh_inv = dataclasses.replace(
        inv,
        customer=dataclasses.replace(
            inv.customer, delivery=dataclasses.replace(inv.customer.delivery, mode="ssh")
        ),
    )
    t = target_for(ssh_inv, m, user="ops", port=2222)
    assert t == ssh_target(ssh_inv, m, user="ops", port=2222)
    assert t["mode"] == "ssh" and (t["user"], t["port"], t["host"]) == ("ops", 2222, m.ssh_address)
    assert ssh_target(inv, m)["port"] == inv.customer.ssh.port


def test_endpoint_needs_an_address() -> None:
    t = ssh.Endpoint("h", 22, "root", "k")
    assert endpoint({"mode": "ssh", "host": "h", "port": 22.0, "user": "root", "host_key": "k"}) == t  # type: ignore[typeddict-item]
    assert t.address == "root@h:22"
    with pytest.raises(ValueError, match="no address"):
        endpoint({"mode": "ssh", "host": None, "port": 22, "user": "root", "host_key": "k"})


# ---------------------------------------------------------------- ssh session


def fake_ssh(tmp_path: Path, body: str) -> str:
    """An ``ssh`` that records its arguments and the key file it was given, then runs ``body``."""
    script = tmp_path / "ssh"
    script.write_text(
        f"""#!{sys.executable}
import os, stat, subprocess, sys, time
args = sys.argv[1:]
log = open({str(tmp_path / "log")!r}, "w")
log.write("\\n".join(args) + "\\n")
if "-i" in args:
    key = args[args.index("-i") + 1]
    log.write("KEYMODE %o\\n" % stat.S_IMODE(os.stat(key).st_mode))
log.close()
{body}
"""
    )
    script.chmod(0o755)
    return str(script)


TO = ssh.Endpoint("10.0.0.1", 2222, "root", "ssh-ed25519 AAAAkey")


def test_run_pins_the_key_and_keeps_the_private_key_in_a_0600_file(tmp_path: Path) -> None:
    exe = fake_ssh(tmp_path, "sys.stdout.write(sys.stdin.read().upper()); sys.stderr.write('note\\n')")
    res = ssh.run(TO, "cat", stdin=b"abc", private_key="PRIVATE", connect_timeout=3, timeout=20, ssh=exe)
    assert (res.stdout, res.stderr) == (b"ABC", "note")
    log = (tmp_path / "log").read_text().splitlines()
    assert "KEYMODE 600" in log and "IdentitiesOnly=yes" in log and "StrictHostKeyChecking=yes" in log
    assert log[log.index("-p") + 1] == "2222" and log[-3:-1] == ["root@10.0.0.1", "cat"]
    known = next(a.split("=", 1)[1] for a in log if a.startswith("UserKnownHostsFile="))
    key = log[log.index("-i") + 1]
    assert not Path(known).exists() and not Path(key).exists()  # gone with the session
    assert "PRIVATE" not in (tmp_path / "log").read_text()


def test_exit_255_is_unreachable_and_others_fail(tmp_path: Path) -> None:
    refuse = fake_ssh(tmp_path, "sys.stderr.write('Connection refused\\n'); sys.exit(255)")
    with pytest.raises(ssh.Unreachable, match="ssh failed: Connection refused"):
        ssh.run(TO, "true", connect_timeout=3, timeout=20, ssh=refuse)
    fail = fake_ssh(tmp_path, "sys.stderr.write('boom\\n'); sys.exit(3)")
    with pytest.raises(ssh.SshError, match=r"remote command failed \(exit 3\): boom") as e:
        ssh.run(TO, "true", connect_timeout=3, timeout=20, ssh=fail)
    assert not isinstance(e.value, ssh.Unreachable)
    with pytest.raises(ssh.SshError, match="no pinned host key"):
        ssh.run(ssh.Endpoint("h", 22, "root", None), "true", connect_timeout=3, timeout=20, ssh=fail)
    with pytest.raises(ssh.SshError, match="cannot run ssh"):
        ssh.run(TO, "true", connect_timeout=3, timeout=20, ssh=str(tmp_path / "nosuch"))


@pytest.mark.parametrize("converse", [False, True])
def test_timeout_bounds_the_session(tmp_path: Path, converse: bool) -> None:
    hang = fake_ssh(tmp_path, "time.sleep(30)")
    t0 = time.monotonic()
    with pytest.raises(ssh.SshError, match="timed out after 1s"):
        if converse:
            ssh.run(TO, "x", reply=lambda h: b"", reply_after=b"@@\n", connect_timeout=3, timeout=1, ssh=hang)
        else:
            ssh.run(TO, "x", connect_timeout=3, timeout=1, ssh=hang)
    assert time.monotonic() - t0 < 10


def test_conversation(tmp_path: Path) -> None:
    """The command prints, asks; the reply (computed from what it printed) is its stdin."""
    exe = fake_ssh(
        tmp_path,
        "print('a'); print('b'); print('@@ask', flush=True); sys.stdout.write('got ' + sys.stdin.read())",
    )
    seen: list[bytes] = []

    def reply(head: bytes) -> bytes:
        seen.append(head)
        return b"answer\n"

    res = ssh.run(TO, "x", reply=reply, reply_after=b"@@ask\n", connect_timeout=3, timeout=20, ssh=exe)
    assert seen == [b"a\nb\n@@ask\n"]
    assert res.stdout == b"a\nb\n@@ask\ngot answer\n"


@pytest.mark.parametrize(
    "stderr",
    [
        "Host key verification failed.",
        "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@",
        "root@10.0.0.1: Permission denied (publickey).",
    ],
)
def test_a_host_that_is_not_ours_is_refused_not_unreachable(tmp_path: Path, stderr: str) -> None:
    exe = fake_ssh(tmp_path, f"sys.stderr.write({stderr!r} + '\\n'); sys.exit(255)")
    with pytest.raises(ssh.Refused) as e:
        ssh.run(TO, "true", connect_timeout=3, timeout=20, ssh=exe)
    assert not isinstance(e.value, ssh.Unreachable)


def test_delete_on_a_host_with_another_key_fails_instead_of_dropping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreachable host's files leave the stack with a warning (the host is gone); a host
    that answers with the wrong key is not gone: the delete fails and the state keeps them."""
    from components.delivery import DeliveryError, FilesProvider

    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    props = {
        "group": "base",
        "target": {
            "mode": "ssh",
            "host": "10.0.0.1",
            "port": 22,
            "user": "root",
            "host_key": "ssh-ed25519 AAAAkey",
        },
        "files": {"/etc/hostname": {"mode": "0644", "sha256": "x", "reload": ""}},
        "reload": [],
        "private_key": None,
    }
    (bindir / "ssh").symlink_to(tmp_path / "ssh")
    fake_ssh(tmp_path, "sys.stderr.write('Host key verification failed.\\n'); sys.exit(255)")
    with pytest.raises(DeliveryError, match="Host key verification failed"):
        FilesProvider().delete("ssh:root@10.0.0.1:22:base", props)
    fake_ssh(tmp_path, "sys.stderr.write('No route to host\\n'); sys.exit(255)")
    FilesProvider().delete("ssh:root@10.0.0.1:22:base", props)  # gone: dropped with a warning
