"""Semantic checks on the type-checked raw data: networks, names, states, hypervisors, capacity."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import addresses, macs
from .capacity import by_hypervisor, usage
from .errors import Loc, Reporter, excerpt
from .lifecycle import TRANSITIONS, USES_CAPACITY, in_dns
from .load import RawInventory, RawMachine
from .model import Customer, Delivery, Kind, Network, Provisioning, Services, Ssh, State
from .units import format_mib

_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_STATES = [s.value for s in State]
_LABEL_RULE = "a-z, 0-9 and '-', at most 63, not starting or ending with '-'"
#: a path relative to the TFTP root (boot_filename, installer kernel/initrd): no spaces, commas,
#: quotes or '..' -- it is written into dnsmasq/Kea/pxelinux lines as is
_REL_PATH_RE = re.compile(r"^[A-Za-z0-9_+.-]+(/[A-Za-z0-9_+.-]+)*\Z")
#: a word of the installer/cloud-init settings (locale, keymap, timezone, suite)
_WORD_RE = re.compile(r"^[A-Za-z0-9_.@/+-]{1,255}\Z")
#: the VM base image: a file name under the image directory, or an absolute path
_IMAGE_RE = re.compile(r"^/?[A-Za-z0-9_+.-]+(/[A-Za-z0-9_+.-]+)*\Z")
#: the longest path (boot_filename, kernel, initrd, base_image) uniform writes anywhere
_PATH_MAX = 255
#: kernel_args: words of a kernel command line, single spaces between (pxelinux APPEND line)
_ARGS_RE = re.compile(r"^([A-Za-z0-9_.,:=/+@%-]+( [A-Za-z0-9_.,:=/+@%-]+)*)?\Z")
_ARGS_MAX = 512
#: provisioning.console: a serial port as the kernel's console= names it, ttyS<n>[,<baud>[<parity>
#: [<bits>]][r]]; pxelinux's SERIAL directive is derived from it, and pxelinux numbers only the
#: BIOS's first four ports (0-3; a larger number would be an I/O address)
_CONSOLE_RE = re.compile(r"^ttyS[0-3](,[0-9]{3,7}([noe][5-8]?)?r?)?\Z")
#: an OpenSSH public key line: type, base64 blob, optional comment of printable ASCII.  It is
#: written into authorized_keys, known_hosts and cloud-init YAML: one line, nothing else.
_PUBKEY_RE = re.compile(
    r"^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}( [ -~]*)?\Z"
)
_PUBKEY_MAX = 16384
#: a disk or storage pool name: it becomes part of an image file name and libvirt XML
_DISK_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
_DISK_RULE = "1-63 of A-Z, a-z, 0-9, '_.-', starting with a letter or digit"
#: a tag: a word (filters, review output)
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/=+-]{0,62}\Z")


def pubkey_problem(key: str) -> str | None:
    """Why ``key`` is not one OpenSSH public key line, or None."""
    if "PRIVATE KEY" in key or len(key) > _PUBKEY_MAX or not _PUBKEY_RE.match(key):
        return "not an OpenSSH public key"
    return None


def text_problem(text: str, most: int) -> str | None:
    """Why ``text`` is not one line of free text (no control, format or line/paragraph
    separator characters -- NUL, newline, U+2028, zero-width space ...), or None."""
    if len(text) > most:
        return f"{excerpt(text)} is longer than {most} characters"
    if any(unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in text):
        return f"{excerpt(text)} must be one line of printable text"
    return None


def rel_path_problem(text: str) -> str | None:
    """Why ``text`` is not a usable path relative to the TFTP root, or None."""
    if len(text) > _PATH_MAX or not _REL_PATH_RE.match(text) or ".." in text.split("/"):
        rule = "letters, digits, '_+.-' and '/', no '..', no leading '/'"
        return f"{excerpt(text)} is not a relative path ({rule})"
    return None


def is_dns_label(name: str) -> bool:
    return bool(_LABEL_RE.match(name))


def is_dns_name(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return len(name) <= 253 and all(is_dns_label(lbl) for lbl in labels)


def _suggest(word: str, choices: list[str]) -> str:
    hint = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


@dataclass
class NetPlan:
    model: Network
    v4: addresses.Pool | None = None
    v6: addresses.Pool | None = None


@dataclass
class AttPlan:
    network: str
    ipv4: str | None  # as written: None (allocate), "none", or an address
    ipv6: str | None  # None/"auto" (derive or allocate), "none", or an address
    loc: Loc


@dataclass
class NicPlan:
    name: str
    mac: str | None  # normalised explicit MAC
    loc: Loc
    atts: list[AttPlan] = field(default_factory=list)


@dataclass
class MachinePlan:
    raw: RawMachine
    name: str
    kind: Kind
    state: State
    cores: int
    memory_mib: int
    history: list[State]
    nics: list[NicPlan]
    data: dict[str, Any]

    @property
    def hypervisor(self) -> str | None:
        """The hypervisor a VM names (as written; checked by ``_hypervisors``)."""
        hv = self.data.get("hypervisor")
        return hv if self.kind is Kind.VM and isinstance(hv, str) else None

    def bad(self, rep: Reporter, loc: Loc, message: str) -> None:
        rep.add(self.raw.file, loc, message, self.name, self.raw.base)


def customer(raw: RawInventory, rep: Reporter) -> Customer:
    d = raw.doc
    f = "customer.yaml"
    name = d.get("customer")
    if name is not None and name != raw.customer:
        msg = f"customer {excerpt(name)} does not match the directory name {raw.customer!r}"
        rep.add(f, ("customer",), msg)
    domain = d.get("domain") or f"{raw.customer}.invalid"
    if d.get("domain") is not None and not is_dns_name(domain):
        rep.add(f, ("domain",), f"invalid DNS domain {excerpt(domain)}")
    default = Customer(name=raw.customer, domain=domain)  # the model states every default
    prefix = _given(d.get("mac_prefix"), default.mac_prefix)
    why = macs.prefix_problem(prefix)
    if why:
        rep.add(f, ("mac_prefix",), why)
        prefix = default.mac_prefix
    prefix = prefix.lower()
    oc = d.get("overcommit") or {}
    sv = d.get("services") or {}
    dl = d.get("delivery") or {}
    ssh = d.get("ssh") or {}
    keys = ssh.get("authorized_keys", [])
    for i, key in enumerate(keys):
        if key is not None and (why := pubkey_problem(key)):
            rep.add(f, ("ssh", "authorized_keys", i), why)
            keys[i] = None
    user = ssh.get("user")
    if user is not None and not _USER_RE.match(user):
        rep.add(f, ("ssh", "user"), f"{excerpt(user)} is not a user name (a-z, 0-9, '_-', at most 32)")
        ssh["user"] = None
    host_keys = ssh.get("host_keys", {})
    for host, key in list(host_keys.items()):
        if why := pubkey_problem(key):
            rep.add(f, ("ssh", "host_keys", host), why)
            del host_keys[host]
    root = dl.get("local_root")
    if root is not None and (why := text_problem(root, 1024)):
        rep.add(f, ("delivery", "local_root"), why)
        dl["local_root"] = None
    return Customer(
        provisioning=_provisioning(d.get("provisioning") or {}, rep),
        name=raw.customer,
        domain=domain,
        mac_prefix=prefix,
        cpu_overcommit=_given(oc.get("cpu"), default.cpu_overcommit),
        memory_overcommit=_given(oc.get("memory"), default.memory_overcommit),
        services=Services(
            dhcp=_given(sv.get("dhcp"), default.services.dhcp),
            dns=_given(sv.get("dns"), default.services.dns),
        ),
        delivery=Delivery(
            mode=_given(dl.get("mode"), default.delivery.mode),
            # a customer's own directory under the default root, unless the file names one
            local_root=dl.get("local_root") or f"{default.delivery.local_root}/{raw.customer}",
        ),
        ssh=Ssh(
            user=_given(ssh.get("user"), default.ssh.user),
            port=_given(ssh.get("port"), default.ssh.port),
            authorized_keys=tuple(k for k in ssh.get("authorized_keys", []) if k is not None),
            host_keys=tuple(sorted(host_keys.items())),
        ),
        removed=_removed(d.get("removed") or [], rep),
    )


def _removed(names: list[str | None], rep: Reporter) -> tuple[str, ...]:
    out = []
    for i, name in enumerate(names):
        if name is None:
            continue
        if not is_dns_label(name):
            rep.add("customer.yaml", ("removed", i), f"{excerpt(name)} is not a machine name")
        elif name in out:
            rep.add("customer.yaml", ("removed", i), f"{name!r} is listed twice")
        else:
            out.append(name)
    return tuple(out)


T = TypeVar("T")


def _given(value: T | None, default: T) -> T:
    """The value written in the file, else the model's default (absent or bad values are None)."""
    return default if value is None else value


