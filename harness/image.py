"""The lab's VM base image: Debian bookworm built from Debian packages, once, cached (docs/lab.md).

``ensure_base_image()`` returns a bootable qcow2 -- what a customer's ``provisioning.base_image``
names on a real hypervisor (Debian's genericcloud image) -- building it on first use:

* ``mmdebstrap --variant=apt`` of the packages in :data:`PACKAGES` (the cloud kernel, systemd,
  openssh-server, cloud-init with growpart, systemd-networkd + resolved) from the Debian mirror
  this machine's apt sources name (never a hard-coded address), without docs, man pages or
  locales (dpkg ``path-exclude``, kept in the image for later installs too);
* configured for a fast, quiet first boot: cloud-init looks for NoCloud only
  (``datasource_list: [NoCloud, None]``: no probing for EC2 and friends), renders the seed's
  network-config v2 with systemd-networkd (the networkd files uniform's base payload
  delivers later), only the cloud-init modules that can apply, the periodic timers of a
  long-lived host off, no SSH host keys and no machine-id in the image (each VM makes its
  own, or gets uniform's);
* one ext4 partition (label ``uniform-root``, a UUID derived from the recipe) on an MBR disk
  of :data:`SIZE_GIB` GiB, booted by SeaBIOS -> syslinux ``mbr.bin`` -> extlinux, kernel
  command line ``root=UUID=...`` + :data:`CMDLINE` (quiet, the console on ttyS0), an
  initramfs with only the root disk's modules;
* converted to a compressed qcow2 in ``$UNIFORM_IMAGE_CACHE`` (default ``~/.cache/uniform``), named by a
  hash of this file and lab/image.sh (so a changed recipe builds a new image), built in a
  temporary directory and renamed into place, under an exclusive ``flock``: parallel test
  workers wait for one build instead of each running their own.

Needs root (mmdebstrap, a loop mount in a private mount namespace for extlinux) and the
Debian packages mmdebstrap, extlinux, fdisk, e2fsprogs, qemu-utils (tools/debian-packages.txt).
``boot()`` runs an image directly under QEMU (TCG, no network leaving QEMU) for tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "CMDLINE",
    "PACKAGES",
    "ROOT_LABEL",
    "SIZE_GIB",
    "SUITE",
    "apt_sources",
    "boot",
    "cache_dir",
    "ensure_base_image",
    "image_path",
    "recipe_key",
    "wait_serial",
]

ROOT = Path(__file__).resolve().parents[1]
SUITE = "bookworm"
PACKAGES = (
    "linux-image-cloud-amd64",  # virtio, no AHCI: the kernel of Debian's genericcloud images
    "systemd-sysv",
    "udev",
    "openssh-server",
    "cloud-init",
    "cloud-guest-utils",  # growpart: the root partition grows to the VM's disk size
    "iproute2",
    "netbase",
    "systemd-resolved",  # the seed's nameservers reach /etc/resolv.conf
    "sudo",  # cloud-init's sudo rule for a non-root ssh.user
)
#: dpkg path filters: no docs (but the copyright files), man pages, info or translations
DPKG_FILTERS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/lintian/*",
)
ROOT_LABEL = "uniform-root"
SIZE_GIB = 2
_OFFSET = 1024 * 1024  # the partition starts at 1 MiB
_MBR = ("/usr/lib/EXTLINUX/mbr.bin", "/usr/lib/syslinux/mbr/mbr.bin")
#: cloud-init: NoCloud only (the seed disk), networkd renders the seed's network-config.  Host
#: keys it makes itself (when the seed brings none): ed25519 and ecdsa -- an RSA-3072 key took
#: 30 s of a TCG first boot, and DSA is off in OpenSSH.  The module lists are Debian's
#: (/etc/cloud/cloud.cfg) less those that cannot apply to this image or to a VM on a uniform
#: hypervisor (snap, lxd, puppet, chef, landscape, grub, apt mirrors, rsyslog, ntp, ...):
#: cloud-init imports every listed module at each stage, and Python's imports are most of a
#: stage's time under TCG.  Kept: all that uniform's seed uses (hostname, /etc/hosts, users
#: and keys, ssh host keys, ssh_pwauth, growpart, the fingerprints of the keys it installed
#: and the host keys on the console) and what an operator's own user-data
#: commonly adds (bootcmd, write_files, disk_setup and mounts for a VM's other disks, runcmd
#: and scripts, timezone, locale, packages, power_state); docs/lab.md "The base image"
#: lists what went.
_CLOUD_CFG = """\
# uniform base image (harness/image.py): the seed comes from a NoCloud disk (volume cidata)
datasource_list: [NoCloud, None]
system_info:
  network:
    renderers: [networkd]
    activators: [networkd]
