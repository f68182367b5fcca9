"""Real libvirt in a lab hypervisor host (docs/lab.md "Real libvirt").

A lab host with role ``hypervisor`` runs its own ``virtlogd`` and ``libvirtd`` inside its
own network, mount and UTS namespaces, the ones lab/hostinit.sh holds.  Everything of
libvirt lives under the host's lab directory (``<run>/hosts/<host>/libvirt/``) and is
bind-mounted by hostinit.sh where libvirt looks for it:

    libvirt/etc  -> /etc/libvirt       libvirtd.conf, qemu.conf, virtlogd.conf (written here);
                                       libvirtd keeps its domain definitions in etc/qemu/
    libvirt/lib  -> /var/lib/libvirt   disk images (images/), qemu's per-domain state
    libvirt/log  -> /var/log/libvirt   libvirtd.log, virtlogd.log, qemu/<vm>.log (serial too)
    /run/libvirt                       sockets, pid files: in the host's private /run tmpfs

So `virsh` in an SSH session on the host (uniform's apply.sh) talks to that libvirtd, and
nothing of the machine's own libvirt (its /run/libvirt, /var/lib/libvirt, /etc/libvirt,
services) is read or written.  No cgroups are made (``cgroup_controllers = [ ]``): the
machine's cgroup tree is not libvirt's to change.  The daemons are stopped by their PIDs
(pid files in the host's lab directory) at ``lab down``.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.labbase import LabBase
from harness.netns import LabError, alive, kill, run, which

__all__ = [
    "FENCE_TABLE",
    "domains",
    "fence",
    "libvirt_dir",
    "prepare",
    "start",
    "stop",
    "vm_bridges",
]

LIBVIRTD_CONF = """\
# uniform lab: the libvirtd of one lab hypervisor host (harness/libvirt.py)
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""

# user = "root": the lab hosts have no service accounts of their own (facts.md: with the
# qemu user, /dev/kvm's permissions and the run dir's stop QEMU).  No security driver (the
# machine runs none), no cgroups: nothing outside the host's namespaces is changed.
QEMU_CONF = """\
# uniform lab: QEMU under the lab hypervisor's libvirtd (harness/libvirt.py)
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
"""

VIRTLOGD_CONF = """\
# uniform lab: virtlogd of one lab hypervisor host (harness/libvirt.py)
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
"""

#: nftables table (bridge family, in the hypervisor's own network namespace) that fences the
#: real domains of the VMs that have network-namespace stand-ins in the lab (see fence())
FENCE_TABLE = "uniform_lab_fence"


def libvirt_dir(host_dir: Path) -> Path:
    return host_dir / "libvirt"


def prepare(host_dir: Path) -> None:
    """The host's libvirt tree and config, before hostinit.sh binds it (its presence is what
    tells hostinit.sh to do so)."""
    d = libvirt_dir(host_dir)
    for sub in ("etc/qemu", "lib/images", "log/qemu"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "etc" / "libvirtd.conf").write_text(LIBVIRTD_CONF)
    (d / "etc" / "qemu.conf").write_text(QEMU_CONF)
    (d / "etc" / "virtlogd.conf").write_text(VIRTLOGD_CONF)


def start(lab: LabBase, name: str, *, timeout: float = 90) -> float:
    """virtlogd and libvirtd in host ``name``'s namespaces; the seconds until virsh answers."""
    hd = lab.host_dir(name)
    t0 = time.monotonic()
    lab.in_host(name, [which("virtlogd") or "/usr/sbin/virtlogd", "-d", "-p", str(hd / "virtlogd.pid")])
    lab.in_host(name, [which("libvirtd") or "/usr/sbin/libvirtd", "-d", "-p", str(hd / "libvirtd.pid")])
    deadline = t0 + timeout
    while lab.in_host(name, ["virsh", "-q", "version"], check=False, timeout=30).returncode != 0:
        if time.monotonic() > deadline:
            log = libvirt_dir(hd) / "log" / "libvirtd.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
            raise LabError(f"{name}: libvirtd does not answer after {timeout:.0f}s:\n{tail}")
        time.sleep(0.2)
    return time.monotonic() - t0


