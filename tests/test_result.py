"""The recording result: every unittest outcome becomes a plain record, and nothing is printed."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import sys
import types
import unittest
from collections.abc import Iterator

from aiounit.result import ResultListener, TestRecord, TestResult
from tests.support import suite_of


def run(*items: unittest.TestCase | type[unittest.TestCase], **options: bool) -> TestResult:
    """Run classes or tests into a fresh aiounit result, as a suite would."""
    result = TestResult()
    for name, value in options.items():
        setattr(result, name, value)
    suite_of(*items).run(result)
    return result


def by_id(result: TestResult) -> dict[str, TestRecord]:
    return {record.id: record for record in result.records}


@contextlib.contextmanager
def fake_module(name: str, **attrs: object) -> Iterator[types.ModuleType]:
    """A module in sys.modules, so unittest's suite finds its module fixtures."""
    module = types.ModuleType(name)
    vars(module).update(attrs)
    sys.modules[name] = module
    try:
        yield module
    finally:
        del sys.modules[name]


class Outcomes(unittest.TestCase):
    def test_every_outcome_gets_one_record(self) -> None:
        class Inner(unittest.TestCase):
            def test_pass(self) -> None:
                pass

            def test_fail(self) -> None:
                self.assertEqual(1, 2)

            def test_error(self) -> None:
                raise KeyError("missing")

            @unittest.skip("no reason")
            def test_skip(self) -> None:
                pass

            @unittest.expectedFailure
            def test_xfail(self) -> None:
                self.fail("as expected")

            @unittest.expectedFailure
            def test_xpass(self) -> None:
                pass

        result = run(Inner)
        stock = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(Inner).run(stock)
        records = {record.name: record for record in result.records}
        self.assertEqual(
            {name: record.outcome for name, record in records.items()},
            {
                "test_pass": "passed",
                "test_fail": "failed",
                "test_error": "error",
                "test_skip": "skipped",
                "test_xfail": "expected-failure",
                "test_xpass": "unexpected-success",
            },
        )
        fail = records["test_fail"]
        self.assertEqual(fail.message, "AssertionError: 1 != 2")
        self.assertEqual(fail.traceback, result.failures[0][1])
        self.assertIn("self.assertEqual(1, 2)", fail.traceback)
        self.assertEqual(records["test_error"].message, "KeyError: 'missing'")
        self.assertEqual(records["test_error"].traceback, result.errors[0][1])
        self.assertEqual(records["test_skip"].message, "no reason")
        self.assertEqual(records["test_xfail"].message, "AssertionError: as expected")
        self.assertEqual(records["test_xpass"].message, "unexpected success")
        self.assertEqual(records["test_pass"].message, "")
        self.assertEqual(records["test_pass"].traceback, "")
        # The unittest lists are kept as unittest keeps them.
        for name in ("failures", "errors", "skipped", "expectedFailures"):
            self.assertEqual(
                [str(test) for test, _ in getattr(result, name)],
                [str(test) for test, _ in getattr(stock, name)],
            )
        self.assertEqual(len(result.unexpectedSuccesses), len(stock.unexpectedSuccesses))
        self.assertEqual(result.testsRun, stock.testsRun)
        self.assertFalse(result.wasSuccessful())

    def test_a_record_names_the_test_as_unittest_does(self) -> None:
        class Named(unittest.TestCase):
            def test_it(self) -> None:
                """First line of the doc.

                More lines.
                """

        test = Named("test_it")
        record = run(test).records[0]
        self.assertEqual(record.id, test.id())
        self.assertEqual(record.target, test.id())
        self.assertEqual(record.kind, "test")
        self.assertEqual(record.description, str(test))
        self.assertEqual(record.doc, "First line of the doc.")
        self.assertEqual(record.module, __name__)
        self.assertEqual(record.classname, f"{__name__}.{Named.__qualname__}")
        self.assertEqual(record.name, "test_it")

    def test_failing_subtests_get_a_record_each_and_passing_ones_none(self) -> None:
        class WithSubtests(unittest.TestCase):
            def test_numbers(self) -> None:
                for i in range(4):
                    with self.subTest(i=i):
                        if i == 3:
                            raise OSError("disk")
                        self.assertLess(i, 2)

        test = WithSubtests("test_numbers")
        result = run(test)
        self.assertEqual(
            [(r.id, r.outcome) for r in result.records],
            [
                (f"{test.id()} (i=2)", "failed"),
                (f"{test.id()} (i=3)", "error"),
            ],
        )
        for record in result.records:
            self.assertEqual(record.kind, "subtest")
            self.assertEqual(record.target, test.id())
            self.assertEqual(record.classname, f"{__name__}.{WithSubtests.__qualname__}")
        self.assertEqual(result.records[0].name, "test_numbers (i=2)")
        self.assertEqual(result.records[0].message, "AssertionError: 2 not less than 2")
        self.assertEqual(result.records[1].message, "OSError: disk")
        self.assertEqual(result.testsRun, 1)

    def test_a_test_that_fails_and_errors_in_a_cleanup_has_two_records(self) -> None:
        class Twice(unittest.TestCase):
            def test_it(self) -> None:
                self.addCleanup(self._boom)
                self.fail("first")

            def _boom(self) -> None:
                raise RuntimeError("cleanup")

        result = run(Twice("test_it"))
        self.assertEqual([r.outcome for r in result.records], ["failed", "error"])
        self.assertEqual(result.records[1].message, "RuntimeError: cleanup")