ssh_genkeytypes: [ed25519, ecdsa]
cloud_init_modules:
  - seed_random
  - bootcmd
  - write-files
  - growpart
  - resizefs
  - disk_setup
  - mounts
  - set_hostname
  - update_hostname
  - update_etc_hosts
  - users-groups
  - ssh
cloud_config_modules:
  - locale
  - set-passwords
  - timezone
  - runcmd
cloud_final_modules:
  - package-update-upgrade-install
  - write-files-deferred
  - scripts-vendor
  - scripts-per-once
  - scripts-per-boot
  - scripts-per-instance
  - scripts-user
  - ssh-authkey-fingerprints
  - keys-to-console
  - final-message
  - power-state-change
"""
#: units a VM does not want at first boot: apt's daily downloads (a lab VM has no way out),
#: the periodic ext4/dpkg housekeeping of a long-lived host (a VM's disk is an overlay;
#: fstrim is the hypervisor's business)
_TIMERS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "dpkg-db-backup.timer",
)
_PRESET = "".join(f"disable {t}\n" for t in _TIMERS) + "disable e2scrub_reap.service\n"
#: the kernel command line: the console on the first serial port (virtlogd keeps it), and
#: quiet: the kernel's own messages and systemd's status lines stay off it (systemd still
#: prints failures; cloud-init's output and the login prompt stay)
CMDLINE = "ro quiet console=ttyS0,115200n8"
#: the initramfs holds only what mounts the root (virtio_blk and virtio_pci are modules in the
#: cloud kernel; ext4 and crc32c are built in), not initramfs-tools' MODULES=most: a third of
#: the size, loaded by extlinux through the BIOS and unpacked by the kernel under TCG
_INITRAMFS_MODULES = ("virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod")


def cache_dir() -> Path:
    """``$UNIFORM_IMAGE_CACHE``, else ``~/.cache/uniform``."""
    env = os.environ.get("UNIFORM_IMAGE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "uniform"


def recipe_key() -> str:
    """A hash of the recipe (this file, which holds the package list, and lab/image.sh)."""
    h = hashlib.sha256()
    for f in (Path(__file__), ROOT / "lab" / "image.sh"):
        h.update(f.read_bytes() if f.is_file() else b"")
    return h.hexdigest()[:16]


def image_path() -> Path:
    return cache_dir() / f"debian-{SUITE}-uniform-{recipe_key()}.qcow2"


def _suite_ok(suite: str) -> bool:
    return suite in (SUITE, f"{SUITE}-updates", f"{SUITE}-security")


def apt_sources(files: Iterable[Path] | None = None) -> list[str]:
    """One-line ``deb URI SUITE main`` entries for bookworm, -updates and -security, from
    /etc/apt/sources.list and sources.list.d/*.list and *.sources (deb822), in order;
    other suites, deb-src, comments, disabled stanzas and other files are left out."""
    if files is None:
        d = Path("/etc/apt/sources.list.d")
        files = [Path("/etc/apt/sources.list"), *sorted(d.glob("*.list")), *sorted(d.glob("*.sources"))]
    out: list[str] = []
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        entries = _deb822(text) if f.suffix == ".sources" else _one_line(text)
        for uri, suite, components in entries:
            line = f"deb {uri.rstrip('/')} {suite} main"
            if _suite_ok(suite) and "main" in components and line not in out:
                out.append(line)
    return out


def _one_line(text: str) -> list[tuple[str, str, list[str]]]:
    out = []
    for raw in text.splitlines():
        line = re.sub(r"\[[^]]*\]", " ", raw.split("#", 1)[0]).split()
        if len(line) >= 4 and line[0] == "deb":
            out.append((line[1], line[2], line[3:]))
    return out


def _deb822(text: str) -> list[tuple[str, str, list[str]]]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                out.append((uri, suite, fields.get("components", "").split()))
    return out


def _run(argv: Sequence[str | Path], log: Path, **kw: object) -> None:
    with log.open("a") as out:
        out.write(f"+ {' '.join(map(str, argv))}\n")
        out.flush()
        r = subprocess.run([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT, check=False, **kw)  # type: ignore[call-overload]
    if r.returncode:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"{argv[0]} failed ({r.returncode}); log {log}:\n" + "\n".join(tail))


def _configure(tree: Path, fs_uuid: str) -> None:
    """Make the unpacked tree a bootable, first-boot-ready VM image."""
    (tree / "etc/fstab").write_text(f"UUID={fs_uuid} / ext4 rw,discard,errors=remount-ro 0 1\n")
    (tree / "etc/hostname").write_text("localhost\n")  # mmdebstrap copies the build host's
    (tree / "etc/default/locale").write_text("LANG=C.UTF-8\n")  # cloud-init: no locale-gen
    (tree / "etc/machine-id").write_text("")  # each VM makes its own at first boot
    for key in (tree / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # openssh-server's postinst made them: every VM would share them
    (tree / "etc/cloud/cloud.cfg.d/90_uniform.cfg").write_text(_CLOUD_CFG)
    preset = tree / "etc/systemd/system-preset"
    preset.mkdir(parents=True, exist_ok=True)
    (preset / "10-uniform.preset").write_text(_PRESET)  # first boot's preset-all keeps it
    boot = tree / "boot/extlinux"
    boot.mkdir(parents=True, exist_ok=True)
    (boot / "extlinux.conf").write_text(
        "# uniform base image: /vmlinuz and /initrd.img follow the installed kernel\n"
        "SERIAL 0 115200\nDEFAULT debian\nPROMPT 0\nTIMEOUT 0\n"
        "LABEL debian\n  LINUX /vmlinuz\n  INITRD /initrd.img\n"
        f"  APPEND root=UUID={fs_uuid} {CMDLINE}\n"
    )


def _build(work: Path, out: Path, log: Path) -> None:
    sources = apt_sources()
    if not any(s.split()[2] == SUITE for s in sources):
        raise RuntimeError(
            f"no 'deb ... {SUITE} main' in this machine's apt sources (/etc/apt/sources.list*)"
        )
    tree = work / "root"
    argv: list[str | Path] = ["mmdebstrap", "--variant=apt", "--include=" + ",".join(PACKAGES)]
    argv += [f"--dpkgopt={f}" for f in DPKG_FILTERS]
    argv += [
        '--customize-hook=chroot "$1" systemctl enable systemd-networkd.service',
        '--customize-hook=chroot "$1" systemctl disable ' + " ".join((*_TIMERS, "e2scrub_reap.service")),
        "--customize-hook=printf 'MODULES=list\\n' >\"$1/etc/initramfs-tools/conf.d/uniform.conf\"",
        "--customize-hook=printf '%s\\n' "
        + " ".join(_INITRAMFS_MODULES)
        + ' >>"$1/etc/initramfs-tools/modules"',
        '--customize-hook=chroot "$1" update-initramfs -u -k all',
    ]
    _run([*argv, SUITE, tree, *sources], log)
    fs_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"uniform-base-image:{recipe_key()}"))
    _configure(tree, fs_uuid)
    raw = work / "disk.raw"
    with raw.open("wb") as new:
        new.truncate(SIZE_GIB << 30)
    table = f"label: dos\nlabel-id: 0x756e6966\nstart={_OFFSET // 512}, type=83, bootable\n"
    _run(["sfdisk", "--quiet", raw], log, input=table.encode())
    kib = ((SIZE_GIB << 30) - _OFFSET) // 1024
    mkfs: list[str | Path] = ["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-U", fs_uuid]
    _run([*mkfs, "-E", f"offset={_OFFSET}", "-d", tree, raw, f"{kib}k"], log)
    # extlinux installs into a mounted filesystem: a loop mount in a private mount namespace,
    # so nothing is left mounted (or looped: autoclear) if the build dies
    mnt = work / "mnt"
    mnt.mkdir()
    script = (
        f'mount -o loop,offset={_OFFSET} "$1" "$2" && '
        'extlinux --install "$2/boot/extlinux"; rc=$?; umount "$2"; exit $rc'
    )
    _run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", raw, mnt], log)
    mbr = next((Path(p) for p in _MBR if Path(p).is_file()), None)
    if mbr is None:
        raise RuntimeError("no syslinux mbr.bin: install the Debian package extlinux")
    with raw.open("r+b") as f:
        f.write(mbr.read_bytes()[:440])  # boot code only: the partition table stays
    # compressed: a third of the size (reading it costs the host a little zlib, not the guest)
    _run(["qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw, out], log)


def ensure_base_image(progress: bool = True) -> Path:
    """The cached base image, built first if this recipe has none yet (see the module doc)."""
    final = image_path()
    if final.is_file():
        return final
    cache = final.parent
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".image.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker's build: wait for it, then reuse it
        if final.is_file():
            return final
        for stale in cache.glob(".build-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a killed build's (we hold the lock)
        work = cache / f".build-{recipe_key()}-{os.getpid()}"
        work.mkdir()
        log = cache / f"{final.stem}.log"
        log.write_text("")
        started = time.monotonic()
        if progress:
            print(f"uniform: building the base image {final} (log {log})", file=sys.stderr)
        try:
            _build(work, work / "image.qcow2", log)
            os.replace(work / "image.qcow2", final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        took = time.monotonic() - started
        with log.open("a") as f:
            f.write(f"built in {took:.0f} s, {final.stat().st_size / 2**20:.0f} MiB\n")
        if progress:
            print(f"uniform: built in {took:.0f} s, {final.stat().st_size / 2**20:.0f} MiB", file=sys.stderr)
    return final


def boot(
    disk: Path, serial_log: Path, seed: Path | None = None, macs: Sequence[str] = (), memory_mib: int = 512
) -> subprocess.Popen[bytes]:
    """Start QEMU on ``disk`` (qcow2) the way uniform's domain XML runs a VM on a
    ``virtualization: qemu`` hypervisor: q35, TCG with QEMU's default CPU model, 1 vCPU,
    virtio disks, the seed (ISO) as a read-only virtio disk after it.  The first serial port
    goes to ``serial_log``.  Each MAC gets a virtio NIC on a QEMU hub of its own with no
    other port: the guest configures a real interface, and no frame can leave QEMU.
    Stop it with ``proc.kill()`` (its own session: nothing else is in its group)."""
    argv = ["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-smp", "1", "-m", str(memory_mib)]
    argv += ["-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none"]
    argv += ["-serial", f"file:{serial_log}"]
    argv += ["-drive", f"file={disk},if=virtio,format=qcow2"]
    if seed is not None:
        argv += ["-drive", f"file={seed},if=virtio,format=raw,readonly=on"]
    for i, mac in enumerate(macs):
        argv += ["-netdev", f"hubport,id=n{i},hubid={i}", "-device", f"virtio-net-pci,netdev=n{i},mac={mac}"]
    if not macs:
        argv += ["-nic", "none"]
    return subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_serial(
    serial_log: Path, pattern: str, proc: subprocess.Popen[bytes], timeout: float
) -> re.Match[str]:
    """The first match of ``pattern`` (a regular expression, multi-line) in the serial log,
    polled until ``timeout`` seconds; RuntimeError (with the log's tail) if QEMU exits first
    or time runs out."""
    rx = re.compile(pattern, re.MULTILINE)
    end = time.monotonic() + timeout
    text = ""
    while True:
        try:
            text = serial_log.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        if m := rx.search(text):
            return m
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            why = f"QEMU exited ({proc.returncode}) before /{pattern}/: {err.strip()}"
            break
        if time.monotonic() > end:
            why = f"no /{pattern}/ in the serial log after {timeout:.0f} s"
            break
        time.sleep(0.5)
    tail = "\n".join(text.splitlines()[-25:])
    raise RuntimeError(f"{why}\n--- {serial_log} (tail)\n{tail}")


def main(argv: Sequence[str] | None = None) -> int:
    """``lab/image.sh``: build the base image unless cached, print its path."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if args:
        print(
            f"usage: lab/image.sh  (builds or reuses the base image, prints its path); got {args}",
            file=sys.stderr,
        )
        return 2
    try:
        print(ensure_base_image())
    except (RuntimeError, OSError) as e:
        print(f"uniform: the base image cannot be built: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
