"""Each subcommand's ``--help`` against real calls: every option its help lists is accepted by a
real invocation (on copies of stacks/demo), nothing outside it is, and the help lists exactly the
options the one parser takes. An inner parser (the old ``ops.report.main(argv)`` pass-through)
would fail this: its options would be accepted without being listed, or the listed ones refused."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import payloads
from cli.exitcodes import Exit
from cli.main import build_parser, main
from connectors.local import write_tree
from inventory import load

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(__file__).parent / "interop_cases" / "merge" / "site"  # uniform import's fixtures
VIRT = Path(__file__).parent / "interop_cases" / "libvirt"  # interop.parse.libvirt's fixtures
RECORDED = Path(__file__).with_name("test_cli_review_preview.json")


def leaves(
    p: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command words, parser) of every subcommand that takes no further subcommand (aliases once)."""
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, p
        return
    seen: set[int] = set()
    for name, child in subs[0].choices.items():
        if id(child) not in seen:
            seen.add(id(child))
            yield from leaves(child, (*path, name))


def help_options(p: argparse.ArgumentParser) -> set[str]:
    """The option strings the help text lists (the first column of its option lines)."""
    found: set[str] = set()
    for line in p.format_help().splitlines():
        m = re.match(r"^  (-[^ ].*?)(?:  +|$)", line)
        if m:
            for part in m.group(1).split(", "):
                found.add(part.split(" ", 1)[0])
    return found


def parser_options(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings}


LEAVES = dict(leaves(build_parser()))
SELECTION = {"-C", "--customer", "-s", "--stack", "--dir", "--project", "--progress"}


