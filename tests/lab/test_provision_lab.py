"""Netboot in the lab's network: real DHCP, real TFTP, real namespaces (docs/provisioning.md).

The lab inventory (stacks/lab) plus netboot on its network (``boot_filename``) and a
staged hardware machine ``new1``.  The DHCP/boot server's payload files, as rendered, are
served by a real dnsmasq started directly in the service host's namespace (not by
``pulumi up``: delivery is the other lab test's subject, and this keeps the test at a few
seconds): its /var is a private tmpfs holding the rendered /var tree (the TFTP root), its
config the rendered /etc/dnsmasq.d files.  Then, from host namespaces carrying the
inventory MACs:

  1. new1 (staged hw): udhcpc receives its address and the boot server (siaddr) and boot
     file name; it fetches its own pxelinux config by TFTP (busybox tftp), then the preseed
     that config names -- both byte for byte as rendered;
  2. app1 (active hw): the same boot options, but no config of its own: pxelinux falls
     back to pxelinux.cfg/default, which boots the local disk;
  3. new1 becomes active: after re-rendering (and a dnsmasq restart, as the dnsmasq reload
     does), its config and preseed are gone -- it no longer netboots.

Every exchange is bounded (udhcpc -t 3 -T 1, timeouts on every command), lab addresses only
(10.77.0.0/24 on a bridge in its own namespace).  Needs root and namespaces: skipped without
them, failed when UNIFORM_REQUIRE_LAB=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import inventory
import payloads
from connectors.local import write_tree
from harness import lab as L
from inventory.model import State
from payloads.provision import mac_file
from tests.helpers.lab import lab_netns, preflight, unavailable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.lab]

NEW1 = """\
# staged hardware: the machine to install
name: new1
kind: hw
cores: 4
memory: 8GiB
disks: [{name: root, size: 240GiB}]
nics:
  - name: eth0
    mac: "0c:c4:7a:77:00:31"
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


class NetbootLab:
    """A switch, the boot server's namespace running dnsmasq, one namespace per client."""

    def __init__(self, tmp: Path, prefix: str) -> None:
        self.tmp = tmp
        self.lab = L.Lab(tmp / "lab", prefix=prefix)
        self.inv_dir = tmp / "inv" / "lab"
        self.out = tmp / "out"
        self.dnsmasq: subprocess.Popen[bytes] | None = None
        self.script = tmp / "udhcpc.script"
        self.script.write_text(UDHCPC_SCRIPT)
        self.script.chmod(0o755)

    # ---------------------------------------------------------------- inventory -> files

    def make_inventory(self) -> None:
        shutil.copytree(ROOT / "stacks" / "lab", self.inv_dir)
        cust = self.inv_dir / "customer.yaml"
        text = cust.read_text()
        assert "    dns_servers: [10.77.0.10]\n" in text
        cust.write_text(
            text.replace(
                "    dns_servers: [10.77.0.10]\n",
                "    dns_servers: [10.77.0.10]\n    boot_filename: pxelinux.0\n",
            )
        )
        (self.inv_dir / "machines" / "new1.yaml").write_text(NEW1)

    def render(self) -> dict[str, payloads.MachinePayload]:
        rendered = payloads.render_customer(inventory.load(self.inv_dir))
        write_tree(rendered, self.out)
        return rendered

    # ---------------------------------------------------------------- network

    def up(self) -> None:
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
        for name in ("new1", "app1"):  # clients: the inventory MAC, no address until leased
            L.run(["ip", "netns", "add", lab.ns(name)])
            lab._plug(lab.ns(name), name, mac=inv.machines[name].nics[0].mac, address=None)

    def start_dnsmasq(self) -> None:
        """dnsmasq in svc1's namespace with the rendered files: /etc/dnsmasq.d/*.conf as they are,
        the rendered /var tree (TFTP root) in a private tmpfs /var of its own mount namespace."""
        self.stop_dnsmasq()
        host = self.out / "svc1"
        log = self.tmp / "dnsmasq.log"
        script = (
            "set -e; mount -t tmpfs uniform-lab-var /var; mkdir -p /var/lib/misc;"
            f" cp -a {host}/var/. /var/;"
            f" exec dnsmasq -k -C /dev/null --conf-dir={host}/etc/dnsmasq.d,*.conf --no-resolv"
            f" --log-dhcp --log-facility={log} --pid-file={self.tmp}/dnsmasq.pid"
        )
        self.dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.ns("svc1"), "unshare", "--mount", "--propagation", "private",
             "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            listening = L.run(
                ["ip", "netns", "exec", self.lab.ns("svc1"), "ss", "-Hlun", "sport = :69"], timeout=5
            ).stdout.strip()
            if listening:
                return
            if self.dnsmasq.poll() is not None or time.monotonic() > deadline:
                out = self.dnsmasq.stdout.read().decode() if self.dnsmasq.stdout else ""
                raise AssertionError(
                    f"dnsmasq did not start: {out}\n{log.read_text() if log.exists() else ''}"
                )
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

    # ---------------------------------------------------------------- a client

    def dhcp(self, name: str) -> dict[str, str] | None:
        proc = L.run(
            ["ip", "netns", "exec", self.lab.ns(name), "udhcpc", "-i", "eth0", "-f", "-q", "-n",
             "-t", "3", "-T", "1", "-A", "1", "-s", str(self.script)],
            timeout=20, check=False,
        )  # fmt: skip
        for line in proc.stdout.splitlines():
            if line.startswith("LEASE "):
                return dict(kv.split("=", 1) for kv in line.split()[1:])
        return None

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


