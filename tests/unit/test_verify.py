"""ops.verify without a network: the comparison, the host script's answer, the ssh
command line and the runner (with a stand-in `ssh` that runs the host script on this machine).
The command, `uniform verify`, is tested in tests/unit/test_cli_ops.py."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

import inventory
import payloads
from connectors import ssh
from connectors.local import write_tree
from connectors.target import SshTarget
from inventory.model import State
from ops import verify as V
from payloads import manifest as M

ROOT = Path(__file__).resolve().parents[2]
SHA_A, SHA_B = "a" * 64, "b" * 64


def obs(
    files: dict[str, tuple[str, int]] | None = None, manifests: dict[str, str] | None = None
) -> V.Observed:
    return V.Observed(files=dict(files or {}), manifests=dict(manifests or {}))


def manifest(*paths: str) -> str:
    return json.dumps({"files": [{"path": p, "mode": "0644", "sha256": SHA_A} for p in paths]}, indent=2)


EXPECTED = {
    "/etc/hostname": V.Expected(SHA_A, 0o644),
    "/root/.ssh/authorized_keys": V.Expected(SHA_B, 0o600),
    "/etc/uniform/manifest.d/base.json": V.Expected(SHA_A, 0o644),
}


def cmp(o: V.Observed) -> V.HostResult:
    return V.compare("h", "root@h:22", EXPECTED, o)


# ---------------------------------------------------------------- compare


def test_clean() -> None:
    r = cmp(
        obs(
            {
                "/etc/hostname": (SHA_A, 0o644),
                "/root/.ssh/authorized_keys": (SHA_B, 0o600),
                "/etc/uniform/manifest.d/base.json": (SHA_A, 0o644),
            },
            {"base.json": manifest("/etc/hostname", "/root/.ssh/authorized_keys")},
        )
    )
    assert r.status == "clean" and (r.missing, r.changed, r.unexpected) == ((), (), ())


def test_missing_changed_content_and_mode() -> None:
    r = cmp(
        obs(
            {
                "/etc/hostname": (SHA_B, 0o644),
                "/root/.ssh/authorized_keys": (SHA_A, 0o644),
            }
        )
    )
    assert r.status == "drift"
    assert r.missing == ("/etc/uniform/manifest.d/base.json",)
    assert r.changed == (
        V.Change("/etc/hostname", "content"),
        V.Change("/root/.ssh/authorized_keys", "content, mode 0644, expected 0600"),
    )
    assert r.unexpected == ()


def test_mode_only() -> None:
    files = {p: (e.sha256, e.mode) for p, e in EXPECTED.items()}
    files["/etc/hostname"] = (SHA_A, 0o600)
    r = cmp(obs(files))
    assert r.changed == (V.Change("/etc/hostname", "mode 0600, expected 0644"),)


def test_unreadable_file_is_changed_not_missing() -> None:
    files = {p: (e.sha256, e.mode) for p, e in EXPECTED.items()}
    files["/etc/hostname"] = ("unreadable", 0o644)
    assert cmp(obs(files)).changed == (V.Change("/etc/hostname", "unreadable"),)


def test_unexpected_recorded_present_only() -> None:
    files = {p: (e.sha256, e.mode) for p, e in EXPECTED.items()}
    files["/etc/old.conf"] = (SHA_A, 0o644)  # recorded and still there: unexpected
    files["/etc/uniform/manifest.d/dhcp.json"] = (SHA_A, 0o644)
    r = cmp(
        obs(
            files,
            {
                "base.json": manifest("/etc/hostname", "/etc/gone.conf"),  # gone.conf absent: cleaned up
                "dhcp.json": manifest("/etc/old.conf"),  # a whole group that is no longer expected
            },
        )
    )
    assert r.status == "drift"
    assert r.unexpected == ("/etc/old.conf", "/etc/uniform/manifest.d/dhcp.json")
    assert r.missing == () and r.changed == ()


def test_unparseable_manifest_is_itself_unexpected_when_not_expected() -> None:
    files = {p: (e.sha256, e.mode) for p, e in EXPECTED.items()}
    r = cmp(obs(files, {"base.json": manifest(), "junk.json": "{not json"}))
    assert r.unexpected == ("/etc/uniform/manifest.d/junk.json",)
    assert M.recorded_paths("{not json") == [] and M.recorded_paths("[1, 2]") == []


def test_unrecorded_extra_files_are_not_unexpected() -> None:
    """Files nobody recorded (the host's own) are none of verify's business."""
    files = {p: (e.sha256, e.mode) for p, e in EXPECTED.items()}
    files["/etc/passwd"] = (SHA_A, 0o644)
    assert cmp(obs(files, {"base.json": manifest("/etc/hostname")})).status == "clean"


# ---------------------------------------------------------------- the host's answer


def test_parse_output() -> None:
    text = (
        "@@manifest base.json\n"
        + manifest("/etc/hostname")
        + "\n@@end\n"
        + "@@stat\n644 /etc/hostname\n600 /etc/with space\n640 /etc/shadowy\n"
        + f"@@sha256\n{SHA_A}  /etc/hostname\n{SHA_B}  /etc/with space\n"
        + "@@done\n"
    )
    o = V.parse_output(text)
    assert V.parse_output(text.split("@@stat")[0], complete=False).manifests == o.manifests
    assert json.loads(o.manifests["base.json"]) == json.loads(manifest("/etc/hostname"))
    assert o.files == {
        "/etc/hostname": (SHA_A, 0o644),
        "/etc/with space": (SHA_B, 0o600),
        "/etc/shadowy": ("unreadable", 0o640),  # stat saw it, sha256sum could not read it
    }
    assert V.parse_output("@@done\n") == V.Observed()


def test_parse_output_truncated() -> None:
    with pytest.raises(V.ParseError):
        V.parse_output(f"@@stat\n644 /etc/hostname\n@@sha256\n{SHA_A}  /etc/hostname\n")
    with pytest.raises(V.ParseError):
        V.parse_output("@@sha256\nnot-a-hash /etc/hostname\n@@done\n")


# ---------------------------------------------------------------- targets and ssh command


def test_targets_are_the_delivered_machines() -> None:
    inv = inventory.load(ROOT / "stacks" / "acme")
    tg = V.targets(inv)
    rendered = payloads.render_customer(inv)
    assert [t.machine for t in tg] == sorted(
        n for n, m in inv.machines.items() if inventory.lifecycle.delivered(m.state)
    )
    assert "old1" not in [t.machine for t in tg]  # retired
    for t in tg:
        assert t.files == {f.path: V.Expected(f.sha256, f.mode) for f in rendered[t.machine].files}
        assert (t.user, t.port) == (inv.customer.ssh.user, inv.customer.ssh.port)
        assert t.host_key == dict(inv.customer.ssh.host_keys).get(t.machine)
    hv1 = next(t for t in tg if t.machine == "hv1")
    assert hv1.host == inv.machines["hv1"].nics[0].attachments[0].ipv4
    tg = V.targets(inv, user="ops", port=2222, only=["hv1"])
    assert [(t.machine, t.user, t.port) for t in tg] == [("hv1", "ops", 2222)]


def test_verify_reaches_hosts_where_delivery_does() -> None:
    """verify's target is delivery's ssh target (one function, connectors.target), machine by machine."""
    pytest.importorskip("pulumi")
    import dataclasses

    from components.stack import StackSettings, target_for

    for customer in ("acme", "demo", "lab", "globex"):
        inv = inventory.load(ROOT / "stacks" / customer)
        inv = dataclasses.replace(
            inv,
            customer=dataclasses.replace(
                inv.customer, delivery=dataclasses.replace(inv.customer.delivery, mode="ssh")
            ),
        )
        for t in V.targets(inv):
            assert t.to == target_for(inv, inv.machines[t.machine], StackSettings())
            assert t.to["mode"] == "ssh"
            assert (t.host, t.port, t.user, t.host_key) == (
                t.to["host"],
                t.to["port"],
                t.to["user"],
                t.to["host_key"],
            )


def to(host: str | None = "10.0.0.1", port: int = 22, key: str | None = "ssh-ed25519 AAAAkey") -> SshTarget:
    return {"mode": "ssh", "host": host, "port": port, "user": "root", "host_key": key}


def test_ssh_command_pins_the_host_key(tmp_path: Path) -> None:
    e = ssh.Endpoint("10.0.0.1", 22, "root", "ssh-ed25519 AAAAkey")
    cmd = ssh.ssh_command(e, tmp_path / "kh", "true", connect_timeout=7, identity="/k/id")
    joined = " ".join(cmd)
    for opt in (
        "BatchMode=yes",
        "ConnectTimeout=7",
        "StrictHostKeyChecking=yes",
        f"UserKnownHostsFile={tmp_path / 'kh'}",
        "GlobalKnownHostsFile=/dev/null",
        "IdentitiesOnly=yes",
    ):
        assert f"-o {opt}" in joined
    assert cmd[cmd.index("-i") + 1] == "/k/id"
    assert cmd[-2] == "root@10.0.0.1" and cmd[cmd.index("-p") + 1] == "22"
    assert "-i" not in ssh.ssh_command(e, tmp_path / "kh", "true", connect_timeout=7)
    assert ssh.known_hosts_line("10.0.0.1", 22, "ssh-ed25519 AAAAkey") == "10.0.0.1 ssh-ed25519 AAAAkey\n"
    assert ssh.known_hosts_line("10.0.0.1", 2222, "k") == "[10.0.0.1]:2222 k\n"


# ---------------------------------------------------------------- a stand-in ssh


def fake_ssh(tmp_path: Path, root: Path, *, behaviour: str = "run") -> str:
    """An `ssh` that checks its options and runs the host script on this machine, with the
    host's paths under ``root``.  behaviour: run | refuse (exit 255) | hang."""
    script = tmp_path / "ssh"
    script.write_text(
        f"""#!{sys.executable}
import subprocess, sys, time
args = sys.argv[1:]
open({str(tmp_path / "ssh.log")!r}, "w").write("\\n".join(args))
if {behaviour!r} == "refuse":
    sys.stderr.write("ssh: connect to host x port 22: Connection refused\\n"); sys.exit(255)
if {behaviour!r} == "hang":
    time.sleep(30)
known = next(a.split("=", 1)[1] for a in args if a.startswith("UserKnownHostsFile="))
if "ssh-ed25519" not in open(known).read() or "BatchMode=yes" not in args:
    sys.exit(255)
remote = args[-1]
for old, new in [
    ("md=/etc/uniform/manifest.d", "md={root}/etc/uniform/manifest.d"),
    ("while IFS= read -r p; do", 'while IFS= read -r p; do p="{root}$p";'),
]:
    if old not in remote:
        sys.exit(99)
    remote = remote.replace(old, new)
proc = subprocess.Popen(["sh", "-c", remote], stdin=sys.stdin, stdout=subprocess.PIPE, text=True)
for line in proc.stdout:
    sys.stdout.write(line.replace(" {root}/", " /"))
    sys.stdout.flush()
sys.exit(proc.wait())
"""
    )
    script.chmod(0o755)
    return str(script)


def host_tree(tmp_path: Path, inv: inventory.Inventory, machine: str) -> Path:
    out = tmp_path / "hosts"
    write_tree({machine: payloads.render_customer(inv)[machine]}, out)
    root = out / machine
    # manifests name host paths; the stand-in maps /etc and /root under root
    return root


@pytest.fixture
def lab_inv(tmp_path: Path) -> inventory.Inventory:
    d = tmp_path / "lab"
    shutil.copytree(ROOT / "stacks" / "lab", d)
    text = (d / "customer.yaml").read_text()
    keys = "{" + ", ".join(f'{m}: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{m}"' for m in ["svc1"]) + "}"
    (d / "customer.yaml").write_text(text.replace("host_keys: {}", f"host_keys: {keys}"))
    return inventory.load(d)


def test_verify_ssh_runs_the_host_script(tmp_path: Path, lab_inv: inventory.Inventory) -> None:
    root = host_tree(tmp_path, lab_inv, "svc1")
    t = next(t for t in V.targets(lab_inv) if t.machine == "svc1")
    o = V.SshOptions(ssh=fake_ssh(tmp_path, root), host_timeout=20)
    r = V.verify_ssh(t, o)
    assert r.status == "clean", r
    # drift: content, mode, missing, and a stale manifest naming a present file
    (root / "etc/hostname").write_text("intruder\n")
    (root / "root/.ssh/authorized_keys").chmod(0o644)
    (root / "etc/hosts").unlink()
    (root / "etc/old.conf").write_text("x")
    (root / "etc/uniform/manifest.d/old.json").write_text(
        manifest("/etc/old.conf", "/etc/absent.conf") + "\n"
    )
    r = V.verify_ssh(t, o)
    assert r.missing == ("/etc/hosts",)
    assert r.changed == (
        V.Change("/etc/hostname", "content"),
        V.Change("/root/.ssh/authorized_keys", "mode 0644, expected 0600"),
    )
    assert r.unexpected == ("/etc/old.conf", "/etc/uniform/manifest.d/old.json")
    assert r.address == "root@10.77.0.10:22"


def test_verify_ssh_unreachable_and_bounded(tmp_path: Path, lab_inv: inventory.Inventory) -> None:
    t = next(t for t in V.targets(lab_inv) if t.machine == "svc1")
    r = V.verify_ssh(t, V.SshOptions(ssh=fake_ssh(tmp_path, tmp_path, behaviour="refuse")))
    assert r.status == "unreachable" and "Connection refused" in (r.error or "")
    t0 = time.monotonic()
    r = V.verify_ssh(t, V.SshOptions(ssh=fake_ssh(tmp_path, tmp_path, behaviour="hang"), host_timeout=1))
    assert time.monotonic() - t0 < 10
    assert r.status == "unreachable" and r.error == "timed out after 1s"


def test_verify_ssh_never_connects_without_a_pinned_key(tmp_path: Path, lab_inv: inventory.Inventory) -> None:
    t = next(t for t in V.targets(lab_inv) if t.machine == "hv1")  # no key recorded
    ssh = fake_ssh(tmp_path, tmp_path)
    r = V.verify_ssh(t, V.SshOptions(ssh=ssh))
    assert r.status == "unreachable" and "no pinned host key" in (r.error or "")
    assert not (tmp_path / "ssh.log").exists()


# ---------------------------------------------------------------- runner and progress


def test_run_bounded_parallelism_and_sorted() -> None:
    live, peak, lock = [0], [0], threading.Lock()
    tgts = [V.Target(f"m{i:02d}", to("h", key="k"), {}) for i in range(20)]

    def check(t: V.Target) -> V.HostResult:
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.02)
        with lock:
            live[0] -= 1
        if t.machine == "m07":
            raise RuntimeError("boom")
        return V.HostResult(t.machine, "x")

    seen: list[tuple[int, int, str]] = []
    results = V.run(
        list(reversed(tgts)), check, jobs=3, progress=lambda n, total, r: seen.append((n, total, r.machine))
    )
    assert peak[0] <= 3
    assert [r.machine for r in results] == [t.machine for t in tgts]
    assert results[7].status == "unreachable" and "RuntimeError: boom" in (results[7].error or "")
    assert [(n, total) for n, total, _ in seen] == [(n, 20) for n in range(1, 21)]
    assert sorted(m for _, _, m in seen) == [t.machine for t in tgts]


def test_decommissioning_machine_is_not_verified(tmp_path: Path) -> None:
    inv = inventory.load(ROOT / "stacks" / "demo")
    name = next(iter(inv.machines))
    m = replace(inv.machines[name], state=State.DECOMMISSIONING)
    inv2 = replace(inv, machines={**inv.machines, name: m})
    assert name not in [t.machine for t in V.targets(inv2)]
