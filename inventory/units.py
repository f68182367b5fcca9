"""Memory sizes for people: the one formatter of MiB amounts (CLI tables, report, review)."""

from __future__ import annotations

__all__ = ["format_mib"]

_KIB_PER = 1024


def format_mib(value: float) -> str:
    """``4096`` -> ``'4 GiB'``, ``1536`` -> ``'1.5 GiB'``, ``512`` -> ``'512 MiB'``, ``2**20`` -> ``'1 TiB'``.

    Up to four significant digits (three for TiB), so capacities multiplied by an
    overcommit ratio read as ``'153.6 GiB'``."""
    if value >= _KIB_PER * _KIB_PER:
        return f"{value / (_KIB_PER * _KIB_PER):.3g} TiB"
    if value >= _KIB_PER:
        return f"{value / _KIB_PER:.4g} GiB"
    return f"{value:.4g} MiB"
