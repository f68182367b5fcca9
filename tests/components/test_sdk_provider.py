"""components.sdk_provider: the dynamic provider's short Check answers as the SDK's does.

The SDK's servicer (pulumi/dynamic/__main__.py, as installed) is loaded without the
``main()`` its module ends with, once as it is and once patched, and both answer the same
Check requests -- built the way the engine sends them -- with the same message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from components import sdk
from components.delivery import FilesProvider
from components.hostkey import HostKeyProvider
from components.sdk_provider import HOOK, trim_provider
from harness.dynamic import check_request, servicer_module

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FILES = serialize_provider(FilesProvider())
HOSTKEY = serialize_provider(HostKeyProvider())
TARGET = {"mode": "ssh", "host": "10.0.0.5", "port": 22, "user": "root", "host_key": "ssh-ed25519 AAAA"}
BASE = {
    "group": "base",
    "target": TARGET,
    "files": {"/etc/hostname": "vm1\n", "/etc/hosts": "127.0.0.1 localhost\n"},
    "index": "/etc/hostname\t0644\tabc\thostname -F /etc/hostname\n/etc/hosts\t0644\tdef\t",
    "reload": ["hostname -F /etc/hostname"],
    "private_key": None,
}
# as Files registers them: no nested null (the SDK's own Check drops those, sdk_provider.py)
ON_HV1 = {"vm": "vm1", "hypervisor": "hv1"}
ON_HV2 = {"vm": "vm1", "hypervisor": "hv2"}
MOVED = {"vm": "vm1", "hypervisor": "hv2", "move": ["hv2", "fresh"]}


def request(mod: types.ModuleType, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    return check_request(mod, olds, news)


CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], int]] = [
    # (case, provider, olds, news, failures)
    ("created", FILES, {}, {**BASE}, 0),
    ("unchanged", FILES, {**BASE}, {**BASE}, 0),
    ("a VM stays", FILES, {**BASE, "placement": ON_HV1}, {**BASE, "placement": ON_HV1}, 0),
    ("a VM moved by hand", FILES, {**BASE, "placement": ON_HV1}, {**BASE, "placement": ON_HV2}, 1),
    ("an acknowledged move", FILES, {**BASE, "placement": ON_HV1}, {**BASE, "placement": MOVED}, 0),
    ("placement recorded before the fold", FILES, {**BASE}, {**BASE, "placement": ON_HV2}, 0),
    (
        "secrets unknown in a preview",
        FILES,
        {**BASE},
        {**BASE, "secrets": rpc.UNKNOWN, "private_key": "k"},
        0,
    ),
    ("a provider without check_reads", HOSTKEY, {}, {"machine": "vm1", "state": "staged", "comment": "c"}, 0),
]


def compare_all() -> list[dict[str, Any]]:
    """Every case through the SDK's Check and the short one (in a process of its own)."""
    out = []
    for case, provider, olds, news, _ in CASES:
        plain, short = servicer_module(), servicer_module()
        patched = trim_provider(short)
        olds = {**olds, "__provider": FILES} if olds else {}
        news = {**news, "__provider": provider}
        want = plain.DynamicResourceProviderServicer().Check(request(plain, olds, news), None)
        got = short.DynamicResourceProviderServicer().Check(request(short, olds, news), None)
        out.append(
            {
                "case": case,
                "patched": patched,
                "same": got.SerializeToString(deterministic=True)
                == want.SerializeToString(deterministic=True),
                "failures": [[f.property, f.reason] for f in got.failures],
            }
        )
    return out


def bound_check() -> dict[str, Any]:
    """The server binds ``servicer.Check`` at start, before the provider's module is imported:
    how many whole-inputs deserialisations a Check bound before the patch makes after it."""
    mod = servicer_module()
    bound = mod.DynamicResourceProviderServicer().Check  # as grpc's add_..._to_server holds it
    patched = trim_provider(mod)
    calls: list[str] = []
    full = rpc.deserialize_properties

    def spy(props: Any, *args: Any, **kw: Any) -> Any:
        if "__provider" in props:
            calls.append("x")
        return full(props, *args, **kw)

    rpc.deserialize_properties = spy  # type: ignore[assignment]
    news = {**BASE, "placement": ON_HV2, "__provider": FILES}
    olds = {**BASE, "placement": ON_HV1, "__provider": FILES}
    got = bound(request(mod, olds, news), None)
    files_calls = len(calls)
    hostkey = {"machine": "vm1", "state": "staged", "comment": "c", "__provider": HOSTKEY}
    bound(request(mod, hostkey, hostkey), None)
    return {
        "patched": patched,
        "files": files_calls,
        "hostkey": len(calls) - files_calls,
        "failures": len(got.failures),
    }


@cache
def isolated(fn: str) -> Any:
    """``fn()`` of this module in a fresh interpreter: the SDK's Check runs event loops of its
    own and configures the SDK's process-wide state, which the mocks of other tests share."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); "
        f"import test_sdk_provider as t; print(json.dumps(t.{fn}()))"
    )
    env = {k: v for k, v in os.environ.items() if k != sdk.DEBUG_ENV}
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("i", "failures"), [(i, c[4]) for i, c in enumerate(CASES)], ids=[c[0] for c in CASES]
)
def test_the_short_check_answers_as_the_sdk_does(i: int, failures: int) -> None:
    got = isolated("compare_all")[i]
    assert got["patched"] is True
    assert got["same"], f"{got['case']}: the short Check's answer differs from the SDK's"
    assert len(got["failures"]) == failures
    if failures:
        prop, reason = got["failures"][0]
        assert prop == "placement" and "hv2" in reason


def test_it_patches_the_check_the_server_bound_already() -> None:
    got = isolated("bound_check")
    assert got["patched"] is True
    assert got["files"] == 0 and got["failures"] == 1, "the bound Check took the short way"
    assert got["hostkey"] == 2, "a provider without check_reads goes to the SDK's Check"


def test_it_patches_only_the_dynamic_provider_and_only_once(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = servicer_module()
    assert trim_provider() is False, "this process is not the dynamic provider"
    assert trim_provider(mod) is True
    code = mod.DynamicResourceProviderServicer.Check.__code__
    assert trim_provider(mod) is True and mod.DynamicResourceProviderServicer.Check.__code__ is code
    other = servicer_module()
    monkeypatch.setenv(sdk.DEBUG_ENV, "1")
    assert trim_provider(other) is False
    assert HOOK not in vars(other)
