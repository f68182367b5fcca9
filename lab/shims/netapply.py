#!/usr/bin/env python3
"""uniform lab: apply the delivered systemd-networkd files with ``ip`` (docs/lab.md).

No systemd-networkd runs in a lab host, yet the files uniform delivers must be what
configures its interfaces.  This applier reads ``/etc/systemd/network/*.link``,
``*.netdev`` and ``*.network`` as delivered and does what networkd and udev would:

* ``.link``: the first file (by file name) whose ``[Match] MACAddress=`` matches an
  interface renames it (``Name=``) and sets ``MTUBytes=``/``MACAddress=``;
* ``.netdev``: ``Kind=bridge`` creates the bridge (``MACAddress=``, ``MTUBytes=``);
* ``.network``: the first file whose ``[Match]`` matches a link configures it:
  ``Bridge=`` enslaves it, ``Address=`` becomes exactly its static addresses (missing
  ones added first, then every other static address removed), ``Gateway=`` exactly
  its default routes, ``IPv6AcceptRA=``/``LinkLocalAddressing=`` the kernel's
  ``accept_ra``/``addr_gen_mode``, ``DHCP=`` starts a client (udhcpc, ``dhclient -6``),
  ``MTUBytes=`` the MTU.  Every matched link is brought up.

A key or section it does not know fails the whole run before anything is changed
(file, line, section and key named): a key renamed in uniform's templates must not
be silently ignored.  ``DNS=`` and ``Domains=`` are checked and recorded, not applied
(a lab host resolves nothing itself).

    netapply.py [--dir DIR] [--dry-run | --check]

``--check`` compares the live interfaces, addresses and default routes with the files
and exits 1 listing every difference.  Stdlib only: it runs with the machine's
python3 inside a lab host's namespaces (``networkctl reload`` is its shim).
"""

from __future__ import annotations

import argparse
import fnmatch
import ipaddress
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Link", "NetError", "Plan", "Unit", "check", "commands", "load", "parse", "plan"]

NETWORK_DIR = Path("/etc/systemd/network")
STATE_DIR = Path("/run/uniform-lab")  # the lab host's own state dir (hostinit.sh)
#: the DHCP clients' script (both udhcpc and dhclient -6): the lease on the link, nothing else
DHCP_SCRIPT = str(Path(__file__).resolve().with_name("netapply-dhcp.sh"))

#: suffix -> section -> the keys this applier implements; anything else is an error
KNOWN: dict[str, dict[str, frozenset[str]]] = {
    ".link": {
        "Match": frozenset({"MACAddress", "OriginalName"}),
        "Link": frozenset({"Name", "MTUBytes", "MACAddress"}),
    },
    ".netdev": {
        "NetDev": frozenset({"Name", "Kind", "MTUBytes", "MACAddress"}),
    },
    ".network": {
        "Match": frozenset({"MACAddress", "Name"}),
        "Link": frozenset({"MTUBytes", "MACAddress"}),
        "Network": frozenset(
            {"Address", "Gateway", "DNS", "Domains", "Bridge", "IPv6AcceptRA", "LinkLocalAddressing", "DHCP"}
        ),
    },
}
#: keys that may appear more than once (their values accumulate; an empty value resets)
LISTS = frozenset({"Address", "Gateway", "DNS", "Domains"})
BOOLS = {
    "yes": True,
    "true": True,
    "on": True,
    "1": True,
    "no": False,
    "false": False,
    "off": False,
    "0": False,
}


