"""A benign customer that reaches every destination, and hostile variants of its string fields.

Used by tests/daemons/test_injection_matrix.py (and handy from a shell): ``base()`` is a
customer dict (customer.yaml + one group file ``machines/all.yaml``) whose machines between
them produce every kind of payload file -- dnsmasq or Kea DHCP, bind or dnsmasq DNS,
libvirt XML, disks/apply scripts, cloud-init seeds (staged VM ``db1``), pxelinux + preseed
(staged hw ``new1``), the netboot loader script, networkd files, sudoers/authorized_keys.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostile0matrix0key000000000000000000000000 ops@acme"


def base(dhcp: str = "dnsmasq", dns: str = "bind") -> dict[str, Any]:
    customer = {
        "customer": "acme",
        "domain": "acme.example",
        "mac_prefix": "52:54:00",
        "services": {"dhcp": dhcp, "dns": dns},
        "delivery": {"mode": "local", "local_root": "out/acme"},
        "removed": ["gone1"],
        "ssh": {"user": "ops", "port": 22, "authorized_keys": [KEY], "host_keys": {"hv1": KEY}},
        "networks": {
            "lan": {
                "ipv4": "10.20.0.0/24",
                "ipv6": "fd00:20::/64",
                "gateway4": "10.20.0.1",
                "gateway6": "fd00:20::1",
                "domain": "lan.acme.example",
                "reserved": ["10.20.0.4-10.20.0.9"],
                "dhcp_pool": "10.20.0.200-10.20.0.250",
                "bridge": "br-lan",
                "dns_servers": ["10.20.0.3"],
                "mtu": 1500,
                "boot_filename": "pxelinux.0",
                "boot_server": "10.20.0.3",
            },
            "mgmt": {"ipv4": "10.21.0.0/24", "bridge": "br-mgmt"},
        },
        "provisioning": {
            "base_image": "debian-12-genericcloud-amd64.qcow2",
            "kernel": "debian-installer/amd64/linux",
            "initrd": "debian-installer/amd64/initrd.gz",
            "kernel_args": "quiet",
            "console": "ttyS0,115200n8",
            "mirror": "deb.debian.org",
            "mirror_directory": "/debian",
            "suite": "bookworm",
            "locale": "en_US.UTF-8",
            "keymap": "us",
            "timezone": "Etc/UTC",
        },
    }

    def att(net: str, v4: str, v6: str | None = None) -> dict[str, Any]:
        a = {"network": net, "ipv4": v4}
        if v6:
            a["ipv6"] = v6
        return a

    machines = [
        {
            "name": "hv1",
            "kind": "hw",
            "cores": 32,
            "memory": "128GiB",
            "disks": [{"name": "root", "size": "500GiB", "pool": "default"}],
            "nics": [
                {
                    "name": "eno1",
                    "mac": "0c:c4:7a:00:00:03",
                    "networks": [att("lan", "10.20.0.3", "fd00:20::3")],
                },
                {"name": "eno2", "mac": "0c:c4:7a:00:01:03", "networks": [att("mgmt", "10.21.0.3")]},
            ],
            "tags": ["core"],
            "roles": ["hypervisor", "dhcp", "dns"],
            "virtualization": "qemu",
            "state": "active",
            "history": ["planned", "staged"],
            "location": "dc1/rack1/u1",
        },
        {
            "name": "db1",
            "kind": "vm",
            "hypervisor": "hv1",
            "cores": 2,
            "memory": "4GiB",
            "disks": [{"name": "root", "size": "20GiB", "pool": "default"}, {"name": "data", "size": 50}],
            "nics": [
                {
                    "name": "eth0",
                    "mac": "52:54:00:00:00:30",
                    "networks": [att("lan", "10.20.0.30", "fd00:20::30")],
                },
                {"name": "eth1", "mac": "52:54:00:00:01:30", "networks": [att("mgmt", "10.21.0.30")]},
            ],
            "tags": ["db"],
            "roles": [],
            "state": "staged",
            "history": ["planned"],
            "location": "dc1",
            "move": {"to": "hv1", "disk": "copied"},
        },
        {
            "name": "new1",
            "kind": "hw",
            "cores": 8,
            "memory": "32GiB",
            "disks": [{"name": "root", "size": "200GiB", "pool": "default"}],
            "nics": [
                {
                    "name": "eno1",
                    "mac": "0c:c4:7a:00:00:40",
                    "networks": [att("lan", "10.20.0.40", "fd00:20::40")],
                }
            ],
            "tags": ["web"],
            "roles": [],
            "state": "staged",
            "history": ["planned"],
            "location": "dc1/rack2",
        },
    ]
    return {"customer.yaml": customer, "machines/all.yaml": machines}


def json_text(data: Any) -> str:
    """``data`` as a YAML file: JSON is YAML 1.2, and every string survives, NUL included."""
    return json.dumps(data, indent=1) + "\n"


def write(doc: dict[str, Any], root: Path) -> Path:
    """Write ``doc`` (relative path -> data) as a customer directory."""
    (root / "machines").mkdir(parents=True, exist_ok=True)
    for rel, data in doc.items():
        (root / rel).write_text(json_text(data))
    return root


# ------------------------------------------------------------------ fields

#: (id, path) of every string field; a path is a list of keys/indices from a file's root;
#: machine fields are given for db1 (staged VM: XML, seed, scripts) and new1 (staged hw:
#: pxelinux, preseed)
_CUSTOMER_FIELDS = [
    ("customer", ["customer"]),
    ("domain", ["domain"]),
    ("mac_prefix", ["mac_prefix"]),
    ("delivery.mode", ["delivery", "mode"]),
    ("delivery.local_root", ["delivery", "local_root"]),
    ("services.dhcp", ["services", "dhcp"]),
    ("services.dns", ["services", "dns"]),
    ("removed", ["removed", 0]),
    ("ssh.user", ["ssh", "user"]),
    ("ssh.authorized_keys", ["ssh", "authorized_keys", 0]),
    ("ssh.host_keys.value", ["ssh", "host_keys", "hv1"]),
    *[
        (f"networks.lan.{k}", ["networks", "lan", k])
        for k in ("ipv4", "ipv6", "gateway4", "gateway6", "domain", "dhcp_pool", "bridge", "boot_filename")
    ],
    ("networks.lan.boot_server", ["networks", "lan", "boot_server"]),
    ("networks.lan.reserved", ["networks", "lan", "reserved", 0]),
    ("networks.lan.dns_servers", ["networks", "lan", "dns_servers", 0]),
    *[
        (f"provisioning.{k}", ["provisioning", k])
        for k in (
            "base_image",
            "kernel",
            "initrd",
            "kernel_args",
            "console",
            "mirror",
            "mirror_directory",
            "suite",
            "locale",
            "keymap",
            "timezone",
        )
    ],
]
_MACHINE_FIELDS = [
    ("name", ["name"]),
    ("kind", ["kind"]),
    ("nics[0].name", ["nics", 0, "name"]),
    ("nics[0].mac", ["nics", 0, "mac"]),
    ("nics[0].networks[0].network", ["nics", 0, "networks", 0, "network"]),
    ("nics[0].networks[0].ipv4", ["nics", 0, "networks", 0, "ipv4"]),
    ("nics[0].networks[0].ipv6", ["nics", 0, "networks", 0, "ipv6"]),
    ("disks[0].name", ["disks", 0, "name"]),
    ("disks[0].pool", ["disks", 0, "pool"]),
    ("tags", ["tags", 0]),
    ("location", ["location"]),
    ("state", ["state"]),
    ("history", ["history", 0]),
]
_MACHINES = {"hv1": 0, "db1": 1, "new1": 2}

FIELDS: list[tuple[str, str, list[Any]]] = [
    ("customer.yaml:" + fid, "customer.yaml", path) for fid, path in _CUSTOMER_FIELDS
]
FIELDS += [
    (f"{m}:{fid}", "machines/all.yaml", [i, *path])
    for m, i in _MACHINES.items()
    if m != "hv1"
    for fid, path in _MACHINE_FIELDS
]
FIELDS += [
    ("hv1:roles", "machines/all.yaml", [0, "roles", 1]),
    ("hv1:virtualization", "machines/all.yaml", [0, "virtualization"]),
    ("db1:hypervisor", "machines/all.yaml", [1, "hypervisor"]),
    ("db1:move.to", "machines/all.yaml", [1, "move", "to"]),
    ("db1:move.disk", "machines/all.yaml", [1, "move", "disk"]),
    ("hv1:nics[0].name", "machines/all.yaml", [0, "nics", 0, "name"]),
]


def _cyrillic(v: str) -> str:
    for latin, cyr in (("a", "\u0430"), ("e", "\u0435"), ("o", "\u043e"), ("c", "\u0441"), ("p", "\u0440")):
        if latin in v:
            return v.replace(latin, cyr, 1)
    return "\u0430" + v


#: hostile value id -> how it is made from the field's benign value
VALUES: dict[str, Callable[[str], str]] = {
    "newline": lambda v: v + "\ninjected",
    "trailing_newline": lambda v: v + "\n",
    "cr": lambda v: v + "\rinjected",
    "squote": lambda v: v + "'x",
    "dquote": lambda v: v + '"x',
    "semicolon": lambda v: v + ";touch PWNED",
    "subshell": lambda v: v + "$(touch PWNED)",
    "backtick": lambda v: v + "`touch PWNED`",
    "backslash": lambda v: v + "\\",
    "space": lambda v: v + " x",
    "comma": lambda v: v + ",x",
    "nul": lambda v: v + "\x00x",
    "long": lambda v: v + "a" * 10_000,
    "cyrillic": _cyrillic,
    "u2028": lambda v: v + "\u2028x",
    "zero_width": lambda v: v + "\u200b",
    "xml": lambda v: v + "<x/>&amp;",
    "yaml": lambda v: v + ": {x: y}",
    "comment": lambda v: v + " #x",
}


def get(doc: dict[str, Any], file: str, path: list[Any]) -> Any:
    node: Any = doc[file]
    for p in path:
        node = node[p]
    return node


def mutated(doc: dict[str, Any], file: str, path: list[Any], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out[file]
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return out
