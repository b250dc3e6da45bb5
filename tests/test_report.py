"""The reports: terminal text as unittest prints it, the summary line, JUnit XML and JSON."""

from __future__ import annotations

import io
import json
import re
import sys
import unittest
import xml.etree.ElementTree as ET
from typing import Any

from aiounit.report import RunSummary, TextReporter, use_color
from aiounit.report_json import json_report
from aiounit.report_junit import junit_counts, junit_xml
from aiounit.result import TestRecord, TestResult
from aiounit.runner import TestRunner
from tests.cli_support import split_summary, without_times

SUMMARY_LINE = re.compile(
    r"^(\d+) passed, (\d+) failed(?:, (\d+) errors?)?(?:, (\d+) skipped)?"
    r"(?:, (\d+) expected failures?)?(?:, (\d+) unexpected success(?:es)?)? in \d+\.\d\ds$"
)


class Examples:
    """Test classes run by the tests below (nested, so no loader collects them)."""

    class Mixed(unittest.TestCase):
        """Every outcome unittest knows."""

        def test_pass(self) -> None:
            pass

        def test_fail(self) -> None:
            """Fails on purpose."""
            self.assertEqual([1, 2], [1, 3])

        def test_error(self) -> None:
            raise LookupError("nothing here")

        @unittest.skip("skipped on purpose")
        def test_skip(self) -> None:
            pass

        @unittest.expectedFailure
        def test_xfail(self) -> None:
            self.fail("expected")

        @unittest.expectedFailure
        def test_xpass(self) -> None:
            pass

        def test_subtests(self) -> None:
            for i in range(3):
                with self.subTest(i=i):
                    self.assertNotEqual(i, 1)

    class BrokenFixture(unittest.TestCase):
        @classmethod
        def setUpClass(cls) -> None:
            raise RuntimeError("fixture broken")

        def test_never(self) -> None:
            pass

    class Passing(unittest.TestCase):
        def test_one(self) -> None:
            pass

        def test_two(self) -> None:
            pass


def suite_of(*classes: type[unittest.TestCase]) -> unittest.TestSuite:
    suite = unittest.TestSuite()
    for cls in classes:
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(cls))
    return suite


def run_ours(*classes: type[unittest.TestCase], **options: Any) -> tuple[TestResult, str]:
    stream = io.StringIO()
    runner = TestRunner(stream=stream, color="never", **options)
    result = runner.run(suite_of(*classes))
    assert isinstance(result, TestResult)
    return result, stream.getvalue()


def run_stock(*classes: type[unittest.TestCase], **options: Any) -> tuple[unittest.TestResult, str]:
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, **options).run(suite_of(*classes))
    return result, stream.getvalue()


def records(*outcomes: str) -> list[TestRecord]:
    return [TestRecord(id=f"m.C.test_{i}", outcome=o) for i, o in enumerate(outcomes)]


def summary_of(items: list[TestRecord], **overrides: Any) -> RunSummary:
    options: dict[str, Any] = {
        "tests_run": len(items),
        "successful": not any(
            r.outcome in ("failed", "error", "unexpected-success") for r in items
        ),
        "duration": 1.5,
        "started_at": 0.0,
    }
    options.update(overrides)
    return RunSummary(items, **options)


class SummaryLine(unittest.TestCase):
    def test_passed_and_failed_always_lead(self) -> None:
        self.assertEqual(
            summary_of(records("passed", "passed")).line(), "2 passed, 0 failed in 1.50s"
        )
        self.assertEqual(summary_of([]).line(), "0 passed, 0 failed in 1.50s")

    def test_other_counts_follow_only_when_not_zero(self) -> None:
        line = summary_of(
            records(
                "passed", "passed", "passed", "failed", "error", "error", "skipped",
                "expected-failure", "unexpected-success", "unexpected-success",
            ),
            duration=0.054,
        ).line()  # fmt: skip
        self.assertEqual(
            line,
            "3 passed, 1 failed, 2 errors, 1 skipped, 1 expected failure, "
            "2 unexpected successes in 0.05s",
        )
        self.assertRegex(line, SUMMARY_LINE)
        self.assertEqual(
            summary_of(records("error", "expected-failure", "expected-failure")).line(),
            "0 passed, 0 failed, 1 error, 2 expected failures in 1.50s",
        )

    def test_unittest_status_line(self) -> None:
        cases = [
            (records("passed"), {}, "OK"),
            (records("passed", "skipped"), {}, "OK (skipped=1)"),
            ([], {"tests_run": 0}, "NO TESTS RAN"),
            (records("skipped"), {"tests_run": 0}, "OK (skipped=1)"),
            (
                records("failed", "error", "error", "skipped", "expected-failure"),
                {},
                "FAILED (failures=1, errors=2, skipped=1, expected failures=1)",
            ),
            (records("unexpected-success"), {}, "FAILED (unexpected successes=1)"),
        ]
        for items, overrides, expected in cases:
            with self.subTest(expected=expected):
                self.assertEqual(summary_of(items, **overrides).unittest_line(), expected)


