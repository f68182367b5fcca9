"""A machine's SSH host key, made by uniform and kept in Pulumi state (docs/provisioning.md "Host keys").

A machine being installed gets its ed25519 host key from uniform, unless one is recorded by
hand in ``ssh.host_keys`` (which takes precedence): the key is handed over at install (the
VM's cloud-init seed, the hardware's preseed; placeholders there, substituted by delivery)
and its public half is pinned by delivery and verify.  So a freshly installed machine is
reached with no ``ssh-keyscan``, and no trust on first use.

* **Made once.**  ``create`` generates the key (the ``cryptography`` package, in memory: no
  key file ever touches the disk); no input change ever replaces it.  Replacing it takes an
  explicit ``pulumi up --replace <its urn>`` (docs/provisioning.md), e.g. before reinstalling
  a failed machine.
* **Made only for a machine being installed.**  A key made for a machine that is already
  installed would not be the key it has: ``check`` refuses to create one for a machine that
  is not staged (a machine that reached ``active`` before uniform made keys has its key
  recorded by hand).
* **Secret.**  The private key is an output marked secret (``additional_secret_outputs``):
  encrypted in the state, ``[secret]`` in previews and diffs; the provider never logs it.
* **Leaves with the machine.**  ``delete`` has nothing to clean up: the key lived in the state
  and on the machine.  Retiring a machine deletes it with the machine's other resources.
"""

from __future__ import annotations

from typing import Any

import pulumi
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider

__all__ = ["TYPE", "HostKey", "HostKeyProvider", "generate"]

#: the resource type (the class-name trick of components.delivery.Files)
TYPE = "pulumi-python:dynamic/uniform:HostKey"


def generate(comment: str) -> tuple[str, str]:
    """A new ed25519 key: (private key in OpenSSH format, public key line ending in ``comment``)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, f"{public.decode()} {comment}"


def refusal(machine: str, state: str) -> str:
    return (
        f"{machine}: customer.yaml: ssh.host_keys.{machine}: no host key, and uniform makes one only "
        f"for a machine being installed (staged), not for one that is {state}: record its key by hand "
        "(ssh-keyscan -t ed25519 <host>, see README 'Host keys')"
    )


class HostKeyProvider(ResourceProvider):
    """Makes the key on create; never updates it; deletes nothing."""

    serialize_as_secret_always = False  # a reference to this class, no secret (see FilesProvider)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        # olds are empty only for a key not made yet: make one only for a machine being installed
        if not _olds and news.get("state") != "staged":
            why = refusal(str(news.get("machine")), str(news.get("state")))
            return CheckResult(news, [CheckFailure("state", why)])
        return CheckResult(news, [])

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        # the machine's state is an input only for check: a key is never changed by the
        # inventory (the engine records the new inputs of an unchanged resource all the same)
        return DiffResult(changes=False, replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        private, public = generate(str(props["comment"]))
        return CreateResult(
            id_=str(props["machine"]), outs={**props, "public_key": public, "private_key": private}
        )

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class HostKey(pulumi.dynamic.Resource, module="uniform", name="HostKey"):
    """``pulumi-python:dynamic/uniform:HostKey``: one per machine whose host key uniform makes."""

    public_key: pulumi.Output[str]
    private_key: pulumi.Output[str]

    def __init__(
        self, name: str, *, machine: str, state: str, comment: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props: dict[str, Any] = {
            "machine": machine,
            "state": state,
            "comment": comment,
            "public_key": None,
            "private_key": None,
        }
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["private_key"])
        )
        super().__init__(HostKeyProvider(), name, props, opts)