def _provisioning(p: dict[str, Any], rep: Reporter) -> Provisioning:
    f = "customer.yaml"
    loc: Loc = ("provisioning",)
    d = Provisioning()
    out: dict[str, Any] = {}
    for key in ("kernel", "initrd"):
        value = p.get(key) or getattr(d, key)
        why = rel_path_problem(value)
        if why:
            rep.add(f, loc + (key,), why)
            value = getattr(d, key)
        out[key] = value
    image = p.get("base_image")
    if image is not None and (
        len(image) > _PATH_MAX or not _IMAGE_RE.match(image) or ".." in image.split("/")
    ):
        rep.add(f, loc + ("base_image",), f"{excerpt(image)} is not a file name or an absolute path")
        image = None
    out["base_image"] = image
    args = p.get("kernel_args") or d.kernel_args
    if len(args) > _ARGS_MAX or not _ARGS_RE.match(args):
        rep.add(
            f,
            loc + ("kernel_args",),
            f"kernel_args must be one line of at most {_ARGS_MAX} characters: words of letters, digits "
            "and '_.,:=/+@%-' separated by single spaces",
        )
        args = d.kernel_args
    out["kernel_args"] = args
    console = p.get("console")
    if console is not None and not _CONSOLE_RE.match(console):
        why = (
            "must be a serial port as the kernel's console= takes it: ttyS0-ttyS3, optionally "
            "with speed, parity and bits, e.g. 'ttyS1,115200n8'"
        )
        rep.add(f, loc + ("console",), f"console {excerpt(console)} {why}")
        console = None
    out["console"] = console
    mirror = p.get("mirror") or d.mirror
    if not is_dns_name(mirror) and isinstance(addresses.parse_ip(mirror), str):
        rep.add(f, loc + ("mirror",), f"mirror {excerpt(mirror)} is not a host name or an IP address")
        mirror = d.mirror
    out["mirror"] = mirror
    directory = p.get("mirror_directory") or d.mirror_directory
    if not directory.startswith("/") or not _WORD_RE.match(directory):
        msg = f"mirror_directory {excerpt(directory)} must be an absolute path"
        rep.add(f, loc + ("mirror_directory",), msg)
        directory = d.mirror_directory
    out["mirror_directory"] = directory
    for key in ("suite", "locale", "keymap", "timezone"):
        value = p.get(key) or getattr(d, key)
        if not _WORD_RE.match(value):
            rep.add(f, loc + (key,), f"{key} {excerpt(value)} must be one word (letters, digits, '_.@/+-')")
            value = getattr(d, key)
        out[key] = value
    return Provisioning(**out)


