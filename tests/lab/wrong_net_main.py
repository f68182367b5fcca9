"""The lab project's program for tests/lab/test_kea_bind_lab.py: uniform's own __main__.py,
except that its networkd files carry a WRONG address and gateway.

A payload bug of the kind the lab must catch: app1's IPv6 ``Address=`` and the IPv4
``Gateway=`` of every host differ from the inventory (stacks/lab6).  Everything else is
the shipped path (inventory, payloads, components, the dynamic provider over SSH).
"""

import runpy
from pathlib import Path

import components
import payloads.roles.base as base

WRONG = {"fd00:77::ec4:7aff:fe78:12/64": "fd00:77::bad/64", "10.77.0.1": "10.77.0.254"}
_render = base.render


def wrong(template: str, **kw: object) -> str:
    if template == "base/network.j2":
        kw["addresses"] = [WRONG.get(a, a) for a in kw["addresses"]]  # type: ignore[attr-defined]
        kw["gateways"] = [WRONG.get(g, g) for g in kw["gateways"]]  # type: ignore[attr-defined]
    return _render(template, **kw)


base.render = wrong  # _networkd_files looks it up when it runs
runpy.run_path(str(Path(components.__file__).resolve().parents[1] / "__main__.py"), run_name="__main__")
