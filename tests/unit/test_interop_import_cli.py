"""``uniform import`` end to end on real parser output (interop_cases/merge/site/): a new
customer from scratch, extending a copy of the demo (comments and key order kept), conflicts
that write nothing (every byte compared), --force printing its choices, a result the loader
refuses rolled back, parse errors as file:line, host keys from known_hosts."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cli.exitcodes import Exit
from cli.main import main
from interop.merge import Options, merge
from interop.plan import Plan
from interop.records import Reservation, Site, Source, Subnet
from interop.write import apply
from inventory import InventoryError, load, unpinned
from inventory.model import State
from payloads import ROLE_NAMES

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(__file__).parent / "interop_cases" / "merge" / "site"


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every directory (None) under ``root``."""
    if not root.exists():
        return {}
    out: dict[str, bytes | None] = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = None
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(ROOT / "stacks" / "demo", root)
    return root


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = int(e.code or 0)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_extend_demo_keeps_comments_and_order(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {p.name: p.read_text() for p in (demo / "machines").glob("*.yaml")}
    cust_before = (demo / "customer.yaml").read_text()
    rc, out, err = run(
        ["import", str(demo), "--dnsmasq", str(SITE / "demo-dnsmasq.conf"), "--network", "10.30.0.0/24=mgmt"],
        capsys,
    )
    assert rc == Exit.OK, err
    assert "+ web9 (hw) 10.20.0.99" in out and "~ hv1 (machines/hv1.yaml)" in out
    assert "nics[1]: + NIC eth1 0c:c4:7a:10:20:03 [mgmt 10.30.0.11 none]" in out
    assert "= svc1" in out and "= web1" in out and "= web2" in out
    inv = load(demo, known_roles=ROLE_NAMES)
    hv1 = inv.machines["hv1"]
    assert [(n.name, n.mac) for n in hv1.nics] == [
        ("eno1", "0c:c4:7a:10:20:01"),
        ("eth1", "0c:c4:7a:10:20:03"),
    ]
    assert hv1.nics[1].attachments[0].ipv4 == "10.30.0.11"
    assert inv.networks["mgmt"].ipv4 == "10.30.0.0/24" and inv.networks["mgmt"].gateway4 == "10.30.0.1"
    web9 = inv.machines["web9"]
    assert web9.state is State.ACTIVE and web9.nics[0].attachments[0].ipv4 == "10.20.0.99"
    # adopting gives no address the machine does not have: lan's IPv6 is pinned none
    assert web9.nics[0].attachments[0].ipv6 is None
    assert unpinned(inv) == [x for x in unpinned(load(ROOT / "stacks" / "demo")) if not x.startswith("web9")]
    # every line of the edited files is still there, in order (comments, key order); the
    # unchanged machines' files are byte-identical
    after = (demo / "machines" / "hv1.yaml").read_text().splitlines()
    it = iter(after)
    assert all(line in it for line in before["hv1.yaml"].splitlines())
    assert "# The only hypervisor: runs every VM below." in after
    assert '    mac: "0c:c4:7a:10:20:01"   # real NIC, recorded from the BMC' in after
    for name in ("svc1.yaml", "web1.yaml", "web2.yaml", "db1.yaml"):
        assert (demo / "machines" / name).read_text() == before[name]
    cust = (demo / "customer.yaml").read_text().splitlines()
    it = iter(cust)
    assert all(line in it for line in cust_before.splitlines())
    # a second import of the same site changes nothing
    rc, out, _ = run(["import", str(demo), "--dnsmasq", str(SITE / "demo-dnsmasq.conf")], capsys)
    assert rc == Exit.OK and "0 created, 0 updated, 5 unchanged" in out


def test_libvirt_makes_a_vm_on_its_host(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(
        [
            "import",
            str(demo),
            "--dnsmasq",
            str(SITE / "demo-dnsmasq.conf"),
            "--libvirt",
            f"hv1={SITE / 'hv1-domains.xml'}",
            "--network",
            "10.30.0.0/24=mgmt",
        ],
        capsys,
    )
    assert rc == Exit.OK, err
    assert "+ web9 (vm on hv1) 10.20.0.99" in out and "= web1" in out
    inv = load(demo, known_roles=ROLE_NAMES)
    web9 = inv.machines["web9"]
    assert (web9.kind.value, web9.hypervisor, web9.cores, web9.memory_mib) == ("vm", "hv1", 1, 2048)
    assert web9.disks == ()  # libvirt does not say how big /srv/vm/web9.qcow2 is
    assert "size of vda unknown" in (demo / "machines" / "web9.yaml").read_text()
    rc, _, err = run(["import", str(demo), "--libvirt", str(SITE / "hv1-domains.xml")], capsys)
    assert rc == Exit.USAGE and "expected HOST=PATH" in err


def test_conflicts_write_nothing(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = tree(demo)
    rc, out, err = run(
        ["import", "--dir", str(demo), "--dnsmasq", str(SITE / "conflict-dnsmasq.conf")], capsys
    )
    assert rc == Exit.PROBLEMS
    assert "2 conflict(s): nothing written" in err
    conf = "tests/unit/interop_cases/merge/site/conflict-dnsmasq.conf"
    assert "pinned: web1: the inventory pins ipv4 10.20.0.251 on eth0; the site has 10.20.0.77" in out
    assert "address-macs: 10.20.0.99: reserved for 52:54:00:00:09:01, 52:54:00:00:09:02" in out
    assert out.count(f"{SITE / 'conflict-dnsmasq.conf'}:") >= 3 or out.count(conf) >= 3
    assert tree(demo) == snap


def test_force_prints_each_choice_and_writes(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(
        ["import", str(demo), "--dnsmasq", str(SITE / "conflict-dnsmasq.conf"), "--force"], capsys
    )
    assert rc == Exit.OK, err
    assert "conflicts (--force: first source wins):" in out
    assert "chosen: web1 eth0 gets 10.20.0.77 (what runs)" in out
    assert "chosen: 10.20.0.99 stays with 52:54:00:00:09:01" in out
    inv = load(demo, known_roles=ROLE_NAMES)
    assert inv.machines["web1"].nics[0].attachments[0].ipv4 == "10.20.0.77"
    assert inv.machines["web9"].nics[0].attachments[0].ipv4 == "10.20.0.99"
    assert "web10" not in inv.machines  # its only address went to web9: nothing fixed to import


def test_dry_run_and_json_write_nothing(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = tree(demo)
    rc, out, err = run(
        ["import", str(demo), "--dnsmasq", str(SITE / "demo-dnsmasq.conf"), "--dry-run", "--format", "json"],
        capsys,
    )
    assert rc == Exit.OK and "dry run: nothing written" in err
    doc = json.loads(out)
    assert [m["name"] for m in doc["created"]] == ["web9"]
    assert doc["created"][0]["nics"][0]["networks"] == [
        {"network": "lan", "ipv4": "10.20.0.99", "ipv6": None}
    ]
    assert tree(demo) == snap


def test_a_result_the_loader_refuses_is_rolled_back(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = tree(demo)
    rc, _, err = run(["import", str(demo), "--dnsmasq", str(SITE / "in-pool-dnsmasq.conf")], capsys)
    assert rc == Exit.PROBLEMS
    assert "machines/web11.yaml" in err and "pool" in err and "nothing written" in err
    assert "Traceback" not in err
    assert tree(demo) == snap


def test_new_customer_from_scratch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "stacks" / "acme"
    rc, out, err = run(["import", str(root), "--dnsmasq", str(SITE / "new-site-dnsmasq.conf")], capsys)
    assert rc == Exit.OK, err
    assert "import into acme (new customer, domain acme.example)" in out
    inv = load(root, known_roles=ROLE_NAMES)
    assert sorted(inv.machines) == ["app1", "hv1", "ns1"]
    assert unpinned(inv) == []
    assert all(m.state is State.ACTIVE for m in inv.machines.values())
    (net,) = inv.networks.values()
    assert (net.ipv4, net.gateway4, net.dhcp_pool, net.dns_servers) == (
        "10.40.0.0/24",
        "10.40.0.1",
        ("10.40.0.100", "10.40.0.199"),
        ("10.40.0.10",),
    )
    assert "set it by hand" in (root / "machines" / "hv1.yaml").read_text()
    assert run(["check", "--dir", str(root)], capsys)[0] == Exit.OK


def test_site_root_reads_a_copied_servers_paths_under_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy of a server's /etc: its dnsmasq.conf's conf-dir=/etc/dnsmasq.d and named.conf's
    absolute zone paths are read under --site-root, never on the importing machine."""
    site = tmp_path / "ns1"
    (site / "etc" / "dnsmasq.d").mkdir(parents=True)
    (site / "etc" / "bind").mkdir(parents=True)
    (site / "etc" / "dnsmasq.conf").write_text("# the server's main file\nconf-dir=/etc/dnsmasq.d,*.conf\n")
    shutil.copy(SITE / "new-site-dnsmasq.conf", site / "etc" / "dnsmasq.d" / "lan.conf")
    (site / "etc" / "bind" / "named.conf").write_text(
        'options { directory "/var/cache/bind"; };\n'
        'zone "acme.example" { type primary; file "/etc/bind/db.acme.example"; };\n'
    )
    zone = site / "etc" / "bind" / "db.acme.example"
    soa = "$TTL 1h\n@ SOA ns1 hostmaster 1 1h 15m 1w 1h\n  NS ns1\nns1 A 10.40.0.10\n"
    zone.write_text(soa + "app1 A 10.40.0.22   ; stale: DHCP says .21\n")
    argv = ["import", "--dnsmasq", str(site / "etc" / "dnsmasq.conf")]
    argv += ["--named-conf", str(site / "etc" / "bind" / "named.conf"), "--network", "10.40.0.0/24=lan"]
    root = tmp_path / "stacks" / "acme"
    # without it, the server's absolute paths are looked up on this machine: refused, nothing written
    rc, _, err = run([*argv, str(root)], capsys)
    assert rc == Exit.PROBLEMS and "/etc/bind/db.acme.example" in err and not root.exists()
    # with it, the zone under the copy is what is read: its stale record is a conflict there
    rc, out, err = run([*argv, str(root), "--site-root", str(site)], capsys)
    assert rc == Exit.PROBLEMS and f"{zone}:5" in out and not root.exists()
    zone.write_text(soa + "app1 A 10.40.0.21\n")
    rc, out, err = run([*argv, str(root), "--site-root", str(site)], capsys)
    assert rc == Exit.OK, err
    assert f"{site}/etc/dnsmasq.d/lan.conf:8" in out
    inv = load(root, known_roles=ROLE_NAMES)
    assert sorted(inv.machines) == ["app1", "hv1", "ns1"] and list(inv.networks) == ["lan"]
    assert inv.machines["app1"].nics[0].attachments[0].ipv4 == "10.40.0.21"
    rc, _, err = run([*argv, str(tmp_path / "x"), "--site-root", str(site / "nope")], capsys)
    assert rc == Exit.USAGE and "not a directory" in err


def test_new_customer_rolled_back_leaves_no_directory(tmp_path: Path) -> None:
    """A new customer whose result does not load: the directories made for it go too."""
    root = tmp_path / "acme"
    src = Source("dnsmasq.conf", 1)
    site = Site(
        reservations=[
            Reservation(Source("dnsmasq.conf", 2), "52:54:00:00:00:01", "10.9.0.150", None, "web1")
        ],
        subnets=[Subnet(src, "10.9.0.0/24", ("10.9.0.100", "10.9.0.199"))],
    )
    plan: Plan = merge(None, site, Options(customer="acme", domain="acme.example"))
    assert not plan.conflicts
    with pytest.raises(InventoryError) as e:
        apply(root, plan, None, known_roles=ROLE_NAMES)
    assert "pool" in str(e.value)
    assert not root.exists()


def test_parse_errors_are_file_line_lists(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = tree(demo)
    rc, _, err = run(["import", str(demo), "--dnsmasq", str(SITE / "bad-dnsmasq.conf")], capsys)
    assert rc == Exit.PROBLEMS
    assert f"{SITE / 'bad-dnsmasq.conf'}:2: " in err and "nothing written" in err
    assert "Traceback" not in err
    assert tree(demo) == snap


def test_known_hosts_pins_host_keys(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kh = SITE / "known_hosts"
    rc, out, err = run(
        ["import", str(demo), "--dnsmasq", str(SITE / "demo-dnsmasq.conf"), "--known-hosts", str(kh)], capsys
    )
    assert rc == Exit.OK, err
    keys = dict(load(demo).customer.ssh.host_keys)
    lines = kh.read_text().splitlines()
    assert keys["hv1"] == " ".join(lines[1].split()[1:3])
    assert keys["web9"] == " ".join(lines[2].split()[1:3])
    assert "no SSH host key for 3 machine(s) (not in the --known-hosts file" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "name at least one source"),
        (["--dnsmasq", "x", "--network", "nonsense=lan"], "is not a prefix"),
        (["--dnsmasq", "x", "--network", "10.0.0.0/24=Bad_Name"], "NAME a DNS label"),
    ],
)
def test_usage_errors(demo: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    rc, _, err = run(["import", str(demo), *argv], capsys)
    assert rc == Exit.USAGE and message in err


def test_group_file_updates_are_all_applied(tmp_path: Path) -> None:
    """Two machines of one group file updated in one import: one round-trip load and dump of
    the file, both edits in it, its comments kept."""
    root = tmp_path / "acme"
    (root / "machines").mkdir(parents=True)
    (root / "customer.yaml").write_text(
        "customer: acme\ndomain: acme.example\nnetworks:\n"
        "  lan: {ipv4: 10.9.0.0/24, gateway4: 10.9.0.1, ipv6: 'fd00:9::/64'}\n"
    )
    (root / "machines" / "web.yaml").write_text(
        "# the web tier\n- name: web1   # first\n  kind: hw\n  cores: 2\n  memory: 2GiB\n"
        "  nics:\n    - name: eth0\n      networks: [{network: lan}]\n"
        "# the second one\n- name: web2\n  kind: hw\n  cores: 2\n  memory: 2GiB\n"
        "  nics:\n    - name: eth0\n      networks: [{network: lan}]\n"
    )
    inv = load(root)
    site = Site(
        reservations=[
            Reservation(Source("d.conf", 1), "0c:00:00:00:00:01", "10.9.0.21", None, "web1"),
            Reservation(Source("d.conf", 2), "0c:00:00:00:00:02", "10.9.0.22", "fd00:9::22", "web2"),
        ]
    )
    plan = merge(inv, site, Options(customer="acme"))
    assert not plan.conflicts and [n for n, _, _ in plan.updated] == ["web1", "web2"]
    after = apply(root, plan, inv)
    got = [
        (m.nics[0].mac, m.nics[0].attachments[0].ipv4, m.nics[0].attachments[0].ipv6)
        for m in after.machines.values()
    ]
    assert got == [
        ("0c:00:00:00:00:01", "10.9.0.21", "fd00:9::e00:ff:fe00:1"),  # EUI-64: stable as the MAC
        ("0c:00:00:00:00:02", "10.9.0.22", "fd00:9::22"),  # into a flow mapping: quoted
    ]
    text = (root / "machines" / "web.yaml").read_text()
    assert 'ipv6: "fd00:9::22"' in text
    assert "# the web tier" in text and "# first" in text and "# the second one" in text
    assert unpinned(after) == []


def test_group_puts_new_machines_in_one_file(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--group: the new machines appended to a group file, whose own bytes stay as they were."""
    group = demo / "machines" / "imported.yaml"
    group.write_text(
        "# added earlier\n- name: old1\n  kind: hw\n  cores: 1\n  memory: 1GiB\n  nics:\n"
        '    - name: eth0\n      mac: "0c:c4:7a:10:20:1f"\n'
        "      networks: [{network: lan, ipv4: 10.20.0.119}]\n"
        "  state: planned\n"
    )
    before = group.read_text()
    rc, _, err = run(
        ["import", str(demo), "--dnsmasq", str(SITE / "more-dnsmasq.conf"), "--group", "imported"], capsys
    )
    assert rc == Exit.OK, err
    inv = load(demo, known_roles=ROLE_NAMES)
    assert sorted(n for n, m in inv.machines.items() if m.file == "machines/imported.yaml") == [
        "old1",
        "web20",
        "web21",
    ]
    assert group.read_text().startswith(before)
    assert not (demo / "machines" / "web20.yaml").exists()
    rc, _, err = run(
        ["import", str(demo), "--dnsmasq", str(SITE / "more-dnsmasq.conf"), "--group", "a/b"], capsys
    )
    assert rc == Exit.USAGE and "--group" in err


def test_libvirt_domain_type_sets_the_hypervisors_virtualization(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """hv1's domains run under TCG (<domain type='qemu'>): hv1 gets `virtualization: qemu`,
    written after its roles -- its file is the kvm import's plus that line; a second import
    changes nothing."""
    kvm = tmp_path / "kvm" / "demo"
    shutil.copytree(demo, kvm)
    qemu = tmp_path / "hv1-qemu.xml"
    qemu.write_text((SITE / "hv1-domains.xml").read_text().replace("type='kvm'", "type='qemu'"))
    common = ["--dnsmasq", str(SITE / "demo-dnsmasq.conf"), "--network", "10.30.0.0/24=mgmt"]
    rc, out, err = run(["import", str(kvm), *common, "--libvirt", f"hv1={SITE / 'hv1-domains.xml'}"], capsys)
    assert rc == Exit.OK, err
    assert "virtualization" not in out
    argv = ["import", str(demo), *common, "--libvirt", f"hv1={qemu}"]
    rc, out, err = run(argv, capsys)
    assert rc == Exit.OK, err
    assert "virtualization: kvm -> qemu" in out
    after = (demo / "machines" / "hv1.yaml").read_text()
    want = (kvm / "machines" / "hv1.yaml").read_text()
    assert after == want.replace("roles: [hypervisor]\n", "roles: [hypervisor]\nvirtualization: qemu\n", 1)
    assert load(demo, known_roles=ROLE_NAMES).machines["hv1"].virtualization == "qemu"
    rc, out, err = run(argv, capsys)
    assert rc == Exit.OK, err
    assert (demo / "machines" / "hv1.yaml").read_text() == after
