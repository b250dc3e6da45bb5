"""Concurrent classes: tests of one class run at the same time on the class loop, each its own."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path
from unittest import mock

import aiounit
from aiounit import config
from aiounit.concurrent_run import ConcurrentSuite
from aiounit.errors import ConfigurationError, LoopScopeError
from aiounit.loader import TestLoader
from aiounit.result import TestResult
from tests.cli_support import aiounit as run_aiounit
from tests.cli_support import example, start_python, unittest_
from tests.cli_support import run as run_module


def run_with_aiounit(*classes: type[unittest.TestCase], buffer: bool = False) -> TestResult:
    """Load ``classes`` with aiounit's loader (which makes concurrent suites) and run them."""
    loader = TestLoader()
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(cls) for cls in classes)
    result = TestResult(io.StringIO(), True, 0)
    result.buffer = buffer
    suite.run(result)
    return result


def run_with_unittest(*classes: type[unittest.TestCase]) -> TestResult:
    """The same classes loaded by unittest's own loader: no concurrent suite."""
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(cls) for cls in classes)
    result = TestResult(io.StringIO(), True, 0)
    suite.run(result)
    return result


def by_name(result: TestResult) -> dict[str, tuple[str, str]]:
    """Each record's test name mapped to its outcome and message."""
    return {record.name: (record.outcome, record.message) for record in result.records}


class Meeting(aiounit.AsyncTestCase):
    """Base of classes whose tests wait at a barrier that opens only when all are inside."""

    concurrent = True
    size = 3
    log: list[str]

    @classmethod
    async def asyncSetUpClass(cls) -> None:
        cls.barrier = asyncio.Barrier(cls.size)
        cls.log = []

    async def meet(self) -> None:
        # Never opens in a serial run: each test would wait here for the others forever.
        await asyncio.wait_for(self.barrier.wait(), 30)


class Overlap(unittest.TestCase):
    def test_the_tests_of_a_class_are_all_inside_at_once(self) -> None:
        class Case(Meeting):
            def setUp(self) -> None:
                self.log.append(f"{self._testMethodName} setUp")
                self.addCleanup(self.log.append, f"{self._testMethodName} cleanup 1")
                self.addAsyncCleanup(self.async_cleanup)

            async def asyncSetUp(self) -> None:
                self.log.append(f"{self._testMethodName} asyncSetUp")

            async def async_cleanup(self) -> None:
                await asyncio.sleep(0)
                self.log.append(f"{self._testMethodName} cleanup 2")

            async def asyncTearDown(self) -> None:
                self.log.append(f"{self._testMethodName} asyncTearDown")

            def tearDown(self) -> None:
                self.log.append(f"{self._testMethodName} tearDown")

            async def test_a(self) -> None:
                await self.meet()
                self.log.append("test_a test")

            async def test_b(self) -> None:
                await self.meet()
                self.log.append("test_b test")

            async def test_c(self) -> None:
                await self.meet()
                self.log.append("test_c test")

        class Next(aiounit.AsyncTestCase):
            ran = False

            async def test_next(self) -> None:
                type(self).ran = True

        result = run_with_aiounit(Case, Next)
        self.assertEqual(
            by_name(result),
            {name: ("passed", "") for name in ("test_a", "test_b", "test_c", "test_next")},
        )
        self.assertTrue(Next.ran)
        steps = ["setUp", "asyncSetUp", "test", "asyncTearDown", "tearDown"]
        steps += ["cleanup 2", "cleanup 1"]
        for name in ("test_a", "test_b", "test_c"):
            own = [line.split(" ", 1)[1] for line in Case.log if line.startswith(name + " ")]
            self.assertEqual(own, steps, name)
        # Every test set up before any test's body ran: they interleaved.
        last_setup = max(i for i, line in enumerate(Case.log) if line.endswith("asyncSetUp"))
        first_body = min(i for i, line in enumerate(Case.log) if line.endswith(" test"))
        self.assertLess(last_setup, first_body)
        # Reported in the order they were loaded, each as a whole.
        names = [record.name for record in result.records]
        self.assertEqual(names, ["test_a", "test_b", "test_c", "test_next"])

    def test_a_number_caps_how_many_run_at_once(self) -> None:
        class Case(aiounit.AsyncTestCase):
            concurrent = 2
            inside = 0
            most = 0

            async def enter(self) -> None:
                cls = type(self)
                cls.inside += 1
                cls.most = max(cls.most, cls.inside)
                await asyncio.sleep(0.02)
                cls.inside -= 1

            async def test_1(self) -> None:
                await self.enter()

            async def test_2(self) -> None:
                await self.enter()

            async def test_3(self) -> None:
                await self.enter()

            async def test_4(self) -> None:
                await self.enter()

        result = run_with_aiounit(Case)
        self.assertEqual(len(result.records), 4)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(Case.most, 2)

    def test_sync_code_runs_in_the_loop_thread(self) -> None:
        class Case(Meeting):
            size = 2
            seen: dict[str, object] = {}

            def setUp(self) -> None:
                self.seen["setUp"] = threading.current_thread()

            def test_sync(self) -> None:
                self.seen["test"] = threading.current_thread()
                self.seen["loop"] = asyncio.get_running_loop()

            async def test_async(self) -> None:
                self.seen["async loop"] = asyncio.get_running_loop()

        result = run_with_aiounit(Case)
        self.assertTrue(result.wasSuccessful(), result.errors)
        self.assertIs(Case.seen["setUp"], threading.main_thread())
        self.assertIs(Case.seen["test"], threading.main_thread())
        self.assertIs(Case.seen["loop"], Case.seen["async loop"])


