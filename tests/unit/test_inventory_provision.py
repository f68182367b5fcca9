"""Inventory keys for provisioning (docs/provisioning.md): networks' boot_filename/boot_server,
the customer's ``provisioning`` settings -- loaded, defaulted, checked strictly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import inventory
from inventory.model import Provisioning
from tests.helpers.stacks import problems

L9, L10 = "acme: customer.yaml:9: ", "acme: customer.yaml:10: "
BASE = Path(__file__).parent / "inventory_cases" / "_base"

CUSTOMER = """\
customer: acme
domain: acme.example
networks:
  lan:
    ipv4: 10.0.0.0/24
    gateway4: 10.0.0.1
    reserved: ["10.0.0.1-10.0.0.9"]
    dhcp_pool: 10.0.0.200-10.0.0.250
{net_extra}{extra}"""


def customer_dir(tmp_path: Path, net_extra: str = "", extra: str = "") -> Path:
    root = tmp_path / "acme"
    shutil.copytree(BASE, root)
    (root / "customer.yaml").write_text(CUSTOMER.format(net_extra=net_extra, extra=extra))
    return root


def test_defaults_when_absent(tmp_path: Path) -> None:
    inv = inventory.load(customer_dir(tmp_path))
    lan = inv.networks["lan"]
    assert lan.boot_filename is None and lan.boot_server is None
    assert inv.customer.provisioning == Provisioning()
    assert inv.customer.provisioning.base_image is None
    assert inv.customer.provisioning.kernel == "debian-installer/amd64/linux"


def test_keys_are_loaded(tmp_path: Path) -> None:
    root = customer_dir(
        tmp_path,
        net_extra="    boot_filename: pxelinux.0\n    boot_server: 10.0.0.5\n",
        extra=(
            "provisioning:\n"
            "  base_image: debian-12-genericcloud-amd64.qcow2\n"
            "  kernel: d-i/linux\n"
            "  initrd: d-i/initrd.gz\n"
            '  kernel_args: "quiet"\n'
            "  console: ttyS1,115200n8\n"
            "  mirror: mirror.acme.example\n"
            "  mirror_directory: /debian/\n"
            "  suite: trixie\n"
            "  locale: de_DE.UTF-8\n"
            "  keymap: de\n"
            "  timezone: Europe/Berlin\n"
        ),
    )
    inv = inventory.load(root)
    assert inv.networks["lan"].boot_filename == "pxelinux.0"
    assert inv.networks["lan"].boot_server == "10.0.0.5"
    assert inv.customer.provisioning == Provisioning(
        base_image="debian-12-genericcloud-amd64.qcow2",
        kernel="d-i/linux",
        initrd="d-i/initrd.gz",
        kernel_args="quiet",
        console="ttyS1,115200n8",
        mirror="mirror.acme.example",
        mirror_directory="/debian/",
        suite="trixie",
        locale="de_DE.UTF-8",
        keymap="de",
        timezone="Europe/Berlin",
    )


def test_absolute_base_image_and_ip_mirror(tmp_path: Path) -> None:
    root = customer_dir(
        tmp_path, extra="provisioning: {base_image: /srv/images/base.qcow2, mirror: 10.0.0.3}\n"
    )
    p = inventory.load(root).customer.provisioning
    assert (p.base_image, p.mirror) == ("/srv/images/base.qcow2", "10.0.0.3")


@pytest.mark.parametrize(
    ("net_extra", "extra", "expected"),
    [
        (
            "    boot_filname: pxelinux.0\n",
            "",
            [L9 + "networks.lan.boot_filname: unknown key 'boot_filname' (did you mean 'boot_filename'?)"],
        ),
        (
            "    boot_filename: /pxelinux.0\n",
            "",
            [
                L9 + "networks.lan.boot_filename: '/pxelinux.0' is not a relative path "
                "(letters, digits, '_+.-' and '/', no '..', no leading '/')"
            ],
        ),
        (
            "    boot_filename: ../etc/shadow\n",
            "",
            [
                L9 + "networks.lan.boot_filename: '../etc/shadow' is not a relative path "
                "(letters, digits, '_+.-' and '/', no '..', no leading '/')"
            ],
        ),
        (
            "    boot_filename: 'pxelinux.0,evil'\n",
            "",
            [
                L9 + "networks.lan.boot_filename: 'pxelinux.0,evil' is not a relative path "
                "(letters, digits, '_+.-' and '/', no '..', no leading '/')"
            ],
        ),
        (
            "    boot_filename: pxelinux.0\n    boot_server: fd00::5\n",
            "",
            [L10 + "networks.lan.boot_server: expected an IPv4 address, got 'fd00::5'"],
        ),
        (
            "    boot_server: 10.0.0.5\n",
            "",
            [L9 + "networks.lan.boot_server: boot_server given but no boot_filename (netboot is off)"],
        ),
        (
            "",
            "provisioning: {base_image: x.qcow2, password: secret}\n",
            [L9 + "provisioning.password: unknown key 'password'"],
        ),
        (
            "",
            "provisioning: {base_image: 'my image.qcow2'}\n",
            [L9 + "provisioning.base_image: 'my image.qcow2' is not a file name or an absolute path"],
        ),
        (
            "",
            "provisioning: {kernel_args: \"preseed/late_command='rm -rf /'\"}\n",
            [
                L9 + "provisioning.kernel_args: kernel_args must be one line of at most 512 characters: "
                "words of letters, digits and '_.,:=/+@%-' separated by single spaces"
            ],
        ),
        (
            "",
            "provisioning: {console: 'tty0'}\n",
            [
                L9 + "provisioning.console: console 'tty0' must be a serial port as the kernel's "
                "console= takes it: ttyS0-ttyS3, optionally with speed, parity and bits, "
                "e.g. 'ttyS1,115200n8'"
            ],
        ),
        (
            "",
            "provisioning: {console: 'ttyS4,115200'}\n",
            [
                L9 + "provisioning.console: console 'ttyS4,115200' must be a serial port as the kernel's "
                "console= takes it: ttyS0-ttyS3, optionally with speed, parity and bits, "
                "e.g. 'ttyS1,115200n8'"
            ],
        ),
        (
            "",
            "provisioning: {console: 'ttyS0,115200n8 init=/bin/sh'}\n",
            [
                L9 + "provisioning.console: console 'ttyS0,115200n8 init=/bin/sh' must be a serial port as "
                "the kernel's console= takes it: ttyS0-ttyS3, optionally with speed, parity and bits, "
                "e.g. 'ttyS1,115200n8'"
            ],
        ),
        (
            "",
            "provisioning: {mirror: 'http://deb.debian.org'}\n",
            [L9 + "provisioning.mirror: mirror 'http://deb.debian.org' is not a host name or an IP address"],
        ),
        (
            "",
            "provisioning: {mirror_directory: debian}\n",
            [L9 + "provisioning.mirror_directory: mirror_directory 'debian' must be an absolute path"],
        ),
        (
            "",
            "provisioning: {timezone: 'Europe/Berlin; reboot'}\n",
            [
                L9 + "provisioning.timezone: timezone 'Europe/Berlin; reboot' must be one word "
                "(letters, digits, '_.@/+-')"
            ],
        ),
        (
            "",
            "provisioning: {kernel: /boot/vmlinuz}\n",
            [
                L9 + "provisioning.kernel: '/boot/vmlinuz' is not a relative path "
                "(letters, digits, '_+.-' and '/', no '..', no leading '/')"
            ],
        ),
        (
            "",
            "provisioning: {suite: 12}\n",
            [L9 + "provisioning.suite: expected a string, got integer 12"],
        ),
        (
            "",
            "provisioning: [base_image]\n",
            [L9 + "provisioning: expected a mapping, got a list"],
        ),
    ],
)
def test_problems(tmp_path: Path, net_extra: str, extra: str, expected: list[str]) -> None:
    assert problems(customer_dir(tmp_path, net_extra, extra)) == expected


def test_parse_cache_carries_the_new_keys(tmp_path: Path) -> None:
    root = customer_dir(
        tmp_path, net_extra="    boot_filename: pxelinux.0\n", extra="provisioning: {suite: trixie}\n"
    )
    cache = tmp_path / "cache"
    first = inventory.load(root, cache_dir=cache)
    second = inventory.load(root, cache_dir=cache)  # from the cache
    assert second.customer.provisioning.suite == "trixie" == first.customer.provisioning.suite
    assert second.networks["lan"].boot_filename == "pxelinux.0"


def test_example_stacks_still_load() -> None:
    stacks = Path(__file__).parents[2] / "stacks"
    for c in sorted(stacks.glob("*/customer.yaml")):
        inv = inventory.load(c.parent)
        assert inv.customer.provisioning == Provisioning()
