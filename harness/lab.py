#!/usr/bin/env python3
"""The uniform lab: real hosts in network namespaces on one Linux machine (docs/lab.md).

``python -m harness.lab --help`` (harness/labcli.py) says what it does.  This module is the
lab's one import for tests, benches and the other harness modules (``from harness import
lab as L``); the lab itself lives by responsibility in:

  harness/netns.py     commands with a timeout, tools, killing by PID, namespaces, udhcpc
  harness/labbase.py   names, paths, the state file, the lab project and its engine
  harness/labcheck.py  observing the network: DHCP, dig, hosts' files; check()
  harness/labhosts.py  the Lab: preflight, up/down, one host per machine, sshd, keys
  harness/labcli.py    the command line (up, down, status, check, pulumi, demo)
"""

from __future__ import annotations

import sys

from harness.labbase import CTL_IP, LAB, PASSPHRASE, PRIVATE_PREFIXES, ROOT, STACK, Host, engine_env
from harness.labcheck import UDHCPC_SCRIPT, check
from harness.labcli import main
from harness.labhosts import HOSTINIT, SBIN_TOOLS, SHIMS, TOOLS, Lab
from harness.netns import LabError, LabUnavailable, run, which

__all__ = [
    "CTL_IP",
    "HOSTINIT",
    "LAB",
    "PASSPHRASE",
    "PRIVATE_PREFIXES",
    "ROOT",
    "SBIN_TOOLS",
    "SHIMS",
    "STACK",
    "TOOLS",
    "UDHCPC_SCRIPT",
    "Host",
    "Lab",
    "LabError",
    "LabUnavailable",
    "check",
    "engine_env",
    "main",
    "run",
    "which",
]

if __name__ == "__main__":
    sys.exit(main())
