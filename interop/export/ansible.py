"""An Ansible inventory (the YAML inventory plugin's format) of a customer's machines.

``all.hosts`` carries each machine once with its variables; ``all.children`` holds the groups,
each listing its hosts without variables:

* ``role_<role>`` (``role_dhcp``), ``tag_<tag>`` (``tag_web``), ``kind_vm`` / ``kind_hw``,
  ``hypervisor_<hv>`` (the VMs placed on ``hv``, not ``hv`` itself), ``state_<state>``
  (``state_active``) and ``customer_<customer>`` (several customers' files given together);
* ``ansible_host`` is the address uniform itself delivers to (``Machine.ssh_address``: the first
  IPv4, else the first IPv6), ``ansible_user`` / ``ansible_port`` the customer's ``ssh`` settings
  (or the overrides given); they are set per host, not in ``all.vars``, because Ansible merges
  ``all`` of several inventory sources and the last customer's ``vars`` would win for every host;
* with a known_hosts file (the ssh export's), ``ansible_ssh_common_args`` per host makes
  Ansible's ssh check the machine's pinned key there (``pinned_args``);
* the rest of what uniform knows is in ``uniform_*`` variables (``uniform_fqdn``, ``uniform_macs``,
  ``uniform_ipv4`` ...): prefixed so that no role's or play's variable of the same name is shadowed.

Everything is sorted, so the same inventory always gives the same file.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from inventory.model import Inventory, Machine

from . import ssh_config
from .common import ExportError, addresses, macs, networks, no_key_note, pinned_keys
from .yamltext import scalar

__all__ = ["group_name", "groups", "pinned_args", "render"]

#: Ansible group names must be valid Python identifiers (letters, digits, '_', not starting with
#: a digit): Ansible warns about any other name ("Invalid characters were found in group names")
#: and, worse, reads it wrongly where names are used -- ``web:prod`` or ``a&b`` in ``hosts:`` or
#: ``--limit`` is a pattern of two groups, and ``groups.tag-web`` in a template is a subtraction.
#: Tags may hold '.:/=+-', customer names anything a directory name can: each such character
#: becomes '_'.  The prefixes keep every name starting with a letter, off Python's keywords and
#: off Ansible's own ``all`` / ``ungrouped``.
_INVALID = re.compile(r"[^A-Za-z0-9_]")


def group_name(prefix: str, value: str) -> str:
    """``prefix_value`` with every character Ansible refuses in a group name replaced by ``_``."""
    return f"{prefix}_{_INVALID.sub('_', value)}"


def groups(inv: Inventory, machines: Sequence[Machine]) -> dict[str, list[str]]:
    """Group name -> its hosts (sorted); raises ExportError when two different tags (or roles)
    become one group name, naming the machines: a merged group would act on hosts nobody chose."""
    members: dict[str, set[str]] = {}
    origin: dict[str, dict[str, set[str]]] = {}  # group -> original value -> machines

    def add(prefix: str, value: str, host: str) -> None:
        name = group_name(prefix, value)
        members.setdefault(name, set()).add(host)
        origin.setdefault(name, {}).setdefault(value, set()).add(host)

    for m in machines:
        add("customer", inv.customer.name, m.name)
        add("kind", m.kind.value, m.name)
        add("state", m.state.value, m.name)
        for role in m.roles:
            add("role", role, m.name)
        for tag in m.tags:
            add("tag", tag, m.name)
        if m.hypervisor is not None:
            add("hypervisor", m.hypervisor, m.name)
    problems = [
        f"ansible: {_values(vals)} all become the group {name}: Ansible group names take only "
        "letters, digits and '_'; rename one of them"
        for name, vals in sorted(origin.items())
        if len(vals) > 1
    ]
    if problems:
        raise ExportError(problems)
    return {name: sorted(hosts) for name, hosts in sorted(members.items())}


def _values(vals: dict[str, set[str]]) -> str:
    return " and ".join(f"{v!r} ({', '.join(sorted(hosts))})" for v, hosts in sorted(vals.items()))


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(scalar(v) for v in values) + "]"


def pinned_args(inv: Inventory, m: Machine, known_hosts_file: str) -> str:
    """``ansible_ssh_common_args`` that make Ansible's ssh check ``m``'s pinned key, as the ssh
    export's config block does: Ansible connects to the address, which no ``Host`` block of a
    name matches, so the options travel with the host.  Ansible splits the value like a shell
    (shlex), ssh reads each ``-o`` like a config line: the path is quoted for both."""
    fqdn = ssh_config.word(f"{m.name}: fqdn", inv.fqdn(m))
    path = shlex.quote(f"UserKnownHostsFile={ssh_config.known_hosts_path(known_hosts_file)}")
    return f"-o HostKeyAlias={fqdn} -o {path} -o StrictHostKeyChecking=yes"


def _hostvars(
    inv: Inventory, m: Machine, user: str | None, port: int | None, known_hosts_file: str | None
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if m.ssh_address is not None:
        out.append(("ansible_host", scalar(m.ssh_address)))
        if known_hosts_file is not None:
            out.append(("ansible_ssh_common_args", scalar(pinned_args(inv, m, known_hosts_file))))
    out += [
        ("ansible_user", scalar(user or inv.customer.ssh.user)),
        ("ansible_port", str(port or inv.customer.ssh.port)),
        ("uniform_customer", scalar(inv.customer.name)),
        ("uniform_fqdn", scalar(inv.fqdn(m))),
        ("uniform_kind", scalar(m.kind.value)),
        ("uniform_state", scalar(m.state.value)),
    ]
    if m.hypervisor is not None:
        out.append(("uniform_hypervisor", scalar(m.hypervisor)))
    out += [
        ("uniform_cores", str(m.cores)),
        ("uniform_memory_mib", str(m.memory_mib)),
        ("uniform_macs", _list(macs(m))),
        ("uniform_ipv4", _list(addresses(m, "ipv4"))),
        ("uniform_ipv6", _list(addresses(m, "ipv6"))),
        ("uniform_networks", _list(networks(m))),
        ("uniform_roles", _list(m.roles)),
        ("uniform_tags", _list(m.tags)),
    ]
    if m.location is not None:
        out.append(("uniform_location", scalar(m.location)))
    return out


def render(
    inv: Inventory,
    machines: Sequence[Machine],
    *,
    user: str | None = None,
    port: int | None = None,
    known_hosts_file: str | None = None,
    made: Mapping[str, str] | None = None,
) -> str:
    """The YAML inventory of ``machines`` (of ``inv``); ``user``/``port`` override ``ssh``'s; with
    ``known_hosts_file`` (``ssh_config.known_hosts``' output) each host's ssh checks its pinned key,
    and a comment names each host with an address but no key pinned (hand-recorded, else in
    ``made``, the host keys uniform made): its ssh refuses it."""
    lines = [
        f"# Ansible inventory of customer {scalar(inv.customer.name)}, written by `uniform export ansible`:",
        f"# {len(machines)} machines; groups role_*, tag_*, kind_*, hypervisor_* (its VMs), state_*.",
    ]
    if known_hosts_file is not None:
        keys = pinned_keys(inv, machines, made)
        lines += [no_key_note(inv, m) for m in machines if m.ssh_address is not None and m.name not in keys]
    lines += [f"# no address (no ansible_host): {m.name}" for m in machines if m.ssh_address is None]
    lines.append("all:" if machines else "all: {}")
    if machines:
        lines.append("  hosts:")
    for m in machines:
        lines.append(f"    {scalar(m.name)}:")
        lines += [f"      {k}: {v}" for k, v in _hostvars(inv, m, user, port, known_hosts_file)]
    grouped = groups(inv, machines)
    if grouped:
        lines.append("  children:")
    for name, hosts in grouped.items():
        lines += [f"    {name}:", "      hosts:"]
        lines += [f"        {scalar(h)}: {{}}" for h in hosts]
    return "\n".join(lines) + "\n"
