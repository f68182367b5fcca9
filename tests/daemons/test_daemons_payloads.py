"""The rendered service configs are accepted by the real daemons' own checkers.

Every golden case is rendered and each config file handed to its daemon:
``dnsmasq --test``, ``named-checkzone`` / ``named-checkconf``, ``kea-dhcp4 -t`` /
``kea-dhcp6 -t`` and ``virt-xml-validate``.  A missing tool skips the check,
unless ``UNIFORM_REQUIRE_DAEMONS=1`` (CI) where it fails.  The Debian packages
providing them are listed in tools/debian-packages.txt.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors.local import write_tree
from payloads import MachinePayload, render_customer
from tests.helpers.cases import case_dirs, customer_dir, load_case
from tests.helpers.daemons import kea_test, run, tool

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

_rendered: dict[str, tuple[dict[str, MachinePayload], Path]] = {}


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, MachinePayload], Path]]:
    if not _rendered:
        invs = {case.name: load_case(customer_dir(case)) for case in case_dirs()}
        # the example stacks (other engineers' customer files) ...
        import inventory

        for stack in sorted((ROOT / "stacks").glob("*/customer.yaml")):
            try:
                invs[f"stack-{stack.parent.name}"] = inventory.load(stack.parent)
            except Exception:  # an invalid stack is the inventory tests' business
                continue
        # ... and a few hundred machines in every service flavour (bench/payloads_bench.py)
        from bench import payloads_bench as bench

        for dhcp in ("dnsmasq", "kea"):
            for dns in ("bind", "dnsmasq"):
                invs[f"synthetic-{dhcp}-{dns}"] = bench.build(400, dhcp, dns)
        for name, inv in invs.items():
            payloads = render_customer(inv)
            out = tmp_path_factory.mktemp(name)
            write_tree(payloads, out)
            _rendered[name] = (payloads, out)
    return _rendered


def files(
    trees: dict[str, tuple[dict[str, MachinePayload], Path]], pred: str, synthetic_limit: int | None = None
) -> list[tuple[str, Path, str]]:
    """(machine, host root, path on host) of every rendered file whose path matches ``pred``;
    at most ``synthetic_limit`` per synthetic inventory (hundreds of VMs from one template)."""
    out = []
    for tree, (payloads, root) in trees.items():
        found = [
            (name, root / name, f.path)
            for name, pl in payloads.items()
            for f in pl.files
            if Path(f.path).match(pred)
        ]
        if synthetic_limit is not None and tree.startswith("synthetic-"):
            found = found[:synthetic_limit]
        out.extend(found)
    return out


def test_every_service_file_is_checked(trees: dict[str, tuple[dict[str, MachinePayload], Path]]) -> None:
    """The golden cases exercise every flavour, so none of the checks below is vacuous."""
    for pattern in (
        "/etc/dnsmasq.d/uniform-dhcp.conf",
        "/etc/dnsmasq.d/uniform-dns.conf",
        "/etc/kea/kea-dhcp4.conf",
        "/etc/kea/kea-dhcp6.conf",
        "/etc/bind/uniform/named.conf.uniform",
        "/etc/uniform/libvirt/*.xml",
    ):
        assert files(trees, pattern), pattern


def test_dnsmasq_accepts(trees: dict[str, tuple[dict[str, MachinePayload], Path]]) -> None:
    dnsmasq = tool("dnsmasq")
    for _, root, path in files(trees, "/etc/dnsmasq.d/*.conf"):
        out = run(dnsmasq, "--test", f"--conf-file={root}{path}")
        assert "syntax check OK" in out


def test_dnsmasq_accepts_dhcp_and_dns_together(
    trees: dict[str, tuple[dict[str, MachinePayload], Path]],
) -> None:
    """A host with both dnsmasq flavours loads both files into one daemon."""
    dnsmasq = tool("dnsmasq")
    for _, root, _path in files(trees, "/etc/dnsmasq.d/uniform-dns.conf"):
        run(dnsmasq, "--test", f"--conf-dir={root}/etc/dnsmasq.d,*.conf")


def test_bind_zones_load(trees: dict[str, tuple[dict[str, MachinePayload], Path]]) -> None:
    checkzone = tool("named-checkzone")
    zones = files(trees, "/etc/bind/uniform/db.*")
    assert zones
    for _, root, path in zones:
        zone = Path(path).name.removeprefix("db.")
        out = run(checkzone, "-i", "full", "-k", "fail", "-n", "fail", zone, f"{root}{path}")
        assert "OK" in out


def test_named_conf_fragment(trees: dict[str, tuple[dict[str, MachinePayload], Path]]) -> None:
    checkconf = tool("named-checkconf")
    for _, root, path in files(trees, "/etc/bind/uniform/named.conf.uniform"):
        run(checkconf, f"{root}{path}")
        if os.geteuid() == 0:  # -t chroots: load every zone at its path on the host
            out = run(checkconf, "-z", "-t", str(root), path)
            assert "loaded serial" in out


@pytest.mark.parametrize("family", ["4", "6"])
def test_kea_accepts(trees: dict[str, tuple[dict[str, MachinePayload], Path]], family: str) -> None:
    kea = tool(f"kea-dhcp{family}")
    for _, root, path in files(trees, f"/etc/kea/kea-dhcp{family}.conf"):
        kea_test(kea, f"{root}{path}")


def test_libvirt_domains_validate(trees: dict[str, tuple[dict[str, MachinePayload], Path]]) -> None:
    validate = tool("virt-xml-validate")
    tool("xmllint")
    for _, root, path in files(trees, "/etc/uniform/libvirt/*.xml", synthetic_limit=10):
        out = run(validate, f"{root}{path}", "domain")
        assert "validates" in out


def test_shell_scripts_parse(trees: dict[str, tuple[dict[str, MachinePayload], Path]]) -> None:
    sh = tool("sh")
    for _, root, path in files(trees, "/etc/uniform/libvirt/*.sh", synthetic_limit=10):
        run(sh, "-n", f"{root}{path}")


def test_missing_tool_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNIFORM_REQUIRE_DAEMONS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        tool("uniform-no-such-daemon")
    monkeypatch.setenv("UNIFORM_REQUIRE_DAEMONS", "1")
    with pytest.raises(pytest.fail.Exception, match="UNIFORM_REQUIRE_DAEMONS=1"):
        tool("uniform-no-such-daemon")
