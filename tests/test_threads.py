"""Threads a test leaves running: the leaked-thread check, and a process that still exits."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import os
import subprocess
import threading
import unittest
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from unittest import mock

import aiounit
from aiounit import exit_guard
from aiounit.result import TestResult
from aiounit.threads import origin_of
from tests.cli_support import example
from tests.cli_support import run as run_module
from tests.support import messages, outcomes, run_suite

# Short graces keep this module fast; a thread that is told to stop ends well within it.
_FAST = {"AIOUNIT_THREAD_GRACE": "0.05"}


def _findings(result: TestResult) -> dict[str, list[dict[str, str]]]:
    return {record.name: record.findings for record in result.records}


class AttributionTests(unittest.TestCase):
    """In process: which test a thread is reported against, and which threads are not."""

    def setUp(self) -> None:
        self.release = threading.Event()
        self.started: list[threading.Thread] = []
        # Every thread these tests leave is released and joined, so none outlives them.
        self.addCleanup(self._join_all)
        self.addCleanup(self.release.set)
        patcher = mock.patch.dict(os.environ, _FAST)
        patcher.start()
        self.addCleanup(patcher.stop)

    def _join_all(self) -> None:
        for thread in self.started:
            thread.join(10)
            self.assertFalse(thread.is_alive(), thread.name)

    def _thread(self, name: str, target: object = None, daemon: bool = False) -> threading.Thread:
        thread = threading.Thread(
            target=target or self.release.wait,  # type: ignore[arg-type]
            name=name,
            daemon=daemon,
        )
        self.started.append(thread)
        return thread

    def test_a_stuck_thread_is_reported_against_its_test_and_not_the_next(self) -> None:
        outer = self

        class Case(aiounit.AsyncTestCase):
            async def test_1_leaves_a_thread(self) -> None:
                outer._thread("left-behind").start()

            async def test_2_clean(self) -> None:
                await asyncio.sleep(0)
                # Still running now, during this test: it is not this test's finding.
                assert outer.started[0].is_alive()

        result = TestResult()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # recorded by the result, not warned
            unittest.defaultTestLoader.loadTestsFromTestCase(Case).run(result)
        self.assertTrue(result.wasSuccessful(), messages(result.errors))
        findings = _findings(result)
        self.assertEqual(findings["test_2_clean"], [])
        [finding] = findings["test_1_leaves_a_thread"]
        self.assertEqual((finding["check"], finding["level"]), ("leaked-thread", "warn"))
        text = finding["message"]
        self.assertIn("test_1_leaves_a_thread left a thread running after its teardown", text)
        self.assertIn("Thread 'left-behind' running threading.Event.wait()", text)
        self.assertIn('outer._thread("left-behind").start()', text)  # where it was started
        self.assertIn("in test_1_leaves_a_thread", text)
        self.assertIn("Running now at", text)
        self.assertIn("in wait", text)  # where it is stuck
        self.assertTrue(
            text.endswith(
                "Python waits for it before the process can exit "
                "(aiounit ends the process instead, see the guide). "
                "Make the thread end before the test does: tell it to "
                "stop (an Event it checks, a sentinel on its queue, "
                "closing what it reads from) and join() it in a cleanup. "
                "An executor job keeps running when the task awaiting it "
                "is cancelled: make the function itself return"
            )
        )
        self.assertIn(self.started[0], exit_guard.still_running())

    def test_a_thread_started_by_a_left_thread_belongs_to_the_first_test(self) -> None:
        outer = self
        go = threading.Event()
        second_started = threading.Event()

        def first() -> None:
            go.wait()
            outer._thread("second").start()
            second_started.set()
            outer.release.wait()

        class Case(aiounit.AsyncTestCase):
            async def test_1_starts_first(self) -> None:
                outer._thread("first", first).start()

            async def test_2_runs_while_first_starts_second(self) -> None:
                go.set()
                await asyncio.to_thread(second_started.wait)

        result = TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(Case).run(result)
        self.assertTrue(result.wasSuccessful(), messages(result.errors))
        findings = _findings(result)
        self.assertEqual(findings["test_2_runs_while_first_starts_second"], [])
        [finding] = findings["test_1_starts_first"]
        self.assertIn("Thread 'first' running", finding["message"])
        _first_thread, second_thread = self.started
        second_origin = origin_of(second_thread)
        assert second_origin is not None
        self.assertEqual(second_origin.test_id, Case("test_1_starts_first").id())
        self.assertIn(second_thread, exit_guard.still_running())

    def test_threads_that_end_in_time_and_idle_workers_are_not_findings(self) -> None:
        outer = self

        class Case(aiounit.AsyncTestCase):
            async def test_stops_its_thread_in_a_cleanup(self) -> None:
                stop = threading.Event()
                outer._thread("told-to-stop", stop.wait).start()
                self.addCleanup(stop.set)  # set, not joined: it ends within the grace

            async def test_keeps_its_own_executor(self) -> None:
                pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="kept")
                # Not shut down here: its idle worker waits for work and ends at exit.
                self.addCleanup(pool.shutdown)  # after this test's check: see below
                loop = asyncio.get_running_loop()
                self.assertEqual(await loop.run_in_executor(pool, sum, [1, 2]), 3)
                self.assertEqual(await asyncio.to_thread(sum, [3, 4]), 7)

        class ClassLoop(aiounit.AsyncTestCase):
            loop_scope = "class"

            async def test_1_uses_the_default_executor(self) -> None:
                self.assertEqual(await asyncio.to_thread(sum, [1]), 1)

            async def test_2_too(self) -> None:
                self.assertEqual(await asyncio.to_thread(sum, [2]), 2)

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = run_suite(Case, ClassLoop)
        self.assertTrue(result.wasSuccessful(), messages(result.errors))
        self.assertEqual(result.testsRun, 4)

    def test_levels_and_daemon_threads(self) -> None:
        outer = self

        class Case(aiounit.AsyncTestCase):
            checks = {"leaked-thread": "error"}

            async def test_error_level(self) -> None:
                outer._thread("fails-the-test").start()

            @aiounit.checks(leaked_thread="off")
            async def test_off(self) -> None:
                outer._thread("not-reported").start()

            @aiounit.checks(leaked_thread="warn")
            async def test_daemon(self) -> None:
                outer._thread("a-daemon", daemon=True).start()

            async def test_next(self) -> None:
                await asyncio.sleep(0)

        with self.assertWarns(aiounit.CheckWarning) as caught:
            result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_error_level": "error"})
        self.assertEqual(result.testsRun, 4)
        text = messages(result.errors)
        self.assertIn("CheckError: 1 check failed", text)
        self.assertIn("Thread 'fails-the-test'", text)
        self.assertIn("[leaked-thread]", text)
        self.assertNotIn("not-reported", text)
        warning = str(caught.warning)
        self.assertIn("Thread 'a-daemon'", warning)
        self.assertIn("It is a daemon thread, so it cannot keep the process from exiting", warning)
        self.assertTrue(warning.endswith("[leaked-thread]"))
        running = exit_guard.still_running()
        named = {thread.name: thread for thread in self.started}
        error_thread, off_thread = named["fails-the-test"], named["not-reported"]
        daemon_thread = named["a-daemon"]
        # Non-daemon threads count at exit whatever the level; a daemon cannot hold it up.
        self.assertIn(error_thread, running)
        self.assertIn(off_thread, running)
        self.assertNotIn(daemon_thread, running)

    def test_a_bad_grace_fails_the_test_with_the_fix(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                threading.Thread(target=outer.release.wait).start()

        outer = self
        with mock.patch.dict(os.environ, {"AIOUNIT_THREAD_GRACE": "soon"}):
            result = run_suite(Case("test_it"))
        self.assertIn(
            "AIOUNIT_THREAD_GRACE='soon' is not a number of seconds", messages(result.errors)
        )
        self.assertIn("[bad-setting]", messages(result.errors))


def _run(
    path: Path, *args: str, warnings_as_errors: bool = True
) -> subprocess.CompletedProcess[str]:
    # Plugins installed next to pytest must not change the pytest run. A run that hangs
    # fails this module (run() has a time limit) rather than hanging it.
    env = {"AIOUNIT_THREAD_GRACE": "0.2", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    options = ("-W", "error") if warnings_as_errors else ()
    return run_module(*args, cwd=path, env=env, python_options=options)


_TEST_1 = "test_1_stuck_thread (test_threads.LeftThreads.test_1_stuck_thread)"
_TEST_2 = "test_2_stuck_executor_job (test_threads.LeftThreads.test_2_stuck_executor_job)"
_TEST_3 = "test_3_clean (test_threads.LeftThreads.test_3_clean)"
_STUCK_THREAD_LINE = "never_set.wait()  # stuck: nothing sets this event"
_STUCK_JOB_LINE = "never_released.wait()  # stuck: the executor job never returns"


class CommandLineTests(unittest.TestCase):
    """The example suite's stuck thread and stuck executor job, in child processes."""

    def assert_exit_report(self, stderr: str, count: str, status: str) -> None:
        _, _, at_exit = stderr.partition("\naiounit: ")
        self.assertTrue(at_exit.startswith(f"{count} that tests started"), stderr[-3000:])
        self.assertIn(f"so aiounit ends the process now, with exit status {status}", at_exit)
        self.assertTrue(at_exit.rstrip().endswith("[threads-at-exit]"))
        return None

    def test_python_m_aiounit_reports_both_and_exits_with_the_runs_status(self) -> None:
        with example("threads") as path:
            run = _run(
                path, "aiounit", "discover", "-v", "--junit-xml", "out.xml", "--json", "out.json"
            )
            report = json.loads((path / "out.json").read_text())
            junit = ET.parse(path / "out.xml").getroot()
            only_first = _run(path, "aiounit", "test_threads.LeftThreads.test_1_stuck_thread")
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn(f"{_TEST_1} ... ok", run.stderr)
        self.assertIn(f"{_TEST_2} ... ERROR", run.stderr)
        self.assertIn(f"{_TEST_3} ... ok", run.stderr)
        self.assertIn("test_2_stuck_executor_job timed out after 0.5 s", run.stderr)
        summary, _, at_exit = run.stderr.partition("\naiounit: ")
        self.assertIn(f"WARNING: {_TEST_1}", summary)
        self.assertIn("Thread 'stuck-waiter' running test_threads.wait_forever()", summary)
        self.assertIn(_STUCK_THREAD_LINE, summary)
        self.assertIn(f"WARNING: {_TEST_2}", summary)
        self.assertIn(
            "Thread 'asyncio_0', a worker of a ThreadPoolExecutor, running the job "
            "test_threads.blocking_job()",
            summary,
        )
        self.assertIn("await asyncio.wait_for(asyncio.to_thread(blocking_job), 0.05)", summary)
        self.assertIn(_STUCK_JOB_LINE, summary)
        self.assertRegex(summary.rstrip().splitlines()[-1], r"^2 passed, 0 failed, 1 error in ")
        self.assert_exit_report(run.stderr, "2 threads", "1 (the run's exit status)")
        self.assertIn(
            "Left by test_threads.LeftThreads.test_1_stuck_thread: Thread 'stuck-waiter'", at_exit
        )
        self.assertIn(
            "Left by test_threads.LeftThreads.test_2_stuck_executor_job: Thread 'asyncio_0'",
            at_exit,
        )
        self.assertIn(_STUCK_THREAD_LINE, at_exit)
        self.assertIn(_STUCK_JOB_LINE, at_exit)
        # The reports were written, whole, before the process was ended.
        findings = {t["name"]: [f["check"] for f in t["findings"]] for t in report["tests"]}
        self.assertEqual(
            findings,
            {
                "test_1_stuck_thread": ["leaked-thread"],
                "test_2_stuck_executor_job": ["leaked-thread"],
                "test_3_clean": [],
            },
        )
        self.assertEqual(report["summary"]["passed"], 2)
        cases = {case.get("name"): case for case in junit.iter("testcase")}
        self.assertEqual(
            sorted(cases), ["test_1_stuck_thread", "test_2_stuck_executor_job", "test_3_clean"]
        )
        self.assertIsNotNone(cases["test_2_stuck_executor_job"].find("error"))
        self.assertEqual(junit.get("tests"), "3")
        # A run whose tests all passed exits 0, threads or not.
        self.assertEqual(only_first.returncode, 0, only_first.stderr)
        self.assert_exit_report(only_first.stderr, "1 thread", "0 (the run's exit status)")

    def test_python_m_unittest_exits_with_the_status_of_its_result(self) -> None:
        with example("threads") as path:
            run = _run(path, "unittest", "-v")
            only_first = _run(
                path,
                "unittest",
                "test_threads.LeftThreads.test_1_stuck_thread",
                warnings_as_errors=False,
            )
        self.assertEqual(run.returncode, 1, run.stderr)
        # With -W error, the warning fails the test that left the thread.
        self.assertIn(f"{_TEST_1} ... ERROR", run.stderr)
        self.assertIn(f"{_TEST_2} ... ERROR", run.stderr)
        self.assertIn(f"{_TEST_3} ... ok", run.stderr)
        self.assertIn(
            "CheckWarning: test_threads.LeftThreads.test_1_stuck_thread left a thread running",
            run.stderr,
        )
        self.assertIn(_STUCK_THREAD_LINE, run.stderr)
        self.assertIn(_STUCK_JOB_LINE, run.stderr)
        self.assertIn("FAILED (errors=2)", run.stderr)
        self.assert_exit_report(
            run.stderr, "2 threads", "1 (the run recorded a failure or an error)"
        )
        self.assertEqual(only_first.returncode, 0, only_first.stderr)
        self.assertIn("\nOK\n", only_first.stderr)
        self.assertIn(
            "CheckWarning: test_threads.LeftThreads.test_1_stuck_thread", only_first.stderr
        )
        self.assert_exit_report(
            only_first.stderr, "1 thread", "0 (the run recorded no failure or error)"
        )

    def test_pytest_exits_with_the_status_of_its_session(self) -> None:
        if importlib.util.find_spec("pytest") is None:
            self.fail("pytest is not installed: pip install -e '.[test]'")
        with example("threads") as path:
            run = _run(
                path,
                "pytest",
                "-p",
                "no:cacheprovider",
                "-rA",
                "--junitxml=out.xml",
                warnings_as_errors=False,
            )
            junit = ET.parse(path / "out.xml").getroot()
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertRegex(run.stdout, r"1 failed, 2 passed, 2 warnings in ")
        self.assertIn("FAILED test_threads.py::LeftThreads::test_2_stuck_executor_job", run.stdout)
        self.assertIn("PASSED test_threads.py::LeftThreads::test_3_clean", run.stdout)
        self.assertIn("CheckWarning: test_threads.LeftThreads.test_1_stuck_thread", run.stdout)
        self.assertEqual(
            sorted(case.get("name") for case in junit.iter("testcase")),
            ["test_1_stuck_thread", "test_2_stuck_executor_job", "test_3_clean"],
        )
        self.assert_exit_report(
            run.stderr, "2 threads", "1 (the run recorded a failure or an error)"
        )
        self.assertIn(_STUCK_THREAD_LINE, run.stderr)
        self.assertIn(_STUCK_JOB_LINE, run.stderr)
