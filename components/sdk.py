"""Per-resource costs of the Pulumi Python SDK that uniform's program does not need.

Profiled in docs/scale.md ("Where the time goes"): at 1,000 machines the language
host's program -- the SDK's registration machinery, not uniform's own code, the engine
or the dynamic provider -- is the critical path of a no-change preview.  Five of its
costs buy uniform nothing, and a sixth repeats itself:

* **debug logs**: every registration sends four to seven ``log.debug`` messages, each a
  *synchronous* ``Engine.Log`` gRPC round trip, some on the event loop's thread
  (pulumi/runtime/resource.py, rpc_manager.py).  The engine shows them only with
  ``--debug``/``-v``.  Upstream gated most of them behind ``excessive_debug_output``
  once (pulumi#7295); the ones left cost ~15% of the program and ~40% of the engine.
* **stack traces**: every registration walks the Python stack to record a source
  position and a full stack trace in the state: ~1.3 KB per resource, a fifth of a
  machine's state, read by nothing uniform uses.  Neither changes what is deployed or
  diffed.
* **the outputs loop**: see :class:`_Asyncio` (quadratic in the stack's size).
* **the same pickle, made again**: every dynamic resource pickles its provider with dill
  (pulumi/dynamic/dynamic.py ``serialize_provider``, a custom pickler set up and torn down
  each time): 5% of the program at 3,000 machines, for the same 55 bytes -- uniform's
  providers are instances of a class without attributes, pickled by reference.
  :func:`_serialize` keeps the pickle of such an instance per class.
* **alias URNs nobody reads**: ``Resource.__init__`` turns every alias into a URN Output (an
  ``Output.all`` over project and stack, applies, their tasks): 15% of the program at
  3,000 machines for the one alias of every delivery resource (components/delivery.py).
  That list is read only to derive the aliases of the resource's children when the
  engine does not take alias *specs* (runtime/resource.py ``all_aliases``); this engine
  does, and the SDK then sends ``opts.aliases`` as specs instead.  :func:`_collapse_alias`
  skips it then, and only then.
* **a URN nobody reads**: every registration computes ``create_urn(name, type,
  parent_urn)`` -- a chain of five Outputs and their tasks -- for a mock response used
  only without an engine (resource.py ``mock_urn``): a quarter of the program once the
  above went.  For plain strings :func:`_create_urn` computes the same string at once;
  anything else (an Output, a parent Resource: aliases) goes to the SDK's.

:func:`trim` removes the six, in this process only, unless ``UNIFORM_SDK_DEBUG`` is
set (then the SDK is untouched: ``UNIFORM_SDK_DEBUG=1 pulumi preview --debug``).  It
replaces module attributes the SDK looks up at call time, only on the SDK version it
was read against (pyproject.toml pins it); any other version is left as it is --
slower, never wrong -- and tests/components/test_sdk.py fails, so a bump of the pin
is not unnoticed.
"""

from __future__ import annotations

import asyncio
import os
import types
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import pulumi
import pulumi.dynamic.dynamic
import pulumi.log
import pulumi.resource
import pulumi.runtime.resource
import pulumi.runtime.settings
import pulumi.runtime.stack
from pulumi.runtime.proto import resource_pb2

__all__ = ["DEBUG_ENV", "SDK_VERSION", "trim", "trimmed"]

#: set (to anything) to keep the SDK as it is: debug logs, stack traces, its outputs loop
DEBUG_ENV = "UNIFORM_SDK_DEBUG"

#: the SDK whose internals :func:`trim` was written against
SDK_VERSION = "3.259.0"


