"""Tests of the benchmark harness: how it validates runs, and a smoke run of the whole of it."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from benchmarks.frameworks import FLOOR, FRAMEWORKS, ISOLATED
from benchmarks.harness import child_env
from benchmarks.measure import Count, Run, count_pytest, count_unittest, run_process, validate
from benchmarks.suites import SUITES, Shape, generate

REPO = Path(__file__).resolve().parent.parent

_OK = "...\n----------------------------------------------------------------------\n"


def _run(
    trace: str, stderr: str = "", stdout: str = "", exit_code: int = 0, timed_out: bool = False
) -> Run:
    """A finished run as the harness would record it, with made-up output and trace."""
    return Run(exit_code, 0.1, 20_000, 0.1, stdout, stderr, trace, timed_out)


def _unittest_output(ran: int, status: str = "OK") -> str:
    """What unittest prints on stderr after running ran tests."""
    return f"{_OK}Ran {ran} tests in 0.012s\n\n{status}\n"


class ValidateTest(unittest.TestCase):
    """A run counts only if the exit status, the runner's count and the trace all agree."""

    ids = ["c00.t0000", "c00.t0001", "c01.t0000"]

    def reasons(self, run: Run) -> list[str]:
        return validate(run, count_unittest, self.ids)

    def test_a_run_where_every_test_ran_once_is_valid(self) -> None:
        run = _run("c00.t0001\nc00.t0000\nc01.t0000\n", _unittest_output(3))
        self.assertEqual(self.reasons(run), [])

    def test_a_test_that_ran_twice_makes_the_run_invalid(self) -> None:
        run = _run("c00.t0000\nc00.t0001\nc00.t0001\nc01.t0000\n", _unittest_output(3))
        self.assertEqual(
            self.reasons(run), ["1 test(s) ran more than once (first: c00.t0001, 2 times)"]
        )

    def test_a_test_that_never_ran_makes_the_run_invalid(self) -> None:
        run = _run("c00.t0000\nc01.t0000\n", _unittest_output(3))
        self.assertEqual(self.reasons(run), ["1 test(s) never ran (first: c00.t0001)"])

    def test_an_empty_trace_names_every_missing_test(self) -> None:
        run = _run("", _unittest_output(3))
        self.assertEqual(self.reasons(run), ["3 test(s) never ran (first: c00.t0000)"])

    def test_an_id_nobody_expected_makes_the_run_invalid(self) -> None:
        run = _run("c00.t0000\nc00.t0001\nc01.t0000\nc09.t0009\n", _unittest_output(3))
        self.assertEqual(self.reasons(run), ["1 unexpected id(s) in the trace (first: c09.t0009)"])

    def test_the_runner_must_count_the_expected_number_of_tests(self) -> None:
        run = _run("c00.t0000\nc00.t0001\nc01.t0000\n", _unittest_output(4))
        self.assertEqual(self.reasons(run), ["the runner counted 4 tests, expected 3"])

    def test_a_runner_that_printed_no_count_makes_the_run_invalid(self) -> None:
        run = _run("c00.t0000\nc00.t0001\nc01.t0000\n", "")
        self.assertEqual(self.reasons(run), ["the runner printed no count of tests"])

    def test_a_failing_status_line_makes_the_run_invalid(self) -> None:
        run = _run(
            "c00.t0000\nc00.t0001\nc01.t0000\n",
            _unittest_output(3, "FAILED (failures=1)"),
            exit_code=1,
        )
        self.assertEqual(
            self.reasons(run),
            ["exit status 1: FAILED (failures=1)", "the runner reported 'FAILED (failures=1)'"],
        )

    def test_skipped_tests_are_not_a_pass(self) -> None:
        run = _run("c00.t0000\nc00.t0001\n", _unittest_output(3, "OK (skipped=1)"))
        self.assertEqual(
            self.reasons(run),
            ["the runner reported 'OK (skipped=1)'", "1 test(s) never ran (first: c01.t0000)"],
        )

    def test_a_timed_out_run_is_invalid_whatever_else_it_shows(self) -> None:
        run = _run("c00.t0000\nc00.t0001\nc01.t0000\n", _unittest_output(3), timed_out=True)
        self.assertEqual(self.reasons(run), ["timed out after 0 s"])


class CountTest(unittest.TestCase):
    """Each runner's own count of tests is read from the lines it prints."""

    def test_pytest_summary_with_only_passes(self) -> None:
        out = "....\n============ 2000 passed in 1.52s ============\n"
        self.assertEqual(count_pytest(out, ""), Count(2000))

    def test_pytest_summary_with_failures_and_warnings(self) -> None:
        out = "== 1 failed, 5 passed, 2 warnings, 1 error in 0.20s ==\n"
        self.assertEqual(count_pytest(out, ""), Count(5, "1 failed, 1 error"))

    def test_pytest_summary_with_a_duration_in_minutes(self) -> None:
        out = "=== 3 passed in 61.00s (0:01:01) ===\n"
        self.assertEqual(count_pytest(out, ""), Count(3))

    def test_pytest_without_a_summary_gives_no_count(self) -> None:
        self.assertIsNone(count_pytest("ImportError while loading conftest\n", ""))

    def test_unittest_count_and_status(self) -> None:
        self.assertEqual(count_unittest("", _unittest_output(1)), Count(1))
        self.assertEqual(
            count_unittest("", _unittest_output(2, "FAILED (errors=2)")),
            Count(2, "FAILED (errors=2)"),
        )


