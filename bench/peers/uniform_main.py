"""uniform's program for the bench customer of bench/compare.py (the lab project's __main__.py).

The same path as uniform's own __main__.py -- inventory.load, payloads.render_customer,
check_delivery/target_for, the Machine component and its Files delivery resource in the
real engine, ssh mode with pinned host keys -- with one difference: each host's base
group is exactly the four files the peers (Ansible, cdist) deliver too, so all three do
the same work:

  /etc/hostname, /etc/hosts, /etc/systemd/network/10-eth0.network   (uniform's render)
  /etc/uniform-bench.conf   (a ~2 KB service config, bench-content/<host>/ in the project,
                             written by bench/compare.py; the one-host change edits it)

uniform's other base files (the .link, authorized_keys, its manifest) are left out: the
peers would need one task or type object each to match them.
"""

from pathlib import Path

import pulumi

import payloads
from components.machine import FileGroup, Machine, MachineArgs
from components.stack import StackSettings, check_delivery, target_for
from inventory import InventoryError, load

RENDERED = ("/etc/hostname", "/etc/hosts", "/etc/systemd/network/10-eth0.network")
SERVICE = "/etc/uniform-bench.conf"
CONTENT = Path("bench-content")

config = pulumi.Config("uniform")
try:
    inventory = load(Path("stacks") / config.require("inventory"))
except InventoryError as e:
    raise pulumi.RunError(str(e)) from None
settings = StackSettings(private_key=config.get_secret("sshPrivateKey"))
if problems := check_delivery(inventory, settings):
    raise pulumi.RunError("\n".join(problems))

for name, payload in payloads.render_customer(inventory).items():
    m = inventory.machines[name]
    files = [payload.file(p) for p in RENDERED]
    files.append(payloads.PayloadFile(SERVICE, (CONTENT / name / SERVICE.lstrip("/")).read_text()))
    group = FileGroup(
        files={f.path: {"content": f.content, "mode": f"{f.mode:04o}", "sha256": f.sha256} for f in files},
        reload=sorted({payloads.RELOAD_COMMANDS[f.reload] for f in files if f.reload}),
    )
    Machine(
        name,
        MachineArgs(
            machine=m,
            fqdn=inventory.fqdn(m),
            groups={"base": group},
            target=target_for(inventory, m, settings),
            private_key=settings.private_key,
        ),
    )