#: a Linux interface name: it becomes a networkd file name and libvirt's <source bridge=...>
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}\Z")
_IFNAME_RULE = "1-15 of A-Z, a-z, 0-9, '_.-'"
#: a POSIX portable user name (useradd's default rule): it reaches sudoers, preseed
#: late_command and cloud-init, so nothing else is accepted
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\Z")


def _bridge(value: str | None, f: str, loc: Loc, rep: Reporter) -> str | None:
    if value is None or _IFNAME_RE.match(value):
        return value
    rep.add(f, loc, f"bridge {excerpt(value)} is not an interface name (1-15 of A-Z, a-z, 0-9, '_.-')")
    return None


def networks(raw: RawInventory, cust: Customer, rep: Reporter) -> dict[str, NetPlan]:
    out: dict[str, NetPlan] = {}
    f = "customer.yaml"
    for name, n in sorted(raw.doc.get("networks", {}).items()):
        loc: Loc = ("networks", name)
        if not is_dns_label(name):
            rep.add(f, loc, f"network name {excerpt(name)} is not a valid DNS label")
        pools: dict[int, addresses.Pool] = {}
        prefixes: dict[int, str | None] = {4: None, 6: None}
        for v in (4, 6):
            text = n.get(f"ipv{v}")
            if text is None:
                continue
            net = addresses.parse_prefix(text, v)
            if isinstance(net, str):
                rep.add(f, loc + (f"ipv{v}",), net)
                continue
            prefixes[v] = str(net.cidr)
            pools[v] = addresses.Pool(name, v, str(net.cidr), net.first, net.last, net.prefixlen)
        if n.get("ipv4") is None and n.get("ipv6") is None:
            rep.add(f, loc, "network needs an ipv4 or an ipv6 prefix (or both)")
        gateways: dict[int, str | None] = {4: None, 6: None}
        for v in (4, 6):
            text = n.get(f"gateway{v}")
            if text is None:
                continue
            gl = loc + (f"gateway{v}",)
            ip = addresses.parse_ip(text, v)
            if isinstance(ip, str):
                rep.add(f, gl, ip)
                continue
            pool = pools.get(v)
            if pool is None:
                if n.get(f"ipv{v}") is None:
                    rep.add(f, gl, f"gateway{v} given but the network has no IPv{v} prefix")
                continue
            why = pool.why_not(ip[0])
            if why:
                rep.add(f, gl, f"gateway {why}")
                continue
            pool.gateway = ip[0]
            gateways[v] = addresses.fmt(ip[0], v)
        reserved: list[tuple[str, str]] = []
        for i, text in enumerate(n.get("reserved", [])):
            if text is None:
                continue
            rl = loc + ("reserved", i)
            r = addresses.parse_range(text)
            if isinstance(r, str):
                rep.add(f, rl, r)
                continue
            lo, hi, v = r
            pool = pools.get(v)
            if pool is None:
                if n.get(f"ipv{v}") is None:  # (an invalid prefix is reported already)
                    rep.add(f, rl, f"reserved range {text!r} but the network has no IPv{v} prefix")
                continue
            if lo < pool.first or hi > pool.last:
                rep.add(f, rl, f"reserved range {text!r} is outside {pool.prefix}")
                continue
            a, b = addresses.fmt(lo, v), addresses.fmt(hi, v)
            pool.excluded.append((lo, hi, f"reserved range {a}-{b}" if lo != hi else f"reserved {a}"))
            reserved.append((a, b))
        dhcp_pool: tuple[str, str] | None = None
        if n.get("dhcp_pool") is not None:
            text = n["dhcp_pool"]
            r = addresses.parse_range(text)
            dl = loc + ("dhcp_pool",)
            if isinstance(r, str):
                rep.add(f, dl, r)
            elif pools.get(r[2]) is None:
                if n.get(f"ipv{r[2]}") is None:
                    rep.add(f, dl, f"dhcp_pool {text!r} but the network has no IPv{r[2]} prefix")
            elif r[0] < pools[r[2]].first or r[1] > pools[r[2]].last:
                rep.add(f, dl, f"dhcp_pool {text!r} is outside {pools[r[2]].prefix}")
            else:
                lo, hi, v = r
                dhcp_pool = (addresses.fmt(lo, v), addresses.fmt(hi, v))
                pools[v].excluded.append((lo, hi, f"the DHCP pool {dhcp_pool[0]}-{dhcp_pool[1]}"))
        dns: list[str] = []
        for i, text in enumerate(n.get("dns_servers", [])):
            if text is None:
                continue
            ip = addresses.parse_ip(text)
            if isinstance(ip, str):
                rep.add(f, loc + ("dns_servers", i), ip)
            else:
                dns.append(addresses.fmt(*ip))
        domain = n.get("domain") or cust.domain
        if n.get("domain") is not None and not is_dns_name(domain):
            rep.add(f, loc + ("domain",), f"invalid DNS domain {excerpt(domain)}")
        boot_filename = n.get("boot_filename")
        if boot_filename is not None and (why := rel_path_problem(boot_filename)):
            rep.add(f, loc + ("boot_filename",), why)
            boot_filename = None
        boot_server: str | None = None
        if n.get("boot_server") is not None:
            ip = addresses.parse_ip(n["boot_server"], 4)
            if isinstance(ip, str):
                rep.add(f, loc + ("boot_server",), ip)
            elif n.get("boot_filename") is None:
                rep.add(f, loc + ("boot_server",), "boot_server given but no boot_filename (netboot is off)")
            else:
                boot_server = addresses.fmt(*ip)
        for pool in pools.values():
            pool.excluded.sort()
            pool.seal()
        model = Network(
            name=name,
            domain=domain,
            ipv4=prefixes[4],
            ipv6=prefixes[6],
            gateway4=gateways[4],
            gateway6=gateways[6],
            reserved=tuple(reserved),
            dhcp_pool=dhcp_pool,
            bridge=_bridge(n.get("bridge"), f, loc + ("bridge",), rep),
            dns_servers=tuple(dns),
            mtu=n.get("mtu"),
            boot_filename=boot_filename,
            boot_server=boot_server,
        )
        out[name] = NetPlan(model, pools.get(4), pools.get(6))
    _overlaps(out, rep)
    return out