class TerminalText(unittest.TestCase):
    def assert_same_as_unittest(self, *classes: type[unittest.TestCase], **options: Any) -> str:
        result, ours = run_ours(*classes, **options)
        stock_result, stock = run_stock(*classes, **options)
        body, last = split_summary(ours)
        self.assertEqual(without_times(body), without_times(stock))
        self.assertRegex(last, SUMMARY_LINE)
        self.assertEqual(result.testsRun, stock_result.testsRun)
        return last

    def test_default_output_is_unittests(self) -> None:
        last = self.assert_same_as_unittest(
            Examples.Mixed, Examples.BrokenFixture, Examples.Passing
        )
        self.assertTrue(last.startswith("3 passed, 2 failed, 2 errors, 1 skipped, "))

    def test_verbose_output_is_unittests(self) -> None:
        self.assert_same_as_unittest(
            Examples.Mixed, Examples.BrokenFixture, Examples.Passing, verbosity=2
        )

    def test_quiet_output_is_unittests(self) -> None:
        self.assert_same_as_unittest(Examples.Mixed, Examples.Passing, verbosity=0)

    def test_no_descriptions_is_unittests(self) -> None:
        self.assert_same_as_unittest(Examples.Mixed, verbosity=2, descriptions=False)

    def test_passing_run(self) -> None:
        last = self.assert_same_as_unittest(Examples.Passing, verbosity=2)
        self.assertRegex(last, r"^2 passed, 0 failed in \d+\.\d\ds$")

    def test_locals_are_shown_in_tracebacks(self) -> None:
        _, text = run_ours(Examples.Mixed, tb_locals=True)
        self.assertIn("self = <tests.test_report.Examples.Mixed testMethod=test_fail>", text)

    def test_header_lines_come_first(self) -> None:
        _, text = run_ours(Examples.Passing, header=["Random order with --seed 7"])
        self.assertTrue(text.startswith("Random order with --seed 7\n..\n"))

    def test_durations_table(self) -> None:
        collected = [("slow (m.C.slow)", 1.25), ("fast (m.C.fast)", 0.0001), ("mid (m.C.mid)", 0.5)]
        summary = summary_of(records("passed", "passed", "passed"))
        for verbosity, count in ((1, 0), (2, 0), (1, 1)):
            with self.subTest(verbosity=verbosity, count=count):
                stream = io.StringIO()
                reporter = TextReporter(stream, verbosity=verbosity)
                reporter._write_durations(count, collected)
                text = stream.getvalue()
                lines = text.splitlines()
                self.assertEqual(
                    lines[:3], ["Slowest test durations", "-" * 70, "1.250s     slow (m.C.slow)"]
                )
                if count == 1:
                    self.assertNotIn("mid", text)
                elif verbosity == 1:
                    self.assertIn("0.500s     mid (m.C.mid)", lines)
                    self.assertNotIn("fast", text)
                    self.assertIn(
                        "(durations < 0.001s were hidden; use -v to show these durations)", text
                    )
                else:
                    self.assertIn("0.000s     fast (m.C.fast)", lines)
                if sys.version_info >= (3, 12):  # compare with unittest's own table
                    stock = io.StringIO()
                    options: dict[str, Any] = {"verbosity": verbosity, "durations": count}
                    runner = unittest.TextTestRunner(stream=stock, **options)
                    fake = runner._makeResult()
                    fake.collectedDurations = collected  # type: ignore[attr-defined]
                    runner._printDurations(fake)  # type: ignore[attr-defined]
                    self.assertEqual(text, stock.getvalue())
        stream = io.StringIO()
        TextReporter(stream).write_report([], summary, durations=0, collected_durations=collected)
        self.assertIn("Slowest test durations", stream.getvalue())
        stream = io.StringIO()
        TextReporter(stream).write_report(
            [], summary, durations=None, collected_durations=collected
        )
        self.assertNotIn("Slowest test durations", stream.getvalue())


