"""Running this project's Pulumi program in a throwaway copy, for tests, benchmarks and the lab.

One place for what ``.tools/env.sh`` gives (tools/bootstrap.sh writes both), and one
driver of the ``pulumi`` command (:class:`Engine`), so every harness runs the engine the
same way, offline, with a backend of its own (a file backend, or a URL such as a
throwaway PostgreSQL's).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.stacks_run import ENGINE_MEMORY_LIMIT

ROOT = Path(__file__).resolve().parents[1]


def engine_env(backend: Path | str, passphrase: str = "test") -> dict[str, str]:
    """The environment for the engine: the venv and .tools/bin on PATH, a file backend at
    ``backend`` (a directory) or the backend URL ``backend`` (a string such as
    ``postgres://user@host:port/db?sslmode=disable``), offline settings, and the
    project-local PULUMI_HOME when bootstrap made one (automatic command logs off, see
    tools/bootstrap.sh)."""
    env = dict(os.environ)
    path = [str(ROOT / ".venv" / "bin")]
    if (ROOT / ".tools" / "bin" / "pulumi").exists():
        path.append(str(ROOT / ".tools" / "bin"))
    env["PATH"] = os.pathsep.join(path + [env.get("PATH", "")])
    if (ROOT / ".tools" / "pulumi-home").is_dir():
        env.setdefault("PULUMI_HOME", str(ROOT / ".tools" / "pulumi-home"))
    env["PULUMI_BACKEND_URL"] = backend if isinstance(backend, str) else f"file://{backend}"
    # The PostgreSQL backend of v3.259 deadlocks in `stack ls` once a project has as many
    # stacks as 2 x GOMAXPROCS: each listing worker holds a pooled connection and waits for
    # another (docs/team.md). One worker never does.
    env.setdefault("PULUMI_DIY_BACKEND_PARALLEL", "1")
    # uniform's default (.tools/env.sh, `uniform up`): the state is written once, when the
    # run ends, not after every step (docs/team.md "Crashes and recovery"); a value set by
    # the caller (PULUMI_SKIP_CHECKPOINTS=false: the engine's own default) is kept.
    env.setdefault("PULUMI_SKIP_CHECKPOINTS", "true")
    # uniform's default soft memory limit for the engine, as `uniform up` sets it
    env.setdefault("GOMEMLIMIT", ENGINE_MEMORY_LIMIT)
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
    env["PYTHONPATH"] = str(ROOT)  # the copied program imports uniform's packages from the checkout
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    return env


def copy_project(proj: Path, program: Path | None = None) -> Path:
    """A runnable copy of the project at ``proj`` (Pulumi.yaml pointing at this checkout's
    venv, ``__main__.py`` or ``program``, an empty ``stacks/``); returns ``proj``."""
    (proj / "stacks").mkdir(parents=True, exist_ok=True)
    shutil.copy(program or ROOT / "__main__.py", proj / "__main__.py")
    (proj / "Pulumi.yaml").write_text(
        (ROOT / "Pulumi.yaml").read_text().replace("virtualenv: .venv", f"virtualenv: {ROOT / '.venv'}")
    )
    return proj


def add_customer(proj: Path, source: Path, stack: str) -> Path:
    """Copy the customer directory ``source`` into ``proj`` as stack ``stack`` (renamed to match)."""
    dest = proj / "stacks" / stack
    shutil.copytree(source, dest)
    cust = dest / "customer.yaml"
    old = source.name
    if old != stack:
        cust.write_text(
            cust.read_text()
            .replace(f"customer: {old}", f"customer: {stack}")
            .replace(f"out/{old}", f"out/{stack}")
        )
    (proj / "stacks" / f"Pulumi.{stack}.yaml").write_text(f"config:\n  uniform:inventory: {stack}\n")
    return dest


def has_pulumi(env: dict[str, str]) -> bool:
    """Whether ``env``'s PATH (from :func:`engine_env`) finds a ``pulumi`` engine."""
    return shutil.which("pulumi", path=env["PATH"]) is not None


class EngineError(Exception):
    """``pulumi`` exited non-zero (with ``check``) or timed out."""


@dataclass
class Engine:
    """The ``pulumi`` command on the project at ``cwd`` with ``env`` (:func:`engine_env`):
    the one driver the tests, the benchmarks and the lab share.

    ``netns``: run inside that network namespace (the lab's controller, the only way to
    reach the lab hosts). ``timeout``: seconds per command, ``None`` for no limit.
    ``error``: the exception a failure raises (the lab raises its ``LabError``).
    """

    cwd: Path
    env: dict[str, str]
    netns: str | None = None
    timeout: float | None = 600
    error: type[Exception] = EngineError

    def argv(self, *args: str) -> list[str]:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return [*prefix, "pulumi", "--non-interactive", *args]

    def start(self, *args: str) -> subprocess.Popen[str]:
        """``pulumi ARGS`` in the background, in a session of its own (so it can be killed as
        a tree, harness.procs), stdout and stderr together as text: for tests and benches
        that interrupt a run or watch it while it goes."""
        return subprocess.Popen(
            self.argv(*args),
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float | None = None,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``pulumi --non-interactive ARGS``; ``env`` adds to the engine's environment,
        ``timeout`` replaces the engine's for this command."""
        limit = self.timeout if timeout is None else timeout
        try:
            proc = subprocess.run(
                self.argv(*args),
                cwd=self.cwd,
                env={**self.env, **env} if env else self.env,
                input=input,
                capture_output=True,
                text=True,
                timeout=limit,
            )
        except subprocess.TimeoutExpired as e:
            raise self.error(f"pulumi {' '.join(args)}: timed out after {limit}s") from e
        if check and proc.returncode != 0:
            raise self.error(
                f"pulumi {' '.join(args)} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    def seconds(self, *args: str, **kw: Any) -> float:
        """:meth:`run` (checked), timed: its wall-clock seconds."""
        t = time.perf_counter()
        self.run(*args, **kw)
        return time.perf_counter() - t

    def preview_json(self, *args: str) -> dict[str, Any]:
        """``pulumi preview --json ARGS``, parsed."""
        return json.loads(self.run("preview", "--json", *args).stdout)  # type: ignore[no-any-return]

    def outputs(self) -> dict[str, Any]:
        """The selected stack's outputs (``pulumi stack output --json``)."""
        return json.loads(self.run("stack", "output", "--json").stdout)  # type: ignore[no-any-return]
