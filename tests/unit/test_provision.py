"""Provisioning payloads (payloads/provision.py, docs/provisioning.md): lifecycle drives the
boot path -- staged hw gets a pxelinux config + preseed keyed by its MAC on the DHCP server,
a staged VM a cloud-init seed + read-only seed disk on its hypervisor; active machines lose them."""

from __future__ import annotations

import base64
import dataclasses
import json
import re

import pytest
from ruamel.yaml import YAML

from inventory.model import (
    Inventory,
    Kind,
    Provisioning,
    State,
)
from payloads import RELOAD_COMMANDS, render_customer, vm_uuid
from payloads.provision import boot_server, mac_file, netboot_networks
from tests.helpers.provision import KEY, LAN, TFTP, inv, machine


def paths(payload: object) -> set[str]:
    return {f.path for f in payload.files}  # type: ignore[attr-defined]


def pxe(mac: str) -> str:
    return f"{TFTP}/pxelinux.cfg/{mac_file(mac)}"


# ---------------------------------------------------------------- lifecycle


def test_mac_file_name() -> None:
    assert mac_file("0C:C4:7A:00:00:1e") == "01-0c-c4-7a-00-00-1e"


@pytest.mark.parametrize("dhcp", ["dnsmasq", "kea"])
def test_staged_hw_gets_a_boot_config_active_loses_it(dhcp: str) -> None:
    i = inv(dhcp=dhcp)
    svc = render_customer(i)["svc1"]
    new1, old1 = i.machines["new1"], i.machines["old1"]
    assert pxe(new1.nics[0].mac) in paths(svc)
    assert f"{TFTP}/uniform/preseed/{mac_file(new1.nics[0].mac)}.cfg" in paths(svc)
    assert pxe(old1.nics[0].mac) not in paths(svc)
    # VMs are seeded, never netbooted; the DHCP server's files are in its dhcp group
    assert not any("0c-c4-7a-00-00-28" in p for p in paths(svc))
    assert {f.group for f in svc.files if f.path.startswith(TFTP)} == {"dhcp"}
    default = svc.file(f"{TFTP}/pxelinux.cfg/default").content
    assert "LOCALBOOT 0" in default and "DEFAULT local" in default

    # new1 becomes active: its boot config and preseed go, so it boots from its disk
    active = dataclasses.replace(new1, state=State.ACTIVE, history=(State.PLANNED, State.STAGED))
    i2 = dataclasses.replace(i, machines={**i.machines, "new1": active})
    svc2 = render_customer(i2)["svc1"]
    assert pxe(new1.nics[0].mac) not in paths(svc2)
    assert not any("/uniform/preseed/" in p for p in paths(svc2))
    assert f"{TFTP}/pxelinux.cfg/default" in paths(svc2)


@pytest.mark.parametrize("state", [State.PLANNED, State.OFFLINE, State.FAILED, State.DECOMMISSIONING])
def test_only_staged_gets_a_boot_path(state: State) -> None:
    i = inv(machine("x1", 50, state), machine("xv", 51, state, Kind.VM, hypervisor="hv1"))
    out = render_customer(i)
    assert pxe("0c:c4:7a:00:00:32") not in paths(out["svc1"])
    assert not any(p.startswith("/etc/uniform/libvirt/xv.seed/") for p in paths(out["hv1"]))
    if "xv" in {f.path.split("/")[-1].split(".")[0] for f in out["hv1"].files}:
        assert "xv-seed.iso" not in out["hv1"].file("/etc/uniform/libvirt/xv.xml").content


def test_staged_vm_gets_a_seed_and_seed_disk_active_loses_them() -> None:
    hv = render_customer(inv())["hv1"]
    seed = "/etc/uniform/libvirt/vnew.seed"
    assert {f"{seed}/meta-data", f"{seed}/user-data", f"{seed}/network-config"} <= paths(hv)
    assert {hv.file(f"{seed}/{n}").group for n in ("meta-data", "user-data", "network-config")} == {
        "hypervisor"
    }
    assert hv.file(f"{seed}/user-data").reload == "libvirt"
    xml = hv.file("/etc/uniform/libvirt/vnew.xml").content
    # the seed disk itself (virtio, read-only, after the VM's disks): tests/unit/test_virtualization.py
    assert "<source file='/var/lib/libvirt/images/vnew-seed.iso'/>" in xml
    disks = hv.file("/etc/uniform/libvirt/vnew.disks.sh").content
    assert "-volid cidata" in disks and f"seed={seed}" in disks
    # the active VM: no seed files, no seed disk, and its disks script removes a left-over ISO
    assert not any(p.startswith("/etc/uniform/libvirt/vold.seed") for p in paths(hv))
    assert "vold-seed.iso" not in hv.file("/etc/uniform/libvirt/vold.xml").content
    assert (
        "rm -f /var/lib/libvirt/images/vold-seed.iso" in hv.file("/etc/uniform/libvirt/vold.disks.sh").content
    )
    # VM seeds never go to the DHCP server
    assert not any(".seed/" in p for p in paths(render_customer(inv())["svc1"]))