@pytest.mark.parametrize("words", sorted(LEAVES), ids=" ".join)
def test_help_lists_exactly_the_options_the_parser_takes(words: tuple[str, ...]) -> None:
    p = LEAVES[words]
    assert help_options(p) == parser_options(p), words
    assert "examples:" in p.format_help()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the demo customer (stack demo), a rendered tree and a key file."""
    proj = tmp_path / "proj"
    (proj / "stacks").mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text("name: uniform\nruntime: python\nstackConfigDir: stacks\n")
    shutil.copytree(ROOT / "stacks" / "demo", proj / "stacks" / "demo")
    shutil.copy(ROOT / "stacks" / "Pulumi.demo.yaml", proj / "stacks")
    shutil.copytree(ROOT / "policy", proj / "policy", ignore=shutil.ignore_patterns("__pycache__"))
    write_tree(payloads.render_customer(load(proj / "stacks" / "demo")), proj / "tree")
    (proj / "key").write_text("not a key\n")
    (proj / "keys.json").write_text("{}\n")  # verify --host-keys: none made
    bin_dir = proj / "bin"  # a stand-in pulumi for review: prints the recorded preview
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(f'#!/bin/sh\ncase " $* " in *" --json "*) cat {RECORDED} ;; esac\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *args], cwd=proj, env=env, check=True, capture_output=True)
    return proj


#: real calls of each subcommand (without the customer selection, added below), together
#: using every option its help lists; {P} is the project. Each runs on a fresh copy.
CALLS: dict[tuple[str, ...], list[list[str]]] = {
    ("check",): [[]],
    ("unpinned",): [[]],
    ("pin",): [[]],
    ("transition",): [["db1", "staged"]],
    ("machine", "add"): [
        ["web3", "--kind", "vm", "--hypervisor", "hv1", "--cores", "1", "--memory", "1GiB",
         "--disk", "root=10GiB", "--nic", "eth0:lan", "--tag", "web", "--role", "dns",
         "--state", "planned", "--location", "rack1", "--group", "tier"],
        ["hv3", "--kind", "hw", "--cores", "8", "--memory", "16GiB", "--role", "hypervisor",
         "--virtualization", "qemu"],
    ],
    ("machine", "remove"): [["db1"], ["web1", "--force"]],
    ("machine", "move"): [
        ["db1", "--hypervisor", "hv2"],  # planned: not defined anywhere, nothing to say
        ["web1", "--hypervisor", "hv2", "--disk-copied"],
        ["web2", "--hypervisor", "hv2", "--fresh-disk"],
    ],
    ("nic", "add"): [
        ["db1", "eth1", "--network", "lan"],
        ["db1", "eth2", "--network", "lan", "--mac", "0c:c4:7a:10:20:03", "--ipv4", "10.20.0.99"],
    ],
    ("mac", "generate"): [["db1", "eth0"]],
    ("tag", "add"): [["web1", "blue"]],
    ("tag", "remove"): [["web1", "web"]],
    ("role", "add"): [["db1", "dns"]],
    ("role", "remove"): [["svc1", "dns"]],
    ("list",): [
        ["--tag", "web", "--role", "dns", "--state", "active", "--hypervisor", "hv1", "--network", "lan",
         "--kind", "vm", "--json"],
    ],
    ("render",): [["{P}/render-out"]],
    ("policy",): [[]],
    ("report",): [["-o", "{P}/r.html"], ["--output", "-"]],
    ("import",): [
        ["--dnsmasq", f"{SITE}/demo-dnsmasq.conf", "--network", "10.30.0.0/24=mgmt",
         "--known-hosts", f"{SITE}/known_hosts", "--dry-run", "--format", "json",
         "--libvirt", f"hv1={VIRT}/concatenated/all.xml", "--site-root", f"{SITE}"],
        ["--zone", f"{SITE}/db.demo.example:demo.example", "--named-conf", f"{SITE}/named.conf",
         "--dnsmasq", f"{SITE}/demo-dnsmasq.conf", "--isc-dhcpd", f"{SITE}/demo-dhcpd.conf",
         "--kea", f"{SITE}/demo-kea6.conf", "--libvirt", f"hv1={SITE}/hv1-domains.xml",
         "--domain", "demo.example", "--force", "--group", "imported"],
    ],
    ("verify",): [
        ["--local-root", "{P}/tree", "-i", "{P}/key", "-j", "2", "--user", "root", "--port", "22",
         "--connect-timeout", "3", "--timeout", "9", "--machine", "web1", "--json", "-q"],
        ["--local-root", "{P}/tree", "--identity", "{P}/key", "--jobs", "1", "--quiet",
         "--host-keys", "{P}/keys.json"],
        ["--local-root", "{P}/tree", "--adopt"],
    ],
    ("export", "ansible"): [
        ["-o", "{P}/a.yml", "--state", "active", "--state", "all", "--machine", "web1", "--tag", "web",
         "--role", "dns", "--hypervisor", "hv1", "--kind", "vm", "--network", "lan", "--user", "ops",
         "--port", "2222"],
        ["--output", "-", "--known-hosts", "{P}/kh", "--host-keys", "{P}/keys.json"],
    ],
    ("export", "prometheus"): [
        ["-o", "{P}/p.json", "--port", "9100", "--port", "9256", "--state", "active", "--machine", "web1",
         "--tag", "web", "--role", "dns", "--hypervisor", "hv1", "--kind", "vm", "--network", "lan"],
        ["--output", "-"],
    ],
    ("export", "ssh"): [
        ["-o", "{P}/ssh", "--known-hosts", "{P}/kh", "--state", "all", "--machine", "web1", "--tag", "web",
         "--role", "dns", "--hypervisor", "hv1", "--kind", "hw", "--network", "lan", "--user", "ops",
         "--port", "22"],
        ["--output", "{P}/ssh2", "--host-keys", "{P}/keys.json"],
    ],
    ("export", "csv"): [
        ["-o", "{P}/m.csv", "--state", "planned", "--machine", "db1", "--tag", "db", "--role", "dns",
         "--hypervisor", "hv1", "--kind", "vm", "--network", "lan"],
        ["--output", "-"],
    ],
}  # fmt: skip

#: edits made (with --dir) before each call of a command, on the same copy
SETUP: dict[tuple[str, ...], list[list[str]]] = {
    ("machine", "move"): [
        [
            "machine",
            "add",
            "hv2",
            "--kind",
            "hw",
            "--cores",
            "32",
            "--memory",
            "256GiB",
            "--role",
            "hypervisor",
            # a hypervisor has the bridges of the networks its NICs are on alone: db1's is lan's
            "--nic",
            "eno1:lan",
        ]
    ],
}

#: review has no customer selection: its own --project / --stack
REVIEW_CALLS = [
    ["--project", "{P}", "--stack", "demo", "--no-policy", "--json"],
    ["--project", "{P}", "--base", "HEAD", "--uncommitted", "--policy-pack", "{P}/policy"],
    ["--project", "{P}", "--stack", "demo", "--no-policy", "--format", "markdown", "--passphrase-dir", "{P}"],
]


#: preview/up over many stacks have no customer selection either: (call, expected exit); the
#: stand-in pulumi's recorded preview has changes, so --expect-no-changes exits 1
RUN_CALLS = [
    (["--project", "{P}", "--all", "--parallel", "2", "--progress"], Exit.OK),
    (["--project", "{P}", "-s", "demo", "--stack", "demo", "--shard", "1/1", "-j", "1", "--json"], Exit.OK),
    (["--project", "{P}", "--all", "--expect-no-changes"], Exit.PROBLEMS),
    (["--project", "{P}", "--all", "--passphrase-dir", "{P}/stacks"], Exit.PROBLEMS),  # no file stacks/demo
]


def selections(proj: Path) -> list[list[str]]:
    """Every form of the customer selection (each option of the group at least once)."""
    d = str(proj / "stacks" / "demo")
    return [
        ["-C", "demo", "--project", str(proj), "--progress"],
        ["--customer", "demo", "--project", str(proj)],
        ["-s", "demo", "--project", str(proj)],
        ["--stack", "demo", "--project", str(proj)],
        ["--dir", d],
    ]


def fresh(proj: Path, tmp_path: Path, n: int) -> Path:
    copy = tmp_path / f"p{n}"
    shutil.copytree(proj, copy, symlinks=True)
    return copy


def run_call(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse: a usage error
        rc = int(e.code or 0)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("words", sorted(LEAVES), ids=" ".join)
def test_every_listed_option_is_accepted_by_a_real_call(
    words: tuple[str, ...],
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{project / 'bin'}{os.pathsep}{os.environ['PATH']}")
    listed = help_options(LEAVES[words]) - {"-h", "--help"}
    used: set[str] = set()
    n = 0
    expect: list[int] = []
    if words == ("review",):
        calls = [(c, []) for c in REVIEW_CALLS]
    elif words in (("preview",), ("up",)):
        calls = [(c, []) for c, _ in RUN_CALLS]
        expect = [rc for _, rc in RUN_CALLS]
    else:
        calls = [(c, sel) for c in CALLS[words] for sel in selections(project)]
    for k, (call, sel) in enumerate(calls):
        n += 1
        proj = fresh(project, tmp_path, n)
        sel = [s.replace(str(project), str(proj)) for s in sel]
        for pre in SETUP.get(words, []):
            assert main([*pre, "--dir", str(proj / "stacks" / "demo")]) == Exit.OK
        argv = [*words, *(a.replace("{P}", str(proj)) for a in call), *sel]
        rc, err = run_call(argv, capsys)
        assert rc == (expect[k] if expect else Exit.OK), (argv, err)
        assert "usage:" not in err and "unrecognized" not in err, (argv, err)
        used |= {a for a in [*call, *sel] if a.startswith("-") and a != "-"}
    assert used == listed, (
        f"listed but never called: {sorted(listed - used)}; called, not listed: {sorted(used - listed)}"
    )
    # nothing outside the help is accepted
    proj = fresh(project, tmp_path, 0)
    rc, err = run_call(
        [*words, *(a.replace("{P}", str(proj)) for a in calls[0][0]), "--no-such-option"], capsys
    )
    assert rc == Exit.USAGE and "unrecognized arguments: --no-such-option" in err


def test_selection_before_the_command(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", "demo", "--project", str(project), "report", "-o", "-"]) == Exit.OK
    assert capsys.readouterr().out.lower().startswith("<!doctype html>")


def test_report_help_and_call_agree(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug of issue 13: `uniform report --help` showed -C and no output, and `-C acme` failed."""
    monkeypatch.chdir(project)
    with pytest.raises(SystemExit) as e:
        main(["report", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "-o FILE, --output FILE" in text and "-C NAME, --customer NAME" in text
    assert help_options(LEAVES[("report",)]) == {
        "-h",
        "--help",
        "-o",
        "--output",
        "-C",
        "--customer",
        "-s",
        "--stack",
        "--dir",
        "--project",
        "--progress",
    }
    assert main(["report", "-C", "demo", "-o", "x.html"]) == Exit.OK
    assert (project / "x.html").read_text().lower().startswith("<!doctype html>")
    assert main(["report", "-C", "demo"]) == Exit.OK
    assert (project / "report-demo.html").is_file()
