"""The dynamic provider's Check, without a round trip of every input through Python.

The engine calls Check, then Diff, on every delivery resource of every run, changed or
not, one resource after the other (its step generator waits for each answer), so the
dynamic provider's time per call is on the critical path of a large customer's
preview (docs/scale.md).  The SDK's Check (pulumi/dynamic/__main__.py) turns the old
and the new inputs -- every file's content -- into Python values, creates an asyncio
event loop, and serialises the new inputs back, to answer with the inputs unchanged:
``FilesProvider.check`` only reads where a VM is placed.

A provider class that sets ``check_reads`` (the input keys its ``check`` reads) and
whose ``check`` returns the new inputs as given, failures aside, gets a Check that
deserialises only those keys and answers with the engine's own new inputs, byte for
byte what the SDK's round trip returns (tests/components/test_sdk_provider.py).  Any
other provider, and a call whose provider is not known yet (a preview's unknown
``__provider``), goes to the SDK's Check.

:func:`trim_provider` patches the servicer of the process it runs in when that process
is the dynamic provider (``python -m pulumi.dynamic``: components.delivery is imported
there when the engine's first call unpickles its provider), on the SDK version pinned
(components/sdk.py), and not with ``UNIFORM_SDK_DEBUG`` set.
"""

from __future__ import annotations

import os
import sys
import types
from importlib import metadata
from typing import Any

from pulumi.runtime import rpc

from .sdk import DEBUG_ENV, SDK_VERSION

__all__ = ["HOOK", "PROVIDER_KEY", "trim_provider"]

#: the input holding the pickled provider (pulumi/dynamic/__main__.py)
PROVIDER_KEY = "__provider"
#: the dynamic provider's main module, as ``python -m pulumi.dynamic`` runs it
MAIN = "pulumi.dynamic.__main__"
#: the name of the short Check in the provider's main module (what the trampoline calls)
HOOK = "_uniform_short_check"


def _servicer_main() -> types.ModuleType | None:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return main if spec is not None and spec.name == MAIN else None


def trim_provider(main: types.ModuleType | None = None) -> bool:
    """Give the dynamic provider's servicer the short Check; True when it has it.

    The server bound the servicer's Check when it started, before any provider was
    unpickled (grpc's generated ``add_ResourceProviderServicer_to_server``), so replacing the
    class attribute would change nothing: the SDK's Check function itself is turned into a
    trampoline to the short one, and a copy of it kept for everything the short one leaves
    to the SDK."""
    if os.environ.get(DEBUG_ENV) or metadata.version("pulumi") != SDK_VERSION:
        return False
    main = main or _servicer_main()
    servicer = getattr(main, "DynamicResourceProviderServicer", None)
    if main is None or servicer is None or not callable(getattr(main, "get_provider", None)):
        return False
    if callable(main.__dict__.get(HOOK)):
        return True
    check = servicer.Check
    if check.__code__.co_freevars or check.__globals__ is not main.__dict__:
        return False  # not the SDK's function as read: leave it
    sdk_check = types.FunctionType(check.__code__, check.__globals__, "Check", check.__defaults__)
    proto = main.proto
    get_provider = main.get_provider

    def short(self: Any, request: Any, context: Any) -> Any:
        raw = request.news.fields.get(PROVIDER_KEY)
        if raw is None or raw.WhichOneof("kind") != "string_value" or raw.string_value == rpc.UNKNOWN:
            return sdk_check(self, request, context)
        provider = get_provider({PROVIDER_KEY: raw.string_value}, self._config)
        reads = getattr(provider, "check_reads", None)
        if reads is None:
            return sdk_check(self, request, context)
        olds = {k: rpc.deserialize_property(request.olds[k], True) for k in reads if k in request.olds}
        news = {k: rpc.deserialize_property(request.news[k], True) for k in reads if k in request.news}
        failures = provider.check(olds, news).failures
        return proto.CheckResponse(
            inputs=request.news,
            failures=[proto.CheckFailure(property=f.property, reason=f.reason) for f in failures],
        )

    main.__dict__[HOOK] = short
    trampoline: dict[str, Any] = {}
    exec(  # compiled against the SDK module's globals, where HOOK now is
        f"def Check(self, request, context):\n    return {HOOK}(self, request, context)\n",
        check.__globals__,
        trampoline,
    )
    check.__code__ = trampoline["Check"].__code__
    return True
