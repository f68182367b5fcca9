"""components.sdk: the SDK's per-resource costs that uniform removes (docs/scale.md).

The patches are checked against the SDK as installed (pyproject.toml pins it): a new
SDK that moved what they replace fails here rather than silently running slower.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import pytest

from components import sdk

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """``main`` on a loop of its own: asyncio.run would unset the loop Pulumi's mocks use."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


def run(code: str, **env: str) -> str:
    """``code`` in a fresh interpreter (the patches are process-wide); its stdout."""
    environ = {k: v for k, v in os.environ.items() if k != sdk.DEBUG_ENV}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


PROBE = """
import asyncio, pulumi.log, pulumi.runtime.resource as r, pulumi.runtime.stack as s
import pulumi.dynamic.dynamic as d, pulumi.resource as pr
from components import sdk
def now():
    return (pulumi.log.debug, r._get_stack_trace, s.asyncio, r.create_urn, d._serialize,
            pr.collapse_alias_to_urn)
before = now()
print(sdk.trim(), sdk.trim(), sdk.trimmed())
after = now()
print([a is b for a, b in zip(before, after)])
print(len(r._get_stack_trace().frames))
"""


def test_the_pinned_sdk_is_the_one_trim_was_written_against() -> None:
    from importlib import metadata

    assert metadata.version("pulumi") == sdk.SDK_VERSION
    assert f'"pulumi=={sdk.SDK_VERSION}"' in (ROOT / "pyproject.toml").read_text()


def test_trim_replaces_debug_logs_stack_traces_and_the_outputs_wait() -> None:
    first, changed, frames = run(PROBE).splitlines()
    assert first == "True True True"  # idempotent
    assert changed == "[False, False, False, False, False, False]"  # all six replaced
    assert frames == "0"


def test_uniform_sdk_debug_leaves_the_sdk_as_it_is() -> None:
    first, changed, _ = run(PROBE, **{sdk.DEBUG_ENV: "1"}).splitlines()
    assert first == "False False False"
    assert changed == "[True, True, True, True, True, True]"


def wait_with(*delays: float, fail_at: int | None = None) -> tuple[int, int, float]:
    """The trimmed asyncio.wait(FIRST_COMPLETED) over tasks that finish after ``delays``."""

    async def job(i: int, delay: float) -> int:
        await asyncio.sleep(delay)
        if i == fail_at:
            raise RuntimeError("failed")
        return i

    async def main() -> tuple[int, int, float]:
        loop = asyncio.get_running_loop()
        tasks = [asyncio.ensure_future(job(i, d)) for i, d in enumerate(delays)]
        start = loop.time()
        done, pending = await sdk._Asyncio("asyncio").wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        took = loop.time() - start
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(done), len(pending), took

    return run_loop(main())


def test_the_outputs_wait_returns_once_all_are_done() -> None:
    # the SDK's FIRST_COMPLETED would return after the first (0.0 s), with three pending
    assert wait_with(0.0, 0.05, 0.1, 0.15)[:2] == (4, 0)


def test_the_outputs_wait_returns_at_the_first_failure() -> None:
    done, pending, took = wait_with(0.0, 0.02, 5.0, fail_at=1)
    assert (done, pending) == (2, 1)
    assert took < 2.0  # it did not wait for the slow one


@pytest.mark.parametrize("return_when", [asyncio.ALL_COMPLETED, asyncio.FIRST_EXCEPTION])
def test_other_waits_are_asyncio_s(return_when: str) -> None:
    async def main() -> tuple[int, int]:
        slow = asyncio.ensure_future(asyncio.sleep(5))
        fast = asyncio.ensure_future(asyncio.sleep(0))
        done, pending = await sdk._Asyncio("asyncio").wait(
            [slow, fast], timeout=0.05, return_when=return_when
        )
        slow.cancel()
        return len(done), len(pending)

    assert run_loop(main()) == (1, 1)


def test_the_stand_in_module_forwards_everything_else() -> None:
    proxy = sdk._Asyncio("asyncio")
    assert proxy.sleep is asyncio.sleep and proxy.FIRST_COMPLETED == asyncio.FIRST_COMPLETED
    assert proxy.gather is asyncio.gather and proxy.Task is asyncio.Task


@pytest.mark.parametrize(
    "args",
    [
        (
            "web1-base",
            "pulumi-python:dynamic/uniform:Files",
            "urn:pulumi:s::p::uniform:machine:Machine::web1",
            None,
            None,
        ),
        ("web1", "uniform:machine:Machine", "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", None, None),
        ("ns1-dhcp-files", "pulumi-python:dynamic/uniform:Files", "urn:pulumi:s::p::a$b::ns1-dhcp", "p", "s"),
        ("p-s", "pulumi:pulumi:Stack", None, "proj", "stack"),
    ],
)
def test_the_string_urn_is_the_sdk_s(args: tuple[str | None, ...]) -> None:
    async def both() -> tuple[object, object, bool]:
        fast, slow = sdk._create_urn(*args), sdk._SDK_CREATE_URN(*args)
        known = await fast.is_known() and not await fast.is_secret() and not await fast.resources()
        return await fast.future(), await slow.future(), known

    fast, slow, known = run_loop(both())
    assert fast == slow and known
    assert isinstance(fast, str) and fast.endswith("::" + str(args[0]))


def test_an_output_part_goes_to_the_sdk() -> None:
    async def urn() -> object:
        return await sdk._create_urn(pulumi.Output.from_input("n"), "t", None, "p", "s").future()

    assert run_loop(urn()) == "urn:pulumi:s::p::t::n"


def test_a_stateless_provider_is_pickled_once_per_class() -> None:
    """Same pickle as the SDK's for every instance; a provider with state is pickled each time."""
    from pulumi.dynamic.dynamic import ResourceProvider, serialize_provider

    from components.delivery import FilesProvider

    class WithState(ResourceProvider):
        def __init__(self, value: str) -> None:
            self.value = value

    sdk._PICKLES.clear()
    one = sdk._serialize(True, serialize_provider, FilesProvider())
    assert one == sdk._SDK_SERIALIZE(True, serialize_provider, FilesProvider())
    assert sdk._serialize(True, serialize_provider, FilesProvider()) is one  # the kept pickle
    a = sdk._serialize(True, serialize_provider, WithState("a"))
    b = sdk._serialize(True, serialize_provider, WithState("b"))
    assert a != b and WithState not in sdk._PICKLES


@pytest.mark.parametrize("specs", [True, False], ids=["engine takes alias specs", "engine does not"])
def test_alias_urns_are_skipped_only_when_the_engine_takes_specs(
    specs: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulumi.runtime.proto import resource_pb2

    features = {resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS} if specs else set()
    monkeypatch.setattr(pulumi.runtime.settings.SETTINGS, "monitor_features", features)
    got = sdk._collapse_alias(pulumi.Alias(type_="old:type"), "web1-base", "new:type", None)
    if specs:
        assert got == sdk.UNREAD_ALIAS
    else:
        assert isinstance(got, pulumi.Output)  # the SDK's URN, computed as before
