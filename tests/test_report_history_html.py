"""matrix.html with history, excused failures and pivot views, rendered in
headless Chromium like the grid (tests/test_report_html.py): a 24-cell
report whose cells have up to eight earlier runs in report/history/.

Checked in the DOM Chromium built: each cell's strip of last runs (one
square per run, coloured by its status, oldest first) and duration trend
(an inline SVG line), the KNOWN and FLAKY squares, the known issues, and
the two pivot tables (kernel x arch, libc x compiler) that a matrix of 20+
cells gets; and in the screenshot: the new colours are really painted.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report_data import save_results
from test_report_html import CHROMIUM, _png_pixels

from testbed.known_issues import KnownIssue
from testbed.report import write_all
from testbed.report.history import KEEP
from testbed.results import CellResult, SuiteResult
from testbed.results import TestResult as Case

WIDTH, HEIGHT = 1400, 2600
KNOWN_RGB, FLAKY_RGB, PASS_RGB = (130, 80, 223), (27, 124, 131), (45, 164, 78)
KERNELS, ARCHES = ("host", "5.10", "6.1", "6.12"), ("x86_64", "arm64", "i386")
LIBCS, COMPILERS = ("glibc", "musl"), ("gcc", "clang")
#: the statuses of each cell's earlier runs, cycled: 8 runs each
PAST = ("PASS", "PASS", "FAIL", "PASS", "FLAKY", "PASS", "KNOWN", "PASS")
pytestmark = pytest.mark.xdist_group("chromium")


def _cells() -> list[CellResult]:
    """24 cells over every kernel x arch and libc x compiler; cell 5 fails a
    test a known issue matches, cell 7 passed a test on its second attempt,
    cell 11 fails."""
    out = []
    for i in range(24):
        kernel, arch = KERNELS[i % 4], ARCHES[i % 3]
        libc, compiler = LIBCS[i % 2], COMPILERS[(i // 2) % 2]
        tests = [Case("echo", "PASS"), Case("zero_length", "PASS")]
        status = "PASS"
        if i == 5:
            tests[1] = Case("zero_length", "FAIL", "expected 0, got 4")
            status = "FAIL"
        if i == 7:
            tests[1] = Case("zero_length", "FLAKY", "timed out", attempts=2)
            status = "FLAKY"
        if i == 11:
            tests[0] = Case("echo", "FAIL", "wrong output")
            status = "FAIL"
        out.append(CellResult(
            f"cell-{i:02d}-{kernel}-{arch}", status, "code" if status == "FAIL" else None,
            duration_s=30.0 + i, started="2024-06-01T00:00:00+00:00",
            info={"provisioner": "qemu" if kernel != "host" else "local", "kernel": kernel,
                  "arch": arch, "libc": libc, "compiler": compiler, "os": "linux",
                  "backend": "linux"},
            suites={"uu": SuiteResult("uu", status, 20.0 + i, tests)}))
    return out


def _history(report: Path, results: list[CellResult]) -> None:
    folder = report / "history"
    folder.mkdir(parents=True)
    for n, r in enumerate(results):
        runs = [{"started": f"2024-05-{d + 1:02d}T00:00:00+00:00",
                 "status": PAST[(d + n) % len(PAST)], "duration_s": 20.0 + 3 * d + n,
                 "suites": {"uu": "PASS"}} for d in range(8)]
        (folder / f"{r.cell}.json").write_text(json.dumps(runs))


@dataclass
class Page:
    report: Path
    dom: str
    png: bytes


def _chromium(profile: Path, *args: str) -> list[str]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-testbed-deps.sh")
    return [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", *args]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Page:
    report = tmp_path_factory.mktemp("history-report")
    results = _cells()
    save_results(report, results)
    _history(report, results)
    issue = KnownIssue("zl", "the zero-length path is being reworked", cell="cell-05-*",
                       tests=("uu.zero_length",), link="https://tracker.example/CSE-9")
    html = write_all(report, issues=[issue])["matrix.html"]
    png = report.parent / "history.png"
    shot = subprocess.run(_chromium(tmp_path_factory.mktemp("p"), f"--screenshot={png}",
                                    html.as_uri()), capture_output=True, timeout=120)
    dump = subprocess.run(_chromium(tmp_path_factory.mktemp("p"), "--dump-dom", html.as_uri()),
                          capture_output=True, timeout=120)
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    assert dump.returncode == 0 and dump.stdout, dump.stderr[-2000:]
    return Page(report, dump.stdout.decode(), png.read_bytes())


class _Dom(HTMLParser):
    """What the page's DOM says about history, pivots and known issues."""

    def __init__(self) -> None:
        super().__init__()
        self.row = ""
        self.strips: dict[str, list[str]] = {}
        self.trends: dict[str, int] = {}
        self.pivots: dict[str, list[int]] = {}
        self.pivot = ""
        self.dots: list[str] = []
        self.issues: dict[str, str] = {}
        self.status: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and "cell-row" in a.get("class", ""):
            self.row = a["data-cell"]
            self.status[self.row] = a["data-status"]
        if tag == "span" and "run" in a.get("class", "").split():
            self.strips.setdefault(self.row, []).append(a["data-status"])
        if tag == "polyline" and self.row:
            self.trends[self.row] = len(a["points"].split())
        if tag == "table" and "pivot" in a.get("class", ""):
            self.pivot = a["data-pivot"]
            self.pivots[self.pivot] = []
        if tag == "td" and self.pivot and "data-cells" in a:
            self.pivots[self.pivot].append(int(a["data-cells"]))
        if tag == "a" and "dot" in a.get("class", ""):
            self.dots.append(a["href"])
        if tag == "tr" and "known-issue" in a.get("class", ""):
            self.issues[a["data-issue"]] = a["data-state"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self.row = ""
        if tag == "table":
            self.pivot = ""


@pytest.fixture(scope="module")
def dom(page: Page) -> _Dom:
    parser = _Dom()
    parser.feed(page.dom)
    return parser


def test_each_cell_shows_its_last_runs(dom: _Dom) -> None:
    assert len(dom.strips) == 24
    for n, (cell, statuses) in enumerate(sorted(dom.strips.items())):
        # the eight earlier runs, oldest first, then this run's status
        expected = [PAST[(d + n) % len(PAST)] for d in range(8)] + [dom.status[cell]]
        assert statuses == expected[-KEEP:], cell
        assert dom.trends[cell] == 9, "one point of the duration trend per run"


def test_known_and_flaky_are_neither_red_nor_green(dom: _Dom) -> None:
    assert dom.status["cell-05-5.10-i386"] == "KNOWN"
    assert dom.status["cell-07-6.12-arm64"] == "FLAKY"
    assert dom.status["cell-11-6.12-i386"] == "FAIL"
    assert dom.issues == {"zl": "active"}


def test_pivot_tables_place_every_cell(dom: _Dom) -> None:
    assert set(dom.pivots) == {"kernel-arch", "libc-compiler"}
    assert sum(dom.pivots["kernel-arch"]) == sum(dom.pivots["libc-compiler"]) == 24
    assert len(dom.pivots["kernel-arch"]) == len(KERNELS) * len(ARCHES)
    assert len(dom.pivots["libc-compiler"]) == len(LIBCS) * len(COMPILERS)
    assert sorted(set(dom.dots)) == sorted(f"#cell-{c}" for c in dom.status)


def test_a_small_matrix_has_no_pivot(tmp_path: Path) -> None:
    save_results(tmp_path, _cells()[:5])
    html = write_all(tmp_path, issues=[])["matrix.html"].read_text()
    assert 'id="pivots"' not in html and 'class="history"' in html


def test_screenshot_paints_the_new_colours(page: Page) -> None:
    width, height, rows, bpp = _png_pixels(page.png)
    assert (width, height) == (WIDTH, HEIGHT)
    colours = Counter(tuple(row[i:i + 3]) for row in rows for i in range(0, len(row), bpp))
    # KNOWN and FLAKY squares in the grid, the strips and the pivots
    assert colours[KNOWN_RGB] > 1500, colours.most_common(12)
    assert colours[FLAKY_RGB] > 1500, colours.most_common(12)
    assert colours[PASS_RGB] > 10000
