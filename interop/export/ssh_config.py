"""An OpenSSH client configuration of a customer's machines, and the known_hosts file it pins.

One block per machine, for ``ssh web1`` and ``ssh web1.demo.example`` alike::

    Host web1 web1.demo.example
        HostName 10.20.0.251
        User root
        Port 22
        HostKeyAlias web1.demo.example
        UserKnownHostsFile /home/me/.ssh/uniform/demo/known_hosts
        StrictHostKeyChecking yes

``HostName`` is the address uniform delivers to (``Machine.ssh_address``); a machine without one
gets no block.  The host keys are the pinned ones of ``ssh.host_keys`` in customer.yaml, else the
ones uniform made for machines it installs (the stack's ``hostKeys``, passed in as ``made``;
``common.pinned_keys``), written to the known_hosts file under the machine's FQDN -- the
``HostKeyAlias`` -- so the key is found whichever name or address was typed, and no other
known_hosts entry (a reused address) counts.  ``StrictHostKeyChecking yes`` never learns a key:
a machine whose key is not pinned yet is refused by ssh, as uniform's own delivery refuses it
(its block says so in a comment).

The file is meant for ``Include`` from ``~/.ssh/config``; ssh takes the first value it finds
for each option, so an ``Include`` placed before the user's own ``Host *`` defaults wins.
Every value written is checked to be one ssh_config word (no space, quote, '#' or control
character): inventory validation already refuses such names, addresses and users, and a model
built some other way raises ExportError instead of writing a second option into the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from inventory.model import Inventory, Machine

from .common import ExportError, no_key_note, pinned_keys

__all__ = ["known_hosts", "known_hosts_path", "render", "word"]

#: one ssh_config argument needing no quotes: nothing that ends or quotes a word, starts a comment,
#: is a Host pattern character (*?!,) or a %-token / ~ ssh would expand
_WORD = re.compile(r"^[A-Za-z0-9_.:@+/-]+\Z")


def word(field: str, value: str) -> str:
    """``value``, checked to be one ssh_config word (ExportError naming ``field`` otherwise)."""
    if not _WORD.match(value):
        raise ExportError([f"ssh: {field} {value!r} is not one ssh_config word"])
    return value


def known_hosts_path(path: str) -> str:
    """``path`` as a ``UserKnownHostsFile`` argument: double-quoted when it has a space, '%'
    doubled (ssh expands %-tokens in it); a quote, backslash or control character is refused."""
    if any(c in path for c in '"\\') or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise ExportError([f"ssh: the known_hosts path {path!r} has a quote, backslash or control character"])
    escaped = path.replace("%", "%%")
    return f'"{escaped}"' if " " in escaped or "\t" in escaped else escaped


def render(
    inv: Inventory,
    machines: Sequence[Machine],
    *,
    known_hosts_file: str,
    user: str | None = None,
    port: int | None = None,
    made: Mapping[str, str] | None = None,
) -> str:
    """The ssh_config of ``machines``, naming ``known_hosts_file`` (absolute, best) for their keys;
    ``made``: the host keys uniform made (machine -> public key line), pinned where no key is
    recorded by hand."""
    keys = pinned_keys(inv, machines, made)
    khf = known_hosts_path(known_hosts_file)
    user = word("ssh.user", user or inv.customer.ssh.user)
    port = port or inv.customer.ssh.port
    lines = [
        "# OpenSSH client configuration, written by `uniform export ssh`",
        f"# customer {inv.customer.name!r}: Include this file from ~/.ssh/config.",
    ]
    for m in machines:
        if m.ssh_address is None:
            lines += ["", f"# {word('name', m.name)}: no address, no block"]
            continue
        fqdn = word(f"{m.name}: fqdn", inv.fqdn(m))
        lines.append("")
        if m.name not in keys:
            lines.append(no_key_note(inv, m))
        lines += [
            f"Host {word('name', m.name)} {fqdn}",
            f"    HostName {word(f'{m.name}: address', m.ssh_address)}",
            f"    User {user}",
            f"    Port {int(port)}",
            f"    HostKeyAlias {fqdn}",
            f"    UserKnownHostsFile {khf}",
            "    StrictHostKeyChecking yes",
        ]
    return "\n".join(lines) + "\n"


def known_hosts(inv: Inventory, machines: Sequence[Machine], made: Mapping[str, str] | None = None) -> str:
    """``<fqdn> <pinned public key>`` per machine with a pinned key (the ``HostKeyAlias`` above):
    its ``ssh.host_keys`` entry, else its key in ``made`` (the stack's ``hostKeys``)."""
    keys = pinned_keys(inv, machines, made)
    lines = []
    for m in machines:
        key = keys.get(m.name)
        if key is not None and m.ssh_address is not None:
            if "\n" in key or "\r" in key:  # validation allows one OpenSSH public key line only
                raise ExportError([f"ssh: the host key of {m.name} is not one line"])
            lines.append(f"{word(f'{m.name}: fqdn', inv.fqdn(m))} {key}")
    return "".join(f"{line}\n" for line in lines)
