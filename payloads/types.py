"""The payload data types components/ delivers: files with modes and reload actions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: reload action name -> shell command run on the host after a file carrying it changed.
#: Commands are idempotent and safe to run when nothing changed.
RELOAD_COMMANDS: dict[str, str] = {
    # guarded: the reload also runs after the file was deleted (decommissioning)
    "hostname": "[ ! -e /etc/hostname ] || hostname -F /etc/hostname",
    # .link changes are applied by udev on the next (re)plug; .network/.netdev by networkd reload
    "networkd": "udevadm control --reload && networkctl reload",
    # dnsmasq re-reads only its hosts files on SIGHUP, so configuration changes need a restart
    "dnsmasq": "systemctl restart dnsmasq",
    "bind": (
        "grep -qxF 'include \"/etc/bind/uniform/named.conf.uniform\";' /etc/bind/named.conf.local"
        " || echo 'include \"/etc/bind/uniform/named.conf.uniform\";' >> /etc/bind/named.conf.local;"
        " named-checkconf -z /etc/bind/named.conf && systemctl reload-or-restart named"
    ),
    "kea-dhcp4": "kea-dhcp4 -t /etc/kea/kea-dhcp4.conf && systemctl reload-or-restart kea-dhcp4-server",
    "kea-dhcp6": "kea-dhcp6 -t /etc/kea/kea-dhcp6.conf && systemctl reload-or-restart kea-dhcp6-server",
    "libvirt": "sh /etc/uniform/libvirt/apply.sh",
    # netboot loader and installer into the TFTP root (docs/provisioning.md); warns, never fails
    "netboot": "sh /etc/uniform/netboot/install-loader.sh",
}


@dataclass(frozen=True)
class PayloadFile:
    """One file for one host: absolute path, content, mode and what a change to it must reload."""

    path: str
    content: str
    mode: int = 0o644
    reload: str | None = None
    #: the delivery group: "base" (the machine's own files) or the role that needs it
    #: ("dhcp", "dns", "hypervisor").  Each group is delivered, reloaded and listed
    #: in its own manifest apart from the others, so a DHCP change never touches
    #: the base files of the DHCP server.
    group: str = "base"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


@dataclass(frozen=True)
class MachinePayload:
    """Every file one machine receives, sorted by path (the manifest included)."""

    machine: str
    files: tuple[PayloadFile, ...]

    @property
    def digest(self) -> str:
        """sha256 over (path, mode, content) of every file: changes iff the delivered tree changes."""
        h = hashlib.sha256()
        for f in self.files:
            data = f.content.encode()
            h.update(f"{f.path}\0{f.mode:o}\0{len(data)}\0".encode())
            h.update(data)
        return h.hexdigest()

    def groups(self) -> dict[str, tuple[PayloadFile, ...]]:
        """Files by delivery group, each sorted by path; groups in sorted order."""
        out: dict[str, list[PayloadFile]] = {}
        for f in self.files:
            out.setdefault(f.group, []).append(f)
        return {g: tuple(out[g]) for g in sorted(out)}

    def reloads(self) -> tuple[str, ...]:
        return tuple(sorted({f.reload for f in self.files if f.reload is not None}))

    def file(self, path: str) -> PayloadFile:
        """The file at ``path`` (KeyError if absent)."""
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)
