"""``uniform verify --adopt`` (ops/adopt.py) without a network: hosts configured by hand, read
as local delivery trees and through a stand-in ``ssh`` that runs the real host script on this
machine.  Each differing file must show the real diff lines; a file that looks like it holds a
secret shows hashes only; nothing on the host is written.  The lab proof, over real SSH with
real daemons, is tests/lab/test_adopt_lab.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

import inventory
import payloads
from cli.exitcodes import Exit
from cli.main import main
from cli.ops_commands import verify_exit
from connectors.local import write_tree
from ops import adopt as A
from ops.verify import SshOptions

ROOT = Path(__file__).resolve().parents[2]
DHCP = "/etc/dnsmasq.d/uniform-dhcp.conf"

#: what an operator wrote by hand before uniform: their own comments, their own order
HAND_DHCP = """\
# dnsmasq for the demo office -- maintained by hand (ops@demo), do not lose the reservations!
port=0
dhcp-leasefile=/var/lib/misc/dnsmasq.leases
dhcp-range=set:lan,10.20.0.0,static,255.255.255.0,12h
dhcp-host=52:54:00:c7:15:e8,10.20.0.251,web1   # the web box
"""

#: a hand-written BIND fragment holding a TSIG key: its diff must never be printed
TSIG = 'key "xfer" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0LXRzaWcta2V5LWRvLW5vdC1wcmludA==";\n};\n'


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    d = tmp_path / "demo"
    shutil.copytree(ROOT / "stacks" / "demo", d)
    return d


@pytest.fixture
def tree(tmp_path: Path, demo: Path) -> Path:
    """The hosts as uniform would leave them (every machine's payload), to be edited by hand."""
    out = tmp_path / "hosts"
    write_tree(payloads.render_customer(inventory.load(demo)), out)
    return out


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def by_path(r: A.HostResult) -> dict[str, A.FileResult]:
    return {f.path: f for f in r.files}


# ---------------------------------------------------------------- comparison


def test_identical_hosts_are_unchanged_and_exit_0(demo: Path, tree: Path) -> None:
    inv = inventory.load(demo)
    results = A.check_hosts(inv, local_root=tree)
    assert [r.machine for r in results] == sorted(payloads.render_customer(inv))
    assert {r.status for r in results} == {"unchanged"}
    assert all(f.status == "identical" for r in results for f in r.files)
    assert verify_exit(results) == Exit.OK


def test_hand_configured_host_shows_the_real_diff(demo: Path, tree: Path) -> None:
    inv = inventory.load(demo)
    svc1 = tree / "svc1"
    (svc1 / DHCP[1:]).write_text(HAND_DHCP)
    (svc1 / "etc/hostname").chmod(0o600)
    (svc1 / "etc/hosts").unlink()
    shutil.rmtree(svc1 / "etc/uniform")  # never delivered: no manifest
    before = snapshot(tree)
    [r] = A.check_hosts(inv, local_root=tree, machines=["svc1"])
    assert snapshot(tree) == before  # read-only
    assert r.status == "changes" and verify_exit([r]) == Exit.PROBLEMS
    files = by_path(r)
    dhcp = files[DHCP]
    assert dhcp.status == "differs"
    want = payloads.render_customer(inv)["svc1"].file(DHCP).content.splitlines()
    # the diff is the real one: every hand-written line that goes is a '-' line, every line
    # uniform brings that was not there is a '+' line, in a unified diff of the two files
    assert dhcp.diff[0] == f"--- svc1:{DHCP} (on the host)"
    assert dhcp.diff[1] == f"+++ {DHCP} (uniform)"
    minus = {d[1:] for d in dhcp.diff[2:] if d.startswith("-")}
    plus = {d[1:] for d in dhcp.diff[2:] if d.startswith("+")}
    assert minus == set(HAND_DHCP.splitlines()) - set(want)
    assert plus == set(want) - set(HAND_DHCP.splitlines())
    assert "dhcp-host=52:54:00:c7:15:e8,10.20.0.251,web1   # the web box" in minus
    assert files["/etc/hostname"] == A.FileResult("/etc/hostname", "mode", "mode 0600 -> 0644")
    assert files["/etc/hosts"].status == "missing"
    assert files["/etc/uniform/manifest.d/base.json"].status == "missing"
    assert files["/etc/bind/uniform/named.conf.uniform"].status == "identical"
    text = A.format_text("demo", [r], 0.1)
    assert f"  DIFFERS     {DHCP}\n    --- svc1:{DHCP} (on the host)\n" in text
    assert "    -dhcp-host=52:54:00:c7:15:e8,10.20.0.251,web1   # the web box\n" in text
    assert "  MISSING     /etc/hosts (would be created, mode 0644)\n" in text
    assert "  MODE        /etc/hostname (mode 0600 -> 0644)\n" in text


def test_a_secret_on_the_host_is_shown_by_hash_only(
    demo: Path, tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tree / "svc1/etc/bind/uniform/named.conf.uniform"
    conf.write_text("// by hand\n" + TSIG)
    rc = main(["verify", "--dir", str(demo), "--adopt", "--local-root", str(tree), "--json"])
    out = capsys.readouterr().out
    assert rc == Exit.PROBLEMS
    assert "c2VjcmV0" not in out and "hmac-sha256" not in out
    [host] = [h for h in json.loads(out)["hosts"] if h["machine"] == "svc1"]
    [f] = [f for f in host["files"] if f["path"] == "/etc/bind/uniform/named.conf.uniform"]
    digest = hashlib.sha256(conf.read_bytes()).hexdigest()
    assert f["status"] == "differs" and f["diff"] == []
    assert f"sha256 {digest[:12]} on the host" in f["detail"]
    assert "no diff shown: line 4 on the host looks like a secret" in f["detail"]


@pytest.mark.parametrize(
    ("path", "texts", "secret"),
    [
        # the marker split: a fake key block, not a committed key (the repo's secret scan)
        ("/etc/x.conf", ["-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3Blb\n"], True),
        ("/etc/x.conf", ['key "k" { secret "abc"; };'], True),
        ("/etc/kea/kea-dhcp4.conf", ['{"lease-database": {"password": "pw"}}'], True),
        ("/etc/app.env", ["API_KEY=123"], True),
        ("/etc/ssl/private/web.key", ["anything"], True),
        ("/etc/dnsmasq.d/uniform-dhcp.conf", [HAND_DHCP], False),
        ("/root/.ssh/authorized_keys", ["ssh-ed25519 AAAAC3Nza ops@demo\n"], False),
        ("/etc/bind/uniform/db.demo.example", ["@\tIN\tSOA\tns hostmaster 1 2 3 4 5\n"], False),
    ],
)
def test_secret_patterns(path: str, texts: list[str], secret: bool) -> None:
    assert (A.secret_reason(path, *texts) is not None) == secret


def test_files_a_daemon_reads_besides_uniforms_are_listed(
    demo: Path, tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An operator's old dnsmasq file next to uniform's: dnsmasq would read both after the first
    up (and refuse a repeated keyword).  Listed, not a change: the first up leaves it alone."""
    (tree / "svc1/etc/dnsmasq.d/lan.conf").write_text(HAND_DHCP)
    (tree / "svc1/etc/dnsmasq.d/README").write_text("not read by dnsmasq\n")
    (tree / "web1/etc/systemd/network/50-dhcp.network").write_text("[Match]\nName=eth0\n")
    rc = main(["verify", "--dir", str(demo), "--adopt", "--local-root", str(tree)])
    out = capsys.readouterr().out
    assert rc == Exit.OK  # every delivered file is identical: the first up changes none
    assert out.count("ALSO READ") == 2
    assert "svc1: unchanged" in out
    assert (
        "  ALSO READ   /etc/dnsmasq.d/lan.conf (not uniform's: dnsmasq reads it with uniform's files)" in out
    )
    assert "  ALSO READ   /etc/systemd/network/50-dhcp.network (not uniform's: systemd-networkd" in out
    [r] = A.check_hosts(inventory.load(demo), local_root=tree, machines=["svc1"])
    assert r.as_dict()["others"] == [{"path": "/etc/dnsmasq.d/lan.conf", "reader": "dnsmasq"}]


def test_large_and_special_files(demo: Path, tree: Path) -> None:
    inv = inventory.load(demo)
    hosts = tree / "svc1/etc/hosts"
    hosts.write_text("x\n" * (A.READ_LIMIT // 2 + 1))  # above the limit: hashed, not transferred
    (tree / "svc1/etc/hostname").unlink()
    (tree / "svc1/etc/hostname").mkdir()
    [r] = A.check_hosts(inv, local_root=tree, machines=["svc1"])
    f = by_path(r)
    assert f["/etc/hosts"].status == "differs" and f["/etc/hosts"].diff == ()
    assert "too large to diff" in f["/etc/hosts"].detail
    assert f["/etc/hostname"].status == "other"


def test_the_diff_is_bounded(demo: Path, tree: Path) -> None:
    inv = inventory.load(demo)
    hosts = tree / "web1/etc/hosts"
    hosts.write_text("".join(f"10.9.{i // 250}.{i % 250} h{i}\n" for i in range(500)))
    [r] = A.check_hosts(inv, local_root=tree, machines=["web1"])
    d = by_path(r)["/etc/hosts"].diff
    assert len(d) == A.DIFF_LINES + 1 and d[-1].startswith("... ") and d[-1].endswith(" more diff lines")
    assert int(d[-1].split()[1]) > 400


# ---------------------------------------------------------------- reloads


def test_first_up_reloads_are_what_delivery_creates_with() -> None:
    """The reloads listed are exactly each delivery resource's reload list (components/stack.py),
    which its create runs in full: the first up writes every file."""
    pytest.importorskip("pulumi")
    from components.stack import file_groups

    for customer in ("demo", "acme", "lab"):
        inv = inventory.load(ROOT / "stacks" / customer)
        for name, payload in payloads.render_customer(inv).items():
            want = {g: list(fg.reload) for g, fg in file_groups(payload).items() if fg.reload}
            assert A.first_up_reloads(payload) == want, (customer, name)
    svc1 = payloads.render_customer(inventory.load(ROOT / "stacks" / "demo"))["svc1"]
    assert A.first_up_reloads(svc1)["dhcp"] == ["systemctl restart dnsmasq"]
    assert "systemctl reload-or-restart named" in A.first_up_reloads(svc1)["dns"][0]


# ---------------------------------------------------------------- over ssh (a stand-in)


def fake_ssh(tmp_path: Path, root: Path, *, behaviour: str = "run") -> str:
    """An ``ssh`` that checks the pinned key and BatchMode, then runs the host script on this
    machine with the host's paths under ``root``.  behaviour: run | refuse (exit 255)."""
    script = tmp_path / "ssh"
    script.write_text(
        f"""#!{sys.executable}
import subprocess, sys
args = sys.argv[1:]
open({str(tmp_path / "ssh.log")!r}, "a").write(" ".join(args) + "\\n")
if {behaviour!r} == "refuse":
    sys.stderr.write("ssh: connect to host x port 22: Connection refused\\n"); sys.exit(255)
known = next(a.split("=", 1)[1] for a in args if a.startswith("UserKnownHostsFile="))
if "ssh-ed25519" not in open(known).read() or "BatchMode=yes" not in args:
    sys.exit(255)
old = 'while IFS=" " read -r want p; do'
if old not in args[-1]:
    sys.exit(99)
remote = args[-1].replace(old, old + ' p="{root}$p";')
out = subprocess.run(["sh", "-c", remote], stdin=sys.stdin, capture_output=True, text=True)
sys.stdout.write(out.stdout.replace(" {root}/", " /"))
sys.stderr.write(out.stderr)
sys.exit(out.returncode)
"""
    )
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def lab(tmp_path: Path) -> inventory.Inventory:
    """The lab customer (ssh delivery) with svc1's host key pinned, hv1's not."""
    d = tmp_path / "lab"
    shutil.copytree(ROOT / "stacks" / "lab", d)
    text = (d / "customer.yaml").read_text()
    pinned = text.replace("host_keys: {}", 'host_keys: {svc1: "ssh-ed25519 AAAAkey"}')
    (d / "customer.yaml").write_text(pinned)
    return inventory.load(d)


def test_over_ssh_the_host_script_reads_and_never_writes(tmp_path: Path, lab: inventory.Inventory) -> None:
    root = tmp_path / "hosts"
    write_tree({"svc1": payloads.render_customer(lab)["svc1"]}, root)
    host = root / "svc1"
    conf = host / "etc/dnsmasq.d/uniform-dhcp.conf"
    conf.write_text(HAND_DHCP)
    (host / "etc/hostname").write_text("svc1.by-hand\n")
    (host / "etc/hostname").chmod(0o640)
    (host / "etc/hosts").unlink()
    (host / "etc/dnsmasq.d/lan.conf").write_text(HAND_DHCP)  # the operator's old file, left behind
    (host / "etc/dnsmasq.d/lan.conf.orig").write_text(HAND_DHCP)  # not *.conf: dnsmasq skips it
    before = snapshot(host)
    opts = SshOptions(ssh=fake_ssh(tmp_path, host), host_timeout=20)
    [t] = A.targets(lab, only=["svc1"])
    r = A.adopt_ssh(t, opts)
    assert snapshot(host) == before
    assert r.error is None and r.status == "changes" and r.address == "root@10.77.0.10:22"
    f = by_path(r)
    want = payloads.render_customer(lab)["svc1"].file(DHCP).content
    minus = {d[1:] for d in f[DHCP].diff[2:] if d.startswith("-")}
    assert minus == set(HAND_DHCP.splitlines()) - set(want.splitlines())
    assert f["/etc/hostname"].status == "differs"
    assert f["/etc/hostname"].detail == "mode 0640 -> 0644"
    assert f["/etc/hostname"].diff[2:] == ("@@ -1 +1 @@", "-svc1.by-hand", "+svc1")
    assert f["/etc/hosts"].status == "missing"
    assert f["/etc/uniform/manifest.d/dhcp.json"].status == "identical"
    assert r.others == (("/etc/dnsmasq.d/lan.conf", "dnsmasq"),)
    assert r.reloads == {
        "base": [
            "[ ! -e /etc/hostname ] || hostname -F /etc/hostname",
            "udevadm control --reload && networkctl reload",
        ],
        "dhcp": ["systemctl restart dnsmasq"],
        "dns": ["systemctl restart dnsmasq"],
    }
    # identical content is never sent back: only the two differing files came with a body
    assert A.parse_output("@@file 644 5 " + "a" * 64 + " /etc/x\n@@end\n@@missing /etc/y\n@@done\n") == {
        "/etc/x": A.Seen("file", "a" * 64, 0o644, 5, None),
        "/etc/y": A.Seen("missing"),
    }


def test_over_ssh_unreachable_unpinned_and_truncated(
    tmp_path: Path, lab: inventory.Inventory, capsys: pytest.CaptureFixture[str]
) -> None:
    [svc1] = A.targets(lab, only=["svc1"])
    r = A.adopt_ssh(svc1, SshOptions(ssh=fake_ssh(tmp_path, tmp_path, behaviour="refuse")))
    assert r.status == "unreachable" and "Connection refused" in (r.error or "")
    (tmp_path / "ssh.log").unlink()
    [hv1] = A.targets(lab, only=["hv1"])  # no pinned key: never connected to (no TOFU)
    r = A.adopt_ssh(hv1, SshOptions(ssh=fake_ssh(tmp_path, tmp_path)))
    assert r.status == "unreachable" and "no pinned host key" in (r.error or "")
    assert not (tmp_path / "ssh.log").exists()
    assert verify_exit([r]) == Exit.UNVERIFIED
    with pytest.raises(A.ParseError):
        A.parse_output("@@file 644 5 " + "a" * 64 + " /etc/x\nAAAA\n")
    # the command, on the committed lab customer: no host key pinned, so no host is connected to
    # (no network in a unit test), exit 3, every host reported
    committed = ROOT / "stacks" / "lab"
    assert main(["verify", "--dir", str(committed), "--adopt", "--json", "-q"]) == Exit.UNVERIFIED
    doc = json.loads(capsys.readouterr().out)
    assert doc["adopt"] is True and doc["exit"] == 3
    assert [h["machine"] for h in doc["hosts"]] == sorted(payloads.render_customer(lab))
    assert {h["error"] for h in doc["hosts"]} == {
        f"no pinned host key (customer.yaml ssh.host_keys.{m}); not connecting" for m in lab.machines
    }


def test_command_local_exit_codes(demo: Path, tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["verify", "--dir", str(demo), "--adopt", "--local-root", str(tree)]
    assert main(args) == Exit.OK
    assert capsys.readouterr().out.startswith("verify --adopt demo: 4 host(s): 4 unchanged by the first up")
    (tree / "web2/etc/hostname").write_text("old-name\n")
    os.chmod(tree / "web2/etc/hostname", 0o644)
    assert main([*args, "--machine", "web1"]) == Exit.OK  # selection as verify's
    capsys.readouterr()
    assert main(args) == Exit.PROBLEMS
    out = capsys.readouterr().out
    assert "web2: CHANGES" in out and "    -old-name\n    +web2\n" in out
    # plain verify has no manifest-free view: the same tree is drift there too, but no diff
    assert main(["verify", "--dir", str(demo), "--local-root", str(tree)]) == Exit.PROBLEMS
    assert "-old-name" not in capsys.readouterr().out
