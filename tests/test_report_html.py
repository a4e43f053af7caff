"""matrix.html rendered for real in headless Chromium (Debian's chromium).

One rendering of the sample report is shared by every test: a screenshot and
the DOM as Chromium built it.  A missing /usr/bin/chromium is a failure, not a
skip: scripts/install-testbed-deps.sh installs it.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from test_report_data import MISSING_LOGS, SAMPLE_MATRIX, SAMPLE_STATUS, make_sample_report

from testbed.matrix import load_matrix
from testbed.report import write_all

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1200, 800
#: background colours of the status classes (html_page.py's CSS)
PASS_RGB, FAIL_RGB, ERROR_RGB = (45, 164, 78), (207, 34, 46), (154, 52, 18)

pytestmark = pytest.mark.xdist_group("chromium")  # one worker renders once


def _chromium(profile: Path, *args: str) -> list[str]:
    """The command line of one headless Chromium with its own new profile."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-testbed-deps.sh "
                    f"(installs Debian's chromium for the HTML report check)")
    return [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}", *args]


@dataclass
class Rendered:
    report: Path
    html: str
    dom: str
    png: bytes


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The sample report's page, screenshotted and DOM-dumped by two Chromiums
    running side by side (each takes a second or two to start)."""
    report = tmp_path_factory.mktemp("report")
    make_sample_report(report)
    page = write_all(report, load_matrix(SAMPLE_MATRIX))["matrix.html"]
    png = report.parent / "matrix.png"
    url = page.as_uri()
    shot = subprocess.Popen(_chromium(tmp_path_factory.mktemp("profile"), f"--screenshot={png}",
                                      url),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    dump = subprocess.Popen(_chromium(tmp_path_factory.mktemp("profile"), "--dump-dom", url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shot_out, _ = shot.communicate(timeout=120)
    dom, dump_err = dump.communicate(timeout=120)
    assert shot.returncode == 0 and png.is_file(), shot_out.decode(errors="replace")[-2000:]
    assert dump.returncode == 0 and dom, dump_err.decode(errors="replace")[-2000:]
    return Rendered(report, page.read_text(), dom.decode(), png.read_bytes())


def test_chromium_is_installed() -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/install-testbed-deps.sh"


# --- the DOM Chromium built --------------------------------------------------

@dataclass
class Grid:
    """What the DOM says about the grid, collected by _GridParser."""

    found: bool = False
    rows: list[dict[str, str]] | None = None        # <tr class="cell-row"> attributes
    squares: dict[tuple[str, str], str] | None = None   # (cell, suite) -> class
    links: list[str] | None = None                  # hrefs inside the grid
    missing: list[str] | None = None                # titles of missing-log marks
    legend: int = 0
    summary: str = ""
    scripts: int = 0


class _GridParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.g = Grid(rows=[], squares={}, links=[], missing=[])
        self.in_grid = self.in_summary = self.in_legend = False
        self.row = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.g.scripts += 1
        if tag == "table" and a.get("id") == "matrix-grid":
            self.g.found = self.in_grid = True
        if a.get("id") == "summary":
            self.in_summary = True
        if a.get("id") == "legend":
            self.in_legend = True
        if self.in_legend and tag == "li":
            self.g.legend += 1
        if not self.in_grid:
            return
        if tag == "tr" and "cell-row" in a.get("class", "").split():
            self.g.rows.append(a)
            self.row = a["data-cell"]
        if tag == "td" and "data-suite" in a:
            self.g.squares[(self.row, a["data-suite"])] = a.get("class", "")
        if tag == "a":
            self.g.links.append(a["href"])
        if tag == "span" and "missing-log" in a.get("class", ""):
            self.g.missing.append(a.get("title", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.in_grid = False
        if tag == "p":
            self.in_summary = False
        if tag == "ul":
            self.in_legend = False

    def handle_data(self, data: str) -> None:
        if self.in_summary:
            self.g.summary += data


@pytest.fixture(scope="module")
def grid(rendered: Rendered) -> Grid:
    parser = _GridParser()
    parser.feed(rendered.dom)
    return parser.g


def test_grid_has_a_row_per_cell(grid: Grid) -> None:
    assert grid.found, "no <table id=matrix-grid> in the DOM"
    assert [r["data-cell"] for r in grid.rows] == list(SAMPLE_STATUS)
    assert [r["data-status"] for r in grid.rows] == list(SAMPLE_STATUS.values())


@pytest.mark.parametrize(("cell", "suite", "cls"), [
    ("local-linux-x86_64", "uu", "status-pass"),
    ("local-emulated-x86_64", "uu", "status-fail"),
    ("local-linux-i386", "uu", "status-error"),
    ("docker-debian11-x86_64", "uu", "status-skip"),        # suites of a skipped cell
    ("ssh-debian12-arm64", "uu", "status-not-run"),
    ("qemu-debian12-6.1-x86_64", "uk", "status-not-run"),   # the VM never booted
    ("qemu-debian12-6.12-x86_64", "ku", "status-skip"),
    ("qemu-debian12-6.12-x86_64", "uu", "status-not-run"),  # a qemu suite, no result
    ("docker-debian12-x86_64", "kk", "status-none"),        # not a suite of docker cells
    ("local-linux-x86_64", "kk", "status-none"),
])
def test_squares_have_status_classes(grid: Grid, cell: str, suite: str, cls: str) -> None:
    assert cls in grid.squares[(cell, suite)].split()


def test_summary_and_legend(grid: Grid) -> None:
    assert " ".join(grid.summary.split()).startswith(
        "11 cells: 2 FAIL, 2 ERROR, 2 PASS, 1 SKIP, 4 NOT RUN")
    assert grid.legend == 8


def test_links_lead_to_the_logs(rendered: Rendered, grid: Grid) -> None:
    """Every link is relative and opens a file of the report; a log the
    result names but the report lacks is marked, not linked."""
    assert "cells/local-linux-x86_64/uu.log" in grid.links
    assert "cells/local-linux-x86_64/build.log" in grid.links
    assert "cells/qemu-debian12-6.1-x86_64/" in grid.links
    for href in grid.links:
        assert not href.startswith(("/", "file:", "http")), href
        assert (rendered.report / unquote(href)).exists(), href
    assert [t.split(":")[0] for t in grid.missing] == sorted(MISSING_LOGS)


def test_page_is_self_contained_and_escaped(rendered: Rendered, grid: Grid) -> None:
    for external in ("http://", "https://", "<link", "<script", "src=", "@import"):
        assert external not in rendered.html
    assert grid.scripts == 0, "text from a result became markup"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html


# --- the screenshot ----------------------------------------------------------

def _png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Width, height, unfiltered rows and bytes per pixel of an 8-bit,
    non-interlaced RGB or RGBA PNG (what Chromium writes), with zlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    assert ihdr is not None, "no IHDR chunk"
    width, height, depth, colour, _, _, interlace = ihdr
    assert depth == 8 and colour in (2, 6) and interlace == 0, ihdr
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev, rows = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) \
                    & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def test_screenshot_shows_the_coloured_grid(rendered: Rendered) -> None:
    assert len(rendered.png) > 1000
    width, height, rows, bpp = _png_pixels(rendered.png)
    assert (width, height) == (WIDTH, HEIGHT)
    colours = Counter(tuple(row[i:i + 3]) for row in rows for i in range(0, len(row), bpp))
    assert len(colours) > 50, "the screenshot is (nearly) one colour"
    # the status squares really got their colours: several squares' worth each
    for rgb in (PASS_RGB, FAIL_RGB, ERROR_RGB):
        assert colours[rgb] > 2000, (rgb, colours.most_common(10))
