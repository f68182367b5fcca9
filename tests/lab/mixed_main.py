"""The lab project's program for tests/lab/test_scale_ssh_lab.py: uniform's own __main__.py with
one difference, the delivery target of each machine.

A customer has one delivery mode (customer.yaml ``delivery.mode``); the lab cannot give 1,000
machines a host each. So in this program a machine whose host key is pinned
(``ssh.host_keys``: the lab hosts, recorded by ssh-keyscan) is delivered over SSH, exactly as
``delivery: {mode: ssh}`` does, and every other machine into a local tree
(``delivery.local_root``), exactly as ``mode: local`` does (host keys made by uniform too:
only while staged). Everything else is the shipped path:
inventory.load, payloads, components.stack.build (Machine components, one ``uniform:Files``
resource per group, the dynamic provider), in the real engine.
"""

from pathlib import Path

import pulumi

import components.stack as stack
from connectors import target as targets
from inventory import InventoryError, load
from inventory.model import Inventory, Machine, State

config = pulumi.Config("uniform")
try:
    inventory = load(Path("stacks") / config.require("inventory"), known_roles=stack.ROLE_NAMES)
except InventoryError as e:
    raise pulumi.RunError(str(e)) from None

settings = stack.StackSettings(private_key=config.get_secret("sshPrivateKey"))
pinned = dict(inventory.customer.ssh.host_keys)


def mixed_target(inv: Inventory, m: Machine, s: stack.StackSettings) -> targets.Target:
    if m.name in pinned:
        return targets.ssh_target(inv, m, user=s.ssh_user, port=s.ssh_port)
    return targets.local_target(inv, m)


ssh_keyed = stack.keyed


def mixed_keyed(inv: Inventory, m: Machine) -> bool:
    """Host keys made by uniform (components/stack.keyed) as each machine's delivery has them:
    the locally delivered ones only while staged, exactly as ``mode: local`` keeps them."""
    return ssh_keyed(inv, m) and (m.name in pinned or m.state is State.STAGED)


# check_delivery is not run: it asks every machine of an ssh customer for a pinned key, and
# only the lab hosts have one; an ssh target without a key is refused by the provider anyway.
stack.target_for = mixed_target  # build() looks these up when it runs
stack.keyed = mixed_keyed
machines = stack.build(inventory, settings)
pulumi.export("machines", len(machines))
