"""Provisioning payloads are accepted by the real tools (docs/provisioning.md).

* user-data: ``cloud-init schema --config-file`` (Debian package cloud-init);
* network-config: ``cloud-init schema --schema-type network-config`` when the installed
  cloud-init has it (23.x+); bookworm's 22.4 does not, so the file is also parsed and
  rendered to networkd by cloud-init itself (``cloud-init devel net-convert``) and the
  result compared with the inventory;
* the DHCP configs with boot options: ``dnsmasq --test``, ``kea-dhcp4 -t``;
* the libvirt domain with its read-only virtio seed disk, kvm and qemu: ``virt-xml-validate``;
* the preseed: ``debconf-set-selections --checkonly``;
* the seed ISO: the rendered disks script really builds it with genisoimage, and with
  xorriso alone; isoinfo/xorriso show volume id ``cidata`` and the three files, byte for byte;
* install-loader.sh copies the loader and installer into a TFTP root, idempotently.

A missing tool skips, or fails with UNIFORM_REQUIRE_DAEMONS=1 (tools/debian-packages.txt).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from connectors.local import write_tree
from payloads import MachinePayload, render_customer
from tests.helpers.cases import case_dirs, customer_dir, load_case
from tests.helpers.daemons import PACKAGES, run, tool
from tests.helpers.provision import inv as provision_inv

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

Trees = dict[str, tuple[dict[str, MachinePayload], Path]]


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Trees:
    invs = {case.name: load_case(customer_dir(case)) for case in case_dirs()}
    for user in ("root", "ops"):
        for dhcp in ("dnsmasq", "kea"):
            invs[f"unit-{dhcp}-{user}"] = provision_inv(dhcp=dhcp, user=user)
    out: Trees = {}
    for name, inv in invs.items():
        payloads = render_customer(inv)
        root = tmp_path_factory.mktemp(name)
        write_tree(payloads, root)
        out[name] = (payloads, root)
    return out


def files(trees: Trees, pattern: str) -> list[tuple[str, Path, str]]:
    """(tree, host root, path) of every rendered file matching ``pattern``."""
    return [
        (tree, root / name, f.path)
        for tree, (payloads, root) in trees.items()
        for name, pl in payloads.items()
        for f in pl.files
        if Path(f.path).match(pattern)
    ]


def test_cases_exercise_every_path(trees: Trees) -> None:
    for pattern in (
        "/etc/uniform/libvirt/*.seed/user-data",
        "/var/lib/tftpboot/pxelinux.cfg/01-*",
        "/var/lib/tftpboot/uniform/preseed/*.cfg",
        "/etc/uniform/netboot/install-loader.sh",
    ):
        assert files(trees, pattern), pattern
    dnsmasq = [
        t
        for t, r, p in files(trees, "/etc/dnsmasq.d/uniform-dhcp.conf")
        if "dhcp-boot=" in (r / p[1:]).read_text()
    ]
    kea = [
        t for t, r, p in files(trees, "/etc/kea/kea-dhcp4.conf") if '"next-server"' in (r / p[1:]).read_text()
    ]
    assert dnsmasq and kea


def test_user_data_schema(trees: Trees) -> None:
    cloud_init = tool("cloud-init")
    for _, root, path in files(trees, "/etc/uniform/libvirt/*.seed/user-data"):
        out = run(cloud_init, "schema", "--config-file", f"{root}{path}")
        assert "Valid cloud-config" in out


def test_network_config(trees: Trees, tmp_path: Path) -> None:
    cloud_init = tool("cloud-init")
    has_schema_type = "--schema-type" in run(cloud_init, "schema", "--help")
    seeds = files(trees, "/etc/uniform/libvirt/*.seed/network-config")
    assert seeds
    for i, (_, root, path) in enumerate(seeds):
        src = f"{root}{path}"
        if has_schema_type:
            run(cloud_init, "schema", "--schema-type", "network-config", "--config-file", src)
        out = tmp_path / str(i)
        log = run(
            cloud_init,
            "devel",
            "net-convert",
            "-p",
            src,
            "-k",
            "yaml",
            "-d",
            str(out),
            "-D",
            "debian",
            "-O",
            "networkd",
        )
        assert "Skipping invalid command" not in log and "ERROR" not in log, log
        rendered = {p.name: p.read_text() for p in (out / "etc/systemd/network").glob("*.network")}
        # cloud-init's networkd output carries the addresses and gateways of the seed
        text = Path(src).read_text()
        for addr in re.findall(r'^\s+- "([0-9a-f.:]+/\d+)"$', text, re.M):
            assert any(f"Address={addr}\n" in r for r in rendered.values()), (path, addr, rendered)
        for gw in re.findall(r'gateway[46]: "([^"]+)"', text):
            assert any(f"Gateway={gw}\n" in r for r in rendered.values()), (path, gw, rendered)


def test_dnsmasq_accepts_boot_options(trees: Trees) -> None:
    dnsmasq = tool("dnsmasq")
    for _, root, path in files(trees, "/etc/dnsmasq.d/uniform-dhcp.conf"):
        out = run(dnsmasq, "--test", f"--conf-file={root}{path}")
        assert "syntax check OK" in out


def test_kea_accepts_boot_options(trees: Trees) -> None:
    kea = tool("kea-dhcp4")
    for _, root, path in files(trees, "/etc/kea/kea-dhcp4.conf"):
        run(kea, "-t", f"{root}{path}")


def test_domains_with_seed_disk_validate(trees: Trees) -> None:
    """Every domain, with and without the read-only virtio seed disk, of both types (kvm, qemu)."""
    validate = tool("virt-xml-validate")
    tool("xmllint")
    seen: set[tuple[bool, str]] = set()
    for _, root, path in files(trees, "/etc/uniform/libvirt/*.xml"):
        xml = Path(f"{root}{path}")
        text = xml.read_text()
        seeded = "-seed.iso'/>" in text
        assert "device='cdrom'" not in text
        seen.add((seeded, "kvm" if "<domain type='kvm'>" in text else "qemu"))
        assert "validates" in run(validate, str(xml), "domain")
    assert seen == {(True, "kvm"), (True, "qemu"), (False, "kvm"), (False, "qemu")}


def test_preseed_format(trees: Trees) -> None:
    dss = tool("debconf-set-selections")
    for _, root, path in files(trees, "/var/lib/tftpboot/uniform/preseed/*.cfg"):
        run(dss, "--checkonly", f"{root}{path}")


def _run_disks_script(script: str, work: Path, path_dirs: list[Path]) -> None:
    """Run a rendered disks script with its absolute paths moved under ``work`` and a
    qemu-img stub (it is the seed part under test)."""
    text = script.replace("/etc/uniform/libvirt", str(work / "libvirt")).replace(
        "/var/lib/libvirt/images", str(work / "images")
    )
    (work / "images").mkdir(exist_ok=True)
    path = work / "disks.sh"
    path.write_text(text)
    env = {"PATH": os.pathsep.join(str(d) for d in path_dirs), "LC_ALL": "C"}
    run("/bin/sh", str(path), env=env)


def _stub_bin(tmp: Path, keep: list[str]) -> Path:
    """A PATH dir with a qemu-img stub and symlinks to exactly the tools in ``keep``."""
    b = tmp / "bin"
    b.mkdir()
    (b / "qemu-img").write_text("#!/bin/sh\nfor last; do :; done\nexit 0\n")
    (b / "qemu-img").chmod(0o755)
    for name in keep:
        (b / name).symlink_to(tool(name) if name in PACKAGES else shutil.which(name) or f"/bin/{name}")
    return b


@pytest.mark.parametrize("builder", ["genisoimage", "xorriso"])
def test_seed_iso_is_built(trees: Trees, tmp_path: Path, builder: str) -> None:
    isoinfo = tool("isoinfo")
    payloads, _ = trees["hypervisor_two_vms"]
    hv = payloads["hv1"]
    work = tmp_path / "w"
    (work / "libvirt" / "db1.seed").mkdir(parents=True)
    for f in hv.files:
        if f.path.startswith("/etc/uniform/libvirt/db1.seed/"):
            (work / "libvirt" / "db1.seed" / Path(f.path).name).write_text(f.content)
    bindir = _stub_bin(tmp_path, [builder, "mv", "rm", "cat", "chmod"])
    _run_disks_script(hv.file("/etc/uniform/libvirt/db1.disks.sh").content, work, [bindir])
    iso = work / "images" / "db1-seed.iso"
    assert iso.is_file() and not (work / "images" / "db1-seed.iso.tmp").exists()
    assert iso.stat().st_mode & 0o777 == 0o600  # its user-data may carry the VM's host key
    info = run(isoinfo, "-d", "-i", str(iso))
    assert re.search(r"^Volume id: cidata$", info, re.M), info
    listing = run(isoinfo, "-J", "-f", "-i", str(iso)).split()
    assert sorted(listing) == ["/meta-data", "/network-config", "/user-data"]
    for name in ("meta-data", "network-config", "user-data"):
        got = subprocess.run(
            [isoinfo, "-J", "-x", f"/{name}", "-i", str(iso)], capture_output=True, timeout=30, check=True
        ).stdout
        assert got.decode() == hv.file(f"/etc/uniform/libvirt/db1.seed/{name}").content
    if builder == "xorriso":
        out = run(tool("xorriso"), "-indev", str(iso), "-pvd_info", "-ls", "/")
        assert "Volume Id    : cidata" in out
        assert all(f"'{n}'" in out for n in ("meta-data", "network-config", "user-data"))


def test_active_vm_script_removes_a_left_over_seed(trees: Trees, tmp_path: Path) -> None:
    payloads, _ = trees["hypervisor_two_vms"]
    work = tmp_path / "w"
    (work / "images").mkdir(parents=True)
    (work / "images" / "web1-seed.iso").write_text("old")
    _run_disks_script(
        payloads["hv1"].file("/etc/uniform/libvirt/web1.disks.sh").content,
        work,
        [_stub_bin(tmp_path, ["rm"])],
    )
    assert not (work / "images" / "web1-seed.iso").exists()


def test_seed_iso_without_any_builder_fails_clearly(trees: Trees, tmp_path: Path) -> None:
    payloads, _ = trees["hypervisor_two_vms"]
    script = payloads["hv1"].file("/etc/uniform/libvirt/db1.disks.sh").content
    text = script.replace("/var/lib/libvirt/images", str(tmp_path))
    (tmp_path / "d.sh").write_text(text)
    p = subprocess.run(
        ["/bin/sh", str(tmp_path / "d.sh")],
        capture_output=True, text=True, timeout=30, env={"PATH": str(_stub_bin(tmp_path, []))},
    )  # fmt: skip
    assert p.returncode == 1 and "no genisoimage or xorriso" in p.stderr


def test_install_loader(trees: Trees, tmp_path: Path) -> None:
    payloads, _ = trees["dnsmasq_bind"]
    script = payloads["ns1"].file("/etc/uniform/netboot/install-loader.sh").content
    run("sh", "-n", "-c", script)
    src, root = tmp_path / "src", tmp_path / "tftp"
    text = script.replace("/usr/lib/debian-installer/images/12/amd64/text", str(src)).replace(
        "/var/lib/tftpboot", str(root)
    )
    (tmp_path / "il.sh").write_text(text)
    # no installer package: a warning, exit 0 (DHCP must still be applied)
    p = subprocess.run(["sh", str(tmp_path / "il.sh")], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "apt-get install debian-installer-12-netboot-amd64" in p.stderr
    # the package's layout: pxelinux.0 and ldlinux.c32 are symlinks into debian-installer/
    d = src / "debian-installer" / "amd64"
    (d / "boot-screens").mkdir(parents=True)
    for rel, data in {
        "pxelinux.0": "PXE",
        "boot-screens/ldlinux.c32": "LD",
        "linux": "K",
        "initrd.gz": "I",
    }.items():
        (d / rel).write_text(data)
    (src / "pxelinux.0").symlink_to("debian-installer/amd64/pxelinux.0")
    (src / "ldlinux.c32").symlink_to("debian-installer/amd64/boot-screens/ldlinux.c32")
    for _ in range(2):  # idempotent
        run("sh", str(tmp_path / "il.sh"))
        got = {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}
        assert got == {
            "pxelinux.0": "PXE",
            "ldlinux.c32": "LD",
            "debian-installer/amd64/linux": "K",
            "debian-installer/amd64/initrd.gz": "I",
        }
        assert not any(p.is_symlink() for p in root.rglob("*"))
