"""The DHCP import cases (tests/unit/interop_cases/dhcp/): finding them, and a parse result as
the plain lines their ``case.yaml`` lists (shared by the unit test and the daemon check)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from interop.records import DnsRecord, Reservation, Site, Subnet

__all__ = ["CASES", "case_dirs", "load_case", "result"]

CASES = Path(__file__).resolve().parents[1] / "unit" / "interop_cases" / "dhcp"


def case_dirs() -> list[Path]:
    return sorted(p.parent for p in CASES.glob("*/case.yaml"))


def load_case(d: Path) -> dict[str, Any]:
    case: dict[str, Any] = YAML(typ="safe").load((d / "case.yaml").read_text())
    return case


def _or(v: object) -> str:
    return "-" if v is None or v == () else ",".join(v) if isinstance(v, tuple) else str(v)


def reservation_line(r: Reservation) -> str:
    return f"{r.source} {_or(r.mac)} {_or(r.ipv4)} {_or(r.ipv6)} {_or(r.name)}"


def subnet_line(s: Subnet) -> str:
    pool = f"{s.pool[0]}-{s.pool[1]}" if s.pool else "-"
    line = f"{s.source} {s.prefix} pool={pool} gw={_or(s.gateway)} dns={_or(s.dns_servers)}"
    return line + f" domain={_or(s.domain)}" + (" inferred" if s.prefix_inferred else "")


def record_line(r: DnsRecord) -> str:
    return f"{r.source} {r.type} {r.name} {r.value}"


def result(site: Site) -> dict[str, list[str]]:
    return {
        "reservations": [reservation_line(r) for r in site.reservations],
        "subnets": [subnet_line(s) for s in site.subnets],
        "records": [record_line(r) for r in site.records],
    }
