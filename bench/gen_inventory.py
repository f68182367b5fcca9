"""Write a large synthetic customer for benchmarking the inventory loader.

    .venv/bin/python -m bench.gen_inventory /tmp/bench --machines 10000

Creates <dir>/bench/ (customer "bench"): two service hosts (hw, roles dhcp and dns),
hypervisors (hw, one file each) and VMs
(about half in one-machine files, half in per-hypervisor group files), on four
networks with an IPv4 /16 and an IPv6 /64 each, plus an IPv6-only /64.  Staged and
active machines have every MAC and IPv4 address pinned (load refuses them otherwise);
planned and retired ones have about 30% pinned, the rest generated/allocated.  A few
machines are planned, staged or retired.  Deterministic for a given count.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

NETS = ["front", "back", "storage", "mgmt"]
VMS_PER_HV = 40


def customer_yaml() -> str:
    lines = [
        "customer: bench",
        "domain: bench.example",
        'mac_prefix: "52:54:00"',
        "overcommit: {cpu: 4.0, memory: 1.0}",
        "services: {dhcp: kea, dns: bind}",
        "delivery: {mode: ssh}",
        "networks:",
    ]
    for i, n in enumerate(NETS):
        lines += [
            f"  {n}:",
            f"    ipv4: 10.{100 + i}.0.0/16",
            f"    ipv6: fd00:{100 + i}::/64",
            f"    gateway4: 10.{100 + i}.0.1",
            f"    gateway6: fd00:{100 + i}::1",
            f'    reserved: ["10.{100 + i}.0.1-10.{100 + i}.0.255"]',
            f"    dhcp_pool: 10.{100 + i}.255.0-10.{100 + i}.255.254",
            f"    bridge: br-{n}",
            f"    dns_servers: [10.{100 + i}.0.2]",
        ]
    lines += ["  v6only:", "    ipv6: fd00:200::/64"]
    return "\n".join(lines) + "\n"


class Counter:
    def __init__(self) -> None:
        self.mac = 0x100000
        self.ip = {n: 256 for n in NETS}  # past the reserved first /24

    def next_mac(self) -> str:
        self.mac += 1
        m = self.mac
        return f"52:54:00:{m >> 16 & 0xFF:02x}:{m >> 8 & 0xFF:02x}:{m & 0xFF:02x}"

    def next_ip(self, net: str) -> str:
        self.ip[net] += 1
        v = self.ip[net]
        return f"10.{100 + NETS.index(net)}.{v >> 8}.{v & 0xFF}"


def machine_lines(
    name: str, kind: str, hv: str | None, rnd: random.Random, c: Counter, indent: str, first: str
) -> list[str]:
    state, history = rnd.choices(
        [
            ("active", "[planned, staged]"),
            ("planned", "[]"),
            ("staged", "[planned]"),
            ("retired", "[planned, staged, active, decommissioning]"),
        ],
        weights=[90, 4, 3, 3],
    )[0]
    if name.startswith("svc"):
        cores, memory, roles = 16, "64GiB", "[dhcp, dns]"
        state, history = "active", "[planned, staged]"
    elif kind == "hw":
        cores, memory, roles = 64, "512GiB", "[hypervisor]"
        # a hypervisor stays active: VMs in use may not sit on a retired one
        state, history = "active", "[planned, staged]"
    else:
        cores, memory, roles = (
            rnd.choice([1, 2, 4, 8]),
            rnd.choice(["1GiB", "2GiB", "4GiB", "8GiB", "16GiB"]),
            "[]",
        )
    out = [f"{first}name: {name}", f"kind: {kind}"]
    if hv:
        out.append(f"hypervisor: {hv}")
    out += [f"cores: {cores}", f"memory: {memory}", "disks: [{name: root, size: 40GiB}]", "nics:"]
    nets = [NETS[0], NETS[1]] if kind == "vm" else NETS
    for i, net in enumerate(nets):
        # staged and active machines are always pinned (load refuses them otherwise, as
        # `uniform transition` pins them); planned and retired ones are mostly not
        pinned = state in ("staged", "active") or rnd.random() < 0.3
        out.append(f"  - name: eth{i}")
        if pinned:
            out.append(f'    mac: "{c.next_mac()}"')
        out += ["    networks:", f"      - network: {net}"]
        if pinned:
            out.append(f"        ipv4: {c.next_ip(net)}")
        if i == 0 and kind == "vm":
            out.append("      - network: v6only")
    out += [
        f"roles: {roles}",
        f"tags: [{rnd.choice(['web', 'db', 'cache', 'batch'])}, prod]",
        f"state: {state}",
        f"history: {history}",
    ]
    return [out[0]] + [indent + x for x in out[1:]]


def generate(root: Path, machines: int) -> None:
    if root.exists():
        shutil.rmtree(root)
    (root / "machines").mkdir(parents=True)
    (root / "customer.yaml").write_text(customer_yaml())
    rnd = random.Random(42)
    c = Counter()
    for s in (1, 2):  # two service hosts (DHCP + DNS)
        (root / "machines" / f"svc{s}.yaml").write_text(
            "\n".join(machine_lines(f"svc{s}", "hw", None, rnd, c, "", "")) + "\n"
        )
    machines -= 2
    n_hv = max(1, machines // (VMS_PER_HV + 1))
    n_vm = machines - n_hv
    for h in range(n_hv):
        name = f"hv{h:04d}"
        (root / "machines" / f"{name}.yaml").write_text(
            "\n".join(machine_lines(name, "hw", None, rnd, c, "", "")) + "\n"
        )
    groups: dict[str, list[str]] = {}
    for v in range(n_vm):
        name = f"vm{v:05d}"
        hv = f"hv{v % n_hv:04d}"
        if v % 2:
            groups.setdefault(hv, []).extend(machine_lines(name, "vm", hv, rnd, c, "  ", "- "))
        else:
            (root / "machines" / f"{name}.yaml").write_text(
                "\n".join(machine_lines(name, "vm", hv, rnd, c, "", "")) + "\n"
            )
    for hv, lines in groups.items():
        (root / "machines" / f"{hv}-vms.yaml").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path, help="parent directory; the customer is written to <dir>/bench")
    ap.add_argument("--machines", type=int, default=10000)
    args = ap.parse_args()
    generate(args.dir / "bench", args.machines)
    print(f"wrote {args.machines} machines to {args.dir / 'bench'}")


if __name__ == "__main__":
    main()