class RealRunTest(unittest.TestCase):
    """Generated suites run as real processes, and tampering with them is caught."""

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.directory = Path(tmp.name)
        self.ids = generate(self.directory, SUITES["trivial"], Shape(2, 2), "sync", None)
        self.framework = FRAMEWORKS[FLOOR]

    def measure(self, *args: str, timeout: float = 60) -> Run:
        """Run the interpreter with args in the suite's directory, as the harness would."""
        trace = self.directory / "trace.txt"
        return run_process(
            [sys.executable, *args],
            cwd=self.directory,
            env=child_env(self.framework, trace),
            trace_path=trace,
            output_dir=self.directory,
            timeout=timeout,
        )

    def run_suite(self) -> Run:
        """Run the generated suite with the floor's runner."""
        return self.measure(*self.framework.runner.args)

    def test_a_generated_suite_runs_valid_and_is_measured(self) -> None:
        run = self.run_suite()
        self.assertEqual(validate(run, count_unittest, self.ids), [], run.stderr)
        self.assertEqual(sorted(run.trace.split()), sorted(self.ids))
        self.assertGreater(run.max_rss_kib, 0)
        self.assertGreater(run.wall, 0)

    def test_peak_rss_is_the_childs_own_not_the_harnesses(self) -> None:
        ballast = bytearray(128 * 1024 * 1024)
        ballast[::4096] = b"x" * len(ballast[::4096])  # Touch every page: make it resident.
        run = self.measure("-I", "-S", "-c", "pass")
        del ballast
        self.assertEqual(run.exit_code, 0, run.stderr)
        self.assertGreater(run.max_rss_kib, 0)
        self.assertLess(run.max_rss_kib, 64 * 1024)

    def test_a_run_past_its_timeout_is_killed_and_invalid(self) -> None:
        run = self.measure("-c", "import time; time.sleep(60)", timeout=0.5)
        self.assertTrue(run.timed_out)
        self.assertEqual(run.exit_code, -9)
        [reason] = validate(run, count_unittest, self.ids)
        self.assertRegex(reason, r"^timed out after \d+ s$")

    def test_a_test_body_that_records_twice_is_caught(self) -> None:
        module = self.directory / "test_c01.py"
        source = module.read_text()
        line = '        mark("c01.t0001")\n'
        self.assertIn(line, source)
        module.write_text(source.replace(line, line * 2))
        run = self.run_suite()
        self.assertEqual(
            validate(run, count_unittest, self.ids),
            ["1 test(s) ran more than once (first: c01.t0001, 2 times)"],
        )

    def test_a_test_the_runner_never_found_is_caught(self) -> None:
        (self.directory / "test_c00.py").unlink()
        run = self.run_suite()
        self.assertEqual(
            validate(run, count_unittest, self.ids),
            ["the runner counted 2 tests, expected 4", "2 test(s) never ran (first: c00.t0000)"],
        )


class SmokeTest(unittest.TestCase):
    """`benchmarks/run.py --smoke` runs every suite end to end and every run is valid."""

    def test_smoke_run(self) -> None:
        done = subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / "run.py"), "--smoke"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        self.assertNotIn("INVALID", done.stdout)
        tables = _tables(done.stdout)
        expected = ["class-fixture", "sleepy", "startup", "trivial"]
        if any(f.checks_env is not None for f in FRAMEWORKS.values()):
            expected.append("checks")
        else:
            self.assertIn("checks suite not run", done.stdout)
        self.assertEqual(sorted(tables), sorted(expected))
        for suite, rows in tables.items():
            with self.subTest(suite=suite):
                self.assertIn(FLOOR, rows)
                self.assertIn(ISOLATED, rows)
                for name, cells in rows.items():
                    self.assertRegex(cells[2], r"^\d+\.\d{3} s$", f"{suite}/{name}")


def _tables(report: str) -> dict[str, dict[str, list[str]]]:
    """suite name -> framework name -> the cells of its row, from the report's tables."""
    tables: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in report.splitlines():
        heading = re.match(r"^### (\S+): ", line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
        elif line.startswith("### "):
            current = None
        elif current is not None and line.startswith("| ") and not line.startswith("| framework"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            current[cells[0]] = cells
    return tables


if __name__ == "__main__":
    unittest.main()
