"""The lab's layout and its Pulumi project: names, paths, the state file, the engine.

:class:`LabBase` is what every part of the lab shares (docs/lab.md): the namespace and
directory names that derive from one prefix and run directory, the lab's state file
(lab.json), running a command in a host's namespaces, and the lab project -- a copy of the
checkout's program with the customer's inventory, a throwaway backend, the deploy key as
its secret.  The hosts themselves are harness/labhosts.py, observing them harness/labcheck.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.engine import Engine, copy_project
from harness.engine import engine_env as _engine_env
from harness.netns import LabError, run

__all__ = [
    "CTL_IP",
    "LAB",
    "PASSPHRASE",
    "PRIVATE_PREFIXES",
    "ROOT",
    "STACK",
    "Host",
    "LabBase",
    "engine_env",
]

ROOT = Path(__file__).resolve().parents[1]

LAB = ROOT / "lab"
STACK = "lab"
PASSPHRASE = "lab"  # throwaway stack in a throwaway backend
CTL_IP = "10.77.0.2"
#: payload paths must fall under what hostinit.sh makes private (overlay/tmpfs)
PRIVATE_PREFIXES = ("/etc/", "/root/", "/var/")


@dataclass
class Host:
    name: str
    mac: str
    ipv4: str
    prefixlen: int


def engine_env(backend: Path) -> dict[str, str]:
    return _engine_env(backend, PASSPHRASE)


class LabBase:
    """Names, paths and state of a lab for one customer, and its project (see harness.lab.Lab)."""

    def __init__(
        self,
        run_dir: Path,
        prefix: str = "ulab-",
        *,
        stack: str = STACK,
        source: Path | None = None,
        program: Path | None = None,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.prefix = prefix
        self.stack = stack
        self.source = Path(source).resolve() if source else None
        self.program = Path(program).resolve() if program else None
        self.hosts: dict[str, Host] = {}
        state = self.run_dir / "lab.json"
        if state.exists():
            data = json.loads(state.read_text())
            self.prefix = data["prefix"]
            self.stack = data.get("stack", STACK)
            self.hosts = {n: Host(**h) for n, h in data["hosts"].items()}

    # ------------------------------------------------------------------ paths and names

    @property
    def project(self) -> Path:
        return self.run_dir / "proj"

    @property
    def inv_dir(self) -> Path:
        return self.project / "stacks" / self.stack

    @property
    def client_key(self) -> Path:
        return self.run_dir / "client_ed25519"

    def ns(self, host: str) -> str:
        return f"{self.prefix}{host}"

    @property
    def sw(self) -> str:
        return f"{self.prefix}sw"

    @property
    def ctl(self) -> str:
        return f"{self.prefix}ctl"

    def host_dir(self, host: str) -> Path:
        return self.run_dir / "hosts" / host

    def _save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "prefix": self.prefix,
            "stack": self.stack,
            "hosts": {n: asdict(h) for n, h in self.hosts.items()},
        }
        (self.run_dir / "lab.json").write_text(json.dumps(data, indent=2) + "\n")

    def holder(self, name: str) -> int:
        return int((self.host_dir(name) / "holder.pid").read_text())

    def in_host(self, name: str, cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` in host ``name``'s network, mount and UTS namespaces (its own view)."""
        return run(["nsenter", "-t", str(self.holder(name)), "-m", "-u", "-n", "--", *cmd], **kw)

    def _plug(self, ns: str, port: str, *, mac: str | None, address: str | None) -> None:
        """A veth eth0 in ``ns``, its peer v-<port> a port of the switch's bridge."""
        peer = f"v-{port}"[:15]
        run(["ip", "-n", self.sw, "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", ns])
        if mac:
            run(["ip", "-n", ns, "link", "set", "eth0", "address", mac])
        if address:
            run(["ip", "-n", ns, "addr", "add", address, "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", self.sw, "link", "set", peer, "master", "br0", "up"])

    def _edit_customer(self, change: Any) -> None:
        from ruamel.yaml import YAML

        y = YAML()
        y.preserve_quotes = True
        y.width = 4096  # one key per line
        path = self.inv_dir / "customer.yaml"
        doc = y.load(path.read_text())
        change(doc)
        with path.open("w") as f:
            y.dump(doc, f)

    def _make_project(self) -> None:
        if self.project.exists():
            shutil.rmtree(self.project)
        copy_project(self.project, self.program)
        shutil.copytree(self.source or ROOT / "stacks" / self.stack, self.inv_dir)
        settings = ROOT / "stacks" / f"Pulumi.{self.stack}.yaml"
        if self.source is None and settings.exists():
            shutil.copy(settings, self.project / "stacks")
        else:
            (self.project / "stacks" / f"Pulumi.{self.stack}.yaml").write_text(
                f"config:\n  uniform:inventory: {self.stack}\n"
            )

    # ------------------------------------------------------------------ the engine

    def engine(self) -> Engine:
        backend = self.run_dir / "state"
        backend.mkdir(parents=True, exist_ok=True)
        return Engine(cwd=self.project, env=engine_env(backend), netns=self.ctl, timeout=300, error=LabError)

    def init_stack(self) -> Engine:
        """The lab stack in a throwaway backend, the deploy key as its secret."""
        eng = self.engine()
        eng.run("stack", "init", self.stack)
        # from stdin, as the README does it: the key never appears on a command line
        eng.run("config", "set", "--secret", "uniform:sshPrivateKey", input=self.client_key.read_text())
        return eng

    def guard(self) -> None:
        """Refuse to deliver a payload path the lab hosts do not keep private."""
        import inventory
        import payloads

        bad = sorted(
            {
                f"{name}:{f.path}"
                for name, p in payloads.render_customer(inventory.load(self.inv_dir)).items()
                for f in p.files
                if not f.path.startswith(PRIVATE_PREFIXES)
            }
        )
        if bad:
            raise LabError(f"payload paths outside the lab hosts' private mounts {PRIVATE_PREFIXES}: {bad}")
