"""The matrix reports rendered from saved cell results: matrix.json, JUnit,
matrix.md, and the `cse report` command (the HTML page: test_report_html.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from test_report_data import (
    EVIL_DIAG,
    EVIL_REASON,
    SAMPLE_MATRIX,
    SAMPLE_STATUS,
    make_sample_report,
    sample_results,
)

from testbed import cli
from testbed.builds import ROOT
from testbed.cli import cmd_list
from testbed.matrix import load_matrix
from testbed.report import ReportError, support, write_all
from testbed.results import CellResult

MATRIX = load_matrix(SAMPLE_MATRIX)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """The sample report, rendered once against the real matrix."""
    report = tmp_path_factory.mktemp("report")
    make_sample_report(report)
    return report, write_all(report, MATRIX)


def test_write_all_writes_every_report(sample: tuple[Path, dict[str, Path]]) -> None:
    report, written = sample
    with_results = [cid for cid, s in SAMPLE_STATUS.items() if s != "NOT RUN"]
    assert set(written) == {"matrix.json", "matrix.md", "matrix.html", "support.md",
                            *(f"junit/{cid}.xml" for cid in with_results)}
    assert all(p.is_file() and p.stat().st_size > 0 for p in written.values())
    assert written["matrix.json"] == report / "matrix.json"
    assert not list(report.rglob("*.tmp")), "a temporary file was left behind"


def test_matrix_json_round_trips(sample: tuple[Path, dict[str, Path]]) -> None:
    report, _ = sample
    data = json.loads((report / "matrix.json").read_text())
    assert data["version"] == 2 and re.match(r"\d{4}-\d\d-\d\dT", data["generated"])
    assert {cid: CellResult.from_json(r) for cid, r in data["cells"].items()} == \
        {r.cell: r for r in sample_results()}
    assert data["not_run"] == [c for c, s in SAMPLE_STATUS.items() if s == "NOT RUN"]
    assert data["problems"] == [] and data["known_issues"] == []


def test_cse_list_reads_matrix_json(sample: tuple[Path, dict[str, Path]]) -> None:
    """`cse list` shows the last result of each cell from this file."""
    report, _ = sample
    assert cmd_list.last_results(report / "matrix.json") == \
        {c: s for c, s in SAMPLE_STATUS.items() if s != "NOT RUN"}


# cell -> (tests, failures, errors, skipped) in its JUnit file
JUNIT_COUNTS = {
    "local-linux-x86_64": (3, 0, 0, 0),
    "local-emulated-x86_64": (3, 1, 0, 0),
    "local-linux-i386": (2, 0, 1, 0),           # 1 test + the suite that was killed
    "qemu-debian12-6.1-x86_64": (1, 0, 1, 0),   # no suite ran: one case says why
    "qemu-debian12-6.12-x86_64": (5, 1, 0, 1),  # kk 2, uk 2 (1 fails), ku skipped
    "docker-debian11-x86_64": (1, 0, 0, 1),     # a skipped cell is not green
    "extra-not-in-matrix": (1, 0, 0, 0),
}


@pytest.mark.parametrize(("cell", "counts"), JUNIT_COUNTS.items())
def test_junit_counts(sample: tuple[Path, dict[str, Path]], cell: str,
                      counts: tuple[int, int, int, int]) -> None:
    report, _ = sample
    xml = JUnitXml.fromfile(str(report / "junit" / f"{cell}.xml"))
    cases = [case for suite in xml for case in suite]
    got = (len(cases), sum(c.is_failure for c in cases), sum(c.is_error for c in cases),
           sum(c.is_skipped for c in cases))
    assert got == counts
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == counts
    assert all(suite.name.startswith(cell) for suite in xml)


def test_junit_messages(sample: tuple[Path, dict[str, Path]]) -> None:
    report, _ = sample
    xml = JUnitXml.fromfile(str(report / "junit" / "local-emulated-x86_64.xml"))
    (suite,) = list(xml)
    assert suite.name == "local-emulated-x86_64.uu" and suite.time == 74.0
    (bad,) = [c for c in suite if c.is_failure]
    (failure,) = bad.result
    assert isinstance(failure, Failure) and bad.name == "callback_order"
    assert failure.message == EVIL_REASON and failure.type == "code"
    # the escape and NUL cannot live in XML: shown escaped, the rest intact
    assert failure.text == EVIL_DIAG.replace("\x1b", "\\x1b").replace("\x00", "\\x00")

    xml = JUnitXml.fromfile(str(report / "junit" / "docker-debian11-x86_64.xml"))
    (case,) = [c for s in xml for c in s]
    (skipped,) = case.result
    assert isinstance(skipped, Skipped) and skipped.message == "docker provisioner not built yet"

    xml = JUnitXml.fromfile(str(report / "junit" / "qemu-debian12-6.1-x86_64.xml"))
    (case,) = [c for s in xml for c in s]
    (error,) = case.result
    assert isinstance(error, Error) and error.message == "the VM did not boot within 120 s"
    assert error.type == "tool"


def _table_rows(md: str) -> list[list[str]]:
    """The body rows of the markdown table, split on unescaped pipes."""
    lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines[1:]]


def test_markdown_table(sample: tuple[Path, dict[str, Path]]) -> None:
    report, _ = sample
    md = (report / "matrix.md").read_text()
    header = next(ln for ln in md.splitlines() if ln.startswith("| "))
    assert header == "| cell | status | culprit | uu | uk | ku | kk | duration | reason |"
    rows = _table_rows(md)
    assert [r[0].split("`")[1] for r in rows] == list(SAMPLE_STATUS)
    assert all(len(r) == 9 for r in rows), "a | in a reason split a row"
    for row, status in zip(rows, SAMPLE_STATUS.values(), strict=True):
        assert row[1].endswith(status)
    qemu = rows[list(SAMPLE_STATUS).index("qemu-debian12-6.12-x86_64")]
    # uu is a suite of qemu cells in the matrix, but this sample result has none
    assert qemu[2] == "code" and qemu[3].endswith("NOT RUN") and qemu[4].endswith("FAIL") \
        and qemu[5].endswith("SKIP") and qemu[6].endswith("PASS") and qemu[7] == "1h02m"
    assert "(not in the matrix)" in rows[-1][0]
    assert "11 cells: 2 FAIL, 2 ERROR, 2 PASS, 1 SKIP, 4 NOT RUN" in md


def test_markdown_lists_failing_tests(sample: tuple[Path, dict[str, Path]]) -> None:
    report, _ = sample
    md = (report / "matrix.md").read_text()
    failures = md[md.index("### Failures"):]
    assert "- uu/callback_order FAIL: expected &lt;script&gt;" in failures
    assert "- uk/server_death FAIL: client hung" in failures
    assert "- uu ERROR: test binary killed after 60 s" in failures
    assert "- cell ERROR: the VM did not boot within 120 s" in failures
    assert "<script>" not in md
    for cell in ("local-linux-x86_64", "docker-debian11-x86_64", "extra-not-in-matrix"):
        assert f"**{cell}**" not in failures  # passing and skipped cells list nothing


def test_without_matrix_only_results_show(tmp_path: Path) -> None:
    results = make_sample_report(tmp_path)
    write_all(tmp_path)
    rows = _table_rows((tmp_path / "matrix.md").read_text())
    assert sorted(r[0].strip("`") for r in rows) == sorted(r.cell for r in results)
    assert json.loads((tmp_path / "matrix.json").read_text())["not_run"] == []


def test_rerender_drops_stale_junit(tmp_path: Path) -> None:
    make_sample_report(tmp_path)
    write_all(tmp_path)
    stale = tmp_path / "junit" / "extra-not-in-matrix.xml"
    assert stale.is_file()
    for f in (tmp_path / "cells" / "extra-not-in-matrix").iterdir():
        f.unlink()
    (tmp_path / "cells" / "extra-not-in-matrix").rmdir()
    written = write_all(tmp_path)
    assert not stale.exists() and "junit/extra-not-in-matrix.xml" not in written
    assert "extra-not-in-matrix" not in json.loads((tmp_path / "matrix.json").read_text())["cells"]


CORRUPT = [
    pytest.param(b'{"cell": "local-linux-x86_64", "status": ', "not valid JSON", id="truncated"),
    pytest.param(b"\xff\xfe garbage", "cannot read", id="not-utf8"),
    pytest.param(b"[1, 2]", "must be a JSON object", id="list"),
    pytest.param(b'{"cell": "local-linux-x86_64"}', "not a cell result", id="no-status"),
    pytest.param(b'{"cell": "local-linux-x86_64", "status": "pass"}', "'status' must be one of",
                 id="lowercase-status"),
    pytest.param(b'{"cell": "local-linux-x86_64", "status": "PASS", "colour": 1}',
                 "not a cell result", id="unknown-key"),
    pytest.param(b'{"cell": "local-linux-x86_64", "status": "PASS", "suites": {"uu": '
                 b'{"name": "uu", "status": "PASS", "tests": [{"name": "a", "status": "OK"}]}}}',
                 "test 'a': 'status' must be one of", id="bad-test-status"),
    pytest.param(b'{"cell": "somewhere-else", "status": "PASS"}',
                 "holds the result of cell 'somewhere-else'", id="wrong-cell"),
]


@pytest.mark.parametrize(("content", "why"), CORRUPT)
def test_corrupt_result_is_reported_not_dropped(tmp_path: Path, content: bytes,
                                                why: str) -> None:
    make_sample_report(tmp_path)
    bad = tmp_path / "cells" / "local-linux-x86_64" / "result.json"
    bad.write_bytes(content)
    with pytest.raises(ReportError) as err:
        write_all(tmp_path, MATRIX)
    assert str(bad) in str(err.value) and why in str(err.value)
    # everything was still rendered, the bad cell as a harness ERROR naming the file
    assert set(err.value.written) >= {"matrix.json", "matrix.md", "matrix.html"}
    data = json.loads((tmp_path / "matrix.json").read_text())
    cell = CellResult.from_json(data["cells"]["local-linux-x86_64"])
    assert cell.status == "ERROR" and cell.culprit == "harness" and str(bad) in cell.reason
    assert data["problems"] == [str(err.value)]
    assert data["cells"]["local-emulated-x86_64"]["status"] == "FAIL"
    assert str(bad) in (tmp_path / "matrix.md").read_text()
    xml = JUnitXml.fromfile(str(tmp_path / "junit" / "local-linux-x86_64.xml"))
    assert xml.errors == 1


def test_cli_renders_and_prints_paths(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    make_sample_report(tmp_path)
    assert cli.main(["report", "--report-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"wrote {tmp_path / 'matrix.html'}" in out and len(out) == 4 + 7
    assert "ssh-debian12-arm64" in (tmp_path / "matrix.md").read_text()  # default matrix
    assert cli.main(["report", "--report-dir", str(tmp_path), "--no-matrix"]) == 0
    assert "ssh-debian12-arm64" not in (tmp_path / "matrix.md").read_text()


def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--report-dir", str(tmp_path / "nope")]) == 2
    assert "nope: no such report directory" in capsys.readouterr().err

    make_sample_report(tmp_path)
    bad = tmp_path / "cells" / "local-linux-i386" / "result.json"
    bad.write_text("{")
    assert cli.main(["report", "--report-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert f"cse report: error: {bad}: not valid JSON" in captured.err
    assert f"wrote {tmp_path / 'matrix.md'}" in captured.out

    matrix = tmp_path / "m.yaml"
    matrix.write_text("cells: []\n")
    assert cli.main(["report", "--report-dir", str(tmp_path), "--matrix", str(matrix)]) == 2
    assert "m.yaml" in capsys.readouterr().err
    assert cli.main(["report", "--bogus"]) == 2


def test_python_m_testbed_report(tmp_path: Path) -> None:
    """The module entry point the `cse` command forwards to, as a process."""
    make_sample_report(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "testbed.report", "--report-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {tmp_path / 'matrix.json'}" in proc.stdout
    assert (tmp_path / "matrix.html").is_file()


def test_support_table_and_readme_update(sample: tuple[Path, dict[str, Path]],
                                         tmp_path: Path) -> None:
    """support.md lists every matrix cell with what it covers and its last
    status; --update-readme puts it between the README's markers, and a README
    without them is an error (exit 2) that leaves the file alone."""
    report, written = sample
    table = written["support.md"].read_text()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len([c for c in MATRIX])
    assert "| `local-emulated-x86_64` | x86_64 | linux / glibc | gcc | emulated | host |" in table
    assert "| FAIL |" in table and "NOT RUN" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{support.BEGIN}\nold\n{support.END}\n\nafter\n")
    assert cli.main(["report", "--report-dir", str(report), "--matrix", str(SAMPLE_MATRIX),
                            "--update-readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and table in text and text.endswith(f"{support.END}\n\nafter\n")
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# no markers\n")
    assert cli.main(["report", "--report-dir", str(report), "--matrix", str(SAMPLE_MATRIX),
                            "--update-readme", str(plain)]) == 2
    assert plain.read_text() == "# no markers\n"
