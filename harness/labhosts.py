"""The lab's hosts: namespaces, the switch, one sshd per host, their keys (docs/lab.md).

What the harness does and nothing more: namespaces, links, addresses, one sshd per host (own
host key, throwaway deploy key), and the pinned host keys + deploy key in the lab project's
COPY of the customer's inventory.  Everything on the hosts is delivered by ``pulumi up`` over
SSH.  :class:`Lab` is the whole lab: its layout and project (harness/labbase.py), its looks at
the network (harness/labcheck.py) and, here, bringing hosts up and down."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import libvirt
from harness.labbase import CTL_IP, LAB, PRIVATE_PREFIXES, Host
from harness.labcheck import LabObserve
from harness.netns import LabError, LabUnavailable, del_netns, keygen, kill, run, which

__all__ = ["HOSTINIT", "SBIN_TOOLS", "SHIMS", "TOOLS", "Lab"]

SHIMS = LAB / "shims"
HOSTINIT = LAB / "hostinit.sh"
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


class Lab(LabObserve):
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
        keygen(self.client_key, "uniform-lab-deploy")
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
        keygen(hd / "ssh_host_ed25519_key", f"lab-{name}")
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
            kill([int(pidf.read_text())])
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
        del_netns(self.ns(name))
        self.hosts.pop(name, None)
        self._save()

    def down(self) -> None:
        """Idempotent: every namespace of this lab (and so every process, link and mount in it)."""
        names = run(["ip", "netns", "list"], timeout=10, check=False).stdout.split("\n")
        mine = [n.split()[0] for n in names if n.strip() and n.split()[0].startswith(self.prefix)]
        for pidfile in sorted(self.run_dir.glob("hosts/*/libvirtd.pid")):  # QEMU, libvirtd by PID
            libvirt.stop(self, pidfile.parent.name)
        for ns in sorted(mine, key=lambda n: (n == self.sw, n)):  # hosts first, the switch last
            del_netns(ns)
        # private keys never outlive the lab
        for key in [self.client_key, *self.run_dir.glob("hosts/*/ssh_host_ed25519_key")]:
            key.unlink(missing_ok=True)
        self.hosts = {}
        if self.run_dir.exists():
            self._save()
