"""The lab's boot network (docs/lab.md, docs/provisioning.md): uniform's rendered DHCP/TFTP files
served by a real dnsmasq, for netboot tests that need no ``pulumi up``.

The lab inventory (stacks/lab) plus netboot on its network (``boot_filename``), the test's
``provisioning`` settings and a staged hardware machine ``new1``.  The boot server's payload
files, as rendered, are served by a real dnsmasq started directly in svc1's namespace: its
/var is a private tmpfs holding the rendered /var tree (the TFTP root), its config the rendered
/etc/dnsmasq.d files.  With ``loader=True`` the rendered ``install-loader.sh`` runs there first,
exactly as the ``netboot`` reload does on a real boot server: it lays pxelinux.0, ldlinux.c32 and
the installer named by ``provisioning`` into that TFTP root from the Debian package
debian-installer-12-netboot-amd64 of this machine.

Clients: a namespace per machine with its inventory MAC (:meth:`NetbootLab.client`, udhcpc and
busybox tftp), or a QEMU rack server (harness/qemu.py) on a tap port of the same switch.
Lab addresses only (10.77.0.0/24 on a bridge in its own namespace); nothing is routed out.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import inventory
import payloads
from connectors.local import write_tree
from harness import lab as L
from harness.netns import udhcpc

__all__ = ["NEW1", "NEW1_MAC", "NetbootLab", "dnsmasq_log"]

ROOT = Path(__file__).resolve().parents[1]
NEW1_MAC = "0c:c4:7a:77:00:31"
NEW1 = f"""\
# staged hardware: the machine to install
name: new1
kind: hw
cores: 4
memory: 8GiB
disks: [{{name: root, size: 240GiB}}]
nics:
  - name: eth0
    mac: "{NEW1_MAC}"
    networks:
      - network: lan
        ipv4: 10.77.0.31
state: staged
history: [planned]
"""

UDHCPC_SCRIPT = """\
#!/bin/sh
# report the lease with the BOOTP fields (siaddr = next-server, boot_file); configure nothing
case "$1" in
  bound|renew)
    echo "LEASE ip=$ip siaddr=${siaddr:-} boot_file=${boot_file:-}" \
      "dns=${dns:-} domain=${domain:-} serverid=${serverid:-}" ;;
