"""Benchmark: render every payload of a 10,000-machine inventory.

    .venv/bin/python -m bench.payloads_bench [--machines 10000] [--repeat 5] [--profile]
    .venv/bin/python -m bench.payloads_bench --customer-dir DIR   # an existing customer dir

Without --customer-dir the inventory comes from ``bench/gen_inventory.py`` when it
exists (generated into a temporary directory and loaded with ``inventory.load``),
otherwise it is built directly from the model here.  Only ``render_customer`` is
timed (loading is the inventory's benchmark); the median of --repeat runs is reported.
Target: < 2 s for 10,000 machines.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import ipaddress
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inventory.model import (
    Attachment,
    Customer,
    Disk,
    Inventory,
    Kind,
    Machine,
    Network,
    Nic,
    Services,
    Ssh,
    State,
)
from payloads import MachinePayload, render_customer

ROOT = Path(__file__).resolve().parents[1]

STATES = [State.ACTIVE] * 14 + [
    State.STAGED,
    State.OFFLINE,
    State.FAILED,
    State.PLANNED,
    State.DECOMMISSIONING,
]
HISTORY = {
    State.PLANNED: (),
    State.STAGED: (State.PLANNED,),
    State.ACTIVE: (State.PLANNED, State.STAGED),
    State.OFFLINE: (State.PLANNED, State.STAGED, State.ACTIVE),
    State.FAILED: (State.PLANNED, State.STAGED),
    State.DECOMMISSIONING: (State.PLANNED, State.STAGED, State.ACTIVE),
}


def build(machines: int, dhcp: str = "dnsmasq", dns: str = "bind") -> Inventory:
    """A synthetic inventory: 2 service hosts, 1 hypervisor per 40 VMs, ~90 % VMs, two dual-stack /16s."""
    nets = {
        "lan": Network(
            "lan",
            "lan.bench.example",
            "10.0.0.0/16",
            "fd00:0::/64",
            "10.0.0.1",
            "fd00::1",
            (("10.0.0.1", "10.0.0.9"),),
            ("10.0.255.0", "10.0.255.250"),
            "br-lan",
            ("10.0.0.2",),
        ),
        "san": Network("san", "san.bench.example", "10.1.0.0/16", "fd00:1::/64", bridge="br-san", mtu=9000),
    }
    lan = ipaddress.ip_network("10.0.0.0/16")
    san = ipaddress.ip_network("10.1.0.0/16")
    out: dict[str, Machine] = {}
    n_hv = max(1, machines // 40)
    for i in range(machines):
        roles: tuple[str, ...]
        if i < 2:
            name, kind, roles, hv, state = f"ns{i + 1}", Kind.HW, ("dhcp", "dns"), None, State.ACTIVE
        elif i < 2 + n_hv:
            name, kind, roles, hv, state = f"hv{i - 1:04d}", Kind.HW, ("hypervisor",), None, State.ACTIVE
        else:
            j = i - 2 - n_hv
            hw = j % 10 == 9
            name = f"{'hw' if hw else 'vm'}{j:05d}"
            kind = Kind.HW if hw else Kind.VM
            roles, hv = (), None if hw else f"hv{j % n_hv + 1:04d}"
            state = STATES[j % len(STATES)]
        k = i + 10
        nics = (
            Nic(
                "eth0",
                f"52:54:00:00:{k >> 8 & 255:02x}:{k & 255:02x}",
                False,
                (Attachment("lan", str(lan[k]), f"fd00::{k:x}"),),
            ),
            Nic(
                "eth1",
                f"52:54:00:01:{k >> 8 & 255:02x}:{k & 255:02x}",
                False,
                (Attachment("san", str(san[k]), f"fd00:1::{k:x}"),),
            ),
        )
        out[name] = Machine(
            name,
            kind,
            2,
            4096,
            state,
            f"machines/{name}.yaml",
            (Disk("root", 20), Disk("data", 100)),
            nics,
            roles=roles,
            history=HISTORY[state],
            hypervisor=hv,
        )
    customer = Customer(
        "bench",
        "bench.example",
        services=Services(dhcp, dns),
        ssh=Ssh(authorized_keys=("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench admin@bench",)),
    )
    return Inventory(customer, nets, dict(sorted(out.items())))


def load_generated(machines: int) -> Inventory | None:
    gen = ROOT / "bench" / "gen_inventory.py"
    if not gen.exists():
        return None
    import inventory

    tmp = Path(tempfile.mkdtemp(prefix="payloads-bench-"))
    subprocess.run(
        [sys.executable, str(gen), str(tmp), "--machines", str(machines)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    dirs = [p.parent for p in tmp.rglob("customer.yaml")]
    try:
        inv: Inventory = inventory.load(dirs[0])
    except Exception as e:  # the generator and the loader evolve separately
        first = str(e).splitlines()[0]
        print(
            f"bench/gen_inventory.py output does not load ({first}); using the synthetic one", file=sys.stderr
        )
        return None
    return with_service_hosts(inv)


def with_service_hosts(inv: Inventory) -> Inventory:
    """gen_inventory.py gives no machine the dhcp/dns roles; give them to the first two delivered
    hardware machines so the DHCP and DNS files (the largest ones) are part of the measurement."""
    if inv.with_role("dhcp") or inv.with_role("dns"):
        return inv
    hw = [m for m in inv.machines.values() if m.kind is Kind.HW and m.state is State.ACTIVE][:2]
    machines = dict(inv.machines)
    for m in hw:
        machines[m.name] = dataclasses.replace(m, roles=tuple(sorted({*m.roles, "dhcp", "dns"})))
    return dataclasses.replace(inv, machines=machines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--machines", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--customer-dir", type=Path)
    p.add_argument(
        "--synthetic", action="store_true", help="build the inventory here even if gen_inventory.py exists"
    )
    p.add_argument("--dhcp", default="dnsmasq")
    p.add_argument("--dns", default="bind")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()

    if args.customer_dir:
        import inventory

        inv, source = with_service_hosts(inventory.load(args.customer_dir)), str(args.customer_dir)
    else:
        gen = None if args.synthetic else load_generated(args.machines)
        inv, source = (
            (gen, "bench/gen_inventory.py")
            if gen
            else (build(args.machines, args.dhcp, args.dns), "synthetic (payloads_bench.build)")
        )

    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        render_customer(inv)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)

    times = []
    cpu = []
    files = 0
    out: dict[str, MachinePayload] = {}
    for _ in range(args.repeat):
        out = {}
        t0, c0 = time.perf_counter(), time.process_time()
        out = render_customer(inv)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        files = sum(len(pl.files) for pl in out.values())
    med = statistics.median(times)
    print(
        f"inventory: {source}: {len(inv.machines)} machines, services dhcp={inv.customer.services.dhcp} "
        f"dns={inv.customer.services.dns}"
    )
    print(
        f"rendered: {len(out)} delivered machines, {files} files, "
        f"{sum(len(f.content) for pl in out.values() for f in pl.files) / 1e6:.1f} MB"
    )
    print(
        f"render_customer: median {med:.3f} s of {args.repeat} "
        f"(min {min(times):.3f}, max {max(times):.3f}); target < 2 s: {'OK' if med < 2 else 'MISSED'}"
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"cpu time: median {statistics.median(cpu):.3f} s (wall time suffers on a busy host; load {load})")
    print(
        f"python {platform.python_version()}, nproc {os.cpu_count()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    return 0 if med < 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
