"""The uniform lab: real hosts in network namespaces on one Linux machine (docs/lab.md).

    python -m harness.lab up        build the lab and a throwaway project + backend for the lab stack
    python -m harness.lab pulumi up --yes      run pulumi (in the controller namespace) on that project
    python -m harness.lab check     DHCP lease of every host, dig forward + reverse of every name
    python -m harness.lab status    what is running
    python -m harness.lab down      tear everything down (idempotent)
    python -m harness.lab demo      up -> pulumi up -> check -> a real VM staged and active -> down
                                    (also: lab/run; --no-vm: without the VM)

What the harness does and nothing more: namespaces, links, addresses, one
sshd per host (own host key, throwaway deploy key), and the pinned host keys +
deploy key in the lab project's COPY of stacks/lab.  Everything on the hosts
(DHCP/DNS config, hostname, network files, VM definitions) is delivered by
`pulumi up` over SSH.

Layout (all names derive from one prefix, default "ulab-"):
  <prefix>sw     the switch: bridge br0, one port per host (v-<host>)
  <prefix>ctl    the controller, 10.77.0.2: runs pulumi, ssh, dig
  <prefix><host> one per machine: eth0 with the inventory MAC and address,
                 private mount + UTS namespaces held by hostinit.sh, sshd
Every subprocess has a timeout; root's network namespace gets nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.labbase import LAB
from harness.labcheck import check
from harness.labhosts import Lab
from harness.netns import LabError, LabUnavailable

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness.lab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--run-dir", default=str(LAB / ".run"))
    ap.add_argument("--keep", action="store_true", help="demo: leave the lab up at the end")
    ap.add_argument("--no-vm", action="store_true", help="demo: skip the real VM (no base image build)")
    ap.add_argument("command", choices=["up", "down", "status", "check", "demo", "pulumi"])
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    lab = Lab(Path(a.run_dir))
    try:
        if a.command == "up":
            lab.up()
            lab.init_stack()
            print(lab.status())
            print("\nnext: python -m harness.lab pulumi up --yes ; ... check ; ... down")
        elif a.command == "down":
            lab.down()
            print("lab down")
        elif a.command == "status":
            print(lab.status())
        elif a.command == "check":
            return 0 if check(lab) else 1
        elif a.command == "pulumi":
            if a.args[:1] in (["up"], ["preview"]):
                lab.guard()
            proc = lab.engine().run(*a.args, check=False, timeout=600)
            print(proc.stdout, end="")
            print(proc.stderr, end="", file=sys.stderr)
            return proc.returncode
        elif a.command == "demo":
            try:
                t0 = time.monotonic()
                print("== lab up: namespaces, bridge, sshd per host (nothing else) ==")
                lab.up()
                print(lab.status())
                eng = lab.init_stack()
                lab.guard()
                print("\n== pulumi up: DHCP/DNS config, every host's files, VM definitions, over SSH ==")
                proc = eng.run("up", "--yes", "--skip-preview", check=False, timeout=600)
                print(proc.stdout.rstrip())
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    return 1
                ok = check(lab)
                if not a.no_vm:  # the real VM, next to the namespace hosts (harness/vm.py)
                    from harness import vm

                    ok &= vm.demo(lab, eng)
                print(f"\n{'all good' if ok else 'SOMETHING IS WRONG'} ({time.monotonic() - t0:.0f}s)")
                return 0 if ok else 1
            finally:
                if a.keep:
                    print("\nlab left up; next: python -m harness.lab check / pulumi preview --diff / down")
                else:
                    print("\n== lab down ==")
                    lab.down()
    except (LabError, LabUnavailable) as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0