def _overlaps(nets: dict[str, NetPlan], rep: Reporter) -> None:
    """Two networks never share an address: each would give it out (two DHCP reservations,
    two A and PTR records), and dnsmasq refuses the result."""
    seen: list[tuple[str, addresses.Pool]] = []
    for name, plan in nets.items():  # sorted by name: the later network is reported
        for pool in (plan.v4, plan.v6):
            if pool is None:
                continue
            for other, op in seen:
                if op.version == pool.version and pool.first <= op.last and op.first <= pool.last:
                    rep.add(
                        "customer.yaml",
                        ("networks", name, f"ipv{pool.version}"),
                        f"{pool.prefix} overlaps network {other!r} ({op.prefix}): "
                        "networks cannot share addresses",
                    )
            seen.append((name, pool))


def machines(
    raw: RawInventory, nets: dict[str, NetPlan], rep: Reporter, known_roles: Collection[str] | None = None
) -> list[MachinePlan]:
    """Per-machine checks; returns the machines to allocate, sorted by name, duplicates dropped.

    ``known_roles``: the role names ``roles:`` may list (None: any).  The inventory does not
    know which roles exist -- each is a module in payloads/roles/ -- so the caller passes
    ``payloads.ROLE_NAMES``."""
    known = sorted(known_roles) if known_roles is not None else None
    seen: dict[str, RawMachine] = {}
    plans: list[MachinePlan] = []
    for rm in raw.machines:
        d = rm.data
        name = d.get("name")
        if name is None:
            continue  # "missing required key 'name'" already reported

        def bad(loc: Loc, message: str, rm: RawMachine = rm, name: str = name) -> None:
            rep.add(rm.file, loc, message, name, rm.base)

        if not is_dns_label(name):
            bad(("name",), f"{excerpt(name)} is not a valid DNS label ({_LABEL_RULE})")
        if not rm.base and rm.file != f"machines/{name}.yaml":
            msg = f"file name {rm.file.split('/')[-1]!r} does not match the machine name {excerpt(name)}"
            bad(("name",), msg)
        if name in seen:
            bad(("name",), f"duplicate machine name {name!r} (also in {seen[name].file})")
            continue
        seen[name] = rm
        state_text = d.get("state", "planned")
        state = State(state_text) if state_text in _STATES else None
        if state is None:
            hint = _suggest(state_text, _STATES)
            bad(("state",), f"unknown state {excerpt(state_text)}{hint}; known: {', '.join(_STATES)}")
        history: list[State] = []
        for i, h in enumerate(d.get("history", [])):
            if h is None:
                continue
            if h not in _STATES:
                bad(("history", i), f"unknown state {excerpt(h)}{_suggest(h, _STATES)}")
            else:
                history.append(State(h))
        if len(history) == len(d.get("history", [])) and state is not None:
            path = history + [state]
            for i, (a, b) in enumerate(zip(path, path[1:], strict=False)):
                if b not in TRANSITIONS[a]:
                    allowed = ", ".join(sorted(s.value for s in TRANSITIONS[a])) or "nothing (terminal)"
                    where: Loc = ("history", i + 1) if i + 1 < len(history) else ("state",)
                    msg = f"{a.value} -> {b.value} is not an allowed transition"
                    msg += f" ({a.value} may go to: {allowed})"
                    bad(where, msg)
        for i, role in enumerate(d.get("roles", [])):
            if role is not None and known is not None and role not in known:
                hint = _suggest(role, known)
                bad(("roles", i), f"unknown role {excerpt(role)}{hint}; known: {', '.join(known)}")
        kind = Kind(d["kind"]) if "kind" in d else None
        if kind is Kind.HW and d.get("hypervisor") is not None:
            bad(("hypervisor",), "a hw machine cannot have a hypervisor")
        if kind is Kind.VM and d.get("hypervisor") is None:
            bad((), "missing required key 'hypervisor' (required for kind vm)")
        mv = d.get("move")
        if mv and kind is not Kind.VM:
            bad(("move",), "only a VM moves between hypervisors")
        elif mv and mv.get("to") != d.get("hypervisor"):
            bad(
                ("move", "to"),
                f"acknowledges a move to {excerpt(mv.get('to'))}, "
                f"but hypervisor is {excerpt(d.get('hypervisor'))}",
            )
        for i, tag in enumerate(d.get("tags", [])):
            if tag is not None and not _TAG_RE.match(tag):
                bad(("tags", i), f"tag {excerpt(tag)} is not a word (1-63 of A-Z, a-z, 0-9, '_.:/=+-')")
        if d.get("virtualization") is not None and "hypervisor" not in d.get("roles", []):
            bad(("virtualization",), "only a machine with role hypervisor has a virtualization type")
        if d.get("location") is not None and (why := text_problem(d["location"], 200)):
            bad(("location",), why)
        names: set[str] = set()
        for i, disk in enumerate(d.get("disks", [])):
            for key in ("name", "pool"):
                if disk and disk.get(key) is not None and not _DISK_RE.match(disk[key]):
                    bad(("disks", i, key), f"disk {key} {excerpt(disk[key])} is not a name ({_DISK_RULE})")
            if disk and disk.get("name") in names:
                bad(("disks", i, "name"), f"duplicate disk name {excerpt(disk['name'])}")
            if disk:
                names.add(disk.get("name"))
        nics: list[NicPlan] = []
        nic_names: set[str] = set()
        for i, nic in enumerate(d.get("nics", [])):
            if not nic or nic.get("name") is None:
                continue
            nl: Loc = ("nics", i)
            if not _IFNAME_RE.match(nic["name"]):
                msg = f"NIC name {excerpt(nic['name'])} is not an interface name ({_IFNAME_RULE})"
                bad(nl + ("name",), msg)
            elif nic["name"] in nic_names:
                bad(nl + ("name",), f"duplicate NIC name {nic['name']!r}")
            nic_names.add(nic["name"])
            mac = None
            if nic.get("mac") is not None:
                mac = macs.normalise_mac(nic["mac"])
                if mac is None:
                    bad(nl + ("mac",), f"invalid MAC {excerpt(nic['mac'])}")
                elif macs.is_multicast(mac):
                    bad(nl + ("mac",), f"MAC {mac} is a multicast address")
            plan = NicPlan(nic["name"], mac, nl)
            on: set[str] = set()
            for j, att in enumerate(nic.get("networks", [])):
                if not att or att.get("network") is None:
                    continue
                al = nl + ("networks", j)
                net = att["network"]
                if net not in nets:
                    if raw.doc:  # (when customer.yaml is unusable, that is the problem)
                        bad(al + ("network",), f"unknown network {excerpt(net)}{_suggest(net, list(nets))}")
                    continue
                if net in on:
                    bad(al + ("network",), f"NIC is attached to network {net!r} twice")
                    continue
                on.add(net)
                plan.atts.append(AttPlan(net, att.get("ipv4"), att.get("ipv6"), al))
            nics.append(plan)
        if "dns" in d.get("roles", []) and state is not None and in_dns(state):
            _name_server_address(nics, nets, bad)
        plans.append(
            MachinePlan(
                rm,
                name,
                kind or Kind.HW,
                state or State.PLANNED,
                d.get("cores", 0),
                d.get("memory", 0),
                history,
                nics,
                d,
            )
        )
    plans.sort(key=lambda p: p.name)
    _hypervisors(plans, rep)
    _bridges(plans, nets, rep)
    return plans