class Outcomes(unittest.TestCase):
    def make_case(self) -> type[aiounit.AsyncTestCase]:
        class Case(Meeting):
            size = 4
            finished: list[str] = []

            async def test_1_fails(self) -> None:
                await self.meet()
                self.fail("test_1 failed")

            async def test_2_errors(self) -> None:
                await self.meet()
                raise ValueError("test_2 errored")

            @aiounit.timeout(0.2)
            async def test_3_times_out(self) -> None:
                await self.meet()
                await asyncio.sleep(30)

            async def test_4_outlives_them(self) -> None:
                await self.meet()
                await asyncio.sleep(0.5)
                self.finished.append("test_4")

        return Case

    def test_one_failing_erroring_or_timing_out_does_not_cancel_the_others(self) -> None:
        case = self.make_case()
        result = run_with_aiounit(case)
        outcomes = by_name(result)
        self.assertEqual(outcomes["test_1_fails"], ("failed", "AssertionError: test_1 failed"))
        self.assertEqual(outcomes["test_2_errors"], ("error", "ValueError: test_2 errored"))
        self.assertEqual(outcomes["test_3_times_out"][0], "error")
        timeout = outcomes["test_3_times_out"][1]
        self.assertIn("<locals>.Case.test_3_times_out timed out after 0.2 s", timeout)
        self.assertIn("[test-timeout]", timeout)
        # The report shows the test's own task, not those of the tests beside it.
        self.assertIn("test_3_times_out()", timeout)
        self.assertNotIn("test_4_outlives_them", timeout)
        self.assertEqual(outcomes["test_4_outlives_them"], ("passed", ""))
        self.assertEqual(case.finished, ["test_4"])  # type: ignore[attr-defined]

    def test_a_test_blocking_the_loop_is_interrupted_and_no_other(self) -> None:
        class Case(aiounit.AsyncTestCase):
            concurrent = True
            timeout = 60

            @aiounit.timeout(0.3)
            async def test_blocks(self) -> None:
                await asyncio.sleep(0.01)
                time.sleep(30)  # synchronous: holds the loop, and every test with it

            async def test_waits_meanwhile(self) -> None:
                await asyncio.sleep(0.1)

            def test_sync_and_brief(self) -> None:
                time.sleep(0.05)

        started = time.monotonic()
        result = run_with_aiounit(Case)
        self.assertLess(time.monotonic() - started, 20)
        outcomes = by_name(result)
        self.assertEqual(outcomes["test_waits_meanwhile"], ("passed", ""))
        self.assertEqual(outcomes["test_sync_and_brief"], ("passed", ""))
        outcome, message = outcomes["test_blocks"]
        self.assertEqual(outcome, "error")
        self.assertIn("Case.test_blocks timed out after 0.3 s", message)
        self.assertIn("blocked by synchronous code", message)
        self.assertIn("time.sleep(30)", message)
        self.assertTrue(message.endswith("[loop-blocked]"), message)

    def test_plain_unittest_runs_them_one_by_one_with_the_same_outcomes(self) -> None:
        class Case(aiounit.AsyncTestCase):
            concurrent = True
            order: list[str] = []

            async def test_1_fails(self) -> None:
                self.order.append("1 in")
                await asyncio.sleep(0.05)
                self.order.append("1 out")
                self.fail("no")

            async def test_2_passes(self) -> None:
                self.order.append("2 in")
                await asyncio.sleep(0.05)
                self.order.append("2 out")

        serial = run_with_unittest(Case)
        self.assertEqual(Case.order, ["1 in", "1 out", "2 in", "2 out"])
        Case.order.clear()
        concurrent = run_with_aiounit(Case)
        self.assertEqual(sorted(Case.order[:2]), ["1 in", "2 in"])  # both inside at once
        self.assertEqual(by_name(serial), by_name(concurrent))
        self.assertEqual(by_name(concurrent)["test_1_fails"][0], "failed")

    def test_subtests_skips_and_expected_failures_as_in_a_serial_run(self) -> None:
        class Case(aiounit.AsyncTestCase):
            concurrent = True

            async def test_subtests(self) -> None:
                for i in range(3):
                    with self.subTest(i=i):
                        await asyncio.sleep(0)
                        self.assertNotEqual(i, 1)

            @unittest.skip("not today")
            async def test_skipped(self) -> None:
                pass

            async def test_skips_itself(self) -> None:
                await asyncio.sleep(0)
                self.skipTest("later")

            @unittest.expectedFailure
            async def test_expected_failure(self) -> None:
                self.fail("expected")

            @unittest.expectedFailure
            async def test_unexpected_success(self) -> None:
                await asyncio.sleep(0)

        concurrent, serial = run_with_aiounit(Case), run_with_unittest(Case)
        self.assertEqual(
            by_name(concurrent),
            {
                "test_expected_failure": ("expected-failure", "AssertionError: expected"),
                "test_skipped": ("skipped", "not today"),
                "test_skips_itself": ("skipped", "later"),
                "test_subtests (i=1)": ("failed", "AssertionError: 1 == 1"),
                "test_unexpected_success": ("unexpected-success", "unexpected success"),
            },
        )
        self.assertEqual(by_name(concurrent), by_name(serial))
        self.assertEqual(concurrent.testsRun, serial.testsRun)

    def test_failfast_starts_no_new_test_after_a_failure(self) -> None:
        class Case(aiounit.AsyncTestCase):
            concurrent = 2
            started: list[str] = []

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.failed = asyncio.Event()

            async def asyncSetUp(self) -> None:
                self.started.append(self._testMethodName)

            async def test_1(self) -> None:
                self.addCleanup(self.failed.set)
                self.fail("first")

            async def test_2(self) -> None:
                # Ends well after test_1, so test_1's failure is known before a slot frees.
                await asyncio.wait_for(self.failed.wait(), 30)
                await asyncio.sleep(0.1)

            async def test_3(self) -> None:
                pass

        loader = TestLoader()
        result = TestResult(io.StringIO(), True, 0)
        result.failfast = True
        unittest.TestSuite([loader.loadTestsFromTestCase(Case)]).run(result)
        self.assertEqual(sorted(Case.started), ["test_1", "test_2"])  # test_3 never started
        self.assertEqual(
            by_name(result),
            {"test_1": ("failed", "AssertionError: first"), "test_2": ("passed", "")},
        )

    def test_a_failing_class_setup_runs_no_test(self) -> None:
        class Case(aiounit.AsyncTestCase):
            concurrent = True
            ran = False

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                raise RuntimeError("no server")

            async def test_1(self) -> None:
                type(self).ran = True

            async def test_2(self) -> None:
                type(self).ran = True

        result = run_with_aiounit(Case)
        self.assertFalse(Case.ran)
        [record] = result.records
        self.assertEqual((record.kind, record.outcome), ("fixture", "error"))
        self.assertIn("RuntimeError: no server", record.message)


