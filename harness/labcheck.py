"""Observing the lab's network as a user would: DHCP leases, DNS answers, hosts' files.

:class:`LabObserve` holds the lab's read-only looks at its hosts (a real DHCP exchange from
a host's NIC or a throwaway probe namespace, dig from the controller, a file as a host sees
it, libvirt's domains); :func:`check` is ``python -m harness.lab check``: every host's
lease and its names forward and reverse."""

from __future__ import annotations

import json
from typing import Any

from harness import libvirt
from harness.labbase import LAB, LabBase
from harness.netns import del_netns, run, udhcpc

__all__ = ["UDHCPC_SCRIPT", "LabObserve", "check"]

UDHCPC_SCRIPT = LAB / "udhcpc.script"


class LabObserve(LabBase):
    """What the lab's hosts answer (part of harness.lab.Lab)."""

    def dhcp(self, name: str) -> dict[str, str] | None:
        """A real DHCP exchange from host ``name``'s NIC (its inventory MAC): the lease, or None."""
        return udhcpc(self.ns(name), self.nic(name), UDHCPC_SCRIPT)

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
        del_netns(ns)
        run(["ip", "netns", "add", ns])
        try:
            self._plug(ns, "probe", mac=mac, address=None)
            return udhcpc(ns, "eth0", UDHCPC_SCRIPT)
        finally:
            del_netns(ns)

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


def check(lab: LabObserve, out: Any = print) -> bool:
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