def _name_server_address(
    nics: list[NicPlan], nets: dict[str, NetPlan], bad: Callable[[Loc, str], None]
) -> None:
    """A DNS server is the NS of every zone under its own name (its first NIC's first network's
    domain); named refuses a zone whose NS name has no address, so that attachment needs one."""
    first = next(((n, a) for n in nics for a in n.atts), None)
    if first is None:
        bad(("roles",), "a dns server needs an address: it has no NIC on a network")
        return
    nic, att = first
    net = nets.get(att.network)
    if net is None:
        return
    if (att.ipv4 == "none" or net.v4 is None) and (att.ipv6 == "none" or net.v6 is None):
        bad(
            att.loc,
            f"a dns server needs an address on its first network {att.network!r}: its name is the "
            "zones' NS, and a name server without an address makes named refuse the zones",
        )


def _hypervisors(plans: list[MachinePlan], rep: Reporter) -> None:
    by_name = {p.name: p for p in plans}
    for p in plans:
        hv = p.data.get("hypervisor")
        if hv is None or p.kind is not Kind.VM:
            continue
        if hv == p.name:
            p.bad(rep, ("hypervisor",), "a machine cannot be its own hypervisor")
        elif hv not in by_name:
            p.bad(rep, ("hypervisor",), f"unknown hypervisor {excerpt(hv)}{_suggest(hv, list(by_name))}")
        elif "hypervisor" not in by_name[hv].data.get("roles", []):
            p.bad(rep, ("hypervisor",), f"{hv!r} does not have role 'hypervisor'")
        elif by_name[hv].kind is not Kind.HW:
            # a VM's host is hardware: no chains, so no loops (web1 on web2 on web1)
            p.bad(rep, ("hypervisor",), f"hypervisor {hv!r} is a VM: VMs run on hardware machines only")
        elif by_name[hv].state is State.RETIRED and p.state in USES_CAPACITY:
            p.bad(rep, ("hypervisor",), f"hypervisor {hv!r} is retired but this VM is {p.state.value}")