# ---------------------------------------------------------------- DHCP options


def test_dnsmasq_boot_options_and_tftp() -> None:
    conf = render_customer(inv())["svc1"].file("/etc/dnsmasq.d/uniform-dhcp.conf").content
    assert "enable-tftp\ntftp-root=/var/lib/tftpboot\n" in conf
    assert "dhcp-boot=tag:lan,pxelinux.0,,10.5.0.2\n" in conf
    assert "dhcp-boot=tag:office" not in conf  # no boot_filename: no netboot there
    assert "dhcp-option=tag:lan,option:router,10.5.0.1" in conf
    assert "dhcp-option=tag:lan,option:dns-server,10.5.0.2" in conf
    assert "dhcp-option=tag:lan,option:domain-name,lan.p.example" in conf


def test_no_netboot_network_no_tftp() -> None:
    i = inv(lan=dataclasses.replace(LAN, boot_filename=None))
    svc = render_customer(i)["svc1"]
    assert "tftp" not in svc.file("/etc/dnsmasq.d/uniform-dhcp.conf").content
    assert not any(p.startswith(TFTP) or "netboot" in p for p in paths(svc))
    assert netboot_networks(i) == {}


def test_kea_boot_options() -> None:
    conf = json.loads(render_customer(inv(dhcp="kea"))["svc1"].file("/etc/kea/kea-dhcp4.conf").content)
    by_net = {s["user-context"]["network"]: s for s in conf["Dhcp4"]["subnet4"]}
    assert by_net["lan"]["next-server"] == "10.5.0.2"
    assert by_net["lan"]["boot-file-name"] == "pxelinux.0"
    assert "next-server" not in by_net["office"]
    opts = {o["name"]: o["data"] for o in by_net["lan"]["option-data"]}
    assert opts == {"routers": "10.5.0.1", "domain-name-servers": "10.5.0.2", "domain-name": "lan.p.example"}


def test_boot_server_explicit_or_first_dhcp_server() -> None:
    i = inv(machine("svc0", 4, State.PLANNED, roles=("dhcp",)))  # not delivered: not the server
    assert boot_server(i, i.networks["lan"]) == "10.5.0.2"
    i2 = inv(lan=dataclasses.replace(LAN, boot_server="10.5.0.9"))
    assert boot_server(i2, i2.networks["lan"]) == "10.5.0.9"
    assert (
        "dhcp-boot=tag:lan,pxelinux.0,,10.5.0.9"
        in render_customer(i2)["svc1"].file("/etc/dnsmasq.d/uniform-dhcp.conf").content
    )
    assert boot_server(i, i.networks["office"]) is None


def test_netboot_reload_installs_the_loader() -> None:
    svc = render_customer(inv())["svc1"]
    script = svc.file("/etc/uniform/netboot/install-loader.sh")
    assert script.mode == 0o755 and script.reload == "netboot" and script.group == "dhcp"
    assert RELOAD_COMMANDS["netboot"] == "sh /etc/uniform/netboot/install-loader.sh"
    assert "put debian-installer/amd64/linux 'debian-installer/amd64/linux'" in script.content
    assert "netboot" in svc.reloads()


# ---------------------------------------------------------------- the boot config and the preseed


def test_pxelinux_config_names_kernel_initrd_and_preseed() -> None:
    i = inv(provisioning=Provisioning(kernel_args="console=ttyS0,115200n8"))
    new1 = i.machines["new1"]
    cfg = render_customer(i)["svc1"].file(pxe(new1.nics[0].mac)).content
    assert "KERNEL debian-installer/amd64/linux\n" in cfg
    assert "IPAPPEND 2\n" in cfg  # BOOTIF=<mac>: the installer uses the NIC it booted from
    (append,) = [
        line.strip()[len("APPEND ") :] for line in cfg.splitlines() if line.strip().startswith("APPEND")
    ]
    args = dict(a.split("=", 1) for a in append.split())
    assert args["initrd"] == "debian-installer/amd64/initrd.gz"
    assert args["preseed/url"] == f"tftp://10.5.0.2/uniform/preseed/{mac_file(new1.nics[0].mac)}.cfg"
    assert args["auto"] == "true" and args["priority"] == "critical"
    assert args["netcfg/get_ipaddress"] == "10.5.0.30"
    assert args["netcfg/get_netmask"] == "255.255.255.0"
    assert args["netcfg/get_gateway"] == "10.5.0.1"
    assert args["netcfg/get_nameservers"] == "10.5.0.2"
    assert args["netcfg/get_hostname"] == "new1" and args["netcfg/get_domain"] == "lan.p.example"
    assert args["console"] == "ttyS0,115200n8"
    assert len(append) < 2000  # the kernel's command line limit (2048 on x86)