class NetError(Exception):
    """The files cannot be applied; ``problems`` lists every one (file:line: ...)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Unit:
    """One parsed file: section -> key -> values (in order)."""

    path: str
    suffix: str
    sections: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def get(self, section: str, key: str) -> str | None:
        values = self.sections.get(section, {}).get(key)
        return values[-1] if values else None

    def all(self, section: str, key: str) -> list[str]:
        return list(self.sections.get(section, {}).get(key, []))


@dataclass
class Link:
    """A live interface as ``ip -j -d link`` reports it."""

    name: str
    mac: str
    kind: str | None = None  # linkinfo kind: bridge, veth, ... (None: plain device)
    master: str | None = None
    mtu: int | None = None
    up: bool = False


@dataclass
class Config:
    """What the files say about one interface (by its final name)."""

    network: str | None = None  # the .network file that matched
    addresses: list[str] = field(default_factory=list)
    gateways: list[str] = field(default_factory=list)
    bridge: str | None = None
    accept_ra: bool | None = None
    link_local: str | None = None  # yes | no | ipv4 | ipv6 (None: networkd's default)
    dhcp: str = "no"  # yes | no | ipv4 | ipv6
    mtu: int | None = None
    mac: str | None = None
    dns: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)


@dataclass
class Plan:
    renames: list[tuple[str, str]] = field(default_factory=list)
    netdevs: dict[str, Config] = field(default_factory=dict)  # bridge name -> its mac/mtu
    links: dict[str, Config] = field(default_factory=dict)  # final name -> config (matched links only)


# ----------------------------------------------------------------------------- parsing


def parse(path: str, text: str) -> Unit:
    """One networkd/udev file; raises NetError listing every unknown or malformed line."""
    suffix = os.path.splitext(path)[1]
    known = KNOWN.get(suffix)
    if known is None:
        raise NetError([f"{path}: not a .link, .netdev or .network file"])
    unit, problems, section = Unit(path, suffix), [], None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = f"{path}:{n}"
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            if section not in known:
                problems.append(
                    f"{where}: unknown section [{section}] (the lab applier knows {sorted(known)})"
                )
            unit.sections.setdefault(section, {})
            continue
        key, eq, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            problems.append(f"{where}: not a Key=Value line: {line[:60]!r}")
        elif section is None:
            problems.append(f"{where}: {key}= outside any section")
        elif section in known and key not in known[section]:
            problems.append(f"{where}: [{section}] unknown key {key}= (the lab applier would ignore it)")
        elif section in known:
            problem = _check_value(key, value) if value else None
            if problem:
                problems.append(f"{where}: [{section}] {key}={value}: {problem}")
            values = unit.sections[section].setdefault(key, [])
            if key in LISTS:
                if value:
                    values.extend(value.split() if key in ("DNS", "Domains") else [value])
                else:
                    values.clear()  # systemd: an empty assignment resets the list
            else:
                values[:] = [value]
    if unit.suffix == ".netdev":
        kind = unit.get("NetDev", "Kind")
        if not unit.get("NetDev", "Name") or not kind:
            problems.append(f"{path}: [NetDev] needs Name= and Kind=")
        elif kind != "bridge":
            problems.append(f"{path}: [NetDev] Kind={kind}: the lab applier creates bridges only")
    if problems:
        raise NetError(problems)
    return unit


def _check_value(key: str, value: str) -> str | None:
    try:
        if key == "Address":
            if "/" not in value:
                return "no prefix length"
            ipaddress.ip_interface(value)
        elif key == "Gateway":
            ipaddress.ip_address(value)  # _dhcp4/_ipv6ra are not rendered by uniform
        elif key == "DNS":
            for v in value.split():
                ipaddress.ip_address(v)
        elif key == "MTUBytes" and not value.isdigit():
            return "not a number of bytes"
        elif key == "MACAddress":
            for mac in value.split():
                if len(mac.split(":")) != 6 or not all(len(o) == 2 for o in mac.split(":")):
                    return "not a MAC address"
                int(mac.replace(":", ""), 16)
        elif key == "IPv6AcceptRA" and value.lower() not in BOOLS:
            return "not a boolean"
        elif key in ("DHCP", "LinkLocalAddressing") and value.lower() not in ("yes", "no", "ipv4", "ipv6"):
            return "expected yes, no, ipv4 or ipv6"
    except ValueError as e:
        return str(e)
    return None


def load(directory: Path = NETWORK_DIR) -> list[Unit]:
    """Every unit of ``directory``, sorted by file name (networkd's order); all problems at once."""
    units, problems = [], []
    if not directory.is_dir():
        return []
    for p in sorted(directory.iterdir(), key=lambda p: p.name):
        if p.suffix not in KNOWN:
            continue
        try:
            units.append(parse(str(p), p.read_text()))
        except NetError as e:
            problems.extend(e.problems)
    if problems:
        raise NetError(problems)
    return units


# ----------------------------------------------------------------------------- planning (pure)


def _mac_match(unit: Unit, section: str, mac: str) -> bool:
    macs = [m.lower() for m in unit.all(section, "MACAddress")]
    return not macs or mac.lower() in " ".join(macs).split()


def _name_match(unit: Unit, key: str, name: str) -> bool:
    globs = " ".join(unit.all("Match", key)).split()
    return not globs or any(fnmatch.fnmatchcase(name, g) for g in globs)


def plan(units: list[Unit], links: list[Link]) -> Plan:
    """What the files make of ``links``: renames, bridges to create, per-link configuration."""
    out = Plan()
    netdevs = [u for u in units if u.suffix == ".netdev"]
    netdev_names = {u.get("NetDev", "Name") for u in netdevs}
    names: dict[str, Link] = {}
    link_cfg: dict[str, Config] = {}
    for link in links:
        if link.name == "lo":
            continue
        final = link.name
        # udev applies .link files to devices, not to the netdevs networkd itself creates
        if link.kind != "bridge" and link.name not in netdev_names:
            for u in (u for u in units if u.suffix == ".link"):
                if not u.all("Match", "MACAddress") and not u.all("Match", "OriginalName"):
                    continue  # networkd ignores a .link without a match condition
                if _mac_match(u, "Match", link.mac) and _name_match(u, "OriginalName", link.name):
                    final = u.get("Link", "Name") or link.name
                    cfg = link_cfg.setdefault(final, Config())
                    cfg.mtu = _int(u.get("Link", "MTUBytes"))
                    cfg.mac = u.get("Link", "MACAddress")
                    break
        if final != link.name:
            out.renames.append((link.name, final))
        names[final] = Link(final, (link_cfg.get(final) or Config()).mac or link.mac, link.kind, link.master)
    for u in netdevs:
        name = u.get("NetDev", "Name") or ""
        out.netdevs[name] = Config(mac=u.get("NetDev", "MACAddress"), mtu=_int(u.get("NetDev", "MTUBytes")))
        names.setdefault(name, Link(name, out.netdevs[name].mac or "", "bridge"))
    for name, link in sorted(names.items()):
        for u in (u for u in units if u.suffix == ".network"):
            if not u.sections.get("Match"):
                continue
            if _mac_match(u, "Match", link.mac) and _name_match(u, "Name", name):
                out.links[name] = _config(u, link_cfg.get(name) or out.netdevs.get(name) or Config())
                break
    return out


def _int(v: str | None) -> int | None:
    return int(v) if v else None


def _config(u: Unit, base: Config) -> Config:
    ra = u.get("Network", "IPv6AcceptRA")
    bridge = u.get("Network", "Bridge")
    return Config(
        network=u.path,
        addresses=[str(ipaddress.ip_interface(a)) for a in u.all("Network", "Address")],
        gateways=[str(ipaddress.ip_address(g)) for g in u.all("Network", "Gateway")],
        bridge=bridge,
        accept_ra=None if ra is None else BOOLS[ra.lower()],
        # networkd: no link-local addressing on a bridge port unless the file asks for it
        link_local=(u.get("Network", "LinkLocalAddressing") or ("no" if bridge else None)),
        dhcp=(u.get("Network", "DHCP") or "no").lower(),
        mtu=_int(u.get("Link", "MTUBytes")) or base.mtu,
        mac=u.get("Link", "MACAddress") or base.mac,
        dns=u.all("Network", "DNS"),
        domains=u.all("Network", "Domains"),
    )


# ----------------------------------------------------------------------------- live state


def _ip_json(*args: str) -> Any:
    out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True, timeout=10).stdout
    return json.loads(out or "[]")


