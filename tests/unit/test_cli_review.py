"""``uniform review``: summary of a recorded preview, git paths -> stacks, flow with a stand-in engine.

``test_cli_review_preview.json`` was recorded with the real engine (``pulumi preview --diff
--json``) on a copy of stacks/demo after ``up``, then: ``uniform machine add web3 --kind vm
--hypervisor hv1 --cores 1 --memory 1GiB --disk root=10GiB --nic eth0:lan --tag web --state
staged`` + ``uniform pin``, ``uniform machine remove web1 --force``, ``uniform tag add web2
canary``, ``uniform role add svc1 hypervisor``, and web2's cores 2 -> 3.  File contents are
trimmed (the summary only compares sha256 and mode)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from cli.main import main
from cli.review import format_summary, group_of, report_blocks, stacks_for, summarize, urn_type_name
from payloads.index import index_of

RECORDED = Path(__file__).with_name("test_cli_review_preview.json")
ROOT = Path(__file__).resolve().parents[2]


def recorded() -> dict:
    return json.loads(RECORDED.read_text())


def test_urn_and_group_parsing() -> None:
    urn = (
        "urn:pulumi:e2e::uniform::uniform:machine:Machine$uniform:services:DnsServer"
        "$pulumi-python:dynamic:Resource::svc1-dns-files"
    )
    assert urn_type_name(urn) == ("pulumi-python:dynamic:Resource", "svc1-dns-files")
    assert urn_type_name("urn:pulumi:e2e::uniform::uniform:machine:Machine::web-base") == (
        "uniform:machine:Machine",
        "web-base",
    )
    assert group_of("svc1-dns-files") == ("svc1", "dns")
    assert group_of("my-base-base") == ("my-base", "base")
    assert group_of("hv-1-hypervisor-files") == ("hv-1", "hypervisor")
    assert group_of("-base") is None and group_of("svc1-dns") is None


def test_summary_of_a_recorded_preview() -> None:
    s = summarize(recorded())
    assert s.added == ["web3"] and s.removed == ["web1"]
    assert s.changed == {"hv1": ["hypervisor"], "svc1": ["base", "dhcp", "dns", "hypervisor"]}
    assert s.counts == {"create": 4, "delete": 2, "same": 10, "update": 4}
    by = {(g.machine, g.group): g for g in s.groups}
    assert sorted(by) == [
        ("hv1", "hypervisor"),
        ("svc1", "base"),
        ("svc1", "dhcp"),
        ("svc1", "dns"),
        ("svc1", "hypervisor"),
        ("web1", "base"),
        ("web3", "base"),
    ]
    hv = by[("hv1", "hypervisor")]
    assert hv.op == "update" and hv.mode == "local" and hv.reload == ["sh /etc/uniform/libvirt/apply.sh"]
    assert hv.added == ["/etc/uniform/libvirt/web3.disks.sh", "/etc/uniform/libvirt/web3.xml"]
    assert hv.removed == ["/etc/uniform/libvirt/web1.disks.sh", "/etc/uniform/libvirt/web1.xml"]
    assert "/etc/uniform/libvirt/web2.xml" in hv.changed  # cores 2 -> 3
    assert by[("svc1", "hypervisor")].op == "create" and by[("web1", "base")].op == "delete"
    assert by[("web1", "base")].removed and not by[("web1", "base")].added
    # web2's tag changes nothing delivered: web2 is not in the summary
    assert "web2" not in s.changed and all(g.machine != "web2" for g in s.groups)


def in_index_shape(preview: dict, which: tuple[str, ...]) -> dict:
    """``preview`` with the delivery inputs of the ``which`` states (oldState, newState) in the
    wire format of today (contents under ``files``, metadata in ``index``), as an engine records
    them after the upgrade: the old state of a step may still be in the shape before it."""
    out = json.loads(json.dumps(preview))
    for step in out["steps"]:
        for key in which:
            inputs = (step.get(key) or {}).get("inputs")
            if inputs and isinstance(inputs.get("files"), dict):
                records = inputs["files"]
                inputs["files"] = {p: f["content"] for p, f in records.items()}
                inputs["index"] = index_of(records)
    return out


@pytest.mark.parametrize("which", [("oldState", "newState"), ("newState",)], ids=["index", "upgrade"])
def test_summary_reads_the_index_shape(which: tuple[str, ...]) -> None:
    before = summarize(recorded())
    after = summarize(in_index_shape(recorded(), which))
    assert after == before
    assert any(g.changed for g in after.groups), "the preview changes files"


def test_summary_text() -> None:
    text = format_summary("e2e", summarize(recorded()))
    assert text.splitlines()[:6] == [
        "stack e2e: 4 create, 2 delete, 4 update (10 unchanged)",
        "  machines added:   web3",
        "  machines removed: web1",
        "  machines changed: hv1 (hypervisor), svc1 (base, dhcp, dns, hypervisor)",
        "  services reload:  hypervisor on hv1, dhcp on svc1, dns on svc1, hypervisor on svc1",
        "  delivery groups (local delivery: files written, no reload commands):",
    ]
    assert "    svc1 dhcp [update]        ~/etc/dnsmasq.d/uniform-dhcp.conf" in text
    assert "then:" not in text  # local delivery runs no reload commands


def test_summary_ssh_mode_shows_reload_commands() -> None:
    data = recorded()
    for step in data["steps"]:
        for key in ("oldState", "newState"):
            target = ((step.get(key) or {}).get("inputs") or {}).get("target")
            if isinstance(target, dict):
                target["mode"] = "ssh"
    text = format_summary("e2e", summarize(data))
    assert "(ssh delivery)" in text
    assert "then: sh /etc/uniform/libvirt/apply.sh" in text


def test_no_change_summary() -> None:
    same = {"steps": [{"op": "same", "urn": "urn:pulumi:s::uniform::pulumi:pulumi:Stack::uniform-s"}]}
    assert format_summary("s", summarize({**same, "changeSummary": {"same": 1}})).splitlines() == [
        "stack s: no changes (1 unchanged)",
        "  machines added:   -",
        "  machines removed: -",
        "  machines changed: -",
        "  services reload:  -",
    ]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "stacks").mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text("name: uniform\nruntime: python\nstackConfigDir: stacks\n")
    for stack, inv in (("acme", "acme"), ("acme-staging", "acme"), ("globex", "globex"), ("broken", None)):
        cfg = f"config:\n  uniform:inventory: {inv}\n" if inv else "config: {}\n"
        (proj / "stacks" / f"Pulumi.{stack}.yaml").write_text(cfg)
    return proj


@pytest.mark.parametrize(
    "files, stacks, note",
    [
        (["stacks/acme/machines/web1.yaml"], ["acme", "acme-staging"], None),
        (["stacks/Pulumi.globex.yaml", "README.md"], ["globex"], None),
        (
            ["stacks/acme/customer.yaml", "stacks/globex/machines/a.yaml"],
            ["acme", "acme-staging", "globex"],
            None,
        ),
        (["stacks/Pulumi.gone.yaml"], [], "stack gone has no config file any more"),
        (["stacks/newco/customer.yaml"], [], "no stack uses stacks/newco"),
        (["payloads/templates/hosts.j2"], ["acme", "acme-staging", "globex"], "every stack"),
        # every shipped package and the policy pack count as code (a rule change used to
        # be skipped because its path started with inventory/cli)
        (["inventory/policy.py"], ["acme", "acme-staging", "globex"], "every stack"),
        (["policy/__main__.py"], ["acme", "acme-staging", "globex"], "every stack"),
        (["connectors/ssh.py"], ["acme", "acme-staging", "globex"], "every stack"),
        (["ops/verify.py"], ["acme", "acme-staging", "globex"], "every stack"),
        (["cli/review.py"], ["acme", "acme-staging", "globex"], "every stack"),
        (["docs/cli.md", "tests/unit/test_cli.py", "bench/compare.py"], [], None),
    ],
)
def test_stacks_for(project: Path, files: list[str], stacks: list[str], note: str | None) -> None:
    got, notes = stacks_for(files, project)
    assert got == stacks
    assert (note is None and not notes) or (note is not None and any(note in n for n in notes)), notes


def test_report_blocks() -> None:
    text = (
        "Previewing update (e2e):\n  + web3 create\nPolicies:\n    x uniform@v0.0.1\n"
        "        - [mandatory]  pinned-addresses  (uniform:machine:Machine: web3)\n\n"
        "Diagnostics:\n  pulumi:pulumi:Stack (uniform-e2e):\n"
        "    warning: using pulumi-analyzer-policy-uniform-python from $PATH at /x\n"
        "    error: preview failed\n\nOutputs:\n    customer: e2e\n"
    )
    assert report_blocks(text) == [
        "Policies:",
        "    x uniform@v0.0.1",
        "        - [mandatory]  pinned-addresses  (uniform:machine:Machine: web3)",
        "Diagnostics:",
        "  pulumi:pulumi:Stack (uniform-e2e):",
        "    error: preview failed",
    ]


def _fake_pulumi(bin_dir: Path, preview: Path, fail: bool = False) -> None:
    """A stand-in ``pulumi`` printing the recorded preview (or a failure) and its arguments."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "pulumi"
    body = (
        'echo "$@" >> "$(dirname "$0")/calls"\n'
        'case " $* " in *" --json "*) cat ' + str(preview) + " ;; esac\n"
    )
    if fail:
        body += 'case " $* " in *" --json "*) ;; *) printf "Policies:\\n    bad thing\\n"; esac\nexit 1\n'
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def _git(proj: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    subprocess.run(["git", *args], cwd=proj, env=env, check=True, capture_output=True)


def test_review_flow_with_a_stand_in_engine(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(ROOT / "policy", project / "policy", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "stacks" / "acme").mkdir()
    (project / "stacks" / "acme" / "customer.yaml").write_text("customer: acme\n")
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "base")
    (project / "stacks" / "acme" / "customer.yaml").write_text("customer: acme\ndomain: a.example\n")
    _git(project, "commit", "-q", "-am", "change acme")
    bin_dir = tmp_path / "bin"
    _fake_pulumi(bin_dir, RECORDED)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    assert main(["review", "--project", str(project), "--base", "HEAD~1"]) == 0
    out = capsys.readouterr().out
    assert out.count("machines added:   web3") == 2  # acme and acme-staging
    calls = (bin_dir / "calls").read_text().splitlines()
    assert calls == [
        f"--non-interactive preview --diff --json --stack {s} --policy-pack {project / 'policy'}"
        for s in ("acme", "acme-staging")
    ]
    assert main(["review", "--project", str(project), "--base", "HEAD", "--json"]) == 0
    assert capsys.readouterr().out == "no stack touched by this change\n"
    assert main(["review", "--project", str(project), "--stack", "globex", "--json", "--no-policy"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["globex"]["ok"] and got["globex"]["machines"]["added"] == ["web3"]
    assert main(["review", "--project", str(project), "--base", "nope"]) == 2
    assert "git diff --name-only nope...HEAD" in capsys.readouterr().err

    _fake_pulumi(bin_dir, RECORDED, fail=True)
    assert main(["review", "--project", str(project), "--stack", "acme"]) == 1
    out = capsys.readouterr().out
    assert "stack acme: PREVIEW FAILED (exit 1)\n  Policies:\n      bad thing\n" in out
    assert "machines added:   web3" in out  # what the change would have done


def test_review_without_a_policy_pack_or_pulumi(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "--project", str(project), "--stack", "acme"]) == 2
    assert "no policy pack at" in capsys.readouterr().err
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert main(["review", "--project", str(project), "--stack", "acme", "--no-policy"]) == 2
    assert "no pulumi on PATH (run tools/bootstrap.sh" in capsys.readouterr().err
