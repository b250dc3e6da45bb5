"""The runner: wires result, terminal report and report files, as TextTestRunner would."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import aiounit.runner
from aiounit.result import TestResult
from aiounit.runner import AsyncTestRunner, TestRunner


class Examples:
    """Test classes run by the tests below (nested, so no loader collects them)."""

    class Three(unittest.TestCase):
        def test_1_pass(self) -> None:
            print("from the passing test")

        def test_2_fail(self) -> None:
            print("from the failing test")
            self.fail("second fails")

        def test_3_pass(self) -> None:
            pass


def suite() -> unittest.TestSuite:
    return unittest.defaultTestLoader.loadTestsFromTestCase(Examples.Three)


def run(**options: Any) -> tuple[unittest.TestResult, str, TestRunner]:
    stream = io.StringIO()
    runner = TestRunner(stream=stream, color="never", **options)
    result = runner.run(suite())
    return result, stream.getvalue(), runner


class Running(unittest.TestCase):
    def setUp(self) -> None:
        # The example tests print; keep that out of this suite's own output.
        self.stdout = self.enterContext(contextlib.redirect_stdout(io.StringIO()))

    def test_returns_the_recording_result_and_reports(self) -> None:
        result, text, _ = run()
        self.assertIsInstance(result, TestResult)
        assert isinstance(result, TestResult)
        self.assertEqual([r.outcome for r in result.records], ["passed", "failed", "passed"])
        lines = text.splitlines()
        self.assertEqual(lines[0], ".F.")
        self.assertRegex(lines[-4], r"^Ran 3 tests in \d+\.\d{3}s$")
        self.assertEqual(lines[-2], "FAILED (failures=1)")
        self.assertRegex(lines[-1], r"^2 passed, 1 failed in \d+\.\d\ds$")
        self.assertIn("AssertionError: second fails", text)

    def test_failfast_stops_the_run(self) -> None:
        result, text, _ = run(failfast=True)
        self.assertEqual(result.testsRun, 2)
        self.assertRegex(text.splitlines()[-1], r"^1 passed, 1 failed in ")

    def test_buffer_captures_output_into_records(self) -> None:
        result, _, _ = run(buffer=True)
        assert isinstance(result, TestResult)
        self.assertEqual(
            [r.stdout for r in result.records],
            ["from the passing test\n", "from the failing test\n", ""],
        )
        # As unittest: the passing test's output is swallowed, the failing one's shown.
        self.assertNotIn("from the passing test", self.stdout.getvalue())
        self.assertIn("from the failing test", self.stdout.getvalue())

    def test_stream_defaults_to_stderr_at_construction(self) -> None:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            runner = TestRunner(color="never")
        runner.run(suite())
        self.assertIn("Ran 3 tests", err.getvalue())

    def test_durations_work_on_every_python_version(self) -> None:
        _, text, _ = run(durations=0, verbosity=2)
        self.assertIn("Slowest test durations", text)
        for name in ("test_1_pass", "test_2_fail", "test_3_pass"):
            self.assertRegex(text, rf"\d+\.\d{{3}}s +{name} \(")

    def test_the_async_name_is_the_same_runner(self) -> None:
        self.assertIs(AsyncTestRunner, TestRunner)

    def test_warnings_filter_is_applied_during_the_run_only(self) -> None:
        class Warns(unittest.TestCase):
            def test_warns(self) -> None:
                import warnings

                warnings.warn("old API", DeprecationWarning, stacklevel=1)

        stream = io.StringIO()
        runner = TestRunner(stream=stream, warnings="error", color="never")
        result = runner.run(unittest.defaultTestLoader.loadTestsFromTestCase(Warns))
        self.assertEqual(len(result.errors), 1)
        self.assertIn("DeprecationWarning: old API", result.errors[0][1])

    def test_a_foreign_result_class_runs_through_unittest(self) -> None:
        class Custom(unittest.TextTestResult):
            pass

        stream = io.StringIO()
        result = TestRunner(stream=stream, resultclass=Custom, verbosity=2).run(suite())
        self.assertIsInstance(result, Custom)
        text = stream.getvalue()
        self.assertIn("test_1_pass (", text)
        self.assertEqual(text.splitlines()[-1], "FAILED (failures=1)")


class ReportFiles(unittest.TestCase):
    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)
        self.enterContext(contextlib.redirect_stdout(io.StringIO()))

    def test_junit_and_json_are_written_from_the_same_records(self) -> None:
        junit = self.tmp / "reports" / "junit.xml"
        report = self.tmp / "deeper" / "still" / "report.json"
        result, _, runner = run(junit_xml=str(junit), json_report=str(report), seed=5)
        self.assertEqual(runner.report_errors, [])
        suite_element = ET.parse(junit).getroot().find("testsuite")
        assert suite_element is not None
        self.assertEqual(suite_element.get("tests"), "3")
        self.assertEqual(suite_element.get("failures"), "1")
        document = json.loads(report.read_text(encoding="utf-8"))
        self.assertEqual(document["seed"], 5)
        self.assertEqual([t["outcome"] for t in document["tests"]], ["passed", "failed", "passed"])
        self.assertEqual(document["summary"]["tests_run"], result.testsRun)

    def test_a_report_that_cannot_be_written_is_an_error_not_a_crash(self) -> None:
        a_directory = self.tmp / "taken"
        a_directory.mkdir()
        result, text, runner = run(junit_xml=str(a_directory))
        self.assertEqual(result.testsRun, 3)
        [message] = runner.report_errors
        self.assertIn(str(a_directory), message)
        self.assertTrue(message.endswith("[report-not-written]"))
        self.assertIn(f"aiounit: error: {message}", text)

    def test_no_files_without_paths(self) -> None:
        before = sorted(os.listdir(self.tmp))
        run()
        self.assertEqual(sorted(os.listdir(self.tmp)), before)


class Signals(unittest.TestCase):
    def test_results_are_registered_for_ctrl_c(self) -> None:
        registered: list[unittest.TestResult] = []
        original = aiounit.runner.registerResult
        aiounit.runner.registerResult = registered.append  # type: ignore[assignment]
        self.addCleanup(setattr, aiounit.runner, "registerResult", original)
        with contextlib.redirect_stdout(io.StringIO()):
            result, _, _ = run()
        self.assertEqual(registered, [result])


if __name__ == "__main__":
    unittest.main()
