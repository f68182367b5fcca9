"""Adoption in the lab: hosts configured by hand, imported, checked, then taken over by `pulumi up`
with no address changed and no lease lost.  Real daemons, real SSH, the real engine.

  1. by hand: svc1's dnsmasq config and BIND zones are written directly where a Debian
     operator keeps them (tests/lab/adopt/svc1/: /etc/dnsmasq.d/lan.conf, zone statements in
     named.conf.local, /etc/bind/db.*; their own text: comments, their order, an upper-case
     MAC, a name before its address, relative and absolute owners, their own SOA serial),
     dnsmasq and named are started from them, and each client (app1, db1, web1) takes its
     address from a real DHCP exchange: its static address is flushed and a long-running
     udhcpc configures the leased one
  2. `uniform import` of those live files (read back from svc1) and of the operator's
     known_hosts (ssh-keyscan) into a fresh customer directory that holds only the settings;
     the roles are added by hand (`uniform role add`), as docs/adopt.md says; the machines
     found are the hardware's (names, MACs, addresses), their host keys pinned
  3. `uniform verify --adopt` (exit 1 each time): first lan.conf is listed as a file dnsmasq
     would read beside uniform's (it would refuse to start: a keyword repeated across files);
     after the hand-over (tests/lab/adopt/handover.sh: the files moved onto uniform's paths,
     unchanged, the daemons restarted, leases and names kept) svc1's DHCP and DNS files show
     the real diff lines, which applied to the hand-written text give uniform's rendering;
     the reloads of the first up
  4. `pulumi up` over SSH (harness.engine.Engine): dnsmasq is restarted with uniform's config
     and named reloaded with uniform's zones
  5. afterwards: every client has exactly the address it had (inside its namespace); the
     lease file still holds every client's lease; a forced renew (SIGUSR1 to each udhcpc)
     gets the same address; every name resolves the same forward and reverse through
     BIND; `uniform verify` is clean (exit 0) and so is `verify --adopt`; a preview has
     nothing left to do

Needs root, namespaces and BIND's named: skipped without them, failed when
UNIFORM_REQUIRE_LAB=1 (CI).  docs/lab.md, "Adopting hand-configured hosts".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import inventory
import payloads
from harness import lab as L
from tests.helpers.lab import running, unavailable

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).with_name("adopt")
HARDWARE = DATA / "hardware" / "adopt"
BY_HAND = DATA / "svc1"  # svc1's files as the operator wrote them, by host path
HANDOVER = DATA / "handover"  # the hand-over: the named.conf files rewritten, by host path
DNS = "10.77.0.10"
CLIENTS = ("app1", "db1", "web1")
DHCP_CONF = "/etc/dnsmasq.d/uniform-dhcp.conf"
FWD_ZONE = "/etc/bind/uniform/db.lab.test"
REV_ZONE = "/etc/bind/uniform/db.0.77.10.in-addr.arpa"
NAMED_CONF = "/etc/bind/uniform/named.conf.uniform"
#: uniform's path -> the hand-written file that ends up there after the hand-over
HAND_WRITTEN = {
    DHCP_CONF: BY_HAND / "etc/dnsmasq.d/lan.conf",
    FWD_ZONE: BY_HAND / "etc/bind/db.lab.test",
    REV_ZONE: BY_HAND / "etc/bind/db.10.77.0",
    NAMED_CONF: HANDOVER / "etc/bind/uniform/named.conf.uniform",
}
SYSTEMCTL = "/usr/local/sbin/systemctl"  # the lab's shim, as an ssh session finds it first

pytestmark = [pytest.mark.slow, pytest.mark.lab]

#: the clients' DHCP client script: configure the leased address, log each event
CLIENT_SCRIPT = """#!/bin/sh
# udhcpc script of tests/lab/test_adopt_lab.py: the address on eth0 comes from the lease
case "$1" in
  bound|renew) ip addr replace "$ip/$mask" dev "$interface" && echo "$1 $ip/$mask" >> "$EVENTS" ;;
  leasefail|nak) echo "$1" >> "$EVENTS" ;;
esac
exit 0
"""


@pytest.fixture
def lab(tmp_path: Path):
    if L.which("named") is None:
        unavailable("BIND's named is not installed (Debian package bind9, tools/debian-packages.txt)")
    lab = L.Lab(tmp_path / "lab", prefix=f"ua{os.getpid() % 100000}-", stack="adopt", source=HARDWARE)
    with running(lab, tmp_path):
        yield lab


# ---------------------------------------------------------------- helpers


def uniform(lab: L.Lab, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`uniform ...` in the controller namespace (the only place that reaches the hosts)."""
    cmd = ["ip", "netns", "exec", lab.ctl, str(ROOT / ".venv" / "bin" / "python"), "-m", "cli", *args]
    return L.run(cmd, check=False, timeout=timeout, cwd=ROOT)


