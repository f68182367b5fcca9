"""A throwaway PostgreSQL cluster for the shared-backend tests (issue 16).

One cluster per test session (per xdist worker): ``initdb -A trust`` in a temporary
directory, listening on 127.0.0.1 and a Unix socket in that directory only, on a free
port; stopped by a finalizer at the end, even when a test fails.  PostgreSQL refuses to
run as root, so as root the cluster runs as the ``postgres`` user (``runuser``), with
the directory handed to it.  Each test gets a database of its own (``pg_db``).

PostgreSQL missing: the tests skip, or fail with UNIFORM_REQUIRE_DAEMONS=1 (CI), like
the other daemon tests (tests/helpers/daemons.py).  The Debian package is postgresql-15
(tools/debian-packages.txt).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.engine import Engine, engine_env
from tests.helpers.engine import require_pulumi

PACKAGE = "postgresql-15"


def _pg_bin() -> Path:
    """The directory with initdb and pg_ctl (Debian keeps them off PATH)."""
    found = sorted(
        (p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    if initdb := shutil.which("initdb"):
        return Path(initdb).parent
    msg = f"PostgreSQL not installed (no initdb; Debian package {PACKAGE})"
    if os.environ.get("UNIFORM_REQUIRE_DAEMONS") == "1":
        pytest.fail(msg + " but UNIFORM_REQUIRE_DAEMONS=1")
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running throwaway cluster: ``url(db)`` for Pulumi, ``stop``/``start``/``restart``."""

    bin: Path
    dir: Path
    port: int = 0
    user: str | None = None  # run the server tools as this user (when we are root)
    databases: list[str] = field(default_factory=list)

    def _run(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
        return p

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def init(self) -> None:
        self._run("initdb", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D", str(self.data))

    def start(self) -> None:
        # loopback TCP and a socket in our own directory only; fsync off: a throwaway
        opts = f"-k {self.dir} -h 127.0.0.1 -p {self.port} -c fsync=off -c full_page_writes=off"
        log = str(self.dir / "log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "30", "-o", opts, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def createdb(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        self.databases.append(name)
        return self.url(name)

    def url(self, db: str, password: str | None = None) -> str:
        """The Pulumi backend URL of database ``db`` (trust auth: a password is accepted and ignored)."""
        cred = f"postgres:{password}" if password else "postgres"
        return f"postgres://{cred}@127.0.0.1:{self.port}/{db}?sslmode=disable"


@pytest.fixture(scope="session")
def pg() -> Iterator[Cluster]:
    """The session's cluster, started once and stopped at the end (even on failure)."""
    bin = _pg_bin()
    root = os.geteuid() == 0
    d = Path(tempfile.mkdtemp(prefix="uniform-pg-"))
    user = None
    if root:
        user = "postgres"
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            pytest.fail(f"running as root, and no '{user}' user to run PostgreSQL as ({PACKAGE} adds it)")
        os.chown(d, pw.pw_uid, pw.pw_gid)
    d.chmod(0o700)
    cluster = Cluster(bin=bin, dir=d, user=user)
    try:
        cluster.init()
        for attempt in range(5):  # a free port can be taken between the probe and the start
            cluster.port = _free_port()
            try:
                cluster.start()
                break
            except AssertionError:
                if attempt == 4:
                    raise
                time.sleep(0.2)
        yield cluster
    finally:
        if cluster.data.exists():
            cluster.stop("immediate")
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pg_db(pg: Cluster, request: pytest.FixtureRequest) -> str:
    """A fresh database for this test; its backend URL."""
    if not pg.running():  # a test that stops the server restarts it; never leave the next one without
        pg.start()
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50] + f"_{len(pg.databases)}"
    return pg.createdb(name)


@pytest.fixture
def pg_engine(pg_db: str, tmp_path: Path) -> Callable[..., Engine]:
    """``make(cwd, url=pg_db)``: the engine on the project at ``cwd`` with a PostgreSQL backend."""
    require_pulumi(engine_env(tmp_path))

    def make(cwd: Path, url: str = pg_db) -> Engine:
        return Engine(cwd=cwd, env=engine_env(url), timeout=300)

    return make
