"""The hand-written DHCP import fixtures are real configurations: the daemons accept them.

Every case in tests/unit/interop_cases/dhcp/ whose ``case.yaml`` says ``daemon: accepts``
is given to its daemon's own checker, run in the case directory (relative includes resolve
against the working directory, for the daemons as for the parsers): ``dnsmasq --test``,
``dhcpd -t`` (``-6`` for a DHCPv6 file) and ``kea-dhcp4 -t`` / ``kea-dhcp6 -t``.
Deliberately broken cases say ``daemon: null`` and are not run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemons import tool
from tests.helpers.interop_cases import case_dirs, load_case


def _checker(case: dict[str, Any]) -> list[str]:
    entry = case["entry"]
    if case["format"] == "dnsmasq":
        return [tool("dnsmasq"), "--test", f"--conf-file={entry}"]
    if case["format"] == "iscdhcp":
        family = ["-6"] if case.get("family") == 6 else []
        return [tool("dhcpd"), *family, "-t", "-cf", entry]
    return [tool(f"kea-dhcp{case.get('family', 4)}"), "-t", entry]


CHECKED = [d for d in case_dirs() if load_case(d).get("daemon") == "accepts"]


def _accepts(argv: list[str], cwd: Path) -> None:
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert p.returncode == 0, f"{' '.join(argv)} in {cwd} exited {p.returncode}:\n{p.stdout}{p.stderr}"


@pytest.mark.parametrize("d", CHECKED, ids=lambda d: d.name)
def test_daemon_accepts_fixture(d: Path) -> None:
    _accepts(_checker(load_case(d)), d)


@pytest.mark.parametrize("d", [d for d in CHECKED if load_case(d).get("hostsfiles")], ids=lambda d: d.name)
def test_dnsmasq_accepts_hostsfile_lines(d: Path, tmp_path: Path) -> None:
    """``dnsmasq --test`` does not read ``dhcp-hostsfile`` files (they are read when it
    starts serving), so each line is checked as the ``dhcp-host=`` it stands for (man
    dnsmasq: "the same as text to the right of '=' in --dhcp-host")."""
    for rel in load_case(d)["hostsfiles"]:
        path = d / rel
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        lines = [line for f in files for line in f.read_text().splitlines()]
        conf = tmp_path / "hosts.conf"
        # a "#" starting the line is a comment in the hostsfile, but not after "dhcp-host="
        kept = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
        assert kept
        conf.write_text("".join(f"dhcp-host={line}\n" for line in kept))
        _accepts([tool("dnsmasq"), "--test", f"--conf-file={conf}"], d)


def test_every_good_case_is_checked() -> None:
    """A case that parses cleanly must be one the daemon accepts (no unchecked good case)."""
    for d in case_dirs():
        case = load_case(d)
        assert ("problems" in case) == (case.get("daemon") is None), d.name
