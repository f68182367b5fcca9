"""A rack server PXE-boots the Debian installer from uniform's files, for real (docs/lab.md,
"Netboot of a rack server"; docs/provisioning.md).

The lab's boot network (harness/netboot.py): the lab inventory with netboot on its network, a
serial console in ``provisioning.console``, and the staged hardware machine ``new1``; a real
dnsmasq in svc1's namespace serving the rendered DHCP config and TFTP root, into which the
rendered ``install-loader.sh`` has put pxelinux and the installer from the Debian package
debian-installer-12-netboot-amd64, as the ``netboot`` reload does on a boot server.

Then one QEMU process (harness/qemu.py, no libvirt, TCG) stands in for new1: no disk, an e1000
NIC with new1's inventory MAC on a tap port of the lab switch, firmware that netboots.  Power on,
and the test waits until the installer has fetched its preseed.  What it proves, from dnsmasq's
DHCP and TFTP log and the serial console:

  * DHCPDISCOVER/OFFER/REQUEST/ACK for new1's MAC, with the reserved address, next-server and
    pxelinux.0 -- from the firmware; the installer itself never asks DHCP;
  * TFTP, in this order: pxelinux.0, ldlinux.c32, pxelinux.cfg/01-<mac>, the installer kernel
    and initrd named by ``provisioning``, the preseed named on the kernel line;
  * the installer's kernel ran with exactly the rendered APPEND line (+ BOOTIF), and its
    console is the serial port ``provisioning.console`` names;
  * the installer configured the inventory's static address from that line: 10.77.0.31
    answers ping from svc1, with new1's MAC;
  * the installer read the preseed: it looks up the mirror only the preseed names.

One boot, one test function (~3 min on a 2-core machine), QEMU killed in a finally.  Needs root,
namespaces, qemu-system-x86_64 and the netboot package: skipped without them, failed when
UNIFORM_REQUIRE_LAB=1.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import inventory
import payloads
from harness import lab as L
from harness.netboot import NEW1_MAC, NetbootLab, dnsmasq_log
from harness.qemu import QEMU, RackServer
from payloads.provision import NETBOOT_SOURCE, mac_file
from tests.helpers.lab import lab_netns, preflight, unavailable

pytestmark = [pytest.mark.slow, pytest.mark.lab]

CONSOLE = "ttyS0,115200n8"
#: a mirror only the preseed names (the installer's own default is deb.debian.org): looking it
#: up proves the installer read the preseed, not only fetched it
MIRROR = "mirror.lab.test"
ADDRESS = "10.77.0.31"
#: a boot that has not fetched its preseed by then is broken (the target is 2 minutes)
DEADLINE_S = 300
MIRROR_WAIT_S = 150


@dataclass
class Boot:
    nl: NetbootLab
    server: RackServer
    rendered: dict[str, payloads.MachinePayload]
    preseed_after: float  # seconds from power-on until dnsmasq had sent the preseed
    log: str  # dnsmasq's log (DHCP and TFTP) at that moment

    def file(self, path: str) -> str:
        return self.rendered["svc1"].file(path).content


@pytest.fixture
def boot(tmp_path: Path) -> Iterator[Boot]:
    tmp = tmp_path
    nl = NetbootLab(
        tmp, prefix=f"nb{os.getpid() % 100000}-", provisioning={"console": CONSOLE, "mirror": MIRROR}
    )
    preflight(nl.lab)
    for tool in (QEMU, "busybox"):
        if L.which(tool) is None:
            unavailable(f"{tool} missing (see tools/debian-packages.txt)")
    if not Path(NETBOOT_SOURCE, "debian-installer").is_dir():
        unavailable(f"{NETBOOT_SOURCE} missing: apt-get install debian-installer-12-netboot-amd64")
    server = RackServer(tmp / "new1", switch_ns=nl.lab.sw, tap="t-new1", mac=NEW1_MAC)
    try:
        nl.make_inventory()
        rendered = nl.render()
        nl.up()
        nl.start_dnsmasq(loader=True)
        server.start()
        preseed = re.compile(r"sent \S+/uniform/preseed/" + re.escape(mac_file(NEW1_MAC)))
        while not preseed.search(dnsmasq_log(nl.log)):
            elapsed = time.monotonic() - server.powered_on
            if not server.running() or elapsed > DEADLINE_S:
                raise AssertionError(
                    f"no preseed fetch after {elapsed:.0f}s (QEMU running: {server.running()})\n"
                    f"--- dnsmasq\n{dnsmasq_log(nl.log)[-3000:]}\n"
                    f"--- console\n{server.console_text()[-3000:]}"
                )
            time.sleep(0.2)
        took = time.monotonic() - server.powered_on
        print(f"\nnetboot: power-on -> preseed fetched in {took:.1f}s")  # shown with -s
        yield Boot(nl, server, rendered, took, dnsmasq_log(nl.log))
    finally:
        server.stop()
        nl.down()
        assert server.proc is None or server.proc.poll() is not None, "QEMU still running"
        assert lab_netns(nl.lab.prefix) == [], "namespaces left behind"
        assert not Path("/var/lib/tftpboot/uniform").exists(), "the real /var was written"


def _dhcp(log: str, mac: str) -> list[tuple[str, str]]:
    """(transaction id, message) of each DHCP message for ``mac``, in log order."""
    return re.findall(r"dnsmasq-dhcp\[\d+\]: (\d+) (DHCP[A-Z]+)\(eth0\) (?:[\d.]+ )?" + re.escape(mac), log)


def _dhcp_from_the_firmware_only(boot: Boot) -> None:
    msgs = _dhcp(boot.log, NEW1_MAC)
    kinds = [m for _, m in msgs]
    assert "DHCPDISCOVER" in kinds and "DHCPOFFER" in kinds, boot.log
    assert kinds.index("DHCPDISCOVER") < kinds.index("DHCPOFFER") < kinds.index("DHCPREQUEST")
    assert kinds[-1] == "DHCPACK" and kinds.count("DHCPACK") == 1  # one lease, then static
    assert f"DHCPOFFER(eth0) {ADDRESS} {NEW1_MAC}" in boot.log
    assert f"DHCPACK(eth0) {ADDRESS} {NEW1_MAC} new1" in boot.log
    (xid,) = {x for x, m in msgs if m == "DHCPACK"}
    # this transaction's options: the boot server and file of the rendered dhcp-boot line
    ours = [line for line in boot.log.splitlines() if f"]: {xid} " in line]
    assert any("vendor class: PXEClient" in line for line in ours)  # the NIC's PXE firmware
    assert any(line.endswith("next server: 10.77.0.10") for line in ours)
    assert any("option: 67 bootfile-name  pxelinux.0" in line for line in ours)
    assert "dhcp-boot=tag:lan,pxelinux.0,,10.77.0.10" in boot.file("/etc/dnsmasq.d/uniform-dhcp.conf")


def _tftp_loader_config_installer_preseed_in_order(boot: Boot) -> None:
    inv = inventory.load(boot.nl.inv_dir)
    p = inv.customer.provisioning
    sent = re.findall(r"dnsmasq-tftp\[\d+\]: sent /var/lib/tftpboot/(\S+) to (\S+)", boot.log)
    assert {to for _, to in sent} == {ADDRESS}
    want = [
        "pxelinux.0",
        "ldlinux.c32",
        f"pxelinux.cfg/{mac_file(NEW1_MAC)}",
        p.kernel,
        p.initrd,
        f"uniform/preseed/{mac_file(NEW1_MAC)}.cfg",
    ]
    assert [f for f, _ in sent] == want, boot.log
    # the preseed fetched is the one the rendered kernel line names
    cfg = boot.file(f"/var/lib/tftpboot/pxelinux.cfg/{mac_file(NEW1_MAC)}")
    assert f"preseed/url=tftp://10.77.0.10/{want[-1]}" in cfg


def _installer_runs_the_rendered_kernel_line_on_the_serial_console(boot: Boot) -> None:
    cfg = boot.file(f"/var/lib/tftpboot/pxelinux.cfg/{mac_file(NEW1_MAC)}")
    assert cfg.splitlines()[3] == "SERIAL 0 115200"  # the loader on the same serial line
    (append,) = [x.strip()[len("APPEND ") :] for x in cfg.splitlines() if x.strip().startswith("APPEND ")]
    console = boot.server.console_text()
    assert boot.server.seen("PXELINUX") is not None, console[-2000:]
    m = re.search(r"Command line: (.*)", console)
    assert m, console[-2000:]
    kernel = inventory.load(boot.nl.inv_dir).customer.provisioning.kernel
    # exactly the rendered line; IPAPPEND 2 adds the NIC it booted from
    assert m.group(1).strip() == f"BOOT_IMAGE={kernel} {append} BOOTIF=01-{NEW1_MAC.replace(':', '-')}"
    assert f"console={CONSOLE}" in append
    # the installer's own screens reach the serial console, not only the kernel's messages
    assert boot.server.seen("Detecting network hardware") is not None, console[-2000:]
    # the figure docs/lab.md records (target: 2 minutes under TCG on the 2-core machine);
    # measured, not asserted beyond the fixture's deadline
    assert boot.server.seen("Linux version") is not None and boot.preseed_after < DEADLINE_S


def _installer_configured_the_inventory_address(boot: Boot) -> None:
    nl = boot.nl
    assert nl.ping("svc1", ADDRESS, count=3), boot.server.console_text()[-2000:]
    neigh = L.run(["ip", "-n", nl.lab.ns("svc1"), "neigh", "show", ADDRESS], timeout=10).stdout
    assert f"lladdr {NEW1_MAC}" in neigh, neigh  # answered by new1's NIC
    # static, from the kernel line: no DHCP after the firmware's lease
    assert [m for _, m in _dhcp(dnsmasq_log(nl.log), NEW1_MAC)].count("DHCPREQUEST") == 1
    assert boot.server.running()  # still the installer, not a reboot


def _installer_read_its_preseed(boot: Boot) -> None:
    """After the fetch the installer goes on with the preseed's answers: it looks up the mirror
    only the preseed names, at the DNS server the kernel line gave it (the lab routes nowhere,
    so it stops there, at "Bad archive mirror")."""
    preseed = boot.file(f"/var/lib/tftpboot/uniform/preseed/{mac_file(NEW1_MAC)}.cfg")
    assert f"d-i mirror/http/hostname string {MIRROR}\n" in preseed
    query = re.compile(rf"query\[A+\] {re.escape(MIRROR)} from {re.escape(ADDRESS)}")
    # 35-60 s after the fetch here (the console is silent meanwhile, then "Checking the Debian
    # archive mirror"): bounded from the fetch, not from whenever this test starts
    deadline = boot.server.powered_on + boot.preseed_after + MIRROR_WAIT_S
    while not query.search(dnsmasq_log(boot.nl.log)):
        assert time.monotonic() < deadline, dnsmasq_log(boot.nl.log)[-2000:]
        time.sleep(0.5)
    print(f"netboot: power-on -> mirror lookup {time.monotonic() - boot.server.powered_on:.1f}s")


def test_rack_server_netboots_to_its_preseed(boot: Boot) -> None:
    """One boot, its steps in order (one test function: pytest -n 2 would otherwise boot once
    per worker)."""
    _dhcp_from_the_firmware_only(boot)
    _tftp_loader_config_installer_preseed_in_order(boot)
    _installer_runs_the_rendered_kernel_line_on_the_serial_console(boot)
    _installer_configured_the_inventory_address(boot)
    _installer_read_its_preseed(boot)
