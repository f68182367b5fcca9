"""What one Check and one Diff of a delivery resource cost in the dynamic provider's process.

    .venv/bin/python -m bench.provider_calls [--calls 3000] [--inventory stacks/demo]

Every delivery group of the inventory's machines (rendered by payloads/, as components/stack.py
groups them), unchanged since the last run: the requests the engine sends on a no-change
preview, built as it builds them (harness/dynamic.py), answered in process by the SDK's
servicer as installed and by the one components/sdk_provider.py patches.  Printed per call,
median of 5 rounds of ``--calls`` calls each (rounds alternate between the variants):

* ``check sdk`` / ``check short``: the SDK's Check and uniform's short one;
* ``diff sdk``: the SDK's Diff (uniform has no short Diff: docs/scale.md);
* ``deserialise all`` / ``all but contents``: what a short Diff would and would not save.

The gRPC server around these calls is not in it: compare with the provider's CPU per
resource in bench/scale_probe.py.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

import payloads
from components.delivery import FilesProvider
from components.delivery_wire import index_of
from components.sdk_provider import trim_provider
from components.stack import ROLE_NAMES, file_groups
from harness.dynamic import check_request, diff_request, servicer_module
from harness.engine import ROOT
from inventory import load


def groups(inventory: Path) -> list[dict[str, Any]]:
    """The inputs of every delivery group, as components/delivery.py Files registers them."""
    inv = load(inventory, known_roles=ROLE_NAMES)
    provider = serialize_provider(FilesProvider())
    out = []
    for name, payload in payloads.render_customer(inv).items():
        for group, fg in file_groups(payload).items():
            out.append(
                {
                    "__provider": provider,
                    "group": group,
                    "target": {"mode": "local", "root": f"out/bench/{name}"},
                    "files": {p: f["content"] for p, f in fg.files.items()},
                    "index": index_of(fg.files),
                    "reload": fg.reload,
                    "private_key": None,
                }
            )
    return out


def per_call(fn: Callable[[Any], Any], requests: list[Any], calls: int) -> float:
    t0 = time.perf_counter()
    for i in range(calls):
        fn(requests[i % len(requests)])
    return (time.perf_counter() - t0) / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--inventory", type=Path, default=ROOT / "stacks" / "demo")
    args = ap.parse_args()
    inputs = groups(args.inventory)
    # the outputs recorded for them: the inputs without contents (components/delivery.py _outputs)
    outputs = [{k: v for k, v in i.items() if k != "files"} for i in inputs]
    sdk, short = servicer_module(), servicer_module()
    assert trim_provider(short), "the short Check needs the pinned SDK and no UNIFORM_SDK_DEBUG"
    sdk_s, short_s = sdk.DynamicResourceProviderServicer(), short.DynamicResourceProviderServicer()
    checks = [check_request(sdk, i, i) for i in inputs]
    diffs = [diff_request(sdk, o, i) for o, i in zip(outputs, inputs, strict=True)]

    variants: dict[str, Callable[[Any], Any]] = {
        "check sdk": lambda r: sdk_s.Check(r, None),
        "check short": lambda r: short_s.Check(r, None),
        "diff sdk": lambda r: sdk_s.Diff(r, None),
        "deserialise all": lambda r: (
            rpc.deserialize_properties(r.olds, True),
            rpc.deserialize_properties(r.news, True),
        ),
        "all but contents": lambda r: (
            rpc.deserialize_properties(r.olds, True),
            {k: rpc.deserialize_property(r.news[k], True) for k in r.news.fields if k != "files"},
        ),
    }
    reqs = {name: checks if name.startswith("check") else diffs for name in variants}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for name, fn in variants.items():
        per_call(fn, reqs[name], min(200, args.calls))  # warm up
    for _ in range(5):
        for name, fn in variants.items():
            times[name].append(per_call(fn, reqs[name], args.calls))
    files = sum(len(i["files"]) for i in inputs)
    size = sum(len(c) for i in inputs for c in i["files"].values())
    n = len(inputs)
    print(f"{n} delivery groups, {files / n:.1f} files and {size / n:,.0f} B each")
    base = statistics.median(times["diff sdk"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<18} {med * 1e3:7.3f} ms per call   {med / base:5.2f}x diff sdk")


if __name__ == "__main__":
    main()