class FixtureAndLoadErrors(unittest.TestCase):
    def test_set_up_class_error_is_recorded_with_unittests_id(self) -> None:
        class BrokenClass(unittest.TestCase):
            @classmethod
            def setUpClass(cls) -> None:
                raise RuntimeError("no class today")

            def test_never(self) -> None:
                pass

        result = run(BrokenClass)
        [record] = result.records
        class_id = f"{__name__}.{BrokenClass.__qualname__}"
        self.assertEqual(record.id, f"setUpClass ({class_id})")
        self.assertEqual(record.id, str(result.errors[0][0]))
        self.assertEqual(record.kind, "fixture")
        self.assertEqual(record.outcome, "error")
        self.assertEqual(record.target, class_id)
        self.assertEqual(record.classname, class_id)
        self.assertEqual(record.module, __name__)
        self.assertEqual(record.name, "setUpClass")
        self.assertEqual(record.message, "RuntimeError: no class today")
        self.assertEqual(result.testsRun, 0)

    def test_skip_in_set_up_class_is_a_skipped_fixture_record(self) -> None:
        class SkippedClass(unittest.TestCase):
            @classmethod
            def setUpClass(cls) -> None:
                raise unittest.SkipTest("not on this machine")

            def test_never(self) -> None:
                pass

        [record] = run(SkippedClass).records
        self.assertEqual((record.kind, record.outcome), ("fixture", "skipped"))
        self.assertEqual(record.message, "not on this machine")

    def test_set_up_module_error_targets_the_module(self) -> None:
        def setUpModule() -> None:
            raise ValueError("module fixture")

        with fake_module("aiounit_fake_fixture_module", setUpModule=setUpModule):

            class InModule(unittest.TestCase):
                def test_never(self) -> None:
                    pass

            InModule.__module__ = "aiounit_fake_fixture_module"
            [record] = run(InModule).records
        self.assertEqual(record.id, "setUpModule (aiounit_fake_fixture_module)")
        self.assertEqual(record.kind, "fixture")
        self.assertEqual(record.target, "aiounit_fake_fixture_module")
        self.assertEqual(record.module, "aiounit_fake_fixture_module")
        self.assertEqual(record.message, "ValueError: module fixture")

    def test_module_that_fails_to_import_is_a_load_record_naming_it(self) -> None:
        suite = unittest.TestLoader().loadTestsFromName("aiounit_no_such_module_here")
        result = TestResult()
        suite.run(result)
        [record] = result.records
        self.assertEqual(record.kind, "load")
        self.assertEqual(record.outcome, "error")
        self.assertEqual(record.target, "aiounit_no_such_module_here")
        self.assertEqual(record.module, "aiounit_no_such_module_here")
        self.assertIn("aiounit_no_such_module_here", record.message)


class DurationsAndOutput(unittest.TestCase):
    def test_durations_are_collected_on_every_python_version(self) -> None:
        class Timed(unittest.TestCase):
            def test_a(self) -> None:
                pass

            def test_b(self) -> None:
                self.fail("b")

            @unittest.skip("skipped before running")
            def test_c(self) -> None:
                pass

        result = run(Timed)
        collected = dict(result.collectedDurations)
        # As Python 3.12's TestCase.run: a duration for each test that ran, none for a
        # test skipped before its setUp.
        self.assertEqual(
            sorted(collected), sorted(str(Timed(name)) for name in ("test_a", "test_b"))
        )
        for record in result.records:
            if record.outcome == "skipped":
                self.assertNotIn(record.description, collected)
            else:
                self.assertEqual(record.duration, collected[record.description])
            self.assertGreaterEqual(record.duration, 0.0)

    def test_add_duration_is_what_the_record_keeps(self) -> None:
        class Plain(unittest.TestCase):
            def test_a(self) -> None:
                pass

        test = Plain("test_a")
        result = TestResult()
        result.startTest(test)
        result.addDuration(test, 12.5)
        result.addSuccess(test)
        result.stopTest(test)
        self.assertEqual(result.records[0].duration, 12.5)
        self.assertEqual(result.collectedDurations, [(str(test), 12.5)])

    def test_buffered_output_is_kept_on_the_record_of_passing_and_failing_tests(self) -> None:
        class Noisy(unittest.TestCase):
            def test_pass(self) -> None:
                print("out of pass")
                print("err of pass", file=sys.stderr)

            def test_fail(self) -> None:
                print("out of fail")
                self.fail("noisy")

        real_out, real_err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(real_out), contextlib.redirect_stderr(real_err):
            result = run(Noisy, buffer=True)
            after = (sys.stdout, sys.stderr)
        self.assertEqual(after, (real_out, real_err))
        records = {record.name: record for record in result.records}
        self.assertEqual(records["test_pass"].stdout, "out of pass\n")
        self.assertEqual(records["test_pass"].stderr, "err of pass\n")
        self.assertEqual(records["test_fail"].stdout, "out of fail\n")
        self.assertEqual(records["test_fail"].stderr, "")
        # A passing test's output stays hidden; a failing test's is shown, as unittest does.
        self.assertNotIn("out of pass", real_out.getvalue())
        self.assertIn("out of fail", real_out.getvalue())

    def test_without_buffer_nothing_is_captured(self) -> None:
        class Noisy(unittest.TestCase):
            def test_pass(self) -> None:
                print("visible")

        seen = io.StringIO()
        with contextlib.redirect_stdout(seen):
            result = run(Noisy)
        self.assertEqual(result.records[0].stdout, "")
        self.assertEqual(seen.getvalue(), "visible\n")

    def test_the_result_prints_nothing(self) -> None:
        class Mixed(unittest.TestCase):
            def test_pass(self) -> None:
                pass

            def test_fail(self) -> None:
                self.fail("x")

        stream = io.StringIO()
        out, err = io.StringIO(), io.StringIO()
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(Mixed)
        result = TestResult(stream, True, 2)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            suite.run(result)
        self.assertEqual((stream.getvalue(), out.getvalue(), err.getvalue()), ("", "", ""))
        self.assertEqual(len(result.records), 2)


