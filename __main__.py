"""uniform: load the selected customer's inventory and build its components."""

from pathlib import Path

import pulumi

from components.stack import ROLE_NAMES, StackSettings, build, check_delivery, checkpoint_warning
from inventory import InventoryError, load

config = pulumi.Config("uniform")
root = Path("stacks") / config.require("inventory")

try:
    # The parse cache (keyed by each file's mtime and size) keeps a large
    # customer's preview from re-parsing thousands of unchanged YAML files;
    # validation and allocation always run in full.
    inventory = load(root, cache_dir=".cache/inventory", known_roles=ROLE_NAMES)
except InventoryError as e:
    # RunError: the engine prints the report, without a Python traceback, and
    # nothing below has registered a single resource.
    raise pulumi.RunError(str(e)) from None

settings = StackSettings(
    private_key=config.get_secret("sshPrivateKey") if inventory.customer.delivery.mode == "ssh" else None,
    ssh_user=config.get("sshUser"),
    ssh_port=config.get_int("sshPort"),
)
if problems := check_delivery(inventory, settings):
    raise pulumi.RunError(f"stack {pulumi.get_stack()}: {len(problems)} problem(s)\n" + "\n".join(problems))

if warning := checkpoint_warning(inventory):
    pulumi.log.warn(warning)

machines = build(inventory, settings)
pulumi.export("customer", inventory.customer.name)
pulumi.export("machines", {name: m.fqdn for name, m in machines.items()})
# the public halves of the host keys uniform made (components/hostkey.py): `uniform verify` pins them
pulumi.export("hostKeys", {name: m.host_key for name, m in machines.items() if m.host_key is not None})