class Colour(unittest.TestCase):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    def test_when_colour_is_used(self) -> None:
        tty, pipe = self.Tty(), io.StringIO()
        cases = [
            ("always", pipe, {}, True),
            ("always", tty, {"NO_COLOR": "1"}, True),
            ("never", tty, {}, False),
            ("auto", tty, {}, True),
            ("auto", pipe, {}, False),
            ("auto", tty, {"NO_COLOR": "1"}, False),
            ("auto", tty, {"NO_COLOR": ""}, True),
            ("auto", tty, {"TERM": "dumb"}, False),
            ("auto", object(), {}, False),
        ]
        for mode, stream, environ, expected in cases:
            with self.subTest(mode=mode, stream=type(stream).__name__, environ=environ):
                self.assertIs(use_color(mode, stream, environ), expected)

    def test_a_closed_stream_gets_no_colour(self) -> None:
        stream = self.Tty()
        stream.close()

        class Closed:
            def isatty(self) -> bool:
                raise ValueError("I/O operation on closed file")

        self.assertFalse(use_color("auto", Closed(), {}))

    def test_coloured_output(self) -> None:
        stream = io.StringIO()
        runner = TestRunner(stream=stream, verbosity=2, color="always")
        runner.run(suite_of(Examples.Mixed))
        text = stream.getvalue()
        self.assertIn(" ... \x1b[32mok\x1b[0m\n", text)
        self.assertIn(" ... \x1b[31mFAIL\x1b[0m\n", text)
        self.assertIn(" ... \x1b[33mskipped 'skipped on purpose'\x1b[0m\n", text)
        self.assertIn("\x1b[31mFAILED\x1b[0m (failures=", text)
        self.assertRegex(
            text.splitlines()[-1], r"^\x1b\[31m1 passed, 2 failed, 1 error, .*\x1b\[0m$"
        )
        stream = io.StringIO()
        TestRunner(stream=stream, color="always").run(suite_of(Examples.Passing))
        self.assertIn("\x1b[32mOK\x1b[0m\n\x1b[32m2 passed, 0 failed in ", stream.getvalue())

    def test_no_colour_codes_when_off(self) -> None:
        _, text = run_ours(Examples.Mixed, verbosity=2)
        self.assertNotIn("\x1b", text)


