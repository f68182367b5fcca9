"""Injection matrix (issue 14, "Hostile input"): every string field x every hostile value.

For each (field, value) the benign customer of tests/helpers/hostile.py gets that one value
(derived from the field's benign value: a newline, quotes, ``;``, ``$( )``, a backtick, a
backslash, NUL, 10,000 characters, a Cyrillic look-alike, U+2028, a zero-width space ...).
Either

* ``inventory.load`` refuses it, and the error text quotes at most a short escaped
  excerpt (no raw control character, bounded length), or
* it is rendered, in both service flavours (dnsmasq DHCP + bind, Kea + dnsmasq DNS), so
  that every destination reads it back as the same single value: each file that differs
  from the benign render keeps the benign file's line structure (no injected line or
  directive), and is accepted by its own parser -- ``dnsmasq --test``,
  ``named-checkzone``/``named-checkconf``, ``kea-dhcpN -t`` + ``json.loads``,
  ``virt-xml-validate`` + ``xml.etree``, ``yaml.safe_load`` of the cloud-init seed,
  ``sh -n`` plus a dry run of the shell scripts in a sandbox with logging stubs for
  ``virsh``/``qemu-img``/``genisoimage`` (each value must arrive as ONE argv element and
  nothing named PWNED may be created).

Files byte-identical to the benign render need no daemon run: the benign render itself
is checked once (``test_benign_render_passes``).
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import inventory
from payloads import ROLE_NAMES, render_customer
from tests.helpers import hostile as H
from tests.helpers.daemons import kea_test, run, tool

pytestmark = pytest.mark.slow

FLAVOURS = [("dnsmasq", "bind"), ("kea", "dnsmasq")]
#: the longest problem line an error may print (a few quoted excerpts of 40 characters)
MAX_PROBLEM_LINE = 400

Tree = dict[str, dict[str, str]]  # machine -> path -> content


def render(root: Path) -> Tree:
    inv = inventory.load(root, known_roles=ROLE_NAMES)
    return {m: {f.path: f.content for f in pl.files} for m, pl in render_customer(inv).items()}


@pytest.fixture(scope="module")
def benign(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Tree]:
    out = {}
    for fl in FLAVOURS:
        out[fl] = render(H.write(H.base(*fl), tmp_path_factory.mktemp("benign") / "acme"))
    return out


# ---------------------------------------------------------------- per-destination checks


def _key(path: str, line: str) -> tuple[str, ...]:
    """What a line is, independent of the values in it: the directive a hostile value must
    not change (preseed: owner + question; others: the first word up to '=' or a blank)."""
    words = re.split(r"[\s=]+", line.strip(), maxsplit=2)
    if "/preseed/" in path:
        return tuple(words[:2])
    if path.endswith((".link", ".network", ".netdev")) or "/pxelinux.cfg/" in path:
        return (words[0],)
    if path.endswith(".conf") and "/dnsmasq.d/" in path:
        return (line.split("=", 1)[0],)
    return ()


def check_lines(path: str, content: str, before: str) -> None:
    """No injected line: the same number of lines, each the same directive."""
    new, old = content.split("\n"), before.split("\n")
    assert len(new) == len(old), f"{path}: {len(old)} lines became {len(new)}"
    for a, b in zip(new, old, strict=True):
        assert _key(path, a) == _key(path, b), f"{path}: line {b!r} became {a!r}"
    assert "\x00" not in content, f"{path}: NUL written"


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def _shape(node: Any) -> Any:
    """The structure of parsed data without its string values."""
    if isinstance(node, dict):
        return {k: _shape(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return type(node).__name__


def check_value_read_back(path: str, parsed: Any, before: Any, good: str, bad: str) -> None:
    """The parser sees the same structure, and wherever the benign value was, the hostile one is."""
    assert _shape(parsed) == _shape(before) or not isinstance(parsed, dict | list), path
    if any(good in s for s in _strings(before)):
        assert any(bad in s for s in _strings(parsed)), f"{path}: {bad[:60]!r} not read back"


def _xml_data(el: ET.Element) -> Any:
    return {
        "tag": el.tag,
        "attrib": dict(el.attrib),
        "text": (el.text or "").strip(),
        "children": [_xml_data(c) for c in el],
    }


STUB = r"""#!/bin/sh
{ printf '%s' "${0##*/}"; for a in "$@"; do printf '\037%s' "$a"; done; printf '\036'; } >> "$STUBLOG"
case "${0##*/}" in
  virsh) [ "$1" = domstate ] && echo 'shut off' ;;
  genisoimage|xorriso) while [ $# -gt 0 ]; do [ "$1" = -output ] && { shift; : > "$1"; }; shift; done ;;
esac
exit 0
"""
STUBS = ("virsh", "qemu-img", "genisoimage", "xorriso", "cloud-localds", "systemctl")


def dry_run(files: dict[str, str], sandbox: Path) -> list[list[str]]:
    """Run apply.sh and install-loader.sh of one machine in ``sandbox``: absolute paths are
    rewritten under it, the host commands are stubs logging their argv.  The argv log."""
    if sandbox.exists():
        shutil.rmtree(sandbox)
    root = sandbox / "root"
    bin_ = sandbox / "bin"
    bin_.mkdir(parents=True)
    for name in STUBS:
        (bin_ / name).write_text(STUB)
        (bin_ / name).chmod(0o755)
    src = root / "usr/lib/debian-installer/images/12/amd64/text"
    for rel in (
        "pxelinux.0",
        "ldlinux.c32",
        "debian-installer/amd64/linux",
        "debian-installer/amd64/initrd.gz",
    ):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(rel)
    (root / "var/lib/libvirt/images").mkdir(parents=True)
    for path, content in files.items():
        if path.endswith(".sh"):
            content = re.sub(r"(?<![\w.])/(etc|var|usr)/", f"{root}/\\1/", content)
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(content)
    log = sandbox / "argv.log"
    log.write_text("")
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "STUBLOG": str(log), "HOME": str(sandbox)}
    for script in ("etc/uniform/libvirt/apply.sh", "etc/uniform/netboot/install-loader.sh"):
        if (root / script).exists():
            p = subprocess.run(
                ["sh", "-u", str(root / script)],
                cwd=sandbox,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert p.returncode == 0, f"{script}: exit {p.returncode}\n{p.stderr}"
    assert not list(sandbox.rglob("PWNED*")), "a value was executed"
    return [rec.split("\x1f") for rec in log.read_text().split("\x1e") if rec]


def check_tree(tree: Tree, before: Tree, good: str, bad: str, out: Path) -> None:
    """Every file differing from the benign render keeps its structure and passes its parser."""
    assert sorted(tree) == sorted(before), "machines differ"
    for machine, files in tree.items():
        old = before.get(machine, {})
        changed = {p: c for p, c in files.items() if old.get(p) != c}
        if not changed:
            continue
        host = out / machine
        for path, content in files.items():
            (host / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (host / path.lstrip("/")).write_text(content)
        for path, content in changed.items():
            at = f"{host}{path}"
            assert path.isprintable() and len(path) < 512, f"file name {path[:80]!r}"
            was = path if path in old else path.replace(bad, good)
            if was in old:
                check_lines(path, content, old[was])
            if path.startswith("/etc/dnsmasq.d/"):
                assert "syntax check OK" in run(tool("dnsmasq"), "--test", f"--conf-file={at}")
            elif path.startswith("/etc/bind/uniform/db."):
                zone = path.rsplit("/db.", 1)[1]
                run(tool("named-checkzone"), "-i", "full", "-k", "fail", "-n", "fail", zone, at)
            elif path.endswith("named.conf.uniform"):
                run(tool("named-checkconf"), at)
            elif path.startswith("/etc/kea/"):
                kea_test(tool("kea-dhcp" + path[-6]), at)
            elif path.endswith(".xml"):
                tool("xmllint")
                assert "validates" in run(tool("virt-xml-validate"), at, "domain")
                parsed = _xml_data(ET.fromstring(content))
                if path in old:
                    check_value_read_back(path, parsed, _xml_data(ET.fromstring(old[path])), good, bad)
            elif path.endswith(".sh"):
                run(tool("sh"), "-n", at)
            if path.endswith((".json", ".conf")) and path.startswith(
                ("/etc/kea/", "/etc/uniform/manifest.d/")
            ):
                parsed = json.loads(content)
                if path in old:
                    check_value_read_back(path, parsed, json.loads(old[path]), good, bad)
            if ".seed/" in path:
                parsed = yaml.safe_load(content)
                if path in old:
                    check_value_read_back(path, parsed, yaml.safe_load(old[path]), good, bad)
        if any(p.endswith(".sh") for p in changed):
            got = dry_run(files, out / f"{machine}.sandbox")
            if not old:
                continue
            want = dry_run(old, out / f"{machine}.benign")
            assert [(a[0], len(a)) for a in got] == [(a[0], len(a)) for a in want], "argv split or joined"
            # the value arrives as one argument wherever the benign one did
            for a, b in zip(got, want, strict=True):
                for x, y in zip(a, b, strict=True):
                    if good in y:
                        assert bad in x or x == y, f"{a[0]}: {y!r} became {x!r}"


# ---------------------------------------------------------------- the matrix

CASES = [pytest.param(file, path, vid, id=f"{fid}|{vid}") for fid, file, path in H.FIELDS for vid in H.VALUES]


def check_refusal(err: inventory.InventoryError, bad: str) -> None:
    text = str(err)
    lines = text.split("\n")
    assert len(lines) == len(err.problems) + 1, "a problem spans several lines"
    assert "\x00" not in text and "\r" not in text and "\u2028" not in text
    assert all(len(line) <= MAX_PROBLEM_LINE for line in lines), max(lines, key=len)[:200]
    if len(bad) > 100:
        assert bad not in text


@pytest.mark.parametrize(("file", "path", "vid"), CASES)
def test_hostile_value(
    file: str, path: list[Any], vid: str, tmp_path: Path, benign: dict[tuple[str, str], Tree]
) -> None:
    for fl in FLAVOURS:
        doc = H.base(*fl)
        good = H.get(doc, file, path)
        bad = H.VALUES[vid](good)
        root = H.write(H.mutated(doc, file, path, bad), tmp_path / "-".join(fl) / "acme")
        try:
            tree = render(root)
        except inventory.InventoryError as e:
            check_refusal(e, bad)
            return  # refused: the other flavour reads the same files
        check_tree(tree, benign[fl], good, bad, tmp_path / "-".join(fl) / "out")


def test_benign_render_passes(tmp_path: Path, benign: dict[tuple[str, str], Tree]) -> None:
    """The reference the matrix compares with is itself accepted everywhere (every file checked)."""
    for fl, tree in benign.items():
        empty: Tree = {m: {} for m in tree}
        check_tree(tree, empty, "\x01", "\x01", tmp_path / "-".join(fl))
        for machine, files in tree.items():
            log = dry_run(files, tmp_path / f"{machine}-{'-'.join(fl)}.sandbox")
            if machine == "hv1":
                assert [
                    "virsh",
                    "define",
                    f"{tmp_path}/{machine}-{'-'.join(fl)}.sandbox/root/etc/uniform/libvirt/db1.xml",
                ] in log


def _schema_strings(check: Any, prefix: str = "") -> Iterator[str]:
    """Every string field of an inventory.load schema, as ``a.b[].c`` (``*`` for a mapping's values)."""
    schema = importlib.import_module("inventory.load")

    cells = dict(
        zip(check.__code__.co_freevars, (c.cell_contents for c in check.__closure__ or ()), strict=True)
    )
    join = f"{prefix}." if prefix else ""
    if "fields" in cells:
        for k, f in cells["fields"].items():
            yield from _schema_strings(f.check, join + k)
    elif "item" in cells:
        many = "[]" if check.__qualname__.startswith("list_of") else ".*"
        yield from _schema_strings(cells["item"], prefix + many)
    elif "choices" in cells or check is schema.STR:
        yield prefix


def test_matrix_covers_every_schema_string_field() -> None:
    """A new string field in inventory/load.py's schema must join the matrix (tests/helpers/hostile.py)."""
    schema = importlib.import_module("inventory.load")

    def name(file: str, path: list[Any]) -> str:
        out = ""
        for part in path[1:] if file.startswith("machines/") else path:
            if isinstance(part, int):
                out += "[]"
            else:
                out += "." * bool(out) + ("*" if part in ("lan", "hv1") else part)
        return out

    covered = {name(file, path) for _, file, path in H.FIELDS}
    fields = set(_schema_strings(schema.CUSTOMER)) | set(_schema_strings(schema.MACHINE))
    assert len(fields) > 40
    assert fields - covered == set()