def live_links() -> list[Link]:
    return [
        Link(
            d["ifname"],
            d.get("address", ""),
            (d.get("linkinfo") or {}).get("info_kind"),
            d.get("master"),
            d.get("mtu"),
            "UP" in d.get("flags", []),
        )
        for d in _ip_json("-d", "link", "show")
    ]


def live_addresses() -> dict[str, list[dict[str, Any]]]:
    """ifname -> addr_info entries (family, local, prefixlen, scope, dynamic, ...)."""
    return {d["ifname"]: d.get("addr_info", []) for d in _ip_json("addr", "show")}


def live_defaults() -> list[dict[str, Any]]:
    """Default routes, each tagged with its address family (``"family": 4 | 6``)."""
    v4: list[dict[str, Any]] = _ip_json("-4", "route", "show", "default")
    v6: list[dict[str, Any]] = _ip_json("-6", "route", "show", "default")
    return [{**r, "family": 4} for r in v4] + [{**r, "family": 6} for r in v6]


def _static(info: dict[str, Any]) -> bool:
    """An address the files own: global (not link-local), not from SLAAC or a DHCP client."""
    return info.get("scope") == "global" and not info.get("dynamic")


def _route_static(r: dict[str, Any]) -> bool:
    return r.get("protocol") not in ("ra", "dhcp", "kernel")