class _Asyncio(types.ModuleType):
    """asyncio as pulumi/runtime/stack.py sees it, with an O(n) wait for its outputs loop.

    ``wait_for_rpcs`` ends every program by looping ``asyncio.wait(pending_outputs,
    return_when=FIRST_COMPLETED)`` over every Output not yet resolved: each round adds
    and removes a callback on all of them and returns as soon as *one* resolves, and
    they resolve as the engine answers, a few at a time.  At 1,000 machines that was 270
    rounds over up to 35,000 outputs (a million callback operations, 40% of the
    program's time once the debug logs went), growing with the square of the stack.
    Waiting for the first *exception* instead returns once all are resolved (one round)
    or as soon as one fails, which the loop then raises exactly as before.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def wait(
        fs: Iterable[Any], *, timeout: float | None = None, return_when: str = asyncio.ALL_COMPLETED
    ) -> tuple[set[Any], set[Any]]:
        if return_when == asyncio.FIRST_COMPLETED and timeout is None:
            return_when = asyncio.FIRST_EXCEPTION
        return await asyncio.wait(fs, timeout=timeout, return_when=return_when)


def _no_debug(msg: str, resource: Any = None, stream_id: Any = None, ephemeral: Any = None) -> None:
    """pulumi.log.debug, dropped: the engine discards it unless run with --debug."""


def _no_stack_trace() -> Any:
    # An empty trace: the engine then records no source position (it is optional).
    return pulumi.runtime.resource.source_pb2.StackTrace()  # type: ignore[attr-defined]


_SDK_CREATE_URN = pulumi.runtime.resource.create_urn


def _create_urn(
    name: Any, type_: Any, parent: Any = None, project: Any = None, stack: Any = None
) -> pulumi.Output[str]:
    """pulumi.runtime.resource.create_urn, without the Output chain when every part is a string."""
    parts = (name, type_, parent, project, stack)
    if not all(p is None or isinstance(p, str) for p in parts) or name is None or type_ is None:
        return _SDK_CREATE_URN(name, type_, parent, project, stack)
    if parent is not None:
        prefix = parent[0 : parent.rfind("::")] + "$"
    else:
        stack = pulumi.runtime.settings.get_stack() if stack is None else stack
        project = pulumi.runtime.settings.get_project() if project is None else project
        prefix = "urn:pulumi:" + stack + "::" + project + "::"
    return pulumi.Output.from_input(prefix + type_ + "::" + name)


_SDK_SERIALIZE = pulumi.dynamic.dynamic._serialize  # type: ignore[attr-defined]
_PICKLES: dict[type, tuple[Any, bool]] = {}


def _serialize(allow_secrets: bool, f: Any, *args: Any, **kwargs: Any) -> tuple[Any, bool]:
    """pulumi.dynamic.dynamic._serialize, once per provider class for an instance with no state.

    Such an instance pickles to a reference to its class (and captures no secret), so the
    pickle of one is the pickle of all; anything else is pickled as the SDK does."""
    provider = args[0] if len(args) == 1 and not kwargs else None
    if f is not pulumi.dynamic.dynamic.serialize_provider or provider is None or vars(provider):
        return _SDK_SERIALIZE(allow_secrets, f, *args, **kwargs)
    key = type(provider)
    if key not in _PICKLES:
        _PICKLES[key] = _SDK_SERIALIZE(allow_secrets, f, provider)
    return _PICKLES[key]


_SDK_COLLAPSE = pulumi.resource.collapse_alias_to_urn  # type: ignore[attr-defined]
#: what stands for an alias URN the SDK will not read (never sent: specs are)
UNREAD_ALIAS = "urn:uniform:unread-alias"


def _collapse_alias(alias: Any, name: str, type_: str, parent: Any) -> Any:
    """pulumi.resource's collapse_alias_to_urn, skipped while the engine takes alias specs."""
    if pulumi.runtime.settings.monitor_supports_feature(resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS):
        return UNREAD_ALIAS
    return _SDK_COLLAPSE(alias, name, type_, parent)


def _patchable() -> bool:
    res, stack = pulumi.runtime.resource, pulumi.runtime.stack
    return (
        metadata.version("pulumi") == SDK_VERSION
        and callable(getattr(pulumi.log, "debug", None))
        and callable(getattr(res, "_get_stack_trace", None))
        and hasattr(getattr(res, "source_pb2", None), "StackTrace")
        and getattr(stack, "asyncio", None) is asyncio
        and getattr(res, "create_urn", None) is _SDK_CREATE_URN
        and getattr(pulumi.dynamic.dynamic, "_serialize", None) is _SDK_SERIALIZE
        and getattr(pulumi.resource, "collapse_alias_to_urn", None) is _SDK_COLLAPSE
        and callable(getattr(pulumi.runtime.settings, "monitor_supports_feature", None))
    )


def trim() -> bool:
    """Remove the six costs from this process (idempotent); True when they are gone."""
    if os.environ.get(DEBUG_ENV):
        return False
    if trimmed():
        return True
    if not _patchable():
        return False
    pulumi.log.debug = _no_debug
    pulumi.runtime.resource._get_stack_trace = _no_stack_trace
    pulumi.runtime.resource.create_urn = _create_urn
    pulumi.dynamic.dynamic._serialize = _serialize  # type: ignore[attr-defined]
    pulumi.resource.collapse_alias_to_urn = _collapse_alias  # type: ignore[attr-defined,assignment]
    pulumi.runtime.stack.asyncio = _Asyncio("asyncio")  # type: ignore[attr-defined]
    return True


def trimmed() -> bool:
    """Whether :func:`trim` has changed this process's SDK."""
    return isinstance(getattr(pulumi.runtime.stack, "asyncio", None), _Asyncio)
