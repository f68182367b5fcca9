"""Smoke test of the real engine: preview, up, no-change preview, destroy."""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

PROGRAM = """
import pulumi
from components.delivery import Files

Files("smoke", group="base", target={"mode": "local", "root": "out"},
      files={"/etc/motd": {"content": "hello from the engine\\n", "mode": "0640", "sha256": "x1"}},
      reload=[])
pulumi.export("ok", True)
"""


def test_engine_versions(engine_factory, tmp_path: Path) -> None:
    eng = engine_factory(tmp_path)
    # the pinned engine, or an installed official one at least as new (tools/bootstrap.sh)
    version = eng.run("version").stdout.strip()
    assert re.fullmatch(r"v\d+\.\d+\.\d+", version), version
    assert tuple(int(x) for x in version[1:].split(".")) >= (3, 259, 0), version
    py = subprocess.run(
        [
            str(ROOT / ".venv/bin/python"),
            "-c",
            "import pulumi, importlib.metadata as m;print(m.version('pulumi'), m.version('pulumi-command'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert py.stdout.split() == ["3.259.0", "1.2.1"]


def test_preview_up_noop_destroy(engine_factory, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Pulumi.yaml").write_text(
        textwrap.dedent(
            """\
        name: smoke
        runtime:
          name: python
          options:
            virtualenv: %s
        """
            % (ROOT / ".venv")
        )
    )
    (proj / "__main__.py").write_text(PROGRAM)
    eng = engine_factory(proj)
    eng.run("stack", "init", "smoke")

    steps = eng.preview_json()
    ops = sorted(s["op"] for s in steps["steps"])
    assert ops == ["create", "create"], steps["steps"]  # the stack and the file resource
    assert not (proj / "out").exists(), "preview must not execute anything"

    eng.run("up", "--yes")
    motd = proj / "out" / "etc" / "motd"
    assert motd.read_text() == "hello from the engine\n"
    assert oct(motd.stat().st_mode & 0o777) == "0o640"

    eng.run("preview", "--expect-no-changes")

    eng.run("destroy", "--yes")
    assert not motd.exists()
    assert not (proj / "out" / "etc").exists(), "empty directories are pruned"