def test_no_gateway_no_default_route() -> None:
    i = inv(lan=dataclasses.replace(LAN, gateway4=None))
    cfg = render_customer(i)["svc1"].file(pxe("0c:c4:7a:00:00:1e")).content
    args = cfg.split()
    # an explicit "none": the installer drops empty kernel arguments and would then ask
    assert "netcfg/no_default_route=true" in args and "netcfg/get_gateway=none" in args
    assert [a for a in args if a.startswith("netcfg/get_gateway=")] == ["netcfg/get_gateway=none"]


@pytest.mark.parametrize(
    ("console", "serial"),
    [
        ("ttyS0", "SERIAL 0 9600"),  # the kernel's default speed
        ("ttyS1,115200n8", "SERIAL 1 115200"),
        ("ttyS2,57600e7r", "SERIAL 2 57600"),
    ],
)
def test_serial_console_for_loader_and_installer(console: str, serial: str) -> None:
    i = inv(provisioning=Provisioning(console=console, kernel_args="quiet"))
    svc = render_customer(i)["svc1"]
    for path in (pxe("0c:c4:7a:00:00:1e"), f"{TFTP}/pxelinux.cfg/default"):
        directives = [x for x in svc.file(path).content.splitlines() if x and not x.startswith("#")]
        assert directives[0] == serial, path  # pxelinux: SERIAL must come first
    cfg = svc.file(pxe("0c:c4:7a:00:00:1e")).content
    (append,) = [x.split() for x in cfg.splitlines() if x.strip().startswith("APPEND")]
    assert append[-2:] == [f"console={console}", "quiet"]  # the customer's own arguments last


def test_no_console_no_serial_directive() -> None:
    svc = render_customer(inv())["svc1"]
    for path in (pxe("0c:c4:7a:00:00:1e"), f"{TFTP}/pxelinux.cfg/default"):
        assert "SERIAL" not in svc.file(path).content and "console=" not in svc.file(path).content


def _late_command_keys(preseed: str) -> str:
    (line,) = [x for x in preseed.splitlines() if x.startswith("d-i preseed/late_command string ")]
    b64 = re.search(r"echo ([A-Za-z0-9+/=]+) \| base64 -d", line)
    assert b64
    return base64.b64decode(b64.group(1)).decode()


@pytest.mark.parametrize("user", ["root", "ops"])
def test_preseed_locks_passwords_and_installs_the_same_keys(user: str) -> None:
    i = inv(user=user)
    out = render_customer(i)
    preseed = out["svc1"].file(f"{TFTP}/uniform/preseed/{mac_file('0c:c4:7a:00:00:1e')}.cfg").content
    assert "d-i passwd/root-password-crypted password !\n" in preseed
    answers = [x for x in preseed.splitlines() if not x.startswith("#")]
    assert [x for x in answers if "password" in x and not x.endswith("password !")] == []  # no other
    home = "/root" if user == "root" else f"/home/{user}"
    # byte for byte the authorized_keys file the base payload delivers later
    assert _late_command_keys(preseed) == out["new1"].file(f"{home}/.ssh/authorized_keys").content
    late = [x for x in preseed.splitlines() if x.startswith("d-i preseed/late_command")][0]
    assert late.count("'") == 2  # one sh -c word: the key's own quote is inside the base64
    if user == "root":
        assert "d-i passwd/make-user boolean false" in preseed
    else:
        assert "d-i passwd/username string ops" in preseed
        assert "d-i passwd/user-password-crypted password !" in preseed
        assert 'echo "ops ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/uniform' in late


def test_preseed_settings_and_disks() -> None:
    p = Provisioning(
        mirror="mirror.p.example", mirror_directory="/deb", suite="trixie", timezone="Europe/Paris"
    )
    preseed = render_customer(inv(provisioning=p))["svc1"].file(
        f"{TFTP}/uniform/preseed/01-0c-c4-7a-00-00-1e.cfg"
    )
    text = preseed.content
    for line in (
        "d-i mirror/http/hostname string mirror.p.example",
        "d-i mirror/http/directory string /deb",
        "d-i mirror/suite string trixie",
        "d-i time/zone string Europe/Paris",
        "d-i pkgsel/include string openssh-server",
        "# Disks (root 20GiB, data 100GiB)",
    ):
        assert line in text


# ---------------------------------------------------------------- cloud-init seeds


