"""A rack server in the lab: one QEMU process, no libvirt (docs/lab.md, "Netboot of a rack server").

It stands in for a bare-metal machine of the inventory: no disk, one NIC whose MAC is the
machine's inventory MAC (an Intel e1000 by default, as rack servers have), and firmware that
network-boots -- SeaBIOS running the NIC's iPXE option ROM (Debian's ipxe-qemu, QEMU's default
ROM for the NIC).  The NIC is a tap device in the
lab switch's namespace, a port of its bridge ``br0``: the same network as the DHCP host, and no
other.  ``-nodefaults`` drops QEMU's default NIC (user-mode networking, which could reach out
through this machine); nothing else is configured.

TCG only (KVM fails here: nested virtualisation).  1 vCPU and 1024 MiB: the bookworm installer
enters its low-memory mode, which stops at a question, below 737 MiB of MemTotal.

The serial port (what a BMC's serial-over-LAN shows) goes to a pipe read by a thread that
writes it to ``serial.log`` and remembers when each chunk arrived, so a test can say when
something first appeared on the console (:meth:`RackServer.seen`).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

from harness import lab as L

__all__ = ["QEMU", "RackServer"]

QEMU = "qemu-system-x86_64"


class RackServer:
    """``start`` powers it on (PXE first), ``stop`` pulls the plug; always ``stop`` in a finally."""

    def __init__(
        self,
        run_dir: Path,
        *,
        switch_ns: str,
        tap: str,
        mac: str,
        memory_mib: int = 1024,
        nic_model: str = "e1000",
    ) -> None:
        self.run_dir = run_dir
        self.switch_ns = switch_ns
        self.tap = tap[:15]
        self.mac = mac
        self.memory_mib = memory_mib
        self.nic_model = nic_model
        self.serial_log = run_dir / "serial.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.powered_on = 0.0  # time.monotonic() at start
        self._chunks: list[tuple[float, int]] = []  # (arrival, end offset in _text)
        self._text = bytearray()
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def command(self) -> list[str]:
        return [
            QEMU, "-accel", "tcg", "-machine", "pc", "-m", str(self.memory_mib), "-smp", "1",
            # -nographic: SeaBIOS mirrors the screen to the serial port, so firmware and iPXE show too
            "-nodefaults", "-no-user-config", "-nographic", "-vga", "std", "-no-reboot",
            "-boot", "order=n",
            "-netdev", f"tap,id=net0,ifname={self.tap},script=no,downscript=no",
            "-device", f"{self.nic_model},netdev=net0,mac={self.mac}",
            "-chardev", "stdio,id=ser0,signal=off", "-serial", "chardev:ser0",
            "-monitor", "none",
        ]  # fmt: skip

    def start(self) -> None:
        if L.which(QEMU) is None:
            raise L.LabUnavailable(f"{QEMU} missing (apt-get install qemu-system-x86 ipxe-qemu)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # the cable: a tap port on the lab switch
        L.run(["ip", "-n", self.switch_ns, "tuntap", "add", "dev", self.tap, "mode", "tap"])
        L.run(["ip", "-n", self.switch_ns, "link", "set", self.tap, "master", "br0", "up"])
        self.serial_log.write_bytes(b"")
        self.powered_on = time.monotonic()
        # `ip netns exec` execs QEMU itself: self.proc.pid is QEMU's pid
        with (self.run_dir / "qemu.err").open("wb") as err:  # QEMU keeps its own copy of the fd
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.switch_ns, *self.command()],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
            )  # fmt: skip
        self._reader = threading.Thread(target=self._read, name="rack-server-serial", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with self.serial_log.open("ab") as log:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                now = time.monotonic()
                log.write(chunk)
                log.flush()
                with self._lock:
                    self._text += chunk
                    self._chunks.append((now, len(self._text)))

    def seen(self, pattern: str) -> float | None:
        """Seconds from power-on until ``pattern`` (a regex, on the raw console bytes) had
        arrived on the serial console; None when it has not (yet)."""
        with self._lock:
            m = re.search(pattern.encode(), self._text)
            if m is None:
                return None
            end = m.end()
            for when, offset in self._chunks:
                if offset >= end:
                    return when - self.powered_on
        return None

    def console_text(self) -> str:
        """The console so far, terminal escapes dropped (for error messages)."""
        with self._lock:
            raw = self._text.decode(errors="replace")
        return re.sub(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|[=>])", "", raw)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Power off: QEMU killed by its pid (our child), the tap port removed.  Idempotent."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass  # the lab's netns teardown kills whatever is left in the switch namespace
            if self._reader is not None:
                self._reader.join(timeout=5)
        L.run(["ip", "-n", self.switch_ns, "link", "del", self.tap], check=False, timeout=10)