class PerTestState(unittest.TestCase):
    def test_output_under_buffer_lands_with_its_test(self) -> None:
        class Case(Meeting):
            size = 2

            async def speak(self) -> None:
                print(f"before {self._testMethodName}")
                await self.meet()
                asyncio.get_running_loop().call_soon(print, "from a callback")
                await asyncio.create_task(self.background())

            async def background(self) -> None:
                print(f"after {self._testMethodName}", file=sys.stderr)

            async def test_a(self) -> None:
                await self.speak()

            async def test_b(self) -> None:
                await self.speak()
                self.fail("b fails")

            def test_c(self) -> None:
                print("sync test_c")

        # unittest copies a failing test's output to the real streams: catch that copy.
        mirror = io.StringIO()
        with contextlib.redirect_stdout(mirror), contextlib.redirect_stderr(mirror):
            result = run_with_aiounit(Case, buffer=True)
            self.assertEqual((sys.stdout, sys.stderr), (mirror, mirror))
        self.assertIn("before test_b", mirror.getvalue())
        self.assertNotIn("test_a", mirror.getvalue())
        records = {record.name: record for record in result.records}
        # The callback was scheduled from the test's code: it runs in a copy of its context.
        self.assertEqual(records["test_a"].stdout, "before test_a\nfrom a callback\n")
        self.assertEqual(records["test_a"].stderr, "after test_a\n")
        self.assertEqual(records["test_b"].stdout, "before test_b\nfrom a callback\n")
        self.assertEqual(records["test_b"].stderr, "after test_b\n")
        self.assertEqual(records["test_c"].stdout, "sync test_c\n")
        self.assertEqual(records["test_c"].stderr, "")
        self.assertIn("Stdout:\nbefore test_b", records["test_b"].traceback)

    def test_checks_are_attributed_to_the_test_that_caused_them(self) -> None:
        async def crash() -> None:
            raise OSError("lost in the background")

        class Case(Meeting):
            size = 4

            @aiounit.checks(leaked_task="error")
            async def test_leaks(self) -> None:
                await self.meet()
                asyncio.ensure_future(asyncio.sleep(30))

            async def test_drops_a_coroutine(self) -> None:
                await self.meet()
                asyncio.sleep(0)

            async def test_loses_an_exception(self) -> None:
                await self.meet()
                task = asyncio.ensure_future(crash())
                await asyncio.sleep(0.01)
                del task

            async def test_clean(self) -> None:
                await self.meet()
                await asyncio.sleep(0.02)

        result = run_with_aiounit(Case)
        records = {record.name: record for record in result.records}
        found = {name: [f["check"] for f in record.findings] for name, record in records.items()}
        self.assertEqual(
            found,
            {
                "test_leaks": ["leaked-task"],
                "test_drops_a_coroutine": ["unawaited-coroutine"],
                "test_loses_an_exception": ["loop-exception"],
                "test_clean": [],
            },
        )
        self.assertEqual(records["test_clean"].outcome, "passed")
        for name in ("test_leaks", "test_drops_a_coroutine", "test_loses_an_exception"):
            self.assertEqual(records[name].outcome, "error", name)
            self.assertIn(f"Case.{name}", records[name].message)

    def test_virtual_time_is_one_clock_for_the_class(self) -> None:
        class Case(Meeting):
            virtual_time = True
            size = 2
            spans: dict[str, float] = {}

            async def sleep(self, seconds: float) -> None:
                await self.meet()
                loop = asyncio.get_running_loop()
                start = loop.time()
                await asyncio.sleep(seconds)
                self.spans[self._testMethodName] = loop.time() - start

            async def test_hour(self) -> None:
                await self.sleep(3600)

            async def test_day(self) -> None:
                await self.sleep(86400)

        started = time.monotonic()
        result = run_with_aiounit(Case)
        self.assertTrue(result.wasSuccessful(), result.errors)
        # Real time passes on the clock while workers do unittest's bookkeeping, so the
        # sleeps start at arbitrary times: their spans are exact up to float rounding.
        self.assertEqual(set(Case.spans), {"test_hour", "test_day"})
        self.assertAlmostEqual(Case.spans["test_hour"], 3600, delta=1e-9)
        self.assertAlmostEqual(Case.spans["test_day"], 86400, delta=1e-9)
        self.assertLess(time.monotonic() - started, 30)


