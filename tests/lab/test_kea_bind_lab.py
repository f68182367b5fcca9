"""Kea, BIND and IPv6 in the lab: the customer's choice of daemons, over both IP versions.

stacks/lab6 chose Kea (DHCP) and BIND (DNS) on a dual-stack network.  `pulumi up` over
SSH delivers their files to svc1; the lab's systemctl shim runs kea-dhcp4, kea-dhcp6 and
named for real on them, and the delivered networkd files configure every host
(lab/shims/netapply.py).  Real exchanges only (docs/lab.md, "Kea, BIND and IPv6"):

  0. the lab's router (infrastructure, not a machine: uniform renders no RA config) runs
     radvd; before any delivery app1 autoconfigures (SLAAC) exactly the IPv6 address the
     inventory gives it ("auto": EUI-64 of its MAC)
  1. `pulumi up`; each host's live addresses and default routes are what its files say
     (netapply --check) and what the inventory says (v4, v6, gateway4, gateway6)
  2. DHCPv4 (udhcpc) and DHCPv6 (dhclient -6) from app1 and db1: Kea answers each MAC
     with its inventory address, DNS server and domain (and gateway4); app1 sends a DUID-LL
     (its MAC), db1 a DUID-EN as networkd does (no MAC: Kea reads it off the link-local address)
  3. BIND answers A, AAAA, PTR in in-addr.arpa and ip6.arpa, over IPv4 and over IPv6
  4. a payload with a wrong IPv6 Address= and a wrong Gateway= (tests/lab/wrong_net_main.py)
     is applied as written, and step 1's inventory check catches both; the right payload
     puts everything back
  5. a .network saying DHCP=yes (not what uniform renders): the applier's DHCP clients get
     db1 its addresses and default route from Kea, as leases

Needs root and namespaces: skipped without them, failed when UNIFORM_REQUIRE_LAB=1 (CI).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import time
from pathlib import Path

import pytest

import inventory
from harness import lab as L
from tests.helpers.lab import running, unavailable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.lab]

ROUTER_MAC = "02:00:00:77:00:01"
RADVD = """\
# the lab router's advertisements (lab infrastructure): the prefix of stacks/lab6's lan, for SLAAC
interface eth0 {
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    prefix fd00:77::/64 { AdvOnLink on; AdvAutonomous on; };
};
"""
DHCP_ONLY = "DHCP=yes\nIPv6AcceptRA=no\n"
# dhclient's script: report the DHCPv6 lease, configure nothing, and end the client
DH6_SCRIPT = """\
#!/bin/sh
case "$reason" in
  BOUND6) echo "LEASE6 ip=$new_ip6_address dns=$new_dhcp6_name_servers search=$new_dhcp6_domain_search"
          kill "$PPID" ;;
esac
exit 0
"""


@pytest.fixture(scope="module")
def lab6(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("lab6")
    missing = [t for t in ("radvd", "dhclient", "kea-dhcp4", "kea-dhcp6", "named") if L.which(t) is None]
    if missing:
        unavailable(f"missing {', '.join(missing)} (tools/debian-packages.txt)")
    lab = L.Lab(tmp / "lab", prefix=f"u6{os.getpid() % 100000}-", stack="lab6")
    with running(lab, tmp):
        yield lab


def ip_json(lab: L.Lab, ns: str, *args: str) -> list[dict]:
    return json.loads(L.run(["ip", "-n", ns, "-j", *args], timeout=10).stdout or "[]")


def global_addresses(lab: L.Lab, name: str, *, dynamic: bool | None = None) -> list[str]:
    iface = lab.nic(name)
    (link,) = ip_json(lab, lab.ns(name), "addr", "show", "dev", iface)
    return sorted(
        f"{i['local']}/{i['prefixlen']}"
        for i in link["addr_info"]
        if i["scope"] == "global" and (dynamic is None or bool(i.get("dynamic")) == dynamic)
    )


def inventory_network(inv: inventory.Inventory, name: str) -> tuple[list[str], list[str]]:
    """The addresses (with prefix length) and gateways the inventory gives ``name``'s NIC."""
    att = inv.machines[name].nics[0].attachments[0]
    net = inv.networks[att.network]
    assert att.ipv4 and att.ipv6 and net.ipv4 and net.ipv6 and net.gateway4 and net.gateway6
    addrs = [f"{att.ipv4}/{net.ipv4.split('/')[1]}", f"{att.ipv6}/{net.ipv6.split('/')[1]}"]
    return sorted(addrs), sorted([net.gateway4, net.gateway6])


def assert_inventory_network(lab: L.Lab, inv: inventory.Inventory, name: str) -> None:
    """Host ``name`` lives exactly at its inventory addresses, routed by its inventory gateways."""
    want_addrs, want_gws = inventory_network(inv, name)
    got = global_addresses(lab, name)
    assert got == want_addrs, f"{name}: live addresses {got}, the inventory says {want_addrs}"
    routes = ip_json(lab, lab.ns(name), "-4", "route", "show", "default")
    routes += ip_json(lab, lab.ns(name), "-6", "route", "show", "default")
    gws = sorted(r["gateway"] for r in routes)
    assert gws == want_gws, f"{name}: default routes via {gws}, the inventory says {want_gws}"


