"""Read a golden case's customer dir into an Inventory.

Uses ``inventory.load`` when it exists; until then (and as a cross-check) a minimal
reader of the same YAML format that requires every MAC and address to be pinned
in the case files, so both give the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from inventory.model import (
    Attachment,
    Customer,
    Delivery,
    Disk,
    Inventory,
    Kind,
    Machine,
    Network,
    Nic,
    Provisioning,
    Services,
    Ssh,
    State,
)

CASES = Path(__file__).resolve().parents[1] / "golden" / "cases"

_UNIT = {"MiB": 1, "GiB": 1024, "TiB": 1024 * 1024}


def _mib(size: str) -> int:
    for unit, factor in _UNIT.items():
        if size.endswith(unit):
            return int(size[: -len(unit)]) * factor
    raise ValueError(size)


def _range(text: str) -> tuple[str, str]:
    first, _, last = text.partition("-")
    return (first.strip(), (last or first).strip())


def load_minimal(root: Path) -> Inventory:
    yaml = YAML(typ="safe")
    c: dict[str, Any] = yaml.load((root / "customer.yaml").read_text())
    networks = {}
    for name, n in sorted(c.get("networks", {}).items()):
        networks[name] = Network(
            name=name,
            domain=n.get("domain", c["domain"]),
            ipv4=n.get("ipv4"),
            ipv6=n.get("ipv6"),
            gateway4=n.get("gateway4"),
            gateway6=n.get("gateway6"),
            reserved=tuple(_range(r) for r in n.get("reserved", [])),
            dhcp_pool=_range(n["dhcp_pool"]) if n.get("dhcp_pool") else None,
            bridge=n.get("bridge"),
            dns_servers=tuple(n.get("dns_servers", [])),
            mtu=n.get("mtu"),
            boot_filename=n.get("boot_filename"),
            boot_server=n.get("boot_server"),
        )
    ssh = c.get("ssh", {})
    customer = Customer(
        name=c["customer"],
        domain=c["domain"],
        services=Services(**c.get("services", {})),
        delivery=Delivery(**c.get("delivery", {})),
        ssh=Ssh(
            user=ssh.get("user", "root"),
            port=ssh.get("port", 22),
            authorized_keys=tuple(ssh.get("authorized_keys", [])),
        ),
        provisioning=Provisioning(**c.get("provisioning", {})),
    )
    machines = {}
    for f in sorted((root / "machines").glob("*.yaml")):
        m: dict[str, Any] = yaml.load(f.read_text())
        state = State(m.get("state", "planned"))
        keep = state is not State.RETIRED
        nics = tuple(
            Nic(
                name=n["name"],
                mac=n["mac"].lower(),
                mac_pinned=True,
                attachments=tuple(
                    Attachment(
                        network=a["network"],
                        ipv4=a.get("ipv4") if keep else None,
                        ipv6=a.get("ipv6") if keep else None,
                        ipv4_pinned="ipv4" in a,
                        ipv6_pinned="ipv6" in a,
                    )
                    for a in n.get("networks", [])
                ),
            )
            for n in m.get("nics", [])
        )
        machines[m["name"]] = Machine(
            name=m["name"],
            kind=Kind(m["kind"]),
            cores=m["cores"],
            memory_mib=_mib(m["memory"]),
            state=state,
            file=f"machines/{f.name}",
            disks=tuple(
                Disk(d["name"], _mib(d["size"]) // 1024, d.get("pool", "default")) for d in m.get("disks", [])
            ),
            nics=nics,
            tags=tuple(m.get("tags", [])),
            roles=tuple(m.get("roles", [])),
            history=tuple(State(s) for s in m.get("history", [])),
            hypervisor=m.get("hypervisor"),
            location=m.get("location"),
            virtualization=m.get("virtualization", "kvm"),
        )
    return Inventory(customer, networks, dict(sorted(machines.items())), str(root))


def load_case(root: Path) -> Inventory:
    import inventory

    load = getattr(inventory, "load", None)
    if load is None:
        return load_minimal(root)
    inv: Inventory = load(root)
    return inv


def case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "inventory").is_dir())


def customer_dir(case: Path) -> Path:
    """The case's customer dir: ``<case>/inventory/<customer>/`` (the loader wants the names to match)."""
    (only,) = [p for p in (case / "inventory").iterdir() if (p / "customer.yaml").is_file()]
    return only