class JUnit(unittest.TestCase):
    def test_xml_matches_the_run(self) -> None:
        result, _ = run_ours(Examples.Mixed, Examples.BrokenFixture, Examples.Passing, buffer=True)
        summary = RunSummary.from_result(result, 0.25, 1_700_000_000.0, seed=42)
        root = ET.fromstring(junit_xml(result.records, summary))
        self.assertEqual(root.tag, "testsuites")
        [suite] = root.findall("testsuite")
        cases = suite.findall("testcase")
        # One testcase per record; counts as JUnit readers expect them.
        self.assertEqual(int(suite.get("tests", "")), len(cases))
        self.assertEqual(len(cases), len(result.records))
        failures = [c for c in cases if c.find("failure") is not None]
        errors = [c for c in cases if c.find("error") is not None]
        skipped = [c for c in cases if c.find("skipped") is not None]
        self.assertEqual(int(suite.get("failures", "")), len(failures))
        self.assertEqual(int(suite.get("errors", "")), len(errors))
        self.assertEqual(int(suite.get("skipped", "")), len(skipped))
        self.assertEqual(len(failures), len(result.failures) + len(result.unexpectedSuccesses))
        self.assertEqual(len(errors), len(result.errors))
        self.assertEqual(len(skipped), len(result.skipped) + len(result.expectedFailures))
        for attribute in ("tests", "failures", "errors", "skipped"):
            self.assertEqual(root.get(attribute), suite.get(attribute))
        self.assertEqual(suite.get("time"), "0.250")
        self.assertRegex(suite.get("timestamp", ""), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
        self.assertTrue(suite.get("hostname"))
        seed = suite.find("properties/property[@name='seed']")
        assert seed is not None
        self.assertEqual(seed.get("value"), "42")
        by_name = {(c.get("classname"), c.get("name")): c for c in cases}
        fail = by_name[("tests.test_report.Examples.Mixed", "test_fail")].find("failure")
        assert fail is not None
        self.assertEqual(fail.get("message"), "AssertionError: Lists differ: [1, 2] != [1, 3]")
        self.assertEqual(fail.get("type"), "AssertionError")
        self.assertIn("self.assertEqual([1, 2], [1, 3])", fail.text or "")
        error = by_name[("tests.test_report.Examples.BrokenFixture", "setUpClass")].find("error")
        assert error is not None
        self.assertEqual(error.get("message"), "RuntimeError: fixture broken")
        subtest = by_name[("tests.test_report.Examples.Mixed", "test_subtests (i=1)")]
        self.assertIsNotNone(subtest.find("failure"))
        skip = by_name[("tests.test_report.Examples.Mixed", "test_skip")].find("skipped")
        assert skip is not None
        self.assertEqual(skip.get("message"), "skipped on purpose")
        xpass = by_name[("tests.test_report.Examples.Mixed", "test_xpass")].find("failure")
        assert xpass is not None
        self.assertEqual(xpass.get("message"), "unexpected success")
        for case in cases:
            self.assertRegex(case.get("time", ""), r"^\d+\.\d{3}$")

    def test_captured_output_and_unsafe_characters(self) -> None:
        record = TestRecord(
            id="m.C.test_x",
            classname="m.C",
            name="test_x",
            outcome="failed",
            message="AssertionError: colour \x1b[31m and nul \x00",
            traceback="Traceback ...\nAssertionError: <&> \x1b[0m\n",
            stdout="printed <out>\n",
            stderr="printed & err\n",
        )
        document = junit_xml([record], summary_of([record]))
        case = ET.fromstring(document).find("testsuite/testcase")
        assert case is not None
        failure = case.find("failure")
        assert failure is not None
        self.assertEqual(failure.get("message"), "AssertionError: colour \\x1b[31m and nul \\x00")
        self.assertEqual(failure.text, "Traceback ...\nAssertionError: <&> \\x1b[0m\n")
        self.assertEqual(case.findtext("system-out"), "printed <out>\n")
        self.assertEqual(case.findtext("system-err"), "printed & err\n")

    def test_counts_map_unittest_outcomes(self) -> None:
        self.assertEqual(
            junit_counts(
                records(
                    "passed", "failed", "unexpected-success", "error", "skipped", "expected-failure"
                )
            ),
            {"tests": 6, "failures": 2, "errors": 1, "skipped": 2},
        )


class JsonReport(unittest.TestCase):
    def test_document_holds_every_record_and_the_counts(self) -> None:
        result, _ = run_ours(Examples.Mixed, Examples.BrokenFixture, Examples.Passing, buffer=True)
        summary = RunSummary.from_result(result, 0.5, 1_700_000_000.0, seed=None)
        document = json.loads(json.dumps(json_report(result.records, summary)))
        self.assertEqual(document["version"], 1)
        self.assertEqual(document["tool"]["name"], "aiounit")
        self.assertIsNone(document["seed"])
        self.assertRegex(document["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
        self.assertEqual(document["duration"], 0.5)
        counts = document["summary"]
        self.assertEqual(counts["tests_run"], result.testsRun)
        self.assertEqual(counts["failed"], len(result.failures))
        self.assertEqual(counts["errors"], len(result.errors))
        self.assertEqual(counts["skipped"], len(result.skipped))
        self.assertEqual(counts["expected_failures"], len(result.expectedFailures))
        self.assertEqual(counts["unexpected_successes"], len(result.unexpectedSuccesses))
        self.assertFalse(counts["successful"])
        self.assertEqual(len(document["tests"]), len(result.records))
        self.assertEqual([TestRecord.from_dict(t) for t in document["tests"]], result.records)
        outcomes = {t["outcome"] for t in document["tests"]}
        self.assertEqual(
            outcomes,
            {"passed", "failed", "error", "skipped", "expected-failure", "unexpected-success"},
        )


if __name__ == "__main__":
    unittest.main()
