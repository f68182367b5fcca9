"""The hypervisor's rendered scripts run for real (sh), against a recording ``virsh``:

* ``apply.sh`` converges whatever state libvirt reports a VM in: a paused VM is resumed, a
  shut-off one started, a crashed one destroyed and started, a suspended one woken, a running
  one left alone; a VM on its way down is reported and the run fails (the next run starts it);
  a decommissioned VM is stopped whatever its state before it is undefined;
* ``disks.sh`` builds the seed ISO root-only (the user-data may carry the VM's private host
  key), whatever the caller's umask and whatever a killed run left behind.

The ``virsh`` here answers ``domstate`` from a table and records every call: what is under
test is the scripts' logic; the real libvirt runs them in tests/lab/test_vm_lab.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from payloads import render_customer
from payloads.roles.hypervisor import IMAGES_DIR, LIBVIRT_DIR
from tests.helpers.provision import inv

#: domstate from $VIRSH_STATES ("name=state" lines); list/metadata from the same table (every
#: VM there is uniform-managed); every call appended to $VIRSH_LOG
FAKE_VIRSH = r"""#!/bin/sh
echo "$*" >>"$VIRSH_LOG"
case "$1" in
  domstate) sed -n "s/^$2=//p" "$VIRSH_STATES" ;;
  list) sed 's/=.*//' "$VIRSH_STATES" ;;
  *) : ;;
esac
"""


@cache
def _hv1() -> Any:
    return render_customer(inv())["hv1"]


def _run_apply(tmp_path: Path, states: dict[str, str]) -> tuple[int, list[str], str]:
    hv = _hv1()
    script = hv.file(f"{LIBVIRT_DIR}/apply.sh").content.replace(LIBVIRT_DIR, str(tmp_path))
    for f in hv.files:  # the disks scripts it runs first: nothing to do (paths moved, no disks)
        if f.path.endswith(".disks.sh"):
            (tmp_path / Path(f.path).name).write_text("true\n")
    (tmp_path / "apply.sh").write_text(script)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "virsh").write_text(FAKE_VIRSH)
    (bin_dir / "virsh").chmod(0o755)
    (tmp_path / "states").write_text("".join(f"{k}={v}\n" for k, v in states.items()))
    log = tmp_path / "virsh.log"
    log.write_text("")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "VIRSH_STATES": str(tmp_path / "states"),
        "VIRSH_LOG": str(log),
    }
    proc = subprocess.run(["sh", str(tmp_path / "apply.sh")], env=env, capture_output=True, text=True)
    calls = [c for c in log.read_text().splitlines() if c.split()[0] not in ("define", "autostart")]
    return proc.returncode, calls, proc.stderr


@pytest.mark.parametrize(
    ("state", "rc", "actions"),
    [
        ("running", 0, []),
        ("idle", 0, []),
        ("blocked", 0, []),
        ("paused", 0, ["resume vold"]),
        ("shut off", 0, ["start vold"]),
        ("crashed", 0, ["destroy vold", "start vold"]),
        ("pmsuspended", 0, ["dompmwakeup vold"]),
        ("in shutdown", 1, []),
        ("dying", 1, []),
    ],
)
def test_apply_brings_a_vm_that_should_run_to_running(
    tmp_path: Path, state: str, rc: int, actions: list[str]
) -> None:
    # vnew (staged) and vold (active) both run; vnew is running already
    code, calls, err = _run_apply(tmp_path, {"vnew": "running", "vold": state})
    assert code == rc, err
    assert [c for c in calls if c.split()[0] != "domstate" and c.split()[-1] == "vold"] == actions
    assert [c for c in calls if c.split()[-1] == "vnew"] == ["domstate vnew"]
    assert ("vold is '" + state + "'" in err) == (rc == 1)


@pytest.mark.parametrize(
    ("state", "destroyed"),
    [("running", True), ("paused", True), ("pmsuspended", True), ("crashed", True), ("shut off", False)],
)
def test_apply_stops_a_decommissioned_vm_whatever_its_state_before_undefining_it(
    tmp_path: Path, state: str, destroyed: bool
) -> None:
    code, calls, err = _run_apply(tmp_path, {"vnew": "running", "vold": "running", "gone": state})
    assert code == 0, err
    gone = [c for c in calls if "gone" in c.split() and c.split()[0] != "domstate"]
    assert gone == [
        "metadata gone --uri http://uniform.invalid/xmlns/vm/1",
        *(["destroy gone"] if destroyed else []),
        "undefine gone --nvram",
    ]


@pytest.mark.parametrize("leftover", [False, True], ids=["fresh", "after-a-killed-run"])
def test_the_seed_iso_is_root_only_whatever_the_umask(tmp_path: Path, leftover: bool) -> None:
    if shutil.which("genisoimage") is None and shutil.which("xorriso") is None:
        pytest.fail("genisoimage or xorriso is needed (tools/debian-packages.txt)")
    hv = _hv1()
    seed_dir = tmp_path / "libvirt" / "vnew.seed"
    seed_dir.mkdir(parents=True)
    for name in ("meta-data", "user-data", "network-config"):
        content = hv.file(f"{LIBVIRT_DIR}/vnew.seed/{name}").content
        (seed_dir / name).write_text(content)
    images = tmp_path / "images"
    images.mkdir()
    script = hv.file(f"{LIBVIRT_DIR}/vnew.disks.sh").content
    script = script.replace(LIBVIRT_DIR, str(tmp_path / "libvirt")).replace(IMAGES_DIR, str(images))
    for line in script.splitlines():  # the VM's disks exist: only the seed is built
        if line.startswith("[ -e "):
            Path(line.split()[2]).touch()
    if leftover:
        (images / "vnew-seed.iso.tmp").write_text("half an ISO")
        (images / "vnew-seed.iso.tmp").chmod(0o644)
    (tmp_path / "disks.sh").write_text(script)
    proc = subprocess.run(
        ["sh", "-c", f"umask 022 && sh {tmp_path / 'disks.sh'}"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    iso = images / "vnew-seed.iso"
    assert stat.S_IMODE(iso.stat().st_mode) == 0o600
    assert not (images / "vnew-seed.iso.tmp").exists()
    assert iso.read_bytes()[0x8001:0x8006] == b"CD001"  # an ISO9660 image, not the leftover