def assert_files_applied(lab: L.Lab, name: str) -> None:
    net = lab.in_host(name, ["python3", "/usr/local/sbin/netapply.py", "--check"], check=False, timeout=20)
    assert net.returncode == 0, f"{name}: live network differs from its files:\n{net.stdout}{net.stderr}"


def router(lab: L.Lab, tmp: Path) -> None:
    """The lab's router namespace at the inventory's gateways, sending router advertisements."""
    ns = lab.ns("rtr")
    L.run(["ip", "netns", "add", ns])
    lab._plug(ns, "rtr", mac=ROUTER_MAC, address="10.77.0.1/24")
    L.run(["ip", "-n", ns, "addr", "add", "fd00:77::1/64", "dev", "eth0", "nodad"])
    L.run(["ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"])
    conf = tmp / "radvd.conf"
    conf.write_text(RADVD)
    L.run(["ip", "netns", "exec", ns, "radvd", "-C", str(conf), "-p", str(tmp / "radvd.pid"),
           "-m", "logfile", "-l", str(tmp / "radvd.log")])  # fmt: skip


def wait_for(what: str, probe, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got or time.monotonic() > deadline:
            assert got, f"timed out after {timeout:.0f}s waiting for {what}"
            return got
        time.sleep(0.3)


#: a DUID-EN (type 2: enterprise number + identifier), the kind systemd-networkd sends by
#: default: it holds no MAC, so Kea must take the MAC from the client's EUI-64 link-local address
DUID_EN = r"\000\002\000\000\253\021\165\156\151\146\157\162\155\061"


def dhcp6(lab: L.Lab, name: str, tmp: Path, *, duid: str) -> dict[str, str] | None:
    """A real DHCPv6 exchange (dhclient -6) from host ``name``; ``duid``: "LL" (DUID-LL of the
    NIC's MAC, dhclient -D LL) or "EN" (DUID_EN, set in dhclient's lease file)."""
    script, leases = tmp / "dh6.sh", tmp / f"{name}.leases6"
    script.write_text(DH6_SCRIPT)
    script.chmod(0o755)
    leases.write_text(f'default-duid "{DUID_EN}";\n' if duid == "EN" else "")
    proc = L.run(
        ["ip", "netns", "exec", lab.ns(name), "timeout", "15", "dhclient", "-6", "-1", "-d",
         *(["-D", "LL"] if duid == "LL" else []),
         "-sf", str(script), "-lf", str(leases), "-pf", str(tmp / f"{name}.pid6"), lab.nic(name)],
        timeout=25, check=False,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("LEASE6 "):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    return None


def dig(lab: L.Lab, server: str, *query: str) -> list[str]:
    out = L.run(
        ["ip", "netns", "exec", lab.ctl, "dig", f"@{server}", "+short", "+time=2", "+tries=2", *query],
        timeout=15,
    ).stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def test_kea_bind_dual_stack(lab6: L.Lab, tmp_path: Path) -> None:
    lab, t0 = lab6, time.monotonic()
    inv = inventory.load(lab.inv_dir)
    hosts = sorted(lab.hosts)
    assert hosts == ["app1", "db1", "svc1"]
    eng = lab.init_stack()
    lab.guard()

    # 0. SLAAC, before any delivery: app1's inventory address ("auto") is what the RA gives it
    router(lab, tmp_path)
    app1_v6 = inv.machines["app1"].nics[0].attachments[0].ipv6
    slaac = wait_for("app1's SLAAC address", lambda: global_addresses(lab, "app1", dynamic=True))
    assert slaac == [f"{app1_v6}/64"], f"SLAAC gave app1 {slaac}, the inventory says {app1_v6}"
    # db1's address is pinned: SLAAC gives it another one, which its files will drop
    assert wait_for("db1's SLAAC address", lambda: global_addresses(lab, "db1", dynamic=True)) != [
        "fd00:77::13/64"
    ]

    # 1. delivery: every host is configured by its files, and so sits at its inventory addresses
    t_up = time.monotonic()
    eng.run("up", "--yes", "--skip-preview")
    up_s = time.monotonic() - t_up
    for name in hosts:
        assert_files_applied(lab, name)
        assert_inventory_network(lab, inv, name)
        assert global_addresses(lab, name, dynamic=True) == [], f"{name}: IPv6AcceptRA=no, yet SLAAC"
    shims = (lab.host_dir("svc1") / "state" / "shims.log").read_text()
    for unit in ("kea-dhcp4-server", "kea-dhcp6-server", "named"):
        assert f"systemctl reload-or-restart {unit}" in shims

    # 2. Kea: DHCPv4 and DHCPv6 by MAC
    dns4, dns6 = "10.77.0.10", "fd00:77::10"
    for name, duid in (("app1", "LL"), ("db1", "EN")):
        att = inv.machines[name].nics[0].attachments[0]
        lease = lab.dhcp(name)
        assert lease is not None, f"{name}: no DHCPv4 lease from Kea"
        got = (lease["ip"], lease["domain"], lease["dns"], lease["router"])
        assert got == (att.ipv4, "lab6.test", dns4, "10.77.0.1"), lease
        lease6 = dhcp6(lab, name, tmp_path, duid=duid)
        assert lease6 is not None, f"{name}: no DHCPv6 lease from Kea"
        assert ipaddress.ip_address(lease6["ip"]) == ipaddress.ip_address(att.ipv6), lease6
        assert (lease6["dns"], lease6["search"]) == (dns6, "lab6.test."), lease6
    leases6 = lab.read_file("svc1", "/var/lib/kea/kea-leases6.csv") or ""
    assert "0c:c4:7a:78:00:12" in leases6 and "0c:c4:7a:78:00:13" in leases6, leases6

    # 3. BIND: forward and reverse, both families, asked over IPv4 and (SLAAC'd controller) IPv6
    wait_for(
        "the controller's SLAAC address",
        lambda: ip_json(lab, lab.ctl, "-6", "addr", "show", "scope", "global"),
    )
    wait_for("named's answers", lambda: dig(lab, dns4, "svc1.lab6.test", "A"))
    for server in (dns4, dns6):
        for name in hosts:
            att, fqdn = inv.machines[name].nics[0].attachments[0], f"{name}.lab6.test"
            assert dig(lab, server, fqdn, "A") == [att.ipv4], f"@{server} {fqdn} A"
            assert dig(lab, server, fqdn, "AAAA") == [att.ipv6], f"@{server} {fqdn} AAAA"
            assert dig(lab, server, "-x", att.ipv4) == [fqdn + "."], f"@{server} PTR {att.ipv4}"
            assert dig(lab, server, "-x", att.ipv6) == [fqdn + "."], f"@{server} PTR {att.ipv6}"
    checked_s = time.monotonic() - t0

    # 4. a wrong Address= and Gateway= in the payload move the hosts, and the check above sees it
    shutil.copy(ROOT / "tests" / "lab" / "wrong_net_main.py", lab.project / "__main__.py")
    eng.run("up", "--yes", "--skip-preview")
    for name in hosts:
        assert_files_applied(lab, name)  # the files are applied as written ...
    with pytest.raises(AssertionError, match=r"app1: live addresses .*fd00:77::bad/64"):
        assert_inventory_network(lab, inv, "app1")  # ... so app1 is not where the inventory says
    with pytest.raises(AssertionError, match=r"db1: default routes via \['10.77.0.254', 'fd00:77::1'\]"):
        assert_inventory_network(lab, inv, "db1")
    shutil.copy(ROOT / "__main__.py", lab.project / "__main__.py")
    eng.run("up", "--yes", "--skip-preview")
    for name in hosts:
        assert_files_applied(lab, name)
        assert_inventory_network(lab, inv, name)

    # 5. DHCP= in a .network (uniform renders none; a site's own file might): the applier starts
    #    udhcpc and dhclient -6, and db1 takes its addresses and route from Kea, as leases
    db1_net = "/etc/systemd/network/10-eth0.network"  # in db1's own (private) /etc
    lab.in_host("db1", ["tee", db1_net], input=f"[Match]\nName=eth0\n\n[Network]\n{DHCP_ONLY}", timeout=10)
    # db1 keeps its DUID (networkd derives it from the machine id), and Kea gives a reserved
    # address to one DUID at a time: the applier's dhclient starts from a lease file naming it
    (lab.host_dir("db1") / "state" / "netapply").mkdir(exist_ok=True)
    (lab.host_dir("db1") / "state" / "netapply" / "dhclient6-eth0.leases").write_text(
        f'default-duid "{DUID_EN}";\n'
    )
    lab.in_host("db1", ["/usr/local/sbin/networkctl", "reload"], timeout=60)
    want = ["10.77.0.13/24", "fd00:77::13/128"]  # a DHCPv6 address is a /128 (IA_NA)
    try:
        wait_for("db1's leases", lambda: global_addresses(lab, "db1", dynamic=True) == want)
    except AssertionError as e:
        state = lab.host_dir("db1") / "state"
        logs = [state / "shims.log", *sorted(state.glob("netapply/*.log"))]
        raise AssertionError(
            f"{e}; db1 has {global_addresses(lab, 'db1')}"
            + "".join(f"\n== {p.name}\n{p.read_text()}" for p in logs)
        ) from None
    assert global_addresses(lab, "db1", dynamic=False) == [], "the static addresses went"
    (route,) = ip_json(lab, lab.ns("db1"), "-4", "route", "show", "default")
    assert (route["gateway"], route["protocol"]) == ("10.77.0.1", "dhcp"), route
    assert_files_applied(lab, "db1")
    print(f"\nlab6: first pulumi up {up_s:.1f}s; router to the last DNS answer {checked_s:.1f}s; "
          f"test body {time.monotonic() - t0:.1f}s")  # fmt: skip