def write_by_hand(lab: L.Lab, host: str, tree: Path) -> None:
    """Every file under ``tree`` to its host path on ``host``, in the host's own mount namespace."""
    for f in sorted(p for p in tree.rglob("*") if p.is_file()):
        path = "/" + str(f.relative_to(tree))
        # only where the host has a private view: never the real machine's files
        assert path.startswith(L.PRIVATE_PREFIXES), path
        put = 'mkdir -p "$(dirname "$1")" && cat > "$1"'
        lab.in_host(host, ["sh", "-c", put, "sh", path], input=f.read_text(), timeout=10)


def addresses(lab: L.Lab, host: str) -> list[str]:
    """The IPv4 addresses on ``host``'s eth0, as the host itself sees them."""
    out = lab.in_host(host, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], timeout=10).stdout
    return re.findall(r"\binet (\S+)", out)


def lease_file(lab: L.Lab) -> dict[str, tuple[str, int]]:
    """MAC -> (address, expiry) of every lease in svc1's dnsmasq lease file."""
    rows = [line.split() for line in lab.leases("svc1").splitlines()]
    return {f[1]: (f[2], int(f[0])) for f in rows if len(f) >= 3}


def leases(lab: L.Lab) -> dict[str, str]:
    """MAC -> address of every lease in svc1's dnsmasq lease file."""
    return {mac: ip for mac, (ip, _) in lease_file(lab).items()}


