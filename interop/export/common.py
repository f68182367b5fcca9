"""What every export shares: which machines it covers, their addresses, and its one error.

The selection follows ``uniform list``'s filters (cli/reads.py): filters combine; a repeated
``state``/``hypervisor``/``kind``/``network``/``machine`` matches any of its values, repeated
``tag``/``role`` must all be present.  Each format has its own default states (``DEFAULT_STATES``):
what a tool should see when the user names none.

The host keys the ssh and ansible exports pin (``pinned_keys``) follow delivery's and verify's
rule (connectors/target.py): the key recorded by hand in ``ssh.host_keys`` wins, else the one
uniform made for the machine (the stack's ``hostKeys`` output, handed in by the command line:
nothing here runs the engine).  ``wants_made_keys`` says which machines could have a made key,
so the command line asks the engine only when one of them is exported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from inventory import lifecycle
from inventory.model import Inventory, Machine, State
from inventory.validate import pubkey_problem

__all__ = [
    "ALL_STATES",
    "DEFAULT_STATES",
    "ExportError",
    "Selection",
    "addresses",
    "macs",
    "networks",
    "no_key_note",
    "pinned_keys",
    "select",
    "wants_made_keys",
]

ALL_STATES: frozenset[State] = frozenset(State)

#: the states each format covers when no ``--state`` is given (docs/export.md):
#: * ansible and ssh: the machines uniform delivers to (staged, active, offline, failed) -- they
#:   exist and run uniform's files, so a person or a playbook may need to reach them, a failed one
#:   above all; planned machines are not built yet, decommissioning and retired ones are leaving;
#: * prometheus: active only -- a staged machine is being installed, an offline one is off on
#:   purpose and a failed one is known to be broken: scraping them would only page about what the
#:   inventory already says;
#: * csv: every state -- a spreadsheet is a record of everything, the state is a column.
DEFAULT_STATES: dict[str, frozenset[State]] = {
    "ansible": lifecycle.DELIVERED,
    "ssh": lifecycle.DELIVERED,
    "prometheus": frozenset({State.ACTIVE}),
    "csv": ALL_STATES,
}


class ExportError(Exception):
    """The inventory cannot be rendered in a format as it is (every reason at once, one per line)."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Selection:
    """Which machines an export covers; an empty filter does not filter."""

    states: frozenset[State] | None = None  # None: the format's DEFAULT_STATES
    names: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    hypervisors: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()


def select(inv: Inventory, fmt: str, sel: Selection | None = None) -> list[Machine]:
    """The machines of ``inv`` that ``sel`` picks for format ``fmt``, sorted by name."""
    sel = sel or Selection()
    states = DEFAULT_STATES[fmt] if sel.states is None else sel.states
    return [
        m
        for _, m in sorted(inv.machines.items())
        if m.state in states
        and (not sel.names or m.name in sel.names)
        and set(sel.tags) <= set(m.tags)
        and set(sel.roles) <= set(m.roles)
        and (not sel.hypervisors or m.hypervisor in sel.hypervisors)
        and (not sel.kinds or m.kind.value in sel.kinds)
        and (not sel.networks or any(a.network in sel.networks for n in m.nics for a in n.attachments))
    ]


def addresses(m: Machine, family: str) -> list[str]:
    """Every ``"ipv4"`` or ``"ipv6"`` address of ``m``, in NIC and attachment order."""
    out: list[str] = []
    for nic in m.nics:
        for att in nic.attachments:
            addr: str | None = getattr(att, family)
            if addr:
                out.append(addr)
    return out


def macs(m: Machine) -> list[str]:
    return [nic.mac for nic in m.nics]


def networks(m: Machine) -> list[str]:
    """The networks ``m`` is attached to, each once, in NIC order."""
    return list(dict.fromkeys(a.network for n in m.nics for a in n.attachments))


def wants_made_keys(inv: Inventory, machines: Sequence[Machine]) -> list[Machine]:
    """The machines of ``machines`` that get a known_hosts line only from a key uniform made: an
    address (no address, no line), no key in ``ssh.host_keys``, and a state in which uniform keeps
    a made key (docs/provisioning.md "Host keys"): any delivered state with ssh delivery, only
    staged with local delivery (its key goes when the machine leaves staged)."""
    hand = dict(inv.customer.ssh.host_keys)
    ssh = inv.customer.delivery.mode == "ssh"
    return [
        m
        for m in machines
        if m.ssh_address is not None
        and m.name not in hand
        and (lifecycle.delivered(m.state) if ssh else m.state == State.STAGED)
    ]


def pinned_keys(
    inv: Inventory, machines: Sequence[Machine], made: Mapping[str, str] | None = None
) -> dict[str, str]:
    """machine -> the public key line pinned for it, for each of ``machines`` that has one: its
    ``ssh.host_keys`` entry, else its key in ``made`` (the stack's ``hostKeys``).  A made key of a
    machine with a hand-recorded one is ignored, as delivery ignores it.  Raises ExportError
    naming each machine whose made key is not one OpenSSH public key line (hand-recorded keys
    were checked by validation; a made key comes from a file or the engine)."""
    hand = dict(inv.customer.ssh.host_keys)
    made = made or {}
    out: dict[str, str] = {}
    problems: list[str] = []
    for m in machines:
        if m.name in hand:
            out[m.name] = hand[m.name]
        elif m.name in made:
            key = made[m.name]
            if pubkey_problem(key):
                problems.append(f"{m.name}: its key in hostKeys (made by uniform) is not an OpenSSH key")
            else:
                out[m.name] = key
    if problems:
        raise ExportError(problems)
    return out


def no_key_note(inv: Inventory, m: Machine) -> str:
    """The comment an export writes for ``m`` (with an address) when no host key is pinned for it."""
    note = f"# no pinned host key: ssh refuses {m.name} until ssh.host_keys.{m.name} is set"
    if wants_made_keys(inv, [m]):  # uniform could have made it one: say where that one was looked for
        note += " (uniform made it none in the stack's hostKeys, or they were not read)"
    return note
