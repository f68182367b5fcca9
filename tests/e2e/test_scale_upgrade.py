"""A stack deployed by uniform before the scale work (issue 17) upgrades in place.

The scale work changed what the program registers (docs/scale.md): no SDK stack traces
in the state, and a VM's placement carried by its base files instead of a
``<vm>-placement`` resource of its own.  A customer deployed by the code as it was
(main at BASE, extracted with ``git archive``) is previewed and updated with the code as
it is: no delivery resource is created, replaced, updated or deleted (only the
placement resources go, which have no effect on any host), no file on the target is
rewritten, the move check holds from the first run on, and the run after it is a
no-change preview.

Payloads change too after BASE (a VM's seed on a virtio disk, its serial log, ...): the
delivery resources whose rendered files differ between the two checkouts (rendered by
each, ``rendered_groups``) are updated and rewrite exactly those files; every other
delivery resource stays the same step and every other file keeps its bytes and mtime.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from harness.engine import ROOT, Engine, add_customer, copy_project

pytestmark = pytest.mark.slow

#: main when the scale work began (the code every stack deployed before it ran)
BASE = "a99f0a79f50b8a11ad08ee787512c03d10fc095f"
PLACEMENT = "pulumi-python:dynamic/uniform:Placement"
FILES = "pulumi-python:dynamic/uniform:Files"
HV2 = """\
name: hv2
kind: hw
cores: 8
memory: 32GiB
nics:
  - name: eno1
    mac: "0c:c4:7a:10:20:99"
    networks:
      - network: lan
        ipv4: 10.20.0.99
roles: [hypervisor]
state: active
history: [planned, staged]
"""


def old_tree(dest: Path) -> Path:
    """The project at BASE, unpacked into ``dest``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASE], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


#: each checkout's rendering of a customer: resource name -> {machine/path: sha256} of its files
_RENDER = """
import json, sys
import inventory, payloads
from payloads.roles import resource_name
inv = inventory.load(sys.argv[1])
print(json.dumps({
    resource_name(m, g): {m + f.path: f.sha256 for f in files}
    for m, pl in payloads.render_customer(inv).items()
    for g, files in pl.groups().items()
}))
"""


def rendered_groups(code: Path, inv_dir: Path) -> dict[str, dict[str, str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _RENDER, str(inv_dir)],
        # cwd: `python -c` puts it first on sys.path, before PYTHONPATH
        capture_output=True, text=True, check=True, cwd=code,
        env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return dict(json.loads(proc.stdout))


def files_on_target(out: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()
    }


def test_a_stack_deployed_before_upgrades_without_redelivery(tmp_path: Path, engine_factory) -> None:
    old = old_tree(tmp_path / "old")
    proj = copy_project(tmp_path / "proj", program=old / "__main__.py")
    add_customer(proj, old / "stacks" / "demo", "e2e")
    (proj / "stacks" / "e2e" / "machines" / "hv2.yaml").write_text(HV2)  # somewhere to move to
    new_eng = engine_factory(proj)
    old_eng = Engine(cwd=proj, env={**new_eng.env, "PYTHONPATH": str(old)})
    old_eng.run("stack", "init", "e2e")
    old_eng.run("up", "--yes")
    before = json.loads(old_eng.run("stack", "export").stdout)["deployment"]["resources"]
    out = proj / "out" / "e2e"
    delivered = files_on_target(out)
    assert delivered

    inv_dir = proj / "stacks" / "e2e"
    was_rendered, now_rendered = rendered_groups(old, inv_dir), rendered_groups(ROOT, inv_dir)
    assert set(was_rendered) == set(now_rendered)
    rerendered = {n for n in now_rendered if now_rendered[n] != was_rendered[n]}

    (proj / "__main__.py").write_text((ROOT / "__main__.py").read_text())
    preview = new_eng.preview_json()
    ops = Counter((s["op"], s["urn"].split("::")[2].rsplit("$", 1)[-1]) for s in preview["steps"])
    changed = {k: n for k, n in ops.items() if k[0] != "same"}
    placements = sum(1 for r in before if r["type"] == PLACEMENT)
    assert placements > 0
    want = {("delete", PLACEMENT): placements}
    if rerendered:
        want[("update", FILES)] = len(rerendered)
    assert changed == want, changed
    updated = {s["urn"].rsplit("::", 1)[1] for s in preview["steps"] if s["op"] == "update"}
    assert updated == rerendered

    new_eng.run("up", "--yes")
    after = json.loads(new_eng.run("stack", "export").stdout)["deployment"]["resources"]
    # same bytes, same mtimes: nothing re-sent but the files whose rendering changed
    rewritten = {
        path
        for name in rerendered
        for path, sha in now_rendered[name].items()
        if was_rendered[name].get(path) != sha
    }
    assert rewritten or not rerendered
    now_on_target = files_on_target(out)
    assert {k: v for k, v in now_on_target.items() if k not in rewritten} == {
        k: v for k, v in delivered.items() if k not in rewritten
    }
    # the same delivery resources, not new ones: ids and creation times carried over
    was = {
        r["urn"]: (r.get("id"), r.get("created"))
        for r in before
        if r.get("custom") and r["type"] != PLACEMENT
    }
    now = {r["urn"]: (r.get("id"), r.get("created")) for r in after if r.get("custom")}
    assert {u: now.get(u) for u in was} == was
    # the state lost the SDK's stack traces (components/sdk.py)
    assert any(r.get("stackTrace") for r in before)
    # (all but the stack itself, which the SDK registers before the program runs)
    assert not any(r.get("stackTrace") for r in after if r["type"] != "pulumi:pulumi:Stack")
    assert len(json.dumps(after)) < 0.8 * len(json.dumps(before))
    # the placements moved into the base files' recorded inputs (what check reads)
    assert not [r for r in after if r["type"] == PLACEMENT]
    recorded = {
        r["urn"].rsplit("::", 1)[1]: r["inputs"]["placement"]["hypervisor"]
        for r in after
        if r.get("inputs", {}).get("placement")
    }
    was_placed = {
        r["urn"].rsplit("::", 1)[1].removesuffix("-placement"): r["inputs"]["hypervisor"]
        for r in before
        if r["type"] == PLACEMENT
    }
    assert recorded == {f"{vm}-base": hv for vm, hv in was_placed.items()}
    new_eng.run("preview", "--expect-no-changes")

    # and a hand-edited move is refused, as before the upgrade
    web1 = proj / "stacks" / "e2e" / "machines" / "web1.yaml"
    web1.write_text(re.sub(r"(?m)^hypervisor: hv1$", "hypervisor: hv2", web1.read_text()))
    proc = new_eng.run("preview", check=False)
    assert proc.returncode != 0
    assert "web1 would move from hypervisor hv1 to hv2, but its disks are on hv1" in proc.stdout + proc.stderr
