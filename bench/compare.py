"""uniform side by side with Ansible and cdist: the same files to N lab hosts over real SSH.

    sudo bench/peers/setup-venvs.sh                      # once: ansible-core 2.19, cdist 7.0.0 venvs
    sudo .venv/bin/python bench/compare.py --hosts 10 50 --runs 3 [--tools uniform ansible cdist]
        [--peer-runs K]   ansible/cdist do only K runs (uniform always --runs)
        [--budget MIN]    skip a peer's later runs that would end after MIN minutes (25)
    sudo .venv/bin/python bench/compare.py --profile --hosts 50      where uniform's rerun goes
    .venv/bin/python bench/compare.py --summarize bench/results/compare-*.jsonl

For each N: a lab (lab/lab.py) of N hosts -- network namespaces with private
/etc, /root, /var and their own sshd -- for a generated customer "benchpeers"
(hw machines b01..bNN on 10.77.0.0/24).  Every host gets the same four files
from every tool, byte for byte (generated once, in <lab project>/bench-content/):
/etc/hostname, /etc/hosts and /etc/systemd/network/10-eth0.network as uniform
renders them, and a ~2 KB service config /etc/uniform-bench.conf; a change of
hostname reruns `hostname -F`, of the network file `udevadm control --reload &&
networkctl reload` (lab shims).

Tools (each run takes them in turn; hosts and the tool's state are reset first):
  uniform          `pulumi up --yes --skip-preview` (bench/peers/uniform_main.py), ssh
                   delivery, checkpoints on (the default)
  uniform-nockpt   the same with PULUMI_SKIP_CHECKPOINTS=true
  ansible          ansible-playbook bench/peers/ansible/site.yml: copy module, handlers,
                   pipelining, ControlPersist, forks = N, no fact gathering
  cdist            cdist config -p N -j <nproc> with __file --source/--onchange (ssh
                   multiplexing as cdist sets it up by default: ControlPersist)
Scenarios: first apply (hosts without the files, empty state); rerun, no change;
rerun after one host's service config changed.  Each peer run starts without
SSH master connections (a fresh ControlPath dir), as a new run from cron/CI would.

Per scenario: wall time (median over --runs), SSH logins per host from each
host's sshd log ("Accepted publickey") and how many hosts were contacted.
After the runs, every host's files are checked against bench-content for every
tool.  Writes JSON lines to --out (default bench/results/compare-<date>.jsonl)
and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inventory  # noqa: E402
import payloads  # noqa: E402

PEERS = ROOT / "bench" / "peers"
VENVS = ROOT / ".tools" / "bench-venvs"
STACK = "benchpeers"
PREFIX = "ubp-"
SERVICE = "/etc/uniform-bench.conf"
NETWORK = "/etc/systemd/network/10-eth0.network"
FILES = ("/etc/hostname", "/etc/hosts", NETWORK, SERVICE)
SCENARIOS = ("first", "noop", "one")
ALL_TOOLS = ("uniform", "uniform-nockpt", "ansible", "cdist")


def _lab_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("uniform_lab", ROOT / "lab" / "lab.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


L = _lab_module()


# ------------------------------------------------------------------ the bench customer and its content


def generate_customer(dest: Path, n: int) -> None:
    """customer.yaml + machines/bNN.yaml: N plain hw hosts on one /24 (lab addresses)."""
    (dest / "machines").mkdir(parents=True)
    (dest / "customer.yaml").write_text(
        "# bench/compare.py: generated, one lab host per machine\n"
        f"customer: {STACK}\n"
        "domain: bench.test\n"
        'mac_prefix: "52:54:00"\n'
        "services: {dhcp: dnsmasq, dns: dnsmasq}\n"
        "delivery: {mode: ssh}\n"
        "ssh:\n"
        "  user: root\n"
        "  port: 22\n"
        "  authorized_keys: []\n"
        "  host_keys: {}\n"
        "networks:\n"
        "  lan:\n"
        "    ipv4: 10.77.0.0/24\n"
        '    reserved: ["10.77.0.1-10.77.0.9"]\n'
        "    dns_servers: [10.77.0.1]\n"
    )
    for i in range(1, n + 1):
        (dest / "machines" / f"b{i:02d}.yaml").write_text(
            f"name: b{i:02d}\n"
            "kind: hw\n"
            "cores: 1\n"
            "memory: 1GiB\n"
            "disks: [{name: root, size: 10GiB}]\n"
            "nics:\n"
            "  - name: eth0\n"
            f'    mac: "0c:c4:7a:78:00:{i:02x}"\n'
            "    networks:\n"
            "      - network: lan\n"
            f"        ipv4: 10.77.0.{9 + i}\n"
            "state: active\n"
            "history: [planned, staged]\n"
        )


def service_config(name: str, revision: int) -> str:
    """A ~2 KB ini-style service config; ``revision`` is what the one-host change bumps."""
    lines = [
        "# uniform-bench service configuration - generated by bench/compare.py",
        "[service]",
        f"name = {name}",
        f"revision = {revision}",
        "listen = 0.0.0.0:8080",
        "[tuning]",
    ]
    i = 0
    while sum(len(x) + 1 for x in lines) < 2000:
        digest = hashlib.sha256(f"{name}/{i}".encode()).hexdigest()[:40]
        lines.append(f"option_{i:02d} = {digest}")
        i += 1
    return "\n".join(lines) + "\n"


def write_content(lab: Any) -> Path:
    """bench-content/<host>/<path>: the bytes every tool delivers (uniform's render + the config)."""
    content: Path = lab.project / "bench-content"
    shutil.rmtree(content, ignore_errors=True)
    rendered = payloads.render_customer(inventory.load(lab.inv_dir))
    for name, p in rendered.items():
        for path in FILES[:3]:
            f = p.file(path)
            assert f.mode == 0o644, (name, path, f.mode)
            dest = content / name / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(f.content)
        set_service(content, name, 1)
    return content


def set_service(content: Path, name: str, revision: int) -> None:
    dest = content / name / SERVICE.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(service_config(name, revision))


def revision_of(content: Path, name: str) -> int:
    text = (content / name / SERVICE.lstrip("/")).read_text()
    return int(next(line for line in text.splitlines() if line.startswith("revision = ")).split()[-1])


# ------------------------------------------------------------------ the tools


class Tool:
    name = ""

    def __init__(self, lab: Any, content: Path, work: Path) -> None:
        self.lab, self.content, self.work = lab, content, work

    def reset(self) -> None:
        """The tool's own state back to nothing (hosts are reset by the harness)."""

    def apply(self, *extra: str) -> Any:
        raise NotImplementedError

    def ctl(self, cmd: list[str], env: dict[str, str] | None = None, timeout: int = 900) -> Any:
        """Run ``cmd`` in the lab's controller namespace (the only place that reaches the hosts)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.lab.ctl, *cmd],
            capture_output=True, text=True, env=env, timeout=timeout, cwd=self.work,
        )  # fmt: skip


class Uniform(Tool):
    name = "uniform"
    skip_checkpoints = False

    def reset(self) -> None:
        eng = self.lab.engine()
        eng.run("stack", "rm", "--yes", "--force", "--preserve-config", STACK, check=False)
        self.lab.init_stack()

    def engine(self) -> Any:
        eng = self.lab.engine()
        if self.skip_checkpoints:
            eng.env = {**eng.env, "PULUMI_SKIP_CHECKPOINTS": "true"}
        return eng

    def apply(self, *extra: str) -> Any:
        args = extra or ("--skip-preview",)
        return self.engine().run("up", "--yes", *args, check=False, timeout=900)


class UniformNoCkpt(Uniform):
    name = "uniform-nockpt"
    skip_checkpoints = True


def _mux_exit(sock_dir: Path) -> None:
    """Close the SSH master connections a peer run left behind (they persist by design)."""
    for sock in sock_dir.glob("*"):
        if sock.is_socket():
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True, timeout=10
            )


class Ansible(Tool):
    name = "ansible"

    def __init__(self, lab: Any, content: Path, work: Path) -> None:
        super().__init__(lab, content, work)
        self.dir = work / "ansible"
        self.dir.mkdir(parents=True, exist_ok=True)
        n = len(lab.hosts)
        (self.dir / "known_hosts").write_text(lab.known_hosts())
        (self.dir / "hosts.ini").write_text(
            "[bench]\n"
            + "".join(f"{name} ansible_host={h.ipv4}\n" for name, h in sorted(lab.hosts.items()))
            + "\n[bench:vars]\nansible_user=root\n"
            f"ansible_ssh_private_key_file={lab.client_key}\n"
            "ansible_python_interpreter=/usr/bin/python3\n"
            f"content={content}\n"
        )
        self.sock = self.dir / "cp"
        (self.dir / "ansible.cfg").write_text(
            "[defaults]\n"
            "inventory = hosts.ini\n"
            f"forks = {n}\n"
            "gathering = explicit\n"
            "host_key_checking = True\n"
            "retry_files_enabled = False\n"
            f"local_tmp = {self.dir}/tmp\n"
            "[ssh_connection]\n"
            "pipelining = True\n"
            f"control_path_dir = {self.sock}\n"
            "control_path = %(directory)s/%%C\n"
            "ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes"
            f" -o StrictHostKeyChecking=yes -o UserKnownHostsFile={self.dir / 'known_hosts'}\n"
        )
        shutil.copy(PEERS / "ansible" / "site.yml", self.dir / "site.yml")

    def apply(self, *extra: str) -> Any:
        _mux_exit(self.sock)
        shutil.rmtree(self.sock, ignore_errors=True)
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(self.dir / "ansible.cfg"),
            "HOME": str(self.dir),  # ~/.ansible stays in the bench's work dir
            "PATH": f"{VENVS / 'ansible' / 'bin'}:{os.environ['PATH']}",
        }
        try:
            return self.ctl([str(VENVS / "ansible" / "bin" / "ansible-playbook"), "site.yml"], env=env)
        finally:
            _mux_exit(self.sock)

    def ctl(self, cmd: list[str], env: dict[str, str] | None = None, timeout: int = 900) -> Any:
        return subprocess.run(
            ["ip", "netns", "exec", self.lab.ctl, *cmd],
            capture_output=True, text=True, env=env, timeout=timeout, cwd=self.dir,
        )  # fmt: skip


class Cdist(Tool):
    name = "cdist"

    def __init__(self, lab: Any, content: Path, work: Path) -> None:
        super().__init__(lab, content, work)
        self.dir = work / "cdist"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "known_hosts").write_text(lab.known_hosts())
        # the manifest finds a host's content by the address cdist is given
        bydir = self.dir / "by-address"
        bydir.mkdir(exist_ok=True)
        for name, h in lab.hosts.items():
            link = bydir / h.ipv4
            link.unlink(missing_ok=True)
            link.symlink_to(content / name)
        manifest = (PEERS / "cdist" / "manifest").read_text().replace("@CONTENT@", str(bydir))
        (self.dir / "manifest").write_text(manifest)
        self.sock = self.dir / "cp"

    def apply(self, *extra: str) -> Any:
        _mux_exit(self.sock)
        shutil.rmtree(self.sock, ignore_errors=True)
        self.sock.mkdir()
        n = len(self.lab.hosts)
        # cdist's own default is "ssh -o User=root" plus ControlMaster/ControlPersist=2h
        # when ssh supports them (cdist/util/remoteutil.py); the same, with the lab key
        # and the pinned host keys
        ssh_opts = (
            f"-o User=root -i {self.lab.client_key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes"
            f" -o UserKnownHostsFile={self.dir / 'known_hosts'}"
            f" -o ControlPath={self.sock}/%C -o ControlMaster=auto -o ControlPersist=2h"
        )
        env = {**os.environ, "HOME": str(self.dir)}  # ~/.cdist stays in the bench's work dir
        cmd = [
            str(VENVS / "cdist" / "bin" / "cdist"), "config", "-i", str(self.dir / "manifest"),
            "-p", str(n), "-j", str(os.cpu_count() or 2),
            "--remote-exec", f"ssh {ssh_opts}", "--remote-copy", f"scp -q {ssh_opts}",
            *sorted(h.ipv4 for h in self.lab.hosts.values()),
        ]  # fmt: skip
        try:
            return self.ctl(cmd, env=env)
        finally:
            _mux_exit(self.sock)

    def reset(self) -> None:
        shutil.rmtree(self.dir / ".cdist", ignore_errors=True)


TOOL_CLASSES = {c.name: c for c in (Uniform, UniformNoCkpt, Ansible, Cdist)}


# ------------------------------------------------------------------ the harness


def reset_hosts(lab: Any) -> None:
    """Every host as freshly installed: none of the bench files, no peer tool leftovers.
    /etc/systemd/network exists, as on any systemd host."""
    script = (
        "rm -rf -- " + " ".join(FILES) + " /var/lib/cdist /root/.ansible"
        "; mkdir -p /etc/systemd/network; hostname unconfigured"
    )
    for name in lab.hosts:
        lab.in_host(name, ["sh", "-c", script], timeout=10)


def logins(lab: Any) -> dict[str, int]:
    return {name: lab.ssh_logins(name) for name in lab.hosts}


def verify(lab: Any, content: Path) -> list[str]:
    """Every host holds every file byte for byte as bench-content has it, mode 0644."""
    bad = []
    for name in lab.hosts:
        script = "for f in " + " ".join(FILES) + '; do stat -c "%a" "$f"; cat "$f"; printf "\\0"; done'
        out = lab.in_host(name, ["sh", "-c", script], timeout=10, check=False).stdout
        parts = out.split("\0")
        for path, part in zip(FILES, parts, strict=False):
            mode, _, body = part.partition("\n")
            want = (content / name / path.lstrip("/")).read_text()
            if mode != "644" or body != want:
                bad.append(f"{name}:{path}")
        if lab.hostname(name) != name:
            bad.append(f"{name}: hostname {lab.hostname(name)}")
    return bad


def timed(lab: Any, fn: Any) -> tuple[float, dict[str, int], Any]:
    before = logins(lab)
    t = time.perf_counter()
    proc = fn()
    secs = time.perf_counter() - t
    after = logins(lab)
    return secs, {n: after[n] - before[n] for n in after}, proc


def check_proc(tool: str, scenario: str, proc: Any) -> None:
    if proc.returncode != 0:
        raise SystemExit(
            f"{tool} {scenario} failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )


def bench_n(
    n: int,
    runs: int,
    tools: list[str],
    out: Any,
    keep: bool,
    peer_runs: int | None = None,
    deadline: float = float("inf"),
) -> list[dict[str, Any]]:
    """``deadline`` (time.monotonic()): a peer's second and later runs are skipped when the
    last one would not end before it (the peers' runs are the long ones; uniform always runs)."""
    work = Path(tempfile.mkdtemp(prefix=f"uniform-compare-{n}-"))
    src = work / "customer"
    generate_customer(src, n)
    lab = L.Lab(work / "lab", prefix=PREFIX, stack=STACK, source=src, program=PEERS / "uniform_main.py")
    records: list[dict[str, Any]] = []
    try:
        t = time.perf_counter()
        lab.up()
        lab.init_stack()
        print(f"# N={n}: lab up in {time.perf_counter() - t:.0f}s", file=sys.stderr, flush=True)
        content = write_content(lab)
        impl = {name: TOOL_CLASSES[name](lab, content, work) for name in tools}
        changed = sorted(lab.hosts)[0]
        last: dict[str, float] = {}
        for r in range(runs):
            for name in tools:
                if peer_runs is not None and r >= peer_runs and not name.startswith("uniform"):
                    continue  # --peer-runs: the peers' runs are the long ones
                if r > 0 and not name.startswith("uniform") and time.monotonic() + last[name] > deadline:
                    print(f"# N={n}: {name} run {r} skipped: --budget", file=sys.stderr, flush=True)
                    continue
                started = time.monotonic()
                tool = impl[name]
                reset_hosts(lab)
                tool.reset()
                rec: dict[str, Any] = {"n": n, "tool": name, "run": r}
                for scenario in SCENARIOS:
                    if scenario == "one":
                        set_service(content, changed, revision_of(content, changed) + 1)
                    secs, delta, proc = timed(lab, tool.apply)
                    check_proc(name, scenario, proc)
                    rec[scenario] = {
                        "s": round(secs, 3),
                        "logins": sum(delta.values()),
                        "hosts": sum(1 for v in delta.values() if v),
                        "load1": round(os.getloadavg()[0], 2),
                    }
                    if scenario == "one" and name.startswith("uniform"):
                        # the one-host rerun of a uniform stack must touch exactly that host
                        assert {h for h, v in delta.items() if v} == {changed}, delta
                if name == "uniform":
                    # the same no-change rerun as `pulumi up --yes` does it: preview, then update
                    secs, delta, proc = timed(lab, lambda: impl["uniform"].apply("--diff"))
                    check_proc(name, "noop-with-preview", proc)
                    rec["noop_with_preview"] = {
                        "s": round(secs, 3),
                        "logins": sum(delta.values()),
                        "hosts": sum(1 for v in delta.values() if v),
                    }
                bad = verify(lab, content)
                if bad:
                    raise SystemExit(f"{name} run {r}: hosts differ from bench-content: {bad[:10]}")
                rec["verified"] = True
                last[name] = time.monotonic() - started
                print(json.dumps(rec), file=out, flush=True)
                print(json.dumps(rec), file=sys.stderr, flush=True)
                records.append(rec)
    finally:
        if keep:
            print(f"# lab left up: {lab.run_dir}", file=sys.stderr)
        else:
            lab.down()
            shutil.rmtree(work, ignore_errors=True)
    return records


def summarize(records: list[dict[str, Any]]) -> str:
    rows = []
    ns = sorted({r["n"] for r in records})
    tools = [t for t in ALL_TOOLS if any(r["tool"] == t for r in records)]
    med: dict[tuple[int, str, str], float] = {}
    for n in ns:
        for t in tools:
            rs = [r for r in records if r["n"] == n and r["tool"] == t]
            for s in SCENARIOS:
                med[n, t, s] = statistics.median(r[s]["s"] for r in rs)
    head = (
        "| N | tool | first apply | no-change rerun | one-host change "
        "| hosts contacted (first / no-change / one) | logins per run "
        "| uniform / tool (first, no-change, one) |"
    )
    rows.append(head)
    rows.append("|---|---|---:|---:|---:|---|---|---|")
    for n in ns:
        for t in tools:
            rs = [r for r in records if r["n"] == n and r["tool"] == t]
            contacted = " / ".join(str(max(r[s]["hosts"] for r in rs)) for s in SCENARIOS)
            lg = " / ".join(str(max(r[s]["logins"] for r in rs)) for s in SCENARIOS)
            ratio = (
                " · ".join(f"{med[n, 'uniform', s] / med[n, t, s]:.2f}" for s in SCENARIOS)
                if "uniform" in tools and not t.startswith("uniform")
                else ""
            )
            rows.append(
                f"| {n} | {t} ×{len(rs)} | {med[n, t, 'first']:.2f} s | {med[n, t, 'noop']:.2f} s | "
                f"{med[n, t, 'one']:.2f} s | {contacted} | {lg} | {ratio} |"
            )
    extra = [r for r in records if "noop_with_preview" in r]
    for n in ns:
        xs = [r["noop_with_preview"]["s"] for r in extra if r["n"] == n]
        if xs:
            rows.append(
                f"\nN={n}: uniform no-change `pulumi up --yes` with its preview: "
                f"{statistics.median(xs):.2f} s (median of {len(xs)})"
            )
    return "\n".join(rows)


def profile(n: int) -> dict[str, float]:
    """Where uniform's no-change rerun goes, on an N-host lab (see bench/README.md)."""
    work = Path(tempfile.mkdtemp(prefix=f"uniform-compare-prof-{n}-"))
    src = work / "customer"
    generate_customer(src, n)
    lab = L.Lab(work / "lab", prefix=PREFIX, stack=STACK, source=src, program=PEERS / "uniform_main.py")
    res: dict[str, float] = {}
    try:
        lab.up()
        lab.init_stack()
        write_content(lab)
        reset_hosts(lab)
        tool = Uniform(lab, lab.project / "bench-content", work)
        check_proc("uniform", "first", tool.apply())
        eng = lab.engine()

        def med(fn: Any, k: int = 5) -> float:
            xs = []
            for _ in range(k):
                t = time.perf_counter()
                fn()
                xs.append(time.perf_counter() - t)
            return round(statistics.median(xs), 3)

        py = str(ROOT / ".venv" / "bin" / "python")
        res["pulumi_cli_start(version)"] = med(lambda: eng.run("version"))
        res["pulumi_stack_output(state read+decrypt)"] = med(lambda: eng.run("stack", "output", "--json"))
        res["python_import_pulumi"] = med(
            lambda: subprocess.run([py, "-c", "import pulumi, pulumi.dynamic"], check=True)
        )
        res["program_load_render(in-process)"] = med(
            lambda: payloads.render_customer(inventory.load(lab.inv_dir))
        )
        first = sorted(lab.hosts)[0]
        res["one_ssh_session(true)"] = med(lambda: L.run(lab.ssh_cmd(first, "true"), timeout=20))
        res["noop_up_skip_preview"] = med(lambda: check_proc("u", "noop", tool.apply()))
        tool.skip_checkpoints = True
        res["noop_up_skip_preview_nockpt"] = med(lambda: check_proc("u", "noop", tool.apply()))
        tool.skip_checkpoints = False
        res["noop_preview"] = med(lambda: eng.run("preview"))
        res["python_imports_load_render(subprocess)"] = med(
            lambda: subprocess.run(
                [py, "-c", "import sys, pulumi, pulumi.dynamic, components.machine, inventory, payloads;"
                 "payloads.render_customer(inventory.load(sys.argv[1]))", str(lab.inv_dir)],
                check=True, cwd=ROOT,
            )
        )  # fmt: skip
        # the floor: CLI + language host + Python + an empty program, no resources
        empty = work / "empty"
        empty.mkdir()
        (empty / "Pulumi.yaml").write_text(
            f"name: empty\nruntime:\n  name: python\n  options:\n    virtualenv: {ROOT / '.venv'}\n"
        )
        (empty / "__main__.py").write_text("import pulumi\n")
        floor = L.Engine(cwd=empty, env=eng.env, netns=lab.ctl)
        floor.run("stack", "init", "empty")
        res["empty_program_up"] = med(lambda: floor.run("up", "--yes", "--skip-preview"))
    finally:
        lab.down()
        shutil.rmtree(work, ignore_errors=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", nargs="+", default=list(ALL_TOOLS), choices=ALL_TOOLS)
    ap.add_argument("--out", type=Path)
    ap.add_argument(
        "--budget",
        type=float,
        default=25,
        metavar="MIN",
        help="skip a peer's further runs that would end after MIN minutes (default 25)",
    )
    ap.add_argument(
        "--peer-runs", type=int, help="runs of ansible/cdist (default --runs); uniform always does --runs"
    )
    ap.add_argument("--keep", action="store_true", help="leave the last lab up")
    ap.add_argument("--profile", action="store_true", help="only: where uniform's no-change rerun goes")
    ap.add_argument(
        "--summarize", type=Path, nargs="+", metavar="JSONL", help="only: the table of earlier runs' output"
    )
    a = ap.parse_args()
    if a.summarize:
        lines = [json.loads(x) for f in a.summarize for x in f.read_text().splitlines() if x.strip()]
        print(summarize([r for r in lines if "tool" in r]))
        return 0
    # a SIGTERM (timeout, kill) still takes the lab down (the finally blocks)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        print("compare: the lab needs root", file=sys.stderr)
        return 2
    if a.profile:
        for n in a.hosts:
            print(json.dumps({"n": n, **profile(n)}), flush=True)
        return 0
    for t in a.tools:
        if t in ("ansible", "cdist") and not (VENVS / t / "bin").exists():
            print(f"compare: no {t} venv: run bench/peers/setup-venvs.sh", file=sys.stderr)
            return 2
    out_path = a.out or ROOT / "bench" / "results" / f"compare-{time.strftime('%Y%m%d-%H%M')}.jsonl"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    deadline = time.monotonic() + a.budget * 60
    header = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "cmd": " ".join(shlex.quote(x) for x in sys.argv),
    }
    records: list[dict[str, Any]] = []
    with out_path.open("w") as out:
        print(json.dumps(header), file=out, flush=True)
        for n in a.hosts:
            records += bench_n(
                n, a.runs, a.tools, out, a.keep and n == a.hosts[-1], a.peer_runs, deadline=deadline
            )
        footer = {"total_s": round(time.perf_counter() - t0), "loadavg_end": os.getloadavg()}
        print(json.dumps(footer), file=out, flush=True)
    print(
        f"# {header['date']}, nproc={header['nproc']}, load {header['loadavg_start']} -> "
        f"{footer['loadavg_end']}, {footer['total_s']} s, runs={a.runs}; raw: {out_path}"
    )
    print(summarize(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