def _foreign(info: dict[str, Any], c: Config) -> bool:
    """An address no source the files name would give the link, so it goes (networkd drops
    foreign addresses on the links it manages): a global one the files do not list, unless a
    DHCP client or router advertisements the files allow may have given it; a link-local one
    when the files turn link-local addressing off."""
    if info.get("scope") == "link":
        return c.link_local in ("no", "ipv4")
    if info.get("scope") != "global" or _norm(f"{info['local']}/{info['prefixlen']}") in c.addresses:
        return False
    if not info.get("dynamic"):
        return True
    if info.get("family") == "inet6":  # from SLAAC or DHCPv6
        return c.accept_ra is False and c.dhcp not in ("yes", "ipv6")
    return c.dhcp not in ("yes", "ipv4")  # from DHCPv4 (netapply-dhcp.sh gives it its lifetime)


def _route_foreign(r: dict[str, Any], c: Config) -> bool:
    if r.get("protocol") == "ra":
        return c.accept_ra is False
    if r.get("protocol") in ("dhcp", "kernel"):
        return False
    return r.get("gateway") not in c.gateways


# ----------------------------------------------------------------------------- applying


def commands(
    p: Plan, links: list[Link], addrs: dict[str, list[dict[str, Any]]], defaults: list[dict[str, Any]]
) -> list[list[str]]:
    """The ``ip`` commands that turn the live state into what the files say (pure: testable).

    Order keeps a host reachable while it is reconfigured: bridges and new addresses
    first, then stale addresses; stale default routes before new ones."""
    cmds: list[list[str]] = []
    live = {lk.name: lk for lk in links}
    # renamed links are seen under their old name in the live state
    old_name = {new: old for old, new in p.renames}

    def cur(name: str) -> Link | None:
        return live.get(old_name.get(name, name))

    for old, new in p.renames:
        cmds += [["link", "set", "dev", old, "down"], ["link", "set", "dev", old, "name", new]]
    for name, nd in p.netdevs.items():
        if name not in live:
            extra = [*(["address", nd.mac] if nd.mac else []), *(["mtu", str(nd.mtu)] if nd.mtu else [])]
            cmds.append(["link", "add", name, *extra, "type", "bridge"])
        elif live[name].kind != "bridge":
            raise NetError([f"{name}: exists and is not a bridge ({live[name].kind or 'a device'})"])
    for name, c in p.links.items():
        lk = cur(name)
        if c.mac and (lk is None or lk.mac.lower() != c.mac.lower()):
            cmds.append(["link", "set", "dev", name, "address", c.mac])
        if c.mtu and (lk is None or lk.mtu != c.mtu):
            cmds.append(["link", "set", "dev", name, "mtu", str(c.mtu)])
        if c.bridge and (lk is None or lk.master != c.bridge):
            cmds.append(["link", "set", "dev", name, "master", c.bridge])
    # ports join their bridge before it comes up: it takes their MAC (and link-local address from it)
    for name in sorted(p.links, key=lambda n: (n in p.netdevs, n)):
        lk = cur(name)
        if lk is None or not lk.up or name in old_name:
            cmds.append(["link", "set", "dev", name, "up"])
    have = {n: addrs.get(old_name.get(n, n), []) for n in p.links}
    for name, c in p.links.items():
        present = {
            _norm(f"{i['local']}/{i['prefixlen']}"): i for i in have[name] if i.get("scope") == "global"
        }
        for a in c.addresses:
            if _norm(a) not in present:
                cmds.append(["addr", "add", a, "dev", name])
            elif present[_norm(a)].get("dynamic"):  # SLAAC or DHCP gave it: the files make it permanent
                cmds.append(["addr", "replace", a, "dev", name])
    for name, c in p.links.items():
        for i in have[name]:
            if _foreign(i, c):
                cmds.append(["addr", "del", f"{i['local']}/{i['prefixlen']}", "dev", name])
    for name, c in p.links.items():
        dev = old_name.get(name, name)
        # stale default routes go first: a new one with the same metric would clash ("File exists")
        for r in defaults:
            if r.get("dev") == dev and _route_foreign(r, c):
                via = ["via", r["gateway"]] if r.get("gateway") else []
                fam = ["-6"] if r.get("family") == 6 else []
                cmds.append([*fam, "route", "del", "default", *via, "dev", name])
        current = {r.get("gateway") for r in defaults if r.get("dev") == dev and _route_static(r)}
        for g in c.gateways:
            if g not in current:
                cmds.append([*(["-6"] if ":" in g else []), "route", "add", "default", "via", g, "dev", name])
    return cmds


