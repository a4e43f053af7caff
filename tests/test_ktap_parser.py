"""The KTAP parser that turns C test output into pytest results."""

from testbed import ktap

SAMPLE = """KTAP version 1
1..4
ok 1 echo
# scenarios.c:10: check failed: x == 1
# value 2
not ok 2 order # exit 1
ok 3 death # SKIP this world cannot kill a client
==123==ERROR: AddressSanitizer: heap-use-after-free
not ok 4 leak # killed by signal 6
"""


def test_statuses_reasons_and_diagnostics() -> None:
    run = ktap.parse(SAMPLE)
    assert run.planned == 4 and run.complete
    got = [(c.name, c.status, c.reason) for c in run.cases]
    assert got == [
        ("echo", "pass", ""),
        ("order", "fail", "exit 1"),
        ("death", "skip", "this world cannot kill a client"),
        ("leak", "fail", "killed by signal 6"),
    ]
    assert run.cases[1].diagnostics == ["scenarios.c:10: check failed: x == 1", "value 2"]
    assert "AddressSanitizer" in run.cases[3].diagnostics[0]


def test_incomplete_run_is_detected() -> None:
    run = ktap.parse("KTAP version 1\n1..3\nok 1 a\n")
    assert not run.complete
    assert ktap.parse("ok 1 a\n").planned is None