def _seed(i: Inventory, vm: str, name: str) -> str:
    return str(render_customer(i)["hv1"].file(f"/etc/uniform/libvirt/{vm}.seed/{name}").content)


def test_seed_meta_data() -> None:
    meta = YAML(typ="safe").load(_seed(inv(), "vnew", "meta-data"))
    assert meta == {"instance-id": vm_uuid("p", "vnew"), "local-hostname": "vnew"}


@pytest.mark.parametrize("user", ["root", "ops"])
def test_seed_user_data(user: str) -> None:
    text = _seed(inv(user=user), "vnew", "user-data")
    assert text.startswith("#cloud-config\n")
    doc = YAML(typ="safe").load(text)
    assert doc["hostname"] == "vnew" and doc["fqdn"] == "vnew.lan.p.example"
    assert doc["ssh_pwauth"] is False
    (u,) = doc["users"]
    assert u["name"] == user and u["lock_passwd"] is True and u["ssh_authorized_keys"] == [KEY]
    assert doc["disable_root"] is (user != "root")
    assert "passwd" not in u and "chpasswd" not in doc and "password" not in text


def test_seed_user_data_without_keys_names_none() -> None:
    """A customer with no authorized key yet: no ssh_authorized_keys at all (cloud-init's
    schema refuses an empty list; tests/daemons checks rendered seeds against it)."""
    i = inv()
    ssh = dataclasses.replace(i.customer.ssh, authorized_keys=())
    i = dataclasses.replace(i, customer=dataclasses.replace(i.customer, ssh=ssh))
    (u,) = YAML(typ="safe").load(_seed(i, "vnew", "user-data"))["users"]
    assert "ssh_authorized_keys" not in u


def test_seed_network_config_matches_networkd() -> None:
    i = inv()
    doc = YAML(typ="safe").load(_seed(i, "vnew", "network-config"))
    assert doc["version"] == 2
    eth0 = doc["ethernets"]["eth0"]
    assert eth0["match"] == {"macaddress": "0c:c4:7a:00:00:28"} and eth0["set-name"] == "eth0"
    assert eth0["addresses"] == ["10.5.0.40/24", "fd00:5::28/64"]
    assert (eth0["gateway4"], eth0["gateway6"]) == ("10.5.0.1", "fd00:5::1")
    assert eth0["nameservers"] == {"addresses": ["10.5.0.2", "fd00:5::2"], "search": ["lan.p.example"]}
    assert eth0["mtu"] == 1500 and eth0["dhcp4"] is False
    # the same data as the networkd file the base payload delivers
    network = render_customer(i)["vnew"].file("/etc/systemd/network/10-eth0.network").content
    for a in eth0["addresses"]:
        assert f"Address={a}\n" in network
    for d in eth0["nameservers"]["addresses"]:
        assert f"DNS={d}\n" in network


def test_base_image_backs_the_first_disk_only() -> None:
    hv = render_customer(inv(provisioning=Provisioning(base_image="debian-12.qcow2")))["hv1"]
    disks = hv.file("/etc/uniform/libvirt/vnew.disks.sh").content
    assert (
        "qemu-img create -f qcow2 -F qcow2 -b /var/lib/libvirt/images/debian-12.qcow2 "
        "/var/lib/libvirt/images/vnew-root.qcow2 20G" in disks
    )
    assert "qemu-img create -f qcow2 /var/lib/libvirt/images/vnew-data.qcow2 100G" in disks
    hv2 = render_customer(inv(provisioning=Provisioning(base_image="/srv/base.qcow2")))["hv1"]
    assert "-b /srv/base.qcow2 " in hv2.file("/etc/uniform/libvirt/vnew.disks.sh").content
    assert "-b " not in render_customer(inv())["hv1"].file("/etc/uniform/libvirt/vnew.disks.sh").content


# ---------------------------------------------------------------- properties


def test_paths_stay_where_the_lab_keeps_hosts_private() -> None:
    """Every provisioning path is under /etc/ or /var/ (harness/lab.py refuses anything else)."""
    for p in render_customer(inv(dhcp="kea")).values():
        for f in p.files:
            assert f.path.startswith(("/etc/", "/var/", "/root/", "/home/")), f.path


def test_no_secret_in_any_provisioning_file() -> None:
    for p in render_customer(inv(user="ops")).values():
        for f in p.files:
            if "tftpboot" in f.path or ".seed/" in f.path:
                assert "PRIVATE KEY" not in f.content
                answers = [x for x in f.content.splitlines() if not x.startswith("#")]
                assert [x for x in answers if " password " in x and not x.endswith(" password !")] == []


def test_deterministic() -> None:
    a, b = render_customer(inv()), render_customer(inv())
    assert {k: v.digest for k, v in a.items()} == {k: v.digest for k, v in b.items()}
