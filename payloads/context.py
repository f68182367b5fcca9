"""The render context: data shared between machines, computed once per inventory.

DHCP reservations, DNS zones and the like are the same for every server of a
customer, so each group's renderer builds them through :meth:`Context.cached`.
``render_customer`` uses one context for all machines; :func:`context` keeps the
last one so repeated ``render_machine`` calls on one inventory share it too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inventory.model import Inventory

__all__ = ["Context", "context"]


@dataclass
class Context:
    inv: Inventory
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def cached(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """``build()``, once per context and key (keys: (group-specific name, *arguments))."""
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = build()
            return value


_last: tuple[weakref.ref[Inventory], Context] | None = None


def context(inv: Inventory) -> Context:
    """The context of ``inv``: the last one made if it was for the same object, else a new one."""
    global _last
    if _last is not None and _last[0]() is inv:
        return _last[1]
    ctx = Context(inv)
    _last = (weakref.ref(inv), ctx)
    return ctx