def _bridges(plans: list[MachinePlan], nets: dict[str, NetPlan], rep: Reporter) -> None:
    """A VM NIC sits on one bridge, and its hypervisor must have that bridge.

    A hypervisor has the bridge of each network one of its NICs is on alone (that NIC
    becomes the bridge's port, payloads/roles/base.py); a VM NIC attaches to the bridge of
    its networks, so networks with different bridges cannot share one VM NIC (a network
    with no bridge rides on the NIC's link)."""
    by_name = {p.name: p for p in plans}
    bridges = {name: plan.model.bridge for name, plan in nets.items()}
    bridge = bridges.get
    hv_bridges: dict[str, set[str]] = {}  # per hypervisor, once: 10,000 VMs share a few hundred

    def bridges_of(hv: MachinePlan) -> set[str]:
        if hv.name not in hv_bridges:
            hv_bridges[hv.name] = {
                b for hn in hv.nics if len(hn.atts) == 1 and (b := bridge(hn.atts[0].network))
            }
        return hv_bridges[hv.name]

    for p in plans:
        if p.kind is not Kind.VM:
            continue  # a host's own NIC carries several networks without a bridge
        hv = by_name.get(p.hypervisor or "")
        for nic in p.nics:
            known = [a.network for a in nic.atts if a.network in nets]
            used = sorted({b for n in known if (b := bridge(n))}) if known else []
            # a network without a bridge of its own shares the link it is on (a second prefix)
            if len(used) > 1:
                where = ", ".join(f"{n} ({bridge(n) or 'no bridge'})" for n in known)
                p.bad(
                    rep,
                    nic.loc + ("networks",),
                    f"networks on different bridges: {where}; a VM NIC sits on one",
                )
                continue
            if hv is None or hv.kind is not Kind.HW or not used:
                continue
            have = bridges_of(hv)
            if used[0] not in have:
                offered = ", ".join(sorted(have)) or "none"
                p.bad(
                    rep,
                    nic.loc + ("networks", 0, "network"),
                    f"network {known[0]!r} is on bridge {used[0]!r}, which hypervisor {hv.name!r} "
                    f"does not have (its bridges: {offered}; give it a NIC on {known[0]!r} alone)",
                )


