#!/usr/bin/env python3
"""The uniform lab: real hosts in network namespaces on one Linux machine (docs/lab.md).

    python -m harness.lab up        build the lab and a throwaway project + backend for the lab stack
    python -m harness.lab pulumi up --yes      run pulumi (in the controller namespace) on that project
    python -m harness.lab check     DHCP lease of every host, dig forward + reverse of every name
    python -m harness.lab status    what is running
    python -m harness.lab down      tear everything down (idempotent)
    python -m harness.lab demo      up -> pulumi up -> check -> a real VM staged and active -> down
                                    (also: lab/run; --no-vm: without the VM)

What the harness does and nothing more: namespaces, links, addresses, one
sshd per host (own host key, throwaway deploy key), and the pinned host keys +
deploy key in the lab project's COPY of stacks/lab.  Everything on the hosts
(DHCP/DNS config, hostname, network files, VM definitions) is delivered by
`pulumi up` over SSH.

Layout (all names derive from one prefix, default "ulab-"):
  <prefix>sw     the switch: bridge br0, one port per host (v-<host>)
  <prefix>ctl    the controller, 10.77.0.2: runs pulumi, ssh, dig
  <prefix><host> one per machine: eth0 with the inventory MAC and address,
                 private mount + UTS namespaces held by hostinit.sh, sshd
Every subprocess has a timeout; root's network namespace gets nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import libvirt
from harness.engine import Engine, copy_project
from harness.engine import engine_env as _engine_env

ROOT = Path(__file__).resolve().parents[1]

LAB = ROOT / "lab"
SHIMS = LAB / "shims"
HOSTINIT = LAB / "hostinit.sh"
UDHCPC_SCRIPT = LAB / "udhcpc.script"
STACK = "lab"
PASSPHRASE = "lab"  # throwaway stack in a throwaway backend
CTL_IP = "10.77.0.2"
PROBE_IP_NOTE = "probe namespaces carry no address: they only run a DHCP client"
#: payload paths must fall under what hostinit.sh makes private (overlay/tmpfs)
PRIVATE_PREFIXES = ("/etc/", "/root/", "/var/")
TOOLS = (
    "ip",
    "unshare",
    "nsenter",
    "mountpoint",
    "flock",
    "ssh",
    "ssh-keygen",
    "ssh-keyscan",
    "dig",
    "udhcpc",
    "virsh",
    "qemu-img",
    "qemu-system-x86_64",
    "nft",
)
SBIN_TOOLS = ("sshd", "dnsmasq", "libvirtd", "virtlogd")


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


@dataclass
class Host:
    name: str
    mac: str
    ipv4: str
    prefixlen: int


def engine_env(backend: Path) -> dict[str, str]:
    return _engine_env(backend, PASSPHRASE)


class Lab:
    """A lab for one customer: by default the committed ``stacks/lab``.

    ``stack``/``source``/``program`` let another harness (bench/compare.py) bring up a
    lab for a generated customer: ``source`` is the inventory directory copied into the
    lab project as ``stacks/<stack>`` (default: ``stacks/<stack>`` of the checkout),
    ``program`` the file that becomes the project's ``__main__.py`` (default: uniform's).

    A hypervisor host runs a real libvirtd (harness/libvirt.py).  A VM delivered at lab-up
    (or given a host with add_host) is a network-namespace stand-in for the booted guest; the
    real domain libvirt starts for it is fenced off the lab network (same MAC, libvirt.fence).
    A VM with no host here is only what libvirt boots (harness/vm.py, tests/lab/test_vm_lab.py).
    """

    def __init__(
        self,
        run_dir: Path,
        prefix: str = "ulab-",
        *,
        stack: str = STACK,
        source: Path | None = None,
        program: Path | None = None,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.prefix = prefix
        self.stack = stack
        self.source = Path(source).resolve() if source else None
        self.program = Path(program).resolve() if program else None
        self.hosts: dict[str, Host] = {}
        state = self.run_dir / "lab.json"
        if state.exists():
            data = json.loads(state.read_text())
            self.prefix = data["prefix"]
            self.stack = data.get("stack", STACK)
            self.hosts = {n: Host(**h) for n, h in data["hosts"].items()}

    # ------------------------------------------------------------------ paths and names

    @property
    def project(self) -> Path:
        return self.run_dir / "proj"

    @property
    def inv_dir(self) -> Path:
        return self.project / "stacks" / self.stack

    @property
    def client_key(self) -> Path:
        return self.run_dir / "client_ed25519"

    def ns(self, host: str) -> str:
        return f"{self.prefix}{host}"

    @property
    def sw(self) -> str:
        return f"{self.prefix}sw"

    @property
    def ctl(self) -> str:
        return f"{self.prefix}ctl"

    def host_dir(self, host: str) -> Path:
        return self.run_dir / "hosts" / host

    def _save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "prefix": self.prefix,
            "stack": self.stack,
            "hosts": {n: asdict(h) for n, h in self.hosts.items()},
        }
        (self.run_dir / "lab.json").write_text(json.dumps(data, indent=2) + "\n")

    # ------------------------------------------------------------------ preflight

    def preflight(self) -> None:
        if os.geteuid() != 0:
            raise LabUnavailable("the lab needs root (network, mount and UTS namespaces)")
        missing = [t for t in TOOLS + SBIN_TOOLS if which(t) is None]
        if missing:
            raise LabUnavailable(
                f"missing tools: {', '.join(missing)} (apt-get install: see tools/debian-packages.txt)"
            )
        for p in PRIVATE_PREFIXES:
            if str(self.run_dir).startswith(p.rstrip("/") + "/") or str(self.run_dir) == p.rstrip("/"):
                raise LabError(f"run dir {self.run_dir} is under {p}, which lab hosts overlay")
        probe = f"{self.prefix}preflight"
        proc = run(["ip", "netns", "add", probe], check=False, timeout=10)
        if proc.returncode != 0:
            raise LabUnavailable(f"cannot create a network namespace: {proc.stderr.strip()}")
        scratch = Path(tempfile.mkdtemp(prefix="uniform-lab-preflight-"))
        # what hostinit.sh needs: private mount + UTS namespaces, tmpfs, an overlay over /etc
        script = (
            f"set -e; d={scratch}; mount -t tmpfs t $d; mkdir $d/u $d/w $d/m;"
            " mount -t overlay o -o lowerdir=/etc,upperdir=$d/u,workdir=$d/w $d/m; hostname lab-preflight"
        )
        try:
            proc = run(
                ["ip", "netns", "exec", probe, "unshare", "--mount", "--uts", "--propagation", "private",
                 "sh", "-c", script],
                check=False, timeout=10,
            )  # fmt: skip
            if proc.returncode != 0:
                why = proc.stderr.strip()
                raise LabUnavailable(f"cannot make private mount/UTS namespaces with overlayfs: {why}")
        finally:
            run(["ip", "netns", "del", probe], check=False, timeout=10)
            shutil.rmtree(scratch, ignore_errors=True)

    # ------------------------------------------------------------------ up / down

    def up(self) -> None:
        """Namespaces, switch, controller, one host per delivered machine; a fresh lab project."""
        self.preflight()
        self.down()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.run_dir / "state", ignore_errors=True)  # a fresh backend every time
        self._make_project()
        run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "uniform-lab-deploy",
                "-f",
                str(self.client_key),
            ]
        )
        # switch and controller
        run(["ip", "netns", "add", self.sw])
        run(["ip", "-n", self.sw, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.sw, "link", "set", "br0", "up"])
        run(["ip", "netns", "add", self.ctl])
        self._plug(self.ctl, "ctl", mac=None, address=f"{CTL_IP}/24")
        self._save()
        import inventory

        inv = inventory.load(self.inv_dir)
        for m in inv.machines.values():
            if inventory.lifecycle.delivered(m.state):
                self.add_host(m.name)
        self._record_authorized_key()

    def _make_project(self) -> None:
        if self.project.exists():
            shutil.rmtree(self.project)
        copy_project(self.project, self.program)
        shutil.copytree(self.source or ROOT / "stacks" / self.stack, self.inv_dir)
        settings = ROOT / "stacks" / f"Pulumi.{self.stack}.yaml"
        if self.source is None and settings.exists():
            shutil.copy(settings, self.project / "stacks")
        else:
            (self.project / "stacks" / f"Pulumi.{self.stack}.yaml").write_text(
                f"config:\n  uniform:inventory: {self.stack}\n"
            )

    def _plug(self, ns: str, port: str, *, mac: str | None, address: str | None) -> None:
        """A veth eth0 in ``ns``, its peer v-<port> a port of the switch's bridge."""
        peer = f"v-{port}"[:15]
        run(["ip", "-n", self.sw, "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", ns])
        if mac:
            run(["ip", "-n", ns, "link", "set", "eth0", "address", mac])
        if address:
            run(["ip", "-n", ns, "addr", "add", address, "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", self.sw, "link", "set", peer, "master", "br0", "up"])

    def add_host(self, name: str) -> Host:
        """A host for machine ``name`` of the lab inventory: namespace, eth0 with its MAC and
        address, private mounts, sshd; its host key recorded (ssh-keyscan) in customer.yaml."""
        import inventory

        m = inventory.load(self.inv_dir).machines[name]
        att = m.nics[0].attachments[0]
        net = inventory.load(self.inv_dir).networks[att.network]
        assert att.ipv4 and net.ipv4, f"{name}: the lab needs an IPv4 address on the first NIC"
        host = Host(name, m.nics[0].mac, att.ipv4, int(net.ipv4.split("/")[1]))
        ns, hd = self.ns(name), self.host_dir(name)
        if hd.exists():
            shutil.rmtree(hd)
        (hd / "state").mkdir(parents=True)
        run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"lab-{name}",
                "-f",
                str(hd / "ssh_host_ed25519_key"),
            ]
        )
        shutil.copy(self.client_key.with_suffix(".pub"), hd / "authorized_keys.seed")
        hypervisor = "hypervisor" in m.roles
        if hypervisor:
            libvirt.prepare(hd)  # hostinit.sh binds it where libvirt looks
        (hd / "sshd_config").write_text(
            "\n".join(
                [
                    "# uniform lab: sshd of one lab host",
                    "Port 22",
                    "ListenAddress 0.0.0.0",
                    f"HostKey {hd / 'ssh_host_ed25519_key'}",
                    f"PidFile {hd / 'sshd.pid'}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "AuthorizedKeysFile .ssh/authorized_keys",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "LogLevel VERBOSE",
                    # as a stock sshd has it: scp (SFTP protocol) and Ansible's file transfer use it
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        run(["ip", "netns", "add", ns])
        self._plug(ns, name, mac=host.mac, address=f"{host.ipv4}/{host.prefixlen}")
        log = open(hd / "hostinit.log", "wb")  # noqa: SIM115 - handed to the holder process
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "unshare", "--mount", "--uts", "--propagation", "private", "--",
             "sh", str(HOSTINIT), str(hd), str(SHIMS)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 10
        while not (hd / "ready").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"{name}: hostinit failed: {(hd / 'hostinit.log').read_text()}")
            time.sleep(0.05)
        self.hosts[name] = host
        self._save()
        if hypervisor:
            libvirt.vm_bridges(self, name)
            libvirt.start(self, name)
        if hypervisor or m.is_vm:
            self._fence()
        self.start_sshd(name)
        self._record_host_key(name)
        self._check_session(name)
        return host

    def _fence(self) -> None:
        """Each hypervisor host fences the real domains of the VMs that stand in as hosts here."""
        import inventory

        machines = inventory.load(self.inv_dir).machines
        for hv in self.hosts:
            if hv in machines and "hypervisor" in machines[hv].roles:
                on_hv = [n for n in self.hosts if n in machines and machines[n].hypervisor == hv]
                macs = [self.hosts[n].mac for n in on_hv]
                libvirt.fence(self, hv, macs)

    def holder(self, name: str) -> int:
        return int((self.host_dir(name) / "holder.pid").read_text())

    def in_host(self, name: str, cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` in host ``name``'s network, mount and UTS namespaces (its own view)."""
        return run(["nsenter", "-t", str(self.holder(name)), "-m", "-u", "-n", "--", *cmd], **kw)

    def start_sshd(self, name: str) -> None:
        hd = self.host_dir(name)
        self.in_host(
            name,
            [which("sshd") or "/usr/sbin/sshd", "-f", str(hd / "sshd_config"), "-E", str(hd / "sshd.log")],
        )
        deadline = time.monotonic() + 10
        while (
            run(
                ["ip", "netns", "exec", self.ns(name), "ss", "-Hltn", "sport = :22"], timeout=5
            ).stdout.strip()
            == ""
        ):
            if time.monotonic() > deadline:
                raise LabError(f"{name}: sshd does not listen: {(hd / 'sshd.log').read_text()}")
            time.sleep(0.05)

    def stop_sshd(self, name: str) -> None:
        """The listening sshd goes away (its sessions too): the host refuses ssh."""
        pidf = self.host_dir(name) / "sshd.pid"
        if pidf.exists():
            _kill([int(pidf.read_text())])
            pidf.unlink(missing_ok=True)

    def _record_host_key(self, name: str) -> None:
        """The documented workflow: ssh-keyscan the host, pin the key in customer.yaml."""
        h = self.hosts[name]
        out = run(
            ["ip", "netns", "exec", self.ctl, "ssh-keyscan", "-T", "5", "-t", "ed25519", h.ipv4], timeout=15
        ).stdout
        fields = out.split()
        if len(fields) < 3 or fields[1] != "ssh-ed25519":
            raise LabError(f"{name}: ssh-keyscan {h.ipv4} gave {out!r}")
        served = f"{fields[1]} {fields[2]}"
        generated = " ".join((self.host_dir(name) / "ssh_host_ed25519_key.pub").read_text().split()[:2])
        if served != generated:
            raise LabError(f"{name}: {h.ipv4} serves another host key than the lab generated")
        self._edit_customer(lambda doc: doc["ssh"]["host_keys"].__setitem__(name, served))

    def _record_authorized_key(self) -> None:
        pub = " ".join(self.client_key.with_suffix(".pub").read_text().split()[:3])

        def edit(doc: Any) -> None:
            keys = doc["ssh"]["authorized_keys"]
            if pub not in keys:
                keys.append(pub)

        self._edit_customer(edit)

    def _edit_customer(self, change: Any) -> None:
        from ruamel.yaml import YAML

        y = YAML()
        y.preserve_quotes = True
        y.width = 4096  # one key per line
        path = self.inv_dir / "customer.yaml"
        doc = y.load(path.read_text())
        change(doc)
        with path.open("w") as f:
            y.dump(doc, f)

    def ssh_cmd(self, name: str, command: str) -> list[str]:
        from connectors.ssh import Endpoint, known_hosts_line, ssh_command  # delivery's own options

        h, known = self.hosts[name], self.host_dir(name) / "known_hosts"
        host_key = (self.host_dir(name) / "ssh_host_ed25519_key.pub").read_text().strip()
        known.write_text(known_hosts_line(h.ipv4, 22, host_key))
        to = Endpoint(host=h.ipv4, port=22, user="root", host_key=host_key)
        ssh = ssh_command(to, known, command, connect_timeout=5, identity=str(self.client_key))
        return ["ip", "netns", "exec", self.ctl, *ssh]

    def ssh_logins(self, name: str) -> int:
        """SSH logins host ``name``'s sshd accepted so far (its log, LogLevel VERBOSE)."""
        log = self.host_dir(name) / "sshd.log"
        return log.read_text(errors="replace").count("Accepted publickey") if log.exists() else 0

    def known_hosts(self) -> str:
        """A known_hosts text pinning every host's key by its address (for other SSH clients)."""
        return "".join(
            f"{h.ipv4} {(self.host_dir(n) / 'ssh_host_ed25519_key.pub').read_text().split(maxsplit=2)[0]} "
            f"{(self.host_dir(n) / 'ssh_host_ed25519_key.pub').read_text().split()[1]}\n"
            for n, h in sorted(self.hosts.items())
        )

    def _check_session(self, name: str) -> None:
        """An ssh session of the deploy key sees the lab shims first on PATH and a private /etc."""
        out = run(
            self.ssh_cmd(name, "command -v systemctl; mountpoint -q /etc && echo private"), timeout=20
        ).stdout
        if out.split() != ["/usr/local/sbin/systemctl", "private"]:
            raise LabError(f"{name}: ssh session does not see the lab's view: {out!r}")

    def remove_host(self, name: str) -> None:
        """The host is gone for good: its processes, namespaces and switch port disappear."""
        libvirt.stop(self, name)
        _del_netns(self.ns(name))
        self.hosts.pop(name, None)
        self._save()

    def down(self) -> None:
        """Idempotent: every namespace of this lab (and so every process, link and mount in it)."""
        names = run(["ip", "netns", "list"], timeout=10, check=False).stdout.split("\n")
        mine = [n.split()[0] for n in names if n.strip() and n.split()[0].startswith(self.prefix)]
        for pidfile in sorted(self.run_dir.glob("hosts/*/libvirtd.pid")):  # QEMU, libvirtd by PID
            libvirt.stop(self, pidfile.parent.name)
        for ns in sorted(mine, key=lambda n: (n == self.sw, n)):  # hosts first, the switch last
            _del_netns(ns)
        # private keys never outlive the lab
        for key in [self.client_key, *self.run_dir.glob("hosts/*/ssh_host_ed25519_key")]:
            key.unlink(missing_ok=True)
        self.hosts = {}
        if self.run_dir.exists():
            self._save()

    # ------------------------------------------------------------------ the engine

    def engine(self) -> Engine:
        backend = self.run_dir / "state"
        backend.mkdir(parents=True, exist_ok=True)
        return Engine(cwd=self.project, env=engine_env(backend), netns=self.ctl, timeout=300, error=LabError)

    def init_stack(self) -> Engine:
        """The lab stack in a throwaway backend, the deploy key as its secret."""
        eng = self.engine()
        eng.run("stack", "init", self.stack)
        # from stdin, as the README does it: the key never appears on a command line
        eng.run("config", "set", "--secret", "uniform:sshPrivateKey", input=self.client_key.read_text())
        return eng

    def guard(self) -> None:
        """Refuse to deliver a payload path the lab hosts do not keep private."""
        import inventory
        import payloads

        bad = sorted(
            {
                f"{name}:{f.path}"
                for name, p in payloads.render_customer(inventory.load(self.inv_dir)).items()
                for f in p.files
                if not f.path.startswith(PRIVATE_PREFIXES)
            }
        )
        if bad:
            raise LabError(f"payload paths outside the lab hosts' private mounts {PRIVATE_PREFIXES}: {bad}")

    # ------------------------------------------------------------------ observing the network

    def dhcp(self, name: str) -> dict[str, str] | None:
        """A real DHCP exchange from host ``name``'s NIC (its inventory MAC): the lease, or None."""
        return _udhcpc(self.ns(name), self.nic(name))

    def nic(self, name: str) -> str:
        """The interface that talks for host ``name``'s inventory MAC: its NIC, or the bridge the
        delivered networkd files made it a port of (the bridge carries the MAC and the address;
        a DHCP client on a bridge port never sees its reply)."""
        links = json.loads(run(["ip", "-n", self.ns(name), "-j", "link", "show"], timeout=10).stdout)
        mine = [
            lk["ifname"] for lk in links if lk.get("address") == self.hosts[name].mac and not lk.get("master")
        ]
        return mine[0] if mine else "eth0"

    def probe_dhcp(self, mac: str) -> dict[str, str] | None:
        """A DHCP exchange from a throwaway namespace whose NIC carries ``mac`` (for a host that is gone)."""
        ns = f"{self.prefix}probe"
        _del_netns(ns)
        run(["ip", "netns", "add", ns])
        try:
            self._plug(ns, "probe", mac=mac, address=None)
            return _udhcpc(ns)
        finally:
            _del_netns(ns)

    def dig(self, server: str, name: str, *, reverse: bool = False) -> list[str]:
        q = ["-x", name] if reverse else [name, "A"]
        out = run(
            ["ip", "netns", "exec", self.ctl, "dig", f"@{server}", "+short", "+time=2", "+tries=2", *q],
            timeout=15,
        ).stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def read_file(self, name: str, path: str) -> str | None:
        """``path`` as host ``name`` sees it (None when absent)."""
        proc = self.in_host(name, ["cat", path], check=False, timeout=10)
        return proc.stdout if proc.returncode == 0 else None

    def hostname(self, name: str) -> str:
        return self.in_host(name, ["hostname"], timeout=10).stdout.strip()

    def leases(self, dhcp_host: str) -> str:
        return self.read_file(dhcp_host, "/var/lib/misc/dnsmasq.leases") or ""

    def vms_defined(self, hypervisor: str) -> dict[str, str]:
        """VM name -> state, as ``virsh list --all`` in the hypervisor's namespaces says."""
        return libvirt.domains(self, hypervisor)

    def status(self) -> str:
        lines = [f"lab {self.run_dir} prefix {self.prefix}"]
        netns = run(["ip", "netns", "list"], timeout=10, check=False).stdout.split("\n")
        lines += [
            f"  netns {n.split()[0]}" for n in netns if n.strip() and n.split()[0].startswith(self.prefix)
        ]
        for h in self.hosts.values():
            lines.append(f"  host {h.name}: {h.mac} {h.ipv4}/{h.prefixlen}")
        return "\n".join(lines)


def _udhcpc(ns: str, iface: str = "eth0") -> dict[str, str] | None:
    proc = run(
        ["ip", "netns", "exec", ns, "udhcpc", "-i", iface, "-f", "-q", "-n", "-t", "3", "-T", "1", "-A", "1",
         "-s", str(UDHCPC_SCRIPT)],
        timeout=20, check=False,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("LEASE "):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    return None


def _kill(pids: list[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if _alive(p)]
            time.sleep(0.05)
        if not alive:
            return
        pids = alive


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _del_netns(ns: str) -> None:
    """Kill every process in ``ns`` (by namespace, never by name), then delete it."""
    proc = run(["ip", "netns", "pids", ns], timeout=10, check=False)
    if proc.returncode == 0:
        _kill([int(p) for p in proc.stdout.split()])
    run(["ip", "netns", "del", ns], timeout=10, check=False)


# ---------------------------------------------------------------------- the demo


def check(lab: Lab, out: Any = print) -> bool:
    """Leases and names of every lab host, as a user would look at them."""
    import inventory

    inv = inventory.load(lab.inv_dir)
    dns = next(m for m in inv.machines.values() if "dns" in m.roles).nics[0].attachments[0].ipv4
    assert dns, "the lab's DNS server has an IPv4 address (stacks/lab)"
    ok = True
    out("\n== DHCP: a real exchange from each host's eth0 (inventory MAC) ==")
    for name, h in sorted(lab.hosts.items()):
        if "dhcp" in inv.machines[name].roles:
            out(f"  {name:6} {h.mac}  (the DHCP server itself: static)")
            continue
        lease = lab.dhcp(name)
        good = lease is not None and lease.get("ip") == h.ipv4
        ok &= good
        out(f"  {name:6} {h.mac}  -> {lease['ip'] if lease else 'NO LEASE'}  {'ok' if good else 'WRONG'}")
    out(f"\n== DNS: dig @{dns} ==")
    for name, h in sorted(lab.hosts.items()):
        fqdn = inv.fqdn(inv.machines[name])
        fwd, rev = lab.dig(dns, fqdn), lab.dig(dns, h.ipv4, reverse=True)
        good = fwd == [h.ipv4] and rev == [fqdn + "."]
        ok &= good
        verdict = "ok" if good else "WRONG"
        out(f"  {fqdn:16} -> {','.join(fwd) or '-':12}  {h.ipv4:12} -> {','.join(rev) or '-'}  {verdict}")
    dhcp_host = next(m.name for m in inv.machines.values() if "dhcp" in m.roles)
    out(f"\n== {dhcp_host}:/var/lib/misc/dnsmasq.leases ==\n" + lab.leases(dhcp_host).rstrip())
    for hv in (m.name for m in inv.machines.values() if "hypervisor" in m.roles and m.name in lab.hosts):
        out(f"\n== {hv}: virsh list --all ==  {lab.vms_defined(hv)}")
    out(
        "\n== hostnames (each host's own UTS namespace) ==  "
        + ", ".join(f"{n}={lab.hostname(n)}" for n in lab.hosts)
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness.lab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--run-dir", default=str(LAB / ".run"))
    ap.add_argument("--keep", action="store_true", help="demo: leave the lab up at the end")
    ap.add_argument("--no-vm", action="store_true", help="demo: skip the real VM (no base image build)")
    ap.add_argument("command", choices=["up", "down", "status", "check", "demo", "pulumi"])
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    lab = Lab(Path(a.run_dir))
    try:
        if a.command == "up":
            lab.up()
            lab.init_stack()
            print(lab.status())
            print("\nnext: python -m harness.lab pulumi up --yes ; ... check ; ... down")
        elif a.command == "down":
            lab.down()
            print("lab down")
        elif a.command == "status":
            print(lab.status())
        elif a.command == "check":
            return 0 if check(lab) else 1
        elif a.command == "pulumi":
            if a.args[:1] in (["up"], ["preview"]):
                lab.guard()
            proc = lab.engine().run(*a.args, check=False, timeout=600)
            print(proc.stdout, end="")
            print(proc.stderr, end="", file=sys.stderr)
            return proc.returncode
        elif a.command == "demo":
            try:
                t0 = time.monotonic()
                print("== lab up: namespaces, bridge, sshd per host (nothing else) ==")
                lab.up()
                print(lab.status())
                eng = lab.init_stack()
                lab.guard()
                print("\n== pulumi up: DHCP/DNS config, every host's files, VM definitions, over SSH ==")
                proc = eng.run("up", "--yes", "--skip-preview", check=False, timeout=600)
                print(proc.stdout.rstrip())
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    return 1
                ok = check(lab)
                if not a.no_vm:  # the real VM, next to the namespace hosts (harness/vm.py)
                    from harness import vm

                    ok &= vm.demo(lab, eng)
                print(f"\n{'all good' if ok else 'SOMETHING IS WRONG'} ({time.monotonic() - t0:.0f}s)")
                return 0 if ok else 1
            finally:
                if a.keep:
                    print("\nlab left up; next: python -m harness.lab check / pulumi preview --diff / down")
                else:
                    print("\n== lab down ==")
                    lab.down()
    except (LabError, LabUnavailable) as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
