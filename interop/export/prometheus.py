"""Prometheus ``file_sd`` targets of a customer's machines (``file_sd_configs`` reads the file).

One target group per machine: ``{"targets": ["<address>:<port>", ...], "labels": {...}}``, the
address being the one uniform delivers to (``Machine.ssh_address``: first IPv4, else first IPv6,
which is written in brackets, ``[fd00::5]:9100``), one target per port asked for (default 9100,
the node exporter's).  A machine with no address has nothing to scrape and is left out.

Labels: ``customer``, ``name``, ``fqdn``, ``kind``, ``state``, ``hypervisor`` (VMs), ``role`` and
``tag``.  A machine may have several roles and tags; a label holds one string, so they are
written as Consul's service discovery writes tags -- joined with ',' and with a ',' at each end
(``,dhcp,dns,``) -- so that ``role=~".*,dns,.*"`` matches one role exactly.  A label with no
value (no roles, a machine that is not a VM) is left out: Prometheus treats an empty label as
an absent one.  The label names are fixed here and valid by Prometheus's rule
(``[a-zA-Z_][a-zA-Z0-9_]*``, no ``__`` prefix, which is reserved); the values are any UTF-8 and
JSON quotes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from inventory.model import Inventory, Machine

from .common import ExportError

__all__ = ["DEFAULT_PORTS", "LABEL_NAME", "LABELS", "render", "target", "target_groups"]

#: the node exporter's port
DEFAULT_PORTS: tuple[int, ...] = (9100,)
#: Prometheus's label name rule; names starting with ``__`` are reserved for its own use
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*\Z")
LABELS = ("customer", "name", "fqdn", "kind", "state", "hypervisor", "role", "tag")


def target(address: str, port: int) -> str:
    """``host:port`` as Prometheus reads it: an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _joined(values: Sequence[str]) -> str:
    return f",{','.join(values)}," if values else ""


def target_groups(inv: Inventory, machines: Sequence[Machine], ports: Sequence[int]) -> list[dict[str, Any]]:
    bad = [p for p in ports if not 0 < p < 65536]
    if bad or not ports:
        raise ExportError([f"prometheus: a port is 1-65535, not {p}" for p in bad] or ["prometheus: no port"])
    out: list[dict[str, Any]] = []
    for m in machines:
        if m.ssh_address is None:
            continue
        labels = {
            "customer": inv.customer.name,
            "name": m.name,
            "fqdn": inv.fqdn(m),
            "kind": m.kind.value,
            "state": m.state.value,
            "hypervisor": m.hypervisor or "",
            "role": _joined(m.roles),
            "tag": _joined(m.tags),
        }
        out.append(
            {
                "targets": [target(m.ssh_address, p) for p in dict.fromkeys(ports)],
                "labels": {k: v for k, v in labels.items() if v},
            }
        )
    return out


def render(inv: Inventory, machines: Sequence[Machine], *, ports: Sequence[int] = DEFAULT_PORTS) -> str:
    """The ``file_sd`` JSON of ``machines`` (of ``inv``), scraped on ``ports``."""
    return json.dumps(target_groups(inv, machines, ports), indent=2) + "\n"
