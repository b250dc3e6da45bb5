"""Time limits: hung and blocked tests fail with where they were stuck, and the run goes on."""

from __future__ import annotations

import asyncio
import os
import time
import unittest
from typing import Any
from unittest import mock

import aiounit
from aiounit import timeouts
from tests.support import messages, outcomes, run_suite

# Short limits keep these tests fast; the assertions are about outcomes and messages.
LIMIT = 0.3


class HungTestTests(unittest.TestCase):
    def test_hung_await_fails_with_every_task_and_the_next_test_runs(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            timeout = LIMIT

            async def test_1_hangs(self) -> None:
                helper = asyncio.create_task(self.wait_forever(), name="helper-task")
                self.addAsyncCleanup(self.cleanup)
                await helper

            async def wait_forever(self) -> None:
                await asyncio.Event().wait()

            async def cleanup(self) -> None:
                events.append("cleanup ran")

            def tearDown(self) -> None:
                events.append(f"tearDown {self._testMethodName}")

            async def test_2_runs(self) -> None:
                events.append("test_2 ran")

        result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_1_hangs": "error"})
        self.assertEqual(
            events, ["tearDown test_1_hangs", "cleanup ran", "test_2 ran", "tearDown test_2_runs"]
        )
        text = messages(result.errors)
        self.assertIn("TestTimeoutError", text)
        self.assertIn(f"test_1_hangs timed out after {LIMIT:g} s", text)
        self.assertIn("the limit comes from HungTestTests", text)
        self.assertIn("[test-timeout]", text)
        # The test's own task comes first, then the helper with its await chain.
        own = text.index("Case.test_1_hangs(), waiting at")
        helper = text.index("Task 'helper-task' running ")
        self.assertLess(own, helper)
        self.assertIn("await asyncio.Event().wait()", text)
        self.assertIn("await helper", text)

    def test_method_decorator_wins_and_none_means_no_limit(self) -> None:
        class Case(aiounit.AsyncTestCase):
            timeout = None

            @aiounit.timeout(LIMIT)
            async def test_limited(self) -> None:
                await asyncio.sleep(3600)

            async def test_unlimited(self) -> None:
                await asyncio.sleep(LIMIT * 2)

        result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_limited": "error"})
        self.assertIn("the limit comes from @aiounit.timeout()", messages(result.errors))

    def test_environment_sets_the_default(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                await asyncio.sleep(3600)

        with mock.patch.dict(os.environ, {"AIOUNIT_TIMEOUT": str(LIMIT)}):
            result = run_suite(Case("test_it"))
        self.assertIn(f"the limit comes from AIOUNIT_TIMEOUT={LIMIT}", messages(result.errors))
        with mock.patch.dict(os.environ, {"AIOUNIT_TIMEOUT": "soon"}):
            result = run_suite(Case("test_it"), Case("test_it"))
        self.assertEqual(len(result.errors), 2)
        self.assertIn("environment variable AIOUNIT_TIMEOUT got 'soon'", messages(result.errors))
        self.assertEqual(timeouts.DEFAULT_TIMEOUT, 120.0)

    def test_bad_limits_are_rejected_when_defined(self) -> None:
        for bad in (0, -1, "5", True):
            with self.subTest(bad=bad):
                with self.assertRaisesRegex(aiounit.ConfigurationError, r"\[bad-timeout\]"):
                    type("Bad", (aiounit.AsyncTestCase,), {"timeout": bad})
                with self.assertRaisesRegex(aiounit.ConfigurationError, r"\[bad-timeout\]"):
                    aiounit.timeout(bad)  # type: ignore[arg-type]


class BlockedLoopTests(unittest.TestCase):
    def test_sync_sleep_in_a_coroutine_is_interrupted_with_the_blocking_line(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            timeout = LIMIT

            async def test_1_blocks(self) -> None:
                self.addCleanup(events.append, "cleanup ran")
                time.sleep(3600)  # the line the report must point at

            async def test_2_runs(self) -> None:
                events.append("test_2 ran")

        result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_1_blocks": "error"})
        self.assertEqual(events, ["cleanup ran", "test_2 ran"])
        text = messages(result.errors)
        self.assertIn("blocked by synchronous code", text)
        self.assertIn("time.sleep(3600)  # the line the report must point at", text)
        self.assertIn("[loop-blocked]", text)

    def test_busy_sync_test_and_except_Exception_cannot_swallow_it(self) -> None:
        class Case(aiounit.AsyncTestCase):
            timeout = LIMIT

            def test_busy(self) -> None:
                try:
                    while True:
                        pass
                except Exception:  # what careless code does
                    pass

        result = run_suite(Case("test_busy"))
        self.assertEqual(outcomes(result), {"test_busy": "error"})
        self.assertIn("while True", messages(result.errors))


class HungTeardownTests(unittest.TestCase):
    def test_hung_cleanup_after_a_timeout_is_bounded_and_reported(self) -> None:
        class Case(aiounit.AsyncTestCase):
            timeout = LIMIT

            async def test_it(self) -> None:
                self.addAsyncCleanup(asyncio.sleep, 3600)

        result = run_suite(Case("test_it"))
        self.assertEqual(len(result.errors), 1)
        text = messages(result.errors)
        self.assertIn("timed out after", text)
        self.assertIn("running sleep()", text)  # the cleanup's own task, and where it waits
        self.assertIn("asyncio/tasks.py", text)

    def test_hang_in_an_async_generator_finalizer_is_reported(self) -> None:
        async def stubborn() -> Any:
            try:
                yield 1
            finally:
                await asyncio.sleep(3600)

        class Case(aiounit.AsyncTestCase):
            timeout = LIMIT

            async def test_it(self) -> None:
                self.gen = stubborn()
                await self.gen.__anext__()

            async def test_next(self) -> None:
                pass

        result = run_suite(Case("test_it"), Case("test_next"))
        self.assertEqual(outcomes(result), {"test_it": "error"})
        self.assertEqual(result.testsRun, 2)
        text = messages(result.errors)
        self.assertIn("in stubborn", text)
        self.assertIn("await asyncio.sleep(3600)", text)

    def test_class_hook_timeout_is_a_setUpClass_error(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            timeout = LIMIT

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.addClassCleanup(events.append, "class cleanup")
                await asyncio.sleep(3600)

            async def test_it(self) -> None:
                events.append("test ran")

        result = run_suite(Case)
        self.assertEqual(events, ["class cleanup"])
        self.assertEqual(len(result.errors), 1)
        self.assertIn("setUpClass", str(result.errors[0][0]))
        self.assertIn("asyncSetUpClass timed out after", result.errors[0][1])


class WatchdogTests(unittest.TestCase):
    def test_a_finished_test_is_never_interrupted_later(self) -> None:
        class Case(aiounit.AsyncTestCase):
            timeout = 0.05

            async def test_quick(self) -> None:
                pass

        result = run_suite(Case("test_quick"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors))
        time.sleep(0.3)  # the old deadline passes with nothing armed: nothing happens
        self.assertFalse(timeouts.watchdog.is_armed(object()))  # type: ignore[arg-type]
