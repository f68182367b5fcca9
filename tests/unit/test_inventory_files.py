"""What the loader refuses to read: links, non-regular files, bytes that are not UTF-8.

Inventories come from pull requests and CI reads them: nothing outside the customer's
directory is read through a link, and nothing of an unread file is quoted.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import inventory

CASES = Path(__file__).parent / "inventory_cases"


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    root = tmp_path / "acme"
    shutil.copytree(CASES / "_base", root)
    return root


def problems(root: Path) -> list[str]:
    with pytest.raises(inventory.InventoryError) as info:
        inventory.load(root)
    return [str(p) for p in info.value.problems]


def test_a_linked_machine_file_is_not_followed(acme: Path, tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secret-hash:20228:0:99999:7:::\n")
    (acme / "machines" / "zz.yaml").symlink_to(secret)
    got = problems(acme)
    assert got == [
        "acme: machines/zz.yaml: is a symbolic link: uniform reads only regular files inside the "
        "customer directory"
    ]
    assert "secret-hash" not in "\n".join(got)


def test_a_link_inside_the_directory_is_refused_too(acme: Path) -> None:
    # even a link to a file of the same customer: a reviewer reads the link, not the target
    (acme / "machines" / "copy.yaml").symlink_to(acme / "machines" / "web1.yaml")
    assert problems(acme)[0].startswith("acme: machines/copy.yaml: is a symbolic link")


def test_linked_customer_file_and_machines_dir(acme: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.move(acme / "machines", elsewhere)
    (acme / "machines").symlink_to(elsewhere)
    (acme / "customer.yaml").rename(tmp_path / "c.yaml")
    (acme / "customer.yaml").symlink_to(tmp_path / "c.yaml")
    got = problems(acme)
    assert (
        "acme: customer.yaml: is a symbolic link: uniform reads only regular files inside the "
        "customer directory" in got
    )
    assert (
        "acme: machines: is a symbolic link: uniform reads only regular files inside the "
        "customer directory" in got
    )


def test_a_fifo_is_not_read(acme: Path) -> None:
    os.mkfifo(acme / "machines" / "pipe.yaml")  # reading it would hang the run
    assert problems(acme) == ["acme: machines/pipe.yaml: is not a regular file: not read"]


def test_non_utf8_gives_the_line(acme: Path) -> None:
    path = acme / "machines" / "web1.yaml"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = b"cores: 2 # caf\xe9\n"  # Latin-1, line 4
    path.write_bytes(b"".join(lines))
    assert problems(acme) == [
        "acme: machines/web1.yaml: not UTF-8 at line 4 (byte 0xe9); save the file as UTF-8"
    ]
