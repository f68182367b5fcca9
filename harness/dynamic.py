"""The SDK's dynamic-provider servicer, loaded without its server, and requests built the way
the engine sends them: for tests/components/test_sdk_provider.py and bench/provider_calls.py,
which call the servicer's Check and Diff in process."""

from __future__ import annotations

import asyncio
import types
from pathlib import Path
from typing import Any

import pulumi.dynamic
from google.protobuf import struct_pb2
from pulumi.runtime import rpc

__all__ = ["check_request", "diff_request", "servicer_module", "struct"]

URN = "urn:pulumi:s::p::uniform:delivery:Files::vm1-base"


def servicer_module() -> types.ModuleType:
    """pulumi/dynamic/__main__.py as installed, without starting its server."""
    path = Path(pulumi.dynamic.__file__).with_name("__main__.py")
    source = path.read_text()
    assert source.rstrip().endswith("main()"), "the SDK module no longer ends by starting its server"
    mod = types.ModuleType("pulumi.dynamic.__main__")
    mod.__file__ = str(path)
    exec(compile(source.rstrip()[: -len("main()")], str(path), "exec"), mod.__dict__)
    # its get_provider configures the SDK's process-wide settings (a stack named "stack"):
    # harmless in the provider's own process, not in a test's, where other tests mock a stack
    mod.__dict__["configure"] = lambda settings: None
    return mod


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    """Properties serialised as the engine's gRPC messages carry them."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def check_request(mod: types.ModuleType, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    return mod.proto.CheckRequest(urn=URN, olds=struct(olds), news=struct(news))


def diff_request(mod: types.ModuleType, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    return mod.proto.DiffRequest(id="vm1:base", urn=URN, olds=struct(olds), news=struct(news))