@pytest.fixture
def netboot(tmp_path: Path) -> Iterator[NetbootLab]:
    nl = NetbootLab(tmp_path, prefix=f"up{os.getpid() % 100000}-")
    preflight(nl.lab)
    if L.which("busybox") is None:
        unavailable("busybox (tftp client) missing: apt-get install busybox")
    try:
        nl.make_inventory()
        nl.up()
        yield nl
    finally:
        nl.down()
        assert lab_netns(nl.lab.prefix) == [], "namespaces left behind"
        assert not Path("/var/lib/tftpboot/uniform").exists(), "the real /var was written"


def _preseed_url(pxe_cfg: str) -> tuple[str, str]:
    (append,) = [x.strip() for x in pxe_cfg.splitlines() if x.strip().startswith("APPEND ")]
    (url,) = [a.split("=", 1)[1] for a in append.split() if a.startswith("preseed/url=")]
    assert url.startswith("tftp://")
    server, _, path = url[len("tftp://") :].partition("/")
    return server, path


def test_netboot_in_the_lab(netboot: NetbootLab) -> None:
    rendered = netboot.render()
    inv = inventory.load(netboot.inv_dir)
    svc_ip = inv.machines["svc1"].nics[0].attachments[0].ipv4
    svc = rendered["svc1"]
    assert "enable-tftp" in svc.file("/etc/dnsmasq.d/uniform-dhcp.conf").content
    netboot.start_dnsmasq()

    # 1. the staged machine: boot options for its MAC, its own config, its preseed
    new1 = inv.machines["new1"]
    lease = netboot.dhcp("new1")
    assert lease is not None, "new1: no DHCP lease"
    assert lease["ip"] == "10.77.0.31"
    assert lease["siaddr"] == svc_ip, lease  # next-server: the boot server
    assert lease["boot_file"] == "pxelinux.0", lease
    assert lease["dns"] == svc_ip and lease["domain"] == "lab.test"
    netboot.configure("new1", lease["ip"])
    own = f"pxelinux.cfg/{mac_file(new1.nics[0].mac)}"
    cfg = netboot.tftp("new1", lease["siaddr"], own)
    assert cfg == svc.file(f"/var/lib/tftpboot/{own}").content
    assert "KERNEL debian-installer/amd64/linux" in cfg and "netcfg/get_ipaddress=10.77.0.31" in cfg
    server, path = _preseed_url(cfg)
    assert server == svc_ip
    preseed = netboot.tftp("new1", server, path)
    assert preseed == svc.file(f"/var/lib/tftpboot/{path}").content
    assert "d-i passwd/root-password-crypted password !" in preseed

    # 2. an active machine: the same boot options, no config of its own -> local disk
    app1 = inv.machines["app1"]
    lease = netboot.dhcp("app1")
    assert lease is not None and lease["ip"] == "10.77.0.12"
    assert (lease["siaddr"], lease["boot_file"]) == (svc_ip, "pxelinux.0")
    netboot.configure("app1", lease["ip"])
    assert netboot.tftp("app1", svc_ip, f"pxelinux.cfg/{mac_file(app1.nics[0].mac)}") is None
    default = netboot.tftp("app1", svc_ip, "pxelinux.cfg/default")
    assert default == svc.file("/var/lib/tftpboot/pxelinux.cfg/default").content
    assert "LOCALBOOT 0" in default

    # 3. new1 is installed: active, it loses its boot path
    inventory.transition(netboot.inv_dir, "new1", State.ACTIVE)
    rendered = netboot.render()
    assert not any("/uniform/preseed/" in f.path for f in rendered["svc1"].files)
    netboot.start_dnsmasq()  # the dnsmasq reload restarts it
    lease = netboot.dhcp("new1")
    assert lease is not None and lease["ip"] == "10.77.0.31"
    assert netboot.tftp("new1", svc_ip, own) is None
    assert netboot.tftp("new1", svc_ip, path) is None
    assert "LOCALBOOT 0" in (netboot.tftp("new1", svc_ip, "pxelinux.cfg/default") or "")
