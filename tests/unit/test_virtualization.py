"""A hypervisor's ``virtualization`` (kvm | qemu, default kvm) sets the domain type and CPU mode of
every VM on it; a staged VM's NoCloud seed is a read-only virtio disk after the VM's own disks
(docs/inventory.md, docs/provisioning.md)."""

from __future__ import annotations

import dataclasses
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import inventory
from inventory.model import Disk, Inventory
from payloads import ROLE_NAMES, render_customer
from tests.helpers.provision import inv

BASE = Path(__file__).parent / "inventory_cases" / "_base"
HV = (BASE / "machines" / "hv1.yaml").read_text()
WEB = (BASE / "machines" / "web1.yaml").read_text()
BAD_VALUE = "acme: machines/hv1.yaml:14: hv1: virtualization: 'vmware' is not one of: kvm, qemu"
NOT_HV = (
    "acme: machines/web1.yaml:14: web1: virtualization: "
    "only a machine with role hypervisor has a virtualization type"
)


def _load(tmp_path: Path, hv_line: str, web_line: str) -> Inventory | list[str]:
    root = tmp_path / "acme"
    shutil.copytree(BASE, root)
    (root / "machines" / "hv1.yaml").write_text(HV + hv_line)
    (root / "machines" / "web1.yaml").write_text(WEB + web_line)
    try:
        return inventory.load(root, known_roles=ROLE_NAMES)
    except inventory.InventoryError as e:
        return [str(p) for p in e.problems]


@pytest.mark.parametrize(
    ("hv_line", "web_line", "expect"),
    [
        ("", "", ("kvm", "host-passthrough")),  # the default
        ("virtualization: kvm\n", "", ("kvm", "host-passthrough")),
        ("virtualization: qemu\n", "", ("qemu", None)),  # TCG: libvirt's default CPU model
        ("virtualization: vmware\n", "", [BAD_VALUE]),
        ("virtualization: KVM\n", "", [BAD_VALUE.replace("'vmware'", "'KVM'")]),
        ("virtualization: qemu\n", "virtualization: qemu\n", [NOT_HV]),
    ],
    ids=["default", "kvm", "qemu", "invalid", "case-sensitive", "on-non-hypervisor"],
)
def test_virtualization_field(
    tmp_path: Path, hv_line: str, web_line: str, expect: tuple[str, str | None] | list[str]
) -> None:
    got = _load(tmp_path, hv_line, web_line)
    if isinstance(expect, list):
        assert got == expect
        return
    assert isinstance(got, Inventory), got
    kind, cpu = expect
    assert got.machines["hv1"].virtualization == kind
    dom = ET.fromstring(render_customer(got)["hv1"].file("/etc/uniform/libvirt/web1.xml").content)
    assert dom.get("type") == kind
    found = dom.find("cpu")
    assert (found.get("mode") if found is not None else None) == cpu


def _seed_disks(dom: ET.Element) -> list[ET.Element]:
    return [d for d in dom.iter("disk") if "-seed" in _file(d)]


def _file(disk: ET.Element) -> str:
    source = disk.find("source")
    return source.get("file", "") if source is not None else ""


@pytest.mark.parametrize(("disks", "dev"), [(1, "vdb"), (2, "vdc"), (26, "vdaa")])
@pytest.mark.parametrize("virtualization", ["kvm", "qemu"])
def test_seed_is_a_readonly_virtio_disk_after_the_vms_disks(
    virtualization: str, disks: int, dev: str
) -> None:
    i = inv()
    hv = dataclasses.replace(i.machines["hv1"], virtualization=virtualization)
    vnew = dataclasses.replace(i.machines["vnew"], disks=tuple(Disk(f"d{n}", 10) for n in range(disks)))
    i = dataclasses.replace(i, machines={**i.machines, "hv1": hv, "vnew": vnew})
    out = render_customer(i)["hv1"]
    dom = ET.fromstring(out.file("/etc/uniform/libvirt/vnew.xml").content)
    (seed,) = _seed_disks(dom)
    assert (seed.get("type"), seed.get("device")) == ("file", "disk")
    assert seed.find("readonly") is not None
    assert seed.find("driver").get("type") == "raw"  # type: ignore[union-attr]
    assert seed.find("source").get("file") == "/var/lib/libvirt/images/vnew-seed.iso"  # type: ignore[union-attr]
    target = seed.find("target")
    assert target is not None and (target.get("dev"), target.get("bus")) == (dev, "virtio")
    # no SATA anywhere: Debian's cloud kernel has no AHCI driver
    assert not [d for d in dom.iter("disk") if d.get("device") == "cdrom"]
    assert {t.get("bus") for t in dom.iter("target") if t.get("bus")} == {"virtio"}
    devs = [t.get("dev") for t in dom.iter("target") if t.get("dev")]
    assert len(devs) == len(set(devs)) == disks + 1
    # the active VM has no seed disk; the disks script still builds an ISO9660 'cidata' for vnew
    assert not _seed_disks(ET.fromstring(out.file("/etc/uniform/libvirt/vold.xml").content))
    assert "-volid cidata" in out.file("/etc/uniform/libvirt/vnew.disks.sh").content


def test_the_serial_console_is_logged_on_the_hypervisor() -> None:
    """ttyS0 (the image's console=) goes to a pty for `virsh console` and, through virtlogd, to
    a file per VM: boot progress and cloud-init's output are readable on the hypervisor."""
    for name in ("vnew", "vold"):
        dom = ET.fromstring(render_customer(inv())["hv1"].file(f"/etc/uniform/libvirt/{name}.xml").content)
        (serial,) = dom.iter("serial")
        log = serial.find("log")
        assert serial.get("type") == "pty" and log is not None
        assert (log.get("file"), log.get("append")) == (f"/var/log/libvirt/qemu/{name}-serial0.log", "on")
        target = serial.find("target")
        assert target is not None and target.get("port") == "0"
