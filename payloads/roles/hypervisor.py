"""Role ``hypervisor``: the libvirt definitions (domain XML, disk script) of the VMs placed on it.

``apply.sh`` (the reload) defines, starts and stops them, and undefines the VMs that
left; a staged VM also gets its cloud-init seed (payloads/provision.py).
"""

from __future__ import annotations

import shlex
import uuid
from typing import NamedTuple

from inventory import lifecycle
from inventory.model import Machine

from .. import provision
from .._env import render
from ..context import Context
from ..types import PayloadFile
from ._group import Role

__all__ = ["IMAGES_DIR", "LIBVIRT_DIR", "LIBVIRT_NS", "ROLE", "vm_uuid"]

LIBVIRT_DIR = "/etc/uniform/libvirt"
IMAGES_DIR = "/var/lib/libvirt/images"
#: XML namespace of the <metadata> element marking libvirt domains as managed by uniform
LIBVIRT_NS = "http://uniform.invalid/xmlns/vm/1"


def vm_uuid(customer: str, vm: str) -> str:
    """The libvirt UUID of a VM: uuid5 of uniform://<customer>/<vm>, stable across renders."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"uniform://{customer}/{vm}"))


def _disk_dev(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(ord("a") + r) + letters
    return "vd" + letters


# template inputs are NamedTuples rather than dicts: Jinja resolves ``x.attr`` by getattr first


class _VmDisk(NamedTuple):
    path: str
    qpath: str
    dev: str
    size_gib: int
    backing: str | None = None  # shell-quoted base image (the first disk, when the customer has one)


class _VmNic(NamedTuple):
    mac: str
    bridge: str | None
    network: str


class _VmRun(NamedTuple):
    name: str
    run: bool


def _hypervisor_files(ctx: Context, hv: Machine) -> list[PayloadFile]:
    inv = ctx.inv
    vms = [vm for vm in ctx.inv.vms_on(hv.name) if lifecycle.on_hypervisor(vm.state)]
    files: list[PayloadFile] = []
    base = provision.base_image_path(inv, IMAGES_DIR)
    for vm in vms:
        disks = [
            _VmDisk(
                path=f"{IMAGES_DIR}/{vm.name}-{d.name}.qcow2",
                qpath=shlex.quote(f"{IMAGES_DIR}/{vm.name}-{d.name}.qcow2"),
                dev=_disk_dev(i),
                size_gib=d.size_gib,
                backing=shlex.quote(base) if base and i == 0 else None,
            )
            for i, d in enumerate(vm.disks)
        ]
        # a staged VM gets its cloud-init seed (files + ISO + read-only disk); any other state loses it
        seeded = provision.provisioned(vm)
        seed_dir = f"{LIBVIRT_DIR}/{vm.name}.seed"
        seed_iso = f"{IMAGES_DIR}/{vm.name}-seed.iso"
        if seeded:
            files.extend(provision.seed_files(inv, vm, seed_dir, vm_uuid(inv.customer.name, vm.name)))
        interfaces = []
        for nic in vm.nics:
            net = inv.networks[nic.attachments[0].network] if nic.attachments else None
            interfaces.append(
                _VmNic(
                    mac=nic.mac, bridge=net.bridge if net else None, network=net.name if net else "default"
                )
            )
        xml = render(
            "hypervisor/domain.xml.j2",
            name=vm.name,
            uuid=vm_uuid(inv.customer.name, vm.name),
            title=f"{inv.customer.name}/{vm.name}",
            ns=LIBVIRT_NS,
            customer=inv.customer.name,
            state=vm.state.value,
            memory_kib=vm.memory_mib * 1024,
            vcpu=vm.cores,
            disks=disks,
            interfaces=interfaces,
            seed_iso=seed_iso if seeded else None,
            # the seed is the next virtio disk after the VM's own (vdb for a one-disk VM)
            seed_dev=_disk_dev(len(disks)),
            virtualization=hv.virtualization,
        )
        files.append(PayloadFile(f"{LIBVIRT_DIR}/{vm.name}.xml", xml, reload="libvirt"))
        files.append(
            PayloadFile(
                f"{LIBVIRT_DIR}/{vm.name}.disks.sh",
                render(
                    "hypervisor/disks.sh.j2",
                    name=vm.name,
                    disks=disks,
                    seed_dir=shlex.quote(seed_dir) if seeded else None,
                    seed_iso=shlex.quote(seed_iso),
                ),
                mode=0o755,
                reload="libvirt",
            )
        )
    apply = render(
        "hypervisor/apply.sh.j2",
        ns=LIBVIRT_NS,
        wanted=[vm.name for vm in vms],
        vms=[_VmRun(vm.name, vm.state in lifecycle.RUNNING) for vm in vms],
    )
    files.append(PayloadFile(f"{LIBVIRT_DIR}/apply.sh", apply, mode=0o755, reload="libvirt"))
    return files


ROLE = Role(
    name="hypervisor",
    component="uniform:services:Hypervisor",
    files=_hypervisor_files,
    reloads={"libvirt": "sh /etc/uniform/libvirt/apply.sh"},
)