def host_keys(cust: Customer, plans: list[MachinePlan], rep: Reporter) -> None:
    """Pinned SSH host keys must belong to machines of this customer; a removed machine
    has no file any more."""
    names = [p.name for p in plans]
    for i, name in enumerate(cust.removed):
        if name in names:
            msg = f"{name!r} still has a machine file: a removed machine is one whose file is gone"
            rep.add("customer.yaml", ("removed", i), msg)
    for host, _ in cust.ssh.host_keys:
        if host not in names:
            rep.add(
                "customer.yaml",
                ("ssh", "host_keys", host),
                f"unknown machine {excerpt(host)}{_suggest(host, names)}",
            )


def capacity(plans: list[MachinePlan], cust: Customer, rep: Reporter) -> None:
    """Report overcommitted hypervisors (on the hypervisor)."""
    placed = by_hypervisor(plans)
    for h in plans:
        vms = placed.get(h.name)
        if not vms or "hypervisor" not in h.data.get("roles", []) or not h.cores:
            continue
        u = usage(h.name, h.cores, h.memory_mib, vms, cust.cpu_overcommit, cust.memory_overcommit)
        if not (u.over_cores or u.over_memory):
            continue
        counted = sorted((v for v in vms if v.name in u.vms), key=lambda v: v.name)  # for the message
        if u.over_cores:
            ratio = f"{cust.cpu_overcommit:g}"
            each = _listing([f"{v.name} {v.cores}" for v in counted])
            msg = f"overcommitted: VMs use {u.cores} cores ({each}), capacity {h.cores} x {ratio} = "
            msg += f"{u.cores_allowed:g}"
            h.bad(rep, ("cores",), msg)
        if u.over_memory:
            ratio = f"{cust.memory_overcommit:g}"
            each = _listing([f"{v.name} {format_mib(v.memory_mib)}" for v in counted])
            msg = (
                f"overcommitted: VMs use {format_mib(u.memory_mib)} ({each}), capacity "
                f"{format_mib(h.memory_mib)} x {ratio} = {format_mib(u.memory_allowed_mib)}"
            )
            h.bad(rep, ("memory",), msg)


def _listing(items: list[str], most: int = 8) -> str:
    """``a, b, c`` -- or the first ``most`` and how many more, for a hypervisor of hundreds."""
    if len(items) <= most:
        return ", ".join(items)
    return ", ".join(items[:most]) + f" and {len(items) - most} more"