class Settings(unittest.TestCase):
    def test_concurrent_with_a_loop_per_test_is_refused(self) -> None:
        with self.assertRaises(LoopScopeError) as caught:

            class Case(aiounit.AsyncTestCase):
                concurrent = True
                loop_scope = "test"

        self.assertIn("sets concurrent=True but loop_scope='test'", str(caught.exception))
        self.assertTrue(str(caught.exception).endswith("[concurrent-needs-class-scope]"))

    def test_a_bad_value_is_refused(self) -> None:
        with self.assertRaises(ConfigurationError) as caught:

            class Case(aiounit.AsyncTestCase):
                concurrent = "yes"  # type: ignore[assignment]

        self.assertIn("sets concurrent='yes'", str(caught.exception))

    def test_the_run_setting_makes_classes_concurrent_unless_they_chose(self) -> None:
        class Plain(aiounit.AsyncTestCase):
            async def test_1(self) -> None:
                pass

            async def test_2(self) -> None:
                pass

        class PerTest(Plain):
            loop_scope = "test"

        class Serial(Plain):
            concurrent = False

        loader = TestLoader()
        self.assertNotIsInstance(loader.loadTestsFromTestCase(Plain), ConcurrentSuite)
        with mock.patch.dict(os.environ, {"AIOUNIT_CONCURRENT": "8"}):
            suite = loader.loadTestsFromTestCase(Plain)
            self.assertIsInstance(suite, ConcurrentSuite)
            assert isinstance(suite, ConcurrentSuite)
            self.assertEqual(suite.limit, 8)
            self.assertEqual(Plain._aiounit_scope_name(), "class")
            self.assertNotIsInstance(loader.loadTestsFromTestCase(PerTest), ConcurrentSuite)
            self.assertNotIsInstance(loader.loadTestsFromTestCase(Serial), ConcurrentSuite)

    def test_values(self) -> None:
        for value, limit in (("true", 64), ("on", 64), ("1", 64), (True, 64), ("8", 8), (3, 3)):
            self.assertEqual(config.parse_concurrent(value), limit, value)
        for value in ("false", "0", False, 0):
            self.assertEqual(config.parse_concurrent(value), 0, value)
        for bad in ("many", "-2", 2.5):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                config.parse_concurrent(bad)
        settings = config.resolve({}, {"AIOUNIT_CONCURRENT": "4"}, cwd=tempfile.gettempdir())
        self.assertEqual(config.environment_for(settings)["AIOUNIT_CONCURRENT"], "4")