def fence(lab: LabBase, name: str, macs: list[str]) -> None:
    """Drop every frame a VM port (vnet*) of host ``name`` sends from one of ``macs``.

    ``macs`` are the VMs that are network-namespace stand-ins in this lab (docs/lab.md): the
    real domain libvirt starts for such a VM carries the same MAC and, without a bootable
    disk, sits in its firmware (SeaBIOS, iPXE); its frames would teach the lab's switch that
    the stand-in's MAC lives behind the hypervisor.  Dropped at the bridge's prerouting hook,
    before the bridge learns the address.  A real VM (another MAC) passes untouched.
    Rewritten whole on every call."""
    elements = ", ".join(sorted(macs)) or "00:00:00:00:00:00"
    rules = (
        f"table bridge {FENCE_TABLE}\n"
        f"delete table bridge {FENCE_TABLE}\n"
        f"table bridge {FENCE_TABLE} {{\n"
        f"  set standins {{ type ether_addr; elements = {{ {elements} }}; }}\n"
        "  chain prerouting {\n"
        "    type filter hook prerouting priority -200; policy accept;\n"
        '    iifname "vnet*" ether saddr @standins drop\n'
        "  }\n"
        "}\n"
    )
    lab.in_host(name, ["nft", "-f", "-"], input=rules, timeout=10)


def vm_bridges(lab: LabBase, name: str) -> list[str]:
    """The bridges host ``name``'s VMs attach to, made in its namespace with no port.

    Interim, until the lab's networkd applier (lab/shims/networkctl) realises the bridge
    from the .netdev/.network files uniform delivers (it then takes the bridge over: an
    existing bridge of that name is adopted, eth0 becomes its port and the address moves to
    it).  Until then the VMs' bridge is there for ``virsh start`` and reaches nothing."""
    import inventory

    inv = inventory.load(lab.inv_dir)
    made = []
    for vm in inv.vms_on(name):
        for nic in vm.nics:
            for att in nic.attachments[:1]:
                bridge = inv.networks[att.network].bridge
                if bridge and bridge not in made:
                    made.append(bridge)
    ns = lab.ns(name)
    for bridge in made:
        if run(["ip", "-n", ns, "link", "show", bridge], check=False, timeout=10).returncode != 0:
            run(["ip", "-n", ns, "link", "add", bridge, "type", "bridge"], timeout=10)
        run(["ip", "-n", ns, "link", "set", bridge, "up"], timeout=10)
    return made


def domains(lab: LabBase, name: str) -> dict[str, str]:
    """VM name -> state ("running", "shut off", ...) as ``virsh list --all`` on host ``name`` says."""
    out = lab.in_host(name, ["virsh", "-q", "list", "--all"], timeout=30).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        fields = line.split(None, 2)  # Id, Name, State ("shut off" has a space)
        if len(fields) == 3:
            found[fields[1]] = fields[2].strip()
    return found


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop(lab: LabBase, name: str) -> None:
    """Running domains destroyed (libvirtd kills their QEMU), then libvirtd and virtlogd by
    their PIDs.  Safe on a half-built host; the namespace sweep of ``lab down`` follows."""
    hd = lab.host_dir(name)
    libvirtd = _pid(hd / "libvirtd.pid")
    if libvirtd is not None and alive(libvirtd) and (hd / "holder.pid").exists():
        for vm, state in domains_quiet(lab, name).items():
            if state != "shut off":
                lab.in_host(name, ["virsh", "destroy", vm], check=False, timeout=30)
    pids = [p for p in (libvirtd, _pid(hd / "virtlogd.pid")) if p is not None]
    kill(pids)
    for f in ("libvirtd.pid", "virtlogd.pid"):
        (hd / f).unlink(missing_ok=True)


def domains_quiet(lab: LabBase, name: str) -> dict[str, str]:
    """:func:`domains`, or nothing when libvirtd does not answer (teardown)."""
    try:
        return domains(lab, name)
    except (LabError, OSError, ValueError):
        return {}