def _norm(a: str) -> str:
    return str(ipaddress.ip_interface(a))


def _sysctl(name: str, key: str, value: int) -> None:
    path = Path(f"/proc/sys/net/ipv6/conf/{name}/{key}")
    if path.exists():
        path.write_text(f"{value}\n")


def _dhcp_clients(p: Plan, state: Path) -> list[str]:
    """Start (once) the DHCP client each DHCP= asks for; stop those no file asks for any more."""
    state.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, list[str]] = {}
    for name, c in p.links.items():
        if c.dhcp in ("yes", "ipv4"):
            pid = str(state / f"udhcpc-{name}.pid")
            wanted[f"udhcpc-{name}"] = ["udhcpc", "-i", name, "-b", "-p", pid, "-s", DHCP_SCRIPT]
        if c.dhcp in ("yes", "ipv6"):
            pid, leases = str(state / f"dhclient6-{name}.pid"), str(state / f"dhclient6-{name}.leases")
            wanted[f"dhclient6-{name}"] = [
                "dhclient",
                "-6",
                "-nw",
                "-sf",
                DHCP_SCRIPT,
                "-pf",
                pid,
                "-lf",
                leases,
                name,
            ]
    done = []
    for pidf in state.glob("*.pid"):
        if pidf.stem not in wanted:
            _kill(pidf)
            done.append(f"stopped {pidf.stem}")
    for key, cmd in wanted.items():
        if not _running(state / f"{key}.pid"):
            # its own session and no pipe of ours: the client outlives this run (and the ssh session)
            with (state / f"{key}.log").open("ab") as log:
                subprocess.run(
                    cmd,
                    check=True,
                    timeout=30,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            done.append(" ".join(cmd))
    return done


def _running(pidf: Path) -> bool:
    try:
        os.kill(int(pidf.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def _kill(pidf: Path) -> None:
    try:
        os.kill(int(pidf.read_text().strip()), 15)
    except (OSError, ValueError):
        pass
    pidf.unlink(missing_ok=True)


def _sysctls(p: Plan) -> None:
    for name, c in p.links.items():
        if c.accept_ra is not None:
            _sysctl(name, "accept_ra", 2 if c.accept_ra else 0)
            _sysctl(name, "autoconf", 1 if c.accept_ra else 0)
        if c.link_local in ("no", "ipv4"):
            _sysctl(name, "addr_gen_mode", 1)


def apply(directory: Path, *, dry_run: bool = False, state: Path = STATE_DIR) -> list[str]:
    """Apply the files; returns what was done (one line per command)."""
    p = plan(load(directory), live_links())
    if dry_run:
        return ["ip " + " ".join(cmd) for cmd in commands(p, live_links(), live_addresses(), live_defaults())]
    if not state.is_dir():
        raise NetError([f"{state}: no such directory (netapply runs in a lab host, see lab/hostinit.sh)"])
    _sysctls(p)  # no router advertisement re-adds what the commands remove
    done: list[str] = []
    # Until the live state agrees: removing an address also makes the kernel drop the routes
    # through it (so a stale route may be gone already, and a wanted one must come back).
    for _ in range(3):
        cmds = commands(plan(load(directory), live_links()), live_links(), live_addresses(), live_defaults())
        if not cmds:
            break
        for cmd in cmds:
            done.append("ip " + " ".join(cmd))
            proc = subprocess.run(["ip", *cmd], capture_output=True, text=True, timeout=10)
            gone = "del" in cmd and "No such process" in proc.stderr  # went with its address
            if proc.returncode != 0 and not gone:
                raise NetError([f"ip {' '.join(cmd)}: {proc.stderr.strip()}"])
    else:
        left = commands(plan(load(directory), live_links()), live_links(), live_addresses(), live_defaults())
        if left:
            raise NetError([f"does not converge, still to do: ip {' '.join(c)}" for c in left])
    _sysctls(p)  # and the links the commands created
    done += _dhcp_clients(p, state / "netapply")
    (state / "netapply.json").write_text(
        json.dumps({n: asdict(c) for n, c in p.links.items()}, indent=2) + "\n"
    )
    return done


def check(directory: Path) -> list[str]:
    """Every difference between the live state and the files (empty: they agree)."""
    links = live_links()
    p = plan(load(directory), links)
    diffs = [f"{old}: not renamed to {new}" for old, new in p.renames]
    live = {lk.name: lk for lk in links}
    addrs, defaults = live_addresses(), live_defaults()
    for name in p.netdevs:
        if name not in live or live[name].kind != "bridge":
            diffs.append(f"{name}: no bridge")
    for name, c in sorted(p.links.items()):
        got = sorted(f"{i['local']}/{i['prefixlen']}" for i in addrs.get(name, []) if _static(i))
        if got != sorted(_norm(a) for a in c.addresses):
            diffs.append(f"{name}: addresses {got}, {c.network} says {sorted(c.addresses)}")
        gws = sorted(r.get("gateway", "") for r in defaults if r.get("dev") == name and _route_static(r))
        if gws != sorted(c.gateways):
            diffs.append(f"{name}: default routes via {gws}, {c.network} says {sorted(c.gateways)}")
        if c.bridge and (name not in live or live[name].master != c.bridge):
            diffs.append(f"{name}: not a port of {c.bridge}")
    # anything else the applier would still do (a SLAAC address the files rule out, a link down)
    diffs += [f"pending: ip {' '.join(cmd)}" for cmd in commands(p, links, addrs, defaults)]
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="netapply.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=NETWORK_DIR)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the ip commands, change nothing")
    mode.add_argument(
        "--check", action="store_true", help="exit 1 when the live state differs from the files"
    )
    a = ap.parse_args(argv)
    try:
        if a.check:
            diffs = check(a.dir)
            for d in diffs:
                print(d)
            return 1 if diffs else 0
        for line in apply(a.dir, dry_run=a.dry_run):
            print(line)
    except NetError as e:
        print("netapply: " + "\nnetapply: ".join(e.problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