esac
exit 0
"""


def dnsmasq_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


class NetbootLab:
    """A switch, the boot server's namespace running dnsmasq, one namespace per client."""

    def __init__(self, tmp: Path, prefix: str, *, provisioning: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.lab = L.Lab(tmp / "lab", prefix=prefix)
        self.inv_dir = tmp / "inv" / "lab"
        self.out = tmp / "out"
        self.provisioning = provisioning or {}
        self.log = tmp / "dnsmasq.log"
        self.dnsmasq: subprocess.Popen[bytes] | None = None
        self.script = tmp / "udhcpc.script"
        self.script.write_text(UDHCPC_SCRIPT)
        self.script.chmod(0o755)

    # ---------------------------------------------------------------- inventory -> files

    def make_inventory(self) -> None:
        shutil.copytree(ROOT / "stacks" / "lab", self.inv_dir)
        from ruamel.yaml import YAML  # the round-trip editor the lab uses on customer.yaml

        y = YAML()
        path = self.inv_dir / "customer.yaml"
        doc = y.load(path.read_text())
        doc["networks"]["lan"]["boot_filename"] = "pxelinux.0"
        if self.provisioning:
            doc.setdefault("provisioning", {}).update(self.provisioning)
        with path.open("w") as f:
            y.dump(doc, f)
        (self.inv_dir / "machines" / "new1.yaml").write_text(NEW1)

    def render(self) -> dict[str, payloads.MachinePayload]:
        rendered = payloads.render_customer(inventory.load(self.inv_dir))
        shutil.rmtree(self.out, ignore_errors=True)
        write_tree(rendered, self.out)
        return rendered

    # ---------------------------------------------------------------- network

    def up(self, clients: tuple[str, ...] = ()) -> None:
        """Switch, svc1 with its address; ``clients``: namespaces with their inventory MAC."""
        lab = self.lab
        L.run(["ip", "netns", "add", lab.sw])
        L.run(["ip", "-n", lab.sw, "link", "add", "br0", "type", "bridge"])
        L.run(["ip", "-n", lab.sw, "link", "set", "br0", "up"])
        inv = inventory.load(self.inv_dir)
        svc = inv.machines["svc1"]
        L.run(["ip", "netns", "add", lab.ns("svc1")])
        lab._plug(
            lab.ns("svc1"), "svc1", mac=svc.nics[0].mac, address=f"{svc.nics[0].attachments[0].ipv4}/24"
        )
        for name in clients:  # no address until leased
            L.run(["ip", "netns", "add", lab.ns(name)])
            lab._plug(lab.ns(name), name, mac=inv.machines[name].nics[0].mac, address=None)

    def start_dnsmasq(self, *, loader: bool = False) -> None:
        """dnsmasq in svc1's namespace with the rendered files: /etc/dnsmasq.d/*.conf as they are,
        the rendered /var tree (TFTP root) in a private tmpfs /var of its own mount namespace; DHCP
        and DNS queries logged;
        ``loader``: the rendered install-loader.sh fills in loader and installer first."""
        self.stop_dnsmasq()
        host = self.out / "svc1"
        loader_cmd = f" sh {host}/etc/uniform/netboot/install-loader.sh;" if loader else ""
        script = (
            "set -e; mount -t tmpfs uniform-lab-var /var; mkdir -p /var/lib/misc;"
            f" cp -a {host}/var/. /var/;{loader_cmd}"
            f" exec dnsmasq -k -C /dev/null --conf-dir={host}/etc/dnsmasq.d,*.conf --no-resolv"
            f" --log-dhcp --log-queries --log-facility={self.log} --pid-file={self.tmp}/dnsmasq.pid"
        )
        self.dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.ns("svc1"), "unshare", "--mount", "--propagation", "private",
             "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30  # the loader copies ~50 MB first
        while True:
            listening = L.run(
                ["ip", "netns", "exec", self.lab.ns("svc1"), "ss", "-Hlun", "sport = :69"], timeout=5
            ).stdout.strip()
            if listening:
                return
            if self.dnsmasq.poll() is not None or time.monotonic() > deadline:
                out = self.dnsmasq.stdout.read().decode() if self.dnsmasq.stdout else ""
                raise AssertionError(f"dnsmasq did not start: {out}\n{dnsmasq_log(self.log)}")
            time.sleep(0.05)

    def stop_dnsmasq(self) -> None:
        if self.dnsmasq is not None and self.dnsmasq.poll() is None:
            self.dnsmasq.terminate()  # our own child: ip netns exec -> unshare -> sh exec'ed into dnsmasq
            try:
                self.dnsmasq.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.dnsmasq.kill()
                self.dnsmasq.wait(timeout=5)
        self.dnsmasq = None

    def down(self) -> None:
        self.stop_dnsmasq()
        self.lab.down()

    # ---------------------------------------------------------------- a client namespace

    def dhcp(self, name: str) -> dict[str, str] | None:
        return udhcpc(self.lab.ns(name), "eth0", self.script)

    def configure(self, name: str, ip: str) -> None:
        ns = self.lab.ns(name)
        L.run(["ip", "-n", ns, "addr", "flush", "dev", "eth0"])
        L.run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0"])

    def tftp(self, name: str, server: str, remote: str) -> str | None:
        """``remote`` fetched by TFTP from host ``name`` (None when the server has no such file)."""
        local = self.tmp / f"tftp-{name}-{remote.replace('/', '_')}"
        local.unlink(missing_ok=True)
        proc = L.run(
            ["ip", "netns", "exec", self.lab.ns(name), "timeout", "10", "busybox", "tftp", "-g",
             "-r", remote, "-l", str(local), server],
            timeout=15, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            assert "not found" in (proc.stdout + proc.stderr).lower(), proc.stdout + proc.stderr
            return None
        return local.read_text()

    def ping(self, name: str, address: str, *, count: int = 1) -> bool:
        """Whether ``address`` answers ICMP echo from host ``name``'s namespace (busybox ping)."""
        proc = L.run(
            ["ip", "netns", "exec", self.lab.ns(name), "busybox", "ping", "-c", str(count), "-W", "1",
             address],
            timeout=10 + count, check=False,
        )  # fmt: skip
        return proc.returncode == 0