def wait_for(what: str, check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def names(lab: L.Lab, hosts: dict[str, str]) -> dict[str, tuple[list[str], list[str]]]:
    """fqdn -> (forward answers, reverse answers of its address) from BIND on svc1."""
    return {
        f"{h}.lab.test": (lab.dig(DNS, f"{h}.lab.test"), lab.dig(DNS, ip, reverse=True))
        for h, ip in sorted(hosts.items())
    }


def same_names(lab: L.Lab, hosts: dict[str, str], before: dict[str, Any]) -> None:
    """BIND answers as ``before``.  A restarted named answers SERVFAIL until its zones are loaded
    (as under systemd, whose named unit is ready once it forked): a few seconds are allowed."""
    try:
        wait_for("the same DNS answers", lambda: names(lab, hosts) == before, timeout=15)
    except AssertionError:
        assert names(lab, hosts) == before  # shows the difference


def start_client(lab: L.Lab, host: str, script: Path, events: Path) -> subprocess.Popen[bytes]:
    """A long-running udhcpc in ``host``'s namespaces (nsenter execs it: its pid is udhcpc's)."""
    return subprocess.Popen(
        ["nsenter", "-t", str(lab.holder(host)), "-m", "-u", "-n", "--",
         "udhcpc", "-i", "eth0", "-f", "-s", str(script), "-t", "5", "-T", "1", "-A", "1"],
        env={**os.environ, "EVENTS": str(events)},
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def import_live(lab: L.Lab, live: Path, fresh: Path, known_hosts: Path) -> subprocess.CompletedProcess[str]:
    """`uniform import` of svc1's live files (copied out to ``live``) into ``fresh``."""
    return uniform(
        lab, "import", str(fresh),
        "--dnsmasq", str(live / "lan.conf"),
        "--zone", str(live / "db.lab.test"),  # has its $ORIGIN
        "--zone", f"{live / 'db.10.77.0'}:0.77.10.in-addr.arpa",
        "--known-hosts", str(known_hosts),
    )  # fmt: skip


def adopt_check(lab: L.Lab, *args: str) -> subprocess.CompletedProcess[str]:
    key = str(lab.client_key)
    return uniform(lab, "verify", "--adopt", "--dir", str(lab.inv_dir), "--identity", key, *args)


def patched(old: list[str], diff: list[str]) -> list[str]:
    """``old`` with the unified diff ``diff`` applied (its hunks, in order)."""
    out: list[str] = []
    pos = 0
    for line in diff[2:]:
        if line.startswith("@@"):
            start, length = re.match(r"@@ -(\d+)(?:,(\d+))?", line).groups()  # type: ignore[union-attr]
            at = int(start) - (0 if length == "0" else 1)
            out += old[pos:at]
            pos = at
        elif line.startswith("+"):
            out.append(line[1:])
        else:
            assert line[1:] == old[pos], (line, old[pos])
            if line.startswith(" "):
                out.append(line[1:])
            pos += 1
    return out + old[pos:]


def machines(inv: inventory.Inventory) -> dict[str, tuple[str, str | None]]:
    return {
        m.name: (m.nics[0].mac, m.nics[0].attachments[0].ipv4)
        for m in inv.machines.values()
        if m.nics and m.nics[0].attachments
    }


# ---------------------------------------------------------------- the proof


def test_adopt_hand_configured_hosts(lab: L.Lab, tmp_path: Path) -> None:
    t0 = time.monotonic()
    hardware = inventory.load(lab.inv_dir)
    assert len(hardware.customer.ssh.host_keys) == len(hardware.machines)  # pinned by the harness
    hosts = {n: m.nics[0].attachments[0].ipv4 or "" for n, m in hardware.machines.items()}

    # 1. by hand: svc1's files written directly, its daemons started from them ------------
    write_by_hand(lab, "svc1", BY_HAND)
    lab.in_host("svc1", [SYSTEMCTL, "start", "dnsmasq"], timeout=30)
    lab.in_host("svc1", [SYSTEMCTL, "start", "named"], timeout=30)
    script = tmp_path / "client.script"
    script.write_text(CLIENT_SCRIPT)
    script.chmod(0o755)
    clients: dict[str, subprocess.Popen[bytes]] = {}
    events = {c: tmp_path / f"dhcp-{c}.events" for c in CLIENTS}
    try:
        for c in CLIENTS:
            # the harness gave eth0 its address statically: from now on DHCP gives it
            lab.in_host(c, ["ip", "-4", "addr", "flush", "dev", "eth0"], timeout=10)
            assert addresses(lab, c) == []
            clients[c] = start_client(lab, c, script, events[c])
        for c in CLIENTS:
            wait_for(f"{c}'s lease", lambda c=c: events[c].exists() and "bound" in events[c].read_text())
        before = {c: addresses(lab, c) for c in CLIENTS}
        assert before == {c: [f"{hosts[c]}/24"] for c in CLIENTS}
        leases_before = leases(lab)
        assert leases_before == {hardware.machines[c].nics[0].mac: hosts[c] for c in CLIENTS}
        names_before = wait_for("BIND's answers", lambda: names(lab, hosts) if all(
            fwd for fwd, _ in names(lab, hosts).values()) else None)  # fmt: skip
        assert names_before == {f"{h}.lab.test": ([ip], [f"{h}.lab.test."]) for h, ip in hosts.items()}

        # 2. import the live files into a fresh customer directory --------------------------
        live = tmp_path / "live"
        live.mkdir()
        for path in ("/etc/dnsmasq.d/lan.conf", "/etc/bind/db.lab.test", "/etc/bind/db.10.77.0"):
            (live / Path(path).name).write_text(lab.read_file("svc1", path) or "")
        known_hosts = tmp_path / "known_hosts"  # what the operator's ssh-keyscan gave
        known_hosts.write_text(lab.known_hosts())
        fresh = tmp_path / "fresh" / "adopt"
        fresh.mkdir(parents=True)
        settings = (lab.inv_dir / "customer.yaml").read_text()
        settings = re.sub(r"(?ms)^  host_keys:.*?(?=^\S)", "  host_keys: {}\n", settings)
        assert "ssh-ed25519" not in settings.split("authorized_keys")[0]
        (fresh / "customer.yaml").write_text(settings)  # the settings only: no machine, no host key
        imported = import_live(lab, live, fresh, known_hosts)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        for role in ("dhcp", "dns"):  # not in DHCP or DNS data: added by hand (docs/adopt.md)
            added = uniform(lab, "role", "add", "svc1", role, "--dir", str(fresh))
            assert added.returncode == 0, added.stdout + added.stderr
        adopted = inventory.load(fresh)
        assert machines(adopted) == machines(hardware)
        assert adopted.customer.ssh.host_keys == hardware.customer.ssh.host_keys
        shutil.rmtree(lab.inv_dir)
        shutil.copytree(fresh, lab.inv_dir)
        rendered = payloads.render_customer(inventory.load(lab.inv_dir))["svc1"]

        # 3. verify --adopt: before the hand-over, lan.conf would be read beside uniform's file
        check = adopt_check(lab, "--json")
        assert check.returncode == 1, check.stdout + check.stderr
        report = {h["machine"]: h for h in json.loads(check.stdout)["hosts"]}
        assert sorted(report) == sorted(hosts) and {h["status"] for h in report.values()} == {"changes"}
        assert {"path": "/etc/dnsmasq.d/lan.conf", "reader": "dnsmasq"} in report["svc1"]["others"]
        svc1 = {f["path"]: f["status"] for f in report["svc1"]["files"]}
        assert {svc1[p] for p in HAND_WRITTEN} == {"missing"}
        # the hand-over: the same files on uniform's paths, the daemons restarted on them
        write_by_hand(lab, "svc1", HANDOVER)
        move = (DATA / "handover.sh").read_text()
        lab.in_host("svc1", ["env", "PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", "sh", "-s"],
                    input=move, timeout=60)  # fmt: skip
        assert leases(lab) == leases_before
        same_names(lab, hosts, names_before)
        # ... now each hand-written file shows its real diff against uniform's rendering
        check = adopt_check(lab, "--json")
        assert check.returncode == 1, check.stdout + check.stderr
        report = {h["machine"]: h for h in json.loads(check.stdout)["hosts"]}
        assert not [o for o in report["svc1"]["others"] if o["reader"] == "dnsmasq"]
        svc1 = {f["path"]: f for f in report["svc1"]["files"]}
        for path, hand in HAND_WRITTEN.items():
            f = svc1[path]
            assert f["status"] == "differs", f
            # the diff is the real one: applied to the hand-written file it gives uniform's
            assert (
                patched(hand.read_text().splitlines(), f["diff"]) == rendered.file(path).content.splitlines()
            )
        assert "dhcp-host=0C:C4:7A:77:00:13,db1,10.77.0.13" in {d[1:] for d in svc1[DHCP_CONF]["diff"]}
        assert report["svc1"]["reloads"]["dhcp"] == ["systemctl restart dnsmasq"]
        assert "systemctl reload-or-restart named" in report["svc1"]["reloads"]["dns"][0]
        text = adopt_check(lab, "-q")
        assert text.returncode == 1 and "svc1: CHANGES root@10.77.0.10:22" in text.stdout
        (tmp_path / "verify-adopt.txt").write_text(text.stdout)  # for docs/lab.md
        # read-only: the hand-written files are still there, byte for byte
        assert lab.read_file("svc1", DHCP_CONF) == HAND_WRITTEN[DHCP_CONF].read_text()

        # 4. the first up, over SSH through the real engine ---------------------------------
        dnsmasq_pid = (lab.host_dir("svc1") / "state" / "dnsmasq.pid").read_text()
        eng = lab.init_stack()
        lab.guard()
        t_up = time.monotonic()
        eng.run("up", "--yes", "--skip-preview")
        up_seconds = time.monotonic() - t_up
        assert lab.read_file("svc1", DHCP_CONF) == rendered.file(DHCP_CONF).content
        assert lab.read_file("svc1", FWD_ZONE) == rendered.file(FWD_ZONE).content
        assert (lab.host_dir("svc1") / "state" / "dnsmasq.pid").read_text() != dnsmasq_pid  # restarted
        shims = (lab.host_dir("svc1") / "state" / "shims.log").read_text()
        assert "systemctl restart dnsmasq" in shims and "systemctl reload-or-restart named" in shims

        # 5. nothing moved: addresses, leases, renewals, names ----------------------------
        assert {c: addresses(lab, c) for c in CLIENTS} == before
        assert leases(lab) == leases_before  # dnsmasq read its lease file back
        expiry = lease_file(lab)
        for c in CLIENTS:
            os.kill(clients[c].pid, signal.SIGUSR1)  # udhcpc: renew now
        for c in CLIENTS:
            renewed = wait_for(
                f"{c}'s renewal",
                lambda c=c: [ln for ln in events[c].read_text().splitlines() if ln.startswith("renew ")],
            )
            assert renewed == [f"renew {hosts[c]}/24"], (c, events[c].read_text())
            assert "nak" not in events[c].read_text()
        assert {c: addresses(lab, c) for c in CLIENTS} == before
        assert leases(lab) == leases_before
        # ... and the renewals went into that same file: the dnsmasq running uniform's config
        # keeps it (a config without it, such as leasefile-ro, would leave the old expiries)
        renewed_at = lease_file(lab)
        assert all(renewed_at[mac][1] > expiry[mac][1] for mac in leases_before), (expiry, renewed_at)
        same_names(lab, hosts, names_before)
        clean = uniform(lab, "verify", "--dir", str(lab.inv_dir), "--identity", str(lab.client_key), "--json")
        assert clean.returncode == 0, clean.stdout
        assert {h["status"] for h in json.loads(clean.stdout)["hosts"]} == {"clean"}
        again = adopt_check(lab, "-q")
        assert again.returncode == 0, again.stdout
        eng.run("preview", "--expect-no-changes")  # the adopted stack is settled: nothing left to do
        print(f"adopt lab: up {up_seconds:.1f}s, whole test {time.monotonic() - t0:.1f}s")
    finally:
        for p in clients.values():  # the udhcpc processes this test started, by their pid
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