_VERBOSE = re.compile(r"^(test_\w+) \(test_overlap\.(\w+)\.\1\) \.\.\. (\w+)$", re.MULTILINE)


class CommandLine(unittest.TestCase):
    expected = {
        "test_1_meets": "ok",
        "test_2_meets": "FAIL",
        "test_3_meets": "ERROR",
        "test_4_times_out": "ERROR",
        "test_5_leaks_a_task": "ERROR",
        "test_6_drops_a_coroutine": "ERROR",
        "test_7_sync": "ok",
        "test_8_blocks_the_loop": "ERROR",
        "test_after": "ok",
    }

    def outcomes(self, stderr: str) -> dict[str, str]:
        return {name: outcome for name, _cls, outcome in _VERBOSE.findall(stderr)}

    def test_a_concurrent_class_under_python_m_aiounit(self) -> None:
        with example("concurrent") as path:
            log = path / "log.txt"
            env = {"LOG": str(log), "BARRIER_WAIT": "30"}
            run = run_aiounit(
                "-v", "-b", "--junit-xml", "report.xml", "test_overlap.py", cwd=path, env=env
            )
            lines = log.read_text().splitlines()
            report = ET.parse(path / "report.xml").getroot()
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertEqual(self.outcomes(run.stderr), self.expected, run.stderr)
        self.assertIn("0.3 s; the limit comes from @aiounit.timeout()", run.stderr)
        self.assertIn("test_5_leaks_a_task left a task running", run.stderr)
        self.assertIn("test_6_drops_a_coroutine: coroutine sleep() was created", run.stderr)
        self.assertIn("test_8_blocks_the_loop timed out after 0.3 s", run.stderr)
        self.assertIn("    time.sleep(30)", run.stderr)
        self.assertEqual(run.stderr.count("[loop-blocked]"), 1, run.stderr)
        self.assertRegex(run.stderr.splitlines()[-1], r"^3 passed, 1 failed, 5 errors in ")
        self.assertEqual(
            sorted(line for line in lines if line.endswith(" met")),
            ["test_1_meets met", "test_2_meets met", "test_3_meets met"],
        )
        self.assertIn("After.test_after runs", lines)
        steps = ["setUp", "asyncSetUp", "asyncTearDown", "tearDown", "cleanup 2", "cleanup 1"]
        for name in self.expected:
            if name == "test_after":
                continue
            own = [line.split(" ", 1)[1] for line in lines if line.startswith(name + " ")]
            own = [step for step in own if step in steps]
            self.assertEqual(own, steps, name)
        out = {
            case.get("name"): case.findtext("system-out") or "" for case in report.iter("testcase")
        }
        for name in ("test_1_meets", "test_2_meets", "test_3_meets"):
            self.assertEqual(out[name], f"out of {name}\nmore out of {name}\n")
        self.assertEqual(out["test_7_sync"], "")

    def test_the_same_suite_under_python_m_unittest(self) -> None:
        with example("concurrent") as path:
            log = path / "log.txt"
            run = unittest_("-v", "-b", "test_overlap", cwd=path, env={"LOG": str(log)})
            lines = log.read_text().splitlines()
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertEqual(self.outcomes(run.stderr), self.expected, run.stderr)
        self.assertIn("FAILED (failures=1, errors=5)", run.stderr)
        self.assertEqual(
            [line for line in lines if line.endswith((" met", " alone"))],
            ["test_1_meets alone", "test_2_meets alone", "test_3_meets alone"],
        )

    def test_the_same_suite_under_pytest(self) -> None:
        with example("concurrent") as path:
            log = path / "log.txt"
            run = run_module(
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "test_overlap.py",
                cwd=path,
                env={"LOG": str(log), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
            )
            lines = log.read_text().splitlines()
        failing = {name for name, outcome in self.expected.items() if outcome != "ok"}
        found = set(re.findall(r"^FAILED test_overlap\.py::Together::(\w+) ", run.stdout, re.M))
        self.assertEqual(run.returncode, 1, run.stdout)
        self.assertEqual(found, failing, run.stdout)
        self.assertIn(
            f"{len(failing)} failed, {len(self.expected) - len(failing)} passed", run.stdout
        )
        self.assertEqual(sum(line.endswith(" alone") for line in lines), 3)

    def test_keyboard_interrupt_raised_by_a_test_is_that_tests_error(self) -> None:
        with example("concurrent") as path:
            run = run_aiounit("-v", "test_raising.py", cwd=path)
        self.assertEqual(run.returncode, 1, run.stderr)
        outcomes = dict(
            re.findall(
                r"^(test_\w+) \(test_raising\.Raising\.\1\) \.\.\. (\w+)$", run.stderr, re.MULTILINE
            )
        )
        self.assertEqual(
            outcomes,
            {
                "test_1_keyboard_interrupt": "ERROR",
                "test_2_system_exit": "ERROR",
                "test_3_waits_meanwhile": "ok",
                "test_4_sync_keyboard_interrupt": "ERROR",
            },
        )
        self.assertEqual(run.stderr.count("[keyboard-interrupt-in-test]"), 2, run.stderr)
        self.assertIn("SystemExit: 3", run.stderr)
        self.assertNotIn("Interrupted by Ctrl-C", run.stderr)
        self.assertRegex(run.stderr.splitlines()[-1], r"^1 passed, 0 failed, 3 errors in ")

    def test_concurrent_option_for_the_run(self) -> None:
        with example("concurrent") as path:
            log = path / "log.txt"
            env = {"LOG": str(log), "BARRIER_WAIT": "30"}
            run = run_aiounit("--concurrent", "4", "test_run_wide.py", cwd=path, env=env)
            lines = log.read_text().splitlines()
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(sorted(lines), ["test_1 met", "test_2 met", "test_3 met"])

    def interrupt(self, presses: int, **env: str) -> tuple[int, str, list[str], bool]:
        """Run test_ctrl_c.py, press Ctrl-C once all three tests are inside (and again once
        their teardowns have started); return the status, stderr, teardowns, and whether
        the class after them ran."""
        with example("concurrent") as path, tempfile.TemporaryDirectory() as run_dir:
            child = start_python(
                "-W", "error", "-m", "aiounit", "-v", "test_ctrl_c.py",
                cwd=path,
                env={"RUN_DIR": run_dir, **env},
            )  # fmt: skip
            names = [f"test_{i}" for i in (1, 2, 3)]
            for suffix in ("inside", "teardown")[:presses]:
                files = [Path(run_dir) / f"{name}-{suffix}" for name in names]
                deadline = time.monotonic() + 60
                while not all(file.exists() for file in files):
                    if child.poll() is not None or time.monotonic() > deadline:
                        child.kill()
                        self.fail(f"no {suffix} files: {child.communicate()}")
                    time.sleep(0.01)
                child.send_signal(signal.SIGINT)
            _, stderr = child.communicate(timeout=60)
            teardowns = sorted(p.name for p in Path(run_dir).glob("*-teardown"))
            never_ran = (Path(run_dir) / "never-ran").exists()
        return child.returncode, stderr, teardowns, never_ran

    def test_ctrl_c_ends_every_running_test_with_its_teardown(self) -> None:
        status, stderr, teardowns, later_ran = self.interrupt(1)
        self.assertEqual(status, 130, stderr)
        self.assertEqual(teardowns, ["test_1-teardown", "test_2-teardown", "test_3-teardown"])
        self.assertFalse(later_ran)
        self.assertEqual(stderr.count("was interrupted by Ctrl-C"), 3, stderr)
        self.assertRegex(stderr.splitlines()[-1], r"^0 passed, 0 failed, 3 errors in ")

    def test_a_second_ctrl_c_stops_at_once_and_reports_the_tests(self) -> None:
        status, stderr, teardowns, later_ran = self.interrupt(2, HANG_IN_TEARDOWN="1")
        self.assertEqual(status, 130, stderr)
        self.assertEqual(len(teardowns), 3)
        self.assertFalse(later_ran)
        self.assertEqual(stderr.count("was interrupted by Ctrl-C"), 3, stderr)
        self.assertRegex(stderr.splitlines()[-1], r"^0 passed, 0 failed, 3 errors in ")
