"""payloads.index: the one-string index a delivery resource records of its files, both shapes read."""

from __future__ import annotations

from typing import Any

import pytest

from payloads.index import RecordedFile, file_hashes, index_of, parse_index, recorded

SHA = "ebc972654400f56f4b1d9fcff7766333e645c0223501ebc54c15ae1a5c4de081"

ROUND_TRIPS: list[tuple[str, dict[str, RecordedFile], str]] = [
    ("none", {}, ""),
    (
        "with reloads, sorted by path",
        {
            "/etc/hosts": {"mode": "0644", "sha256": SHA, "reload": ""},
            "/etc/hostname": {"mode": "0644", "sha256": SHA, "reload": "hostname -F /etc/hostname"},
        },
        f"/etc/hostname\t0644\t{SHA}\thostname -F /etc/hostname\n/etc/hosts\t0644\t{SHA}\t",
    ),
    ("recorded before files named their reload", {"/x": {"mode": "0600", "sha256": SHA}}, f"/x\t0600\t{SHA}"),
]


@pytest.mark.parametrize(("case", "files", "index"), ROUND_TRIPS, ids=[c[0] for c in ROUND_TRIPS])
def test_round_trip(case: str, files: dict[str, RecordedFile], index: str) -> None:
    assert index_of(files) == index
    assert parse_index(index) == files


@pytest.mark.parametrize("path", ["/etc/a\tb", "/etc/a\nb"])
def test_a_tab_or_newline_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="tab or newline"):
        index_of({path: {"mode": "0644", "sha256": SHA, "reload": ""}})


SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("index", {"index": f"/etc/hosts\t0644\t{SHA}\t", "files": {"/etc/hosts": "127.0.0.1 localhost\n"}}),
    ("outputs before the index", {"files": {"/etc/hosts": {"mode": "0644", "sha256": SHA, "reload": ""}}}),
    (
        "inputs before the index",
        {"files": {"/etc/hosts": {"content": "127.0.0.1 x\n", "mode": "0644", "sha256": SHA, "reload": ""}}},
    ),
]


@pytest.mark.parametrize(("case", "props"), SHAPES, ids=[c[0] for c in SHAPES])
def test_recorded_reads_every_shape(case: str, props: dict[str, Any]) -> None:
    assert recorded(props) == {"/etc/hosts": {"mode": "0644", "sha256": SHA, "reload": ""}}
    assert file_hashes(props) == {"/etc/hosts": (SHA, "0644")}
