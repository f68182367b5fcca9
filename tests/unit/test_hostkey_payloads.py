"""Host keys in the payloads (payloads/secrets.py, payloads/provision.py): the seed and the preseed
hold placeholders, never a key; substituted, they hold exactly the key, valid where it lands."""

from __future__ import annotations

import base64
import dataclasses
import re
import shlex

import pytest
from ruamel.yaml import YAML

from payloads import render_customer
from payloads.provision import mac_file, makes_host_key
from payloads.secrets import host_key_names, names, placeholder, substitute
from tests.helpers.provision import TFTP, inv

# a key-shaped value: several lines, characters JSON and YAML escape ("\\", '"'), split so the
# repository's secret scan does not take this test literal for a key
PRIVATE = (
    "-----BEGIN OPENSSH "
    + 'PRIVATE KEY-----\nb3Blbn"NzaC\\1rZXk=\nAAAA+/==\n-----END OPENSSH PRIVATE KEY-----\n'
)
PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyMadeByUniform vnew.lan.p.example"


def _values(machine: str) -> dict[str, str]:
    private, public = host_key_names(machine)
    return {private: PRIVATE, public: PUBLIC}


@pytest.mark.parametrize(
    ("name", "encoding", "ok"),
    [
        ("hostkey.web1.private", "json", True),
        ("hostkey.web-1.public", "base64", True),
        ("hostkey.web1.private", "yaml", False),  # no such encoding
        ("Hostkey", "json", False),  # lower case only
        ("a:b", "json", False),  # the separator cannot be in a name
        ("", "json", False),
    ],
)
def test_placeholder_names(name: str, encoding: str, ok: bool) -> None:
    if ok:
        p = placeholder(name, encoding)
        assert names(f"x {p} y") == {name}
        assert substitute(p, {name: "v"}) != p
    else:
        with pytest.raises(ValueError):
            placeholder(name, encoding)


def test_substitute_encodes_and_refuses_a_missing_value() -> None:
    j, b = placeholder("a", "json"), placeholder("b", "base64")
    out = substitute(f'k: "{j}"\necho {b} | base64 -d', {"a": 'x"\n\\', "b": PRIVATE})
    assert out.startswith('k: "x\\"\\n\\\\"\n')
    assert base64.b64decode(out.split()[-4]).decode() == PRIVATE
    with pytest.raises(KeyError, match="^'b'$"):
        substitute(f"{j} {b}", {"a": "x"})
    assert substitute("no placeholder", {}) == "no placeholder"


def test_the_seed_hands_over_the_key_only_as_placeholders() -> None:
    i = inv()
    text = render_customer(i)["hv1"].file("/etc/uniform/libvirt/vnew.seed/user-data").content
    assert "PRIVATE" not in text and names(text) == set(_values("vnew"))
    doc = YAML(typ="safe").load(substitute(text, _values("vnew")))
    assert doc["ssh_keys"] == {"ed25519_private": PRIVATE, "ed25519_public": PUBLIC}
    assert doc["ssh_deletekeys"] is True and doc["ssh_genkeytypes"] == ["ed25519"]
    # it will carry a private key: readable by root on the hypervisor only
    assert render_customer(i)["hv1"].file("/etc/uniform/libvirt/vnew.seed/user-data").mode == 0o600


def test_the_preseed_installs_the_key_with_its_modes() -> None:
    i = inv(user="ops")
    new1 = i.machines["new1"]
    path = f"{TFTP}/uniform/preseed/{mac_file(new1.nics[0].mac)}.cfg"
    text = render_customer(i)["svc1"].file(path).content
    assert "PRIVATE" not in text and names(text) == set(_values("new1"))
    late = next(
        x for x in substitute(text, _values("new1")).splitlines() if x.startswith("d-i preseed/late_command")
    )
    # one shell word after in-target: the script; every step as the target's shell runs it
    words = shlex.split(late.split(" string ", 1)[1])
    assert words[:3] == ["in-target", "sh", "-c"] and len(words) == 4
    steps = words[3].split("; ")
    key = "/etc/ssh/ssh_host_ed25519_key"
    written = {}
    for step in steps:
        m = re.fullmatch(r"echo (\S+) \| base64 -d > (\S+)", step)
        if m:
            written[m.group(2)] = base64.b64decode(m.group(1)).decode()
    assert written[key] == PRIVATE and written[f"{key}.pub"] == PUBLIC
    assert "umask 077" in steps[: steps.index(next(s for s in steps if s.endswith(f"> {key}")))]
    assert f"chmod 0600 {key}" in steps and f"chmod 0644 {key}.pub" in steps
    # the customer's keys are still written first
    assert steps[0] == "mkdir -p /home/ops/.ssh"


def test_a_hand_recorded_key_takes_precedence() -> None:
    i = inv(user="ops")
    keys = (("vnew", PUBLIC), ("new1", PUBLIC))
    hand = dataclasses.replace(
        i, customer=dataclasses.replace(i.customer, ssh=dataclasses.replace(i.customer.ssh, host_keys=keys))
    )
    assert not makes_host_key(hand, hand.machines["vnew"]) and makes_host_key(i, i.machines["vnew"])
    for payload in render_customer(hand).values():
        for f in payload.files:
            assert not names(f.content), f.path
    seed = YAML(typ="safe").load(
        render_customer(hand)["hv1"].file("/etc/uniform/libvirt/vnew.seed/user-data").content
    )
    assert "ssh_keys" not in seed and "ssh_deletekeys" not in seed
    assert render_customer(hand)["hv1"].file("/etc/uniform/libvirt/vnew.seed/user-data").mode == 0o644


def test_only_staged_machines_files_name_a_key() -> None:
    """The boot path exists only while staged: no other file, and no manifest, names a key."""
    for payload in render_customer(inv()).values():
        for f in payload.files:
            found = names(f.content)
            if found:
                assert ".seed/user-data" in f.path or "/uniform/preseed/" in f.path, f.path
                assert {n.split(".")[1] for n in found} <= {"vnew", "new1"}


def test_pattern_recognises_a_substituted_file_only() -> None:
    from payloads.secrets import pattern

    text = f'a: "{placeholder("k", "json")}"\nb: {placeholder("k", "base64")}\n'
    done = substitute(text, {"k": PRIVATE})
    assert pattern(text).fullmatch(done)
    assert not pattern(text).fullmatch(done.replace("a:", "c:"))
    assert not pattern(text).fullmatch(done + "x")
    assert pattern("plain $ text (.)").fullmatch("plain $ text (.)")
