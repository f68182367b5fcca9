"""Netboot in the lab's network: real DHCP, real TFTP, real namespaces (docs/provisioning.md).

The lab inventory (stacks/lab) plus netboot on its network (``boot_filename``) and a
staged hardware machine ``new1``.  The DHCP/boot server's payload files, as rendered, are
served by a real dnsmasq started directly in the service host's namespace (not by
``pulumi up``: delivery is the other lab test's subject, and this keeps the test at a few
seconds): harness/netboot.py, shared with test_netboot_lab.py (a real PXE boot).  Then,
from host namespaces carrying the inventory MACs:

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
from collections.abc import Iterator
from pathlib import Path

import pytest

import inventory
from harness import lab as L
from harness.netboot import NetbootLab
from inventory.model import State
from payloads.provision import mac_file
from tests.helpers.lab import lab_netns, preflight, unavailable

pytestmark = [pytest.mark.slow, pytest.mark.lab]


@pytest.fixture
def netboot(tmp_path: Path) -> Iterator[NetbootLab]:
    nl = NetbootLab(tmp_path, prefix=f"up{os.getpid() % 100000}-")
    preflight(nl.lab)
    if L.which("busybox") is None:
        unavailable("busybox (tftp client) missing: apt-get install busybox")
    try:
        nl.make_inventory()
        nl.up(clients=("new1", "app1"))
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