class Flow(unittest.TestCase):
    def test_listeners_see_starts_and_outcomes_in_order(self) -> None:
        events: list[tuple[str, str]] = []

        class Recorder(ResultListener):
            def test_started(self, description: str, doc: str) -> None:
                events.append(("start", description))

            def outcome_added(self, record: TestRecord) -> None:
                events.append((record.outcome, record.description))

        class Two(unittest.TestCase):
            def test_a(self) -> None:
                pass

            def test_b(self) -> None:
                self.fail("b")

        result = TestResult()
        result.listeners.append(Recorder())
        unittest.defaultTestLoader.loadTestsFromTestCase(Two).run(result)
        a, b = str(Two("test_a")), str(Two("test_b"))
        self.assertEqual(events, [("start", a), ("passed", a), ("start", b), ("failed", b)])

    def test_failfast_stops_after_the_first_failure(self) -> None:
        class Many(unittest.TestCase):
            def test_1(self) -> None:
                self.fail("first")

            def test_2(self) -> None:
                pass

        result = run(Many, failfast=True)
        self.assertEqual([r.name for r in result.records], ["test_1"])
        self.assertTrue(result.shouldStop)

    def test_findings_attach_to_the_running_tests_records(self) -> None:
        result = TestResult()

        class Checked(unittest.TestCase):
            def test_before_outcome(self) -> None:
                result.add_finding(self, {"check": "early", "level": "warning"})

            def test_after_outcome(self) -> None:
                self.addCleanup(result.add_finding, self, {"check": "late"})
                self.fail("fails first")

            def test_clean(self) -> None:
                pass

        unittest.defaultTestLoader.loadTestsFromTestCase(Checked).run(result)
        findings = {record.name: record.findings for record in result.records}
        self.assertEqual(findings["test_before_outcome"], [{"check": "early", "level": "warning"}])
        self.assertEqual(findings["test_after_outcome"], [{"check": "late"}])
        self.assertEqual(findings["test_clean"], [])


class Records(unittest.TestCase):
    def test_records_are_plain_data(self) -> None:
        class Mixed(unittest.TestCase):
            def test_pass(self) -> None:
                print("captured")

            def test_fail(self) -> None:
                self.fail("x")

        result = run(Mixed, buffer=True)
        for record in result.records:
            data = record.to_dict()
            self.assertEqual(json.loads(json.dumps(data)), data)
            self.assertEqual(TestRecord.from_dict(data), record)
            self.assertEqual(pickle.loads(pickle.dumps(record)), record)
        self.assertEqual(
            sorted(result.records[0].to_dict()),
            sorted(
                [
                    "id", "target", "kind", "description", "doc", "module", "classname",
                    "name", "outcome", "duration", "message", "traceback", "stdout",
                    "stderr", "findings",
                ]
            ),
        )  # fmt: skip

    def test_from_dict_ignores_unknown_keys_and_fills_defaults(self) -> None:
        record = TestRecord.from_dict({"id": "a.B.test_c", "outcome": "passed", "extra": 1})
        self.assertEqual(record.target, "a.B.test_c")
        self.assertEqual(record.description, "a.B.test_c")
        self.assertEqual(record.findings, [])
        self.assertNotEqual(record, TestRecord(id="a.B.test_c", outcome="failed"))


if __name__ == "__main__":
    unittest.main()
