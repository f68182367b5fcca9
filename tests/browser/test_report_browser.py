"""The report in a real browser: headless Chromium loads the page from a file: URL, runs
its JS (the sortable table), dumps the DOM and takes a screenshot.

`#sort=<column>` / `#sort=-<column>` in the URL makes the page's own JS sort the table
on load, through the same function a click on a column header calls, so the dumped
DOM shows the table as the script sorted it.

Chromium runs with networking off (flags below: this network is closed, and the page
must not fetch anything anyway).  Skipped without chromium; failed instead when
UNIFORM_REQUIRE_DAEMONS=1 (CI).  Package: chromium (tools/debian-packages.txt).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ops import report as R
from tests.helpers.stacks import load_stack

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("UNIFORM_REQUIRE_DAEMONS") == "1":
        pytest.fail("UNIFORM_REQUIRE_DAEMONS=1 but chromium is not installed (tools/debian-packages.txt)")
    pytest.skip("chromium not installed")


def browse(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    proc = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


class Dom(HTMLParser):
    """The bits of the dumped DOM the tests look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: list[tuple[str, dict[str, str]]] = []  # every element, in order
        self.rows: list[list[str]] = []  # machines tbody: cell texts
        self.keys: list[list[str | None]] = []  # machines tbody: cell data-k
        self._table: str | None = None
        self._in_tbody = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.attrs.append((tag, a))
        if tag == "table":
            self._table = a.get("id")
        elif tag == "tbody" and self._table == "machines":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self.rows.append([])
            self.keys.append([])
        elif tag == "td" and self._in_tbody:
            self._close_cell()
            self._cell = []
            self.keys[-1].append(a.get("data-k"))

    def _close_cell(self) -> None:
        if self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "tr") and self._in_tbody:
            self._close_cell()
        if tag == "tbody":
            self._in_tbody = False
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def find(self, tag: str, **want: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.attrs
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in want.items())
        ]


def dump(tmp_path: Path, page: Path, fragment: str = "") -> Dom:
    proc = browse(tmp_path, page.as_uri() + fragment, "--dump-dom")
    dom = Dom()
    dom.feed(proc.stdout)
    return dom


@pytest.fixture
def acme_page(tmp_path: Path) -> Path:
    page = tmp_path / "acme.html"
    page.write_text(R.render(load_stack("acme")))
    return page


def column(dom: Dom, name: str) -> int:
    heads = [a.get("data-col") for a in dom.find("th") if "data-col" in a]
    return heads.index(name)


def test_table_sorts_in_the_browser(tmp_path: Path, acme_page: Path) -> None:
    inv = load_stack("acme")

    dom = dump(tmp_path, acme_page)
    assert dom.find("table", id="machines", data_ready="1"), "the page's script did not run"
    names = [r[0] for r in dom.rows]
    assert names == sorted(inv.machines)  # as rendered

    dom = dump(tmp_path, acme_page, "#sort=-memory")
    assert dom.find("table", id="machines", data_ready="1")
    i = column(dom, "memory")
    mem = [int(k[i] or 0) for k in dom.keys]
    assert mem == sorted(mem, reverse=True) and len(mem) == len(inv.machines)
    # ties broken by name, ascending
    by_mem = [(-int(k[i] or 0), r[0]) for k, r in zip(dom.keys, dom.rows, strict=True)]
    assert by_mem == sorted(by_mem)
    assert dom.find("th", data_col="memory", aria_sort="descending")
    assert len([a for a in dom.find("th") if "aria-sort" in a]) == 1

    dom = dump(tmp_path, acme_page, "#sort=addresses")
    i = column(dom, "addresses")
    first = [r[i].split()[0] if r[i] else None for r in dom.rows]
    want = sorted(
        inv.machines.values(),
        key=lambda m: R._addr_key([a for n in m.nics for t in n.attachments for a in (t.ipv4, t.ipv6) if a]),
    )
    assert [r[0] for r in dom.rows] == [m.name for m in want]
    assert first[:3] == ["10.10.0.10", "10.10.0.11", "10.10.0.122"]  # numeric, not text, order
    assert first[-1] is None  # old1: retired, no address

    dom = dump(tmp_path, acme_page, "#sort=-name")
    assert [r[0] for r in dom.rows] == sorted(inv.machines, reverse=True)


def test_bars_are_drawn(tmp_path: Path, acme_page: Path) -> None:
    dom = dump(tmp_path, acme_page)
    utils = [a for a in dom.find("svg") if "util" in a.get("class", "").split()]
    assert len(utils) == 3  # lan v4, lan v6, mgmt v4
    used = dom.find("rect", **{"class": "used"})
    assert [a["data-count"] for a in used] == ["6", "6", "3"]
    assert all(float(a["width"]) > 0 for a in used)
    assert len(dom.find("rect", **{"class": "free"})) == 3
    assert len(dom.find("rect", **{"class": "pool"})) == 1
    caps = [a for a in dom.find("rect") if a.get("class") in ("ok", "over")]
    assert [a["data-pct"] for a in caps] == ["9.38", "15.62", "18.75", "62.5"]  # hv1 cpu, mem; hv2 cpu, mem
    assert dom.find("svg", id="lifecycle-bar")
    assert len(dom.find("div", **{"class": "hv"})) == 2


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def png_distinct_rows(data: bytes) -> int:
    """How many different (filtered) scanlines the image has: a blank page has one or two."""
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    w, h = png_size(data)
    raw = zlib.decompress(idat)
    stride = len(raw) // h
    return len({raw[r * stride + 1 : (r + 1) * stride] for r in range(h)})


def test_screenshot(tmp_path: Path, acme_page: Path) -> None:
    shot = tmp_path / "report-acme.png"
    browse(tmp_path, acme_page.as_uri() + "#sort=-memory", "--window-size=1280,1200", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert png_size(data) == (1280, 1200)
    assert len(data) > 30_000, "a near-empty screenshot"
    assert png_distinct_rows(data) > 100, "the screenshot shows (almost) nothing"
    print(f"screenshot: {shot}")
