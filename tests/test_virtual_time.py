"""Virtual time through AsyncTestCase: the class setting, the decorator, the run's default."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import unittest
from unittest import mock

import aiounit
from tests.cli_support import aiounit as aiounit_cli
from tests.cli_support import example, run
from tests.support import messages, outcomes, run_suite


class VirtualTimeCaseTests(unittest.TestCase):
    def test_an_hour_of_sleep_takes_no_real_time(self) -> None:
        seen: list[float] = []

        class Case(aiounit.AsyncTestCase):
            virtual_time = True
            timeout = 30  # would fire long before a real hour passed

            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()
                start = loop.time()
                await asyncio.sleep(3600)
                seen.append(loop.time() - start)
                self.assertIsInstance(self.clock, aiounit.VirtualClock)
                self.assertEqual(self.clock.time(), loop.time())

        result = run_suite(Case("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(seen, [3600.0])

    def test_timers_timeouts_and_threads_follow_the_clock(self) -> None:
        order: list[str] = []

        class Case(aiounit.AsyncTestCase):
            virtual_time = True

            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()
                loop.call_later(30, order.append, "call_later 30")
                loop.call_at(loop.time() + 10, order.append, "call_at 10")
                with self.assertRaises(TimeoutError):
                    async with asyncio.timeout(20):
                        await asyncio.sleep(25)
                order.append("timeout 20")
                # Real work outside the loop is waited for, not skipped by a jump.
                value = await asyncio.wait_for(asyncio.to_thread(lambda: time.sleep(0.05) or 7), 5)
                self.assertEqual(value, 7)
                await asyncio.sleep(60)

        result = run_suite(Case("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(order, ["call_at 10", "timeout 20", "call_later 30"])

    def test_decorator_for_one_test_and_manual_mode(self) -> None:
        class Case(aiounit.AsyncTestCase):
            @aiounit.virtual_time(mode="manual")
            async def test_manual(self) -> None:
                fired: list[float] = []
                loop = asyncio.get_running_loop()
                loop.call_later(5, fired.append, 5.0)
                await self.clock.advance(4)
                self.assertEqual(fired, [])
                await self.clock.advance(1)
                self.assertEqual(fired, [5.0])

            async def test_real(self) -> None:
                self.assertFalse(hasattr(self, "clock"))
                loop = asyncio.get_running_loop()
                self.assertAlmostEqual(loop.time(), time.monotonic(), delta=1.0)

        result = run_suite(Case)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))

    def test_class_fixtures_run_on_the_same_clock(self) -> None:
        times: list[float] = []

        class Case(aiounit.AsyncTestCase):
            virtual_time = True

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                await asyncio.sleep(100)  # an expensive set-up, for free
                times.append(asyncio.get_running_loop().time())

            async def test_it(self) -> None:
                self.assertIs(self.clock, type(self).clock)
                times.append(self.clock.time())

        result = run_suite(Case)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(times[0], times[1])

    def test_the_run_default_from_the_environment(self) -> None:
        class Default(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                await asyncio.sleep(3600)

        class OptedOut(aiounit.AsyncTestCase):
            virtual_time = False

            async def test_it(self) -> None:
                self.assertFalse(hasattr(self, "clock"))

        with mock.patch.dict(os.environ, {"AIOUNIT_VIRTUAL_TIME": "1", "AIOUNIT_TIMEOUT": "30"}):
            result = run_suite(Default("test_it"), OptedOut("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))


class VirtualTimeFailureTests(unittest.TestCase):
    def test_a_deadlock_fails_at_once_and_the_next_test_runs(self) -> None:
        class Case(aiounit.AsyncTestCase):
            virtual_time = True

            async def test_1_waits_forever(self) -> None:
                await asyncio.get_running_loop().create_future()

            async def test_2_runs(self) -> None:
                await asyncio.sleep(1)

        result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_1_waits_forever": "error"})
        text = messages(result.errors)
        self.assertIn("DeadlockError", text)
        self.assertIn("test_1_waits_forever", text)
        self.assertIn("[deadlock]", text)

    def test_the_time_limit_stays_real(self) -> None:
        # Ends the thread's work once checked: a thread still working when the process
        # exits would make aiounit end it with this inner run's failure as its status.
        done = threading.Event()
        self.addCleanup(done.set)

        class Case(aiounit.AsyncTestCase):
            virtual_time = True
            timeout = 0.3

            async def test_it(self) -> None:
                # The clock cannot jump while the thread works: the real limit ends it.
                await asyncio.to_thread(done.wait, 3)

        result = run_suite(Case("test_it"))
        self.assertIn("timed out after 0.3 s", messages(result.errors))

    def test_uvloop_is_refused_with_a_reason(self) -> None:
        try:
            import uvloop
        except ImportError:
            self.fail("uvloop is part of the test extra: pip install -e '.[test]'")

        class Case(aiounit.AsyncTestCase):
            virtual_time = True
            loop_factory = uvloop.new_event_loop

            async def test_it(self) -> None:
                pass

        result = run_suite(Case("test_it"))
        self.assertIn("[virtual-time-unsupported]", messages(result.errors))

    def test_a_class_that_asks_for_virtual_time_wins_over_the_runs_loop(self) -> None:
        class Case(aiounit.AsyncTestCase):
            virtual_time = True

            async def test_it(self) -> None:
                await asyncio.sleep(60)

        class RunWide(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                pass

        with mock.patch.dict(os.environ, {"AIOUNIT_LOOP": "uvloop"}):
            self.assertTrue(run_suite(Case("test_it")).wasSuccessful())
        with mock.patch.dict(os.environ, {"AIOUNIT_LOOP": "uvloop", "AIOUNIT_VIRTUAL_TIME": "1"}):
            result = run_suite(RunWide("test_it"))
        self.assertIn("[virtual-time-unsupported]", messages(result.errors))

    def test_decorator_on_a_class_loop_that_keeps_real_time(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_scope = "class"

            @aiounit.virtual_time
            async def test_it(self) -> None:
                pass

        result = run_suite(Case)
        self.assertIn("[virtual-time-needs-class-setting]", messages(result.errors))

    def test_bad_settings_are_rejected(self) -> None:
        with self.assertRaisesRegex(aiounit.ConfigurationError, "virtual_time is 'fast'"):
            type("Bad", (aiounit.AsyncTestCase,), {"virtual_time": "fast"})
        with self.assertRaisesRegex(aiounit.ConfigurationError, r"\[bad-setting\]"):
            aiounit.virtual_time(mode="slow")  # type: ignore[arg-type]


class CommandLineTests(unittest.TestCase):
    def test_virtual_time_option_and_environment(self) -> None:
        with example("sleepy") as path:
            ours = aiounit_cli("--virtual-time", cwd=path)
            stock = run("unittest", cwd=path, env={"AIOUNIT_VIRTUAL_TIME": "1"})
            bad = aiounit_cli("--virtual-time", "fast", cwd=path)
        self.assertEqual(ours.returncode, 0, ours.stderr)
        self.assertRegex(ours.stderr.rstrip().splitlines()[-1], r"^1 passed, 0 failed in ")
        self.assertEqual(stock.returncode, 0, stock.stderr)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("expected true, auto, manual or false", bad.stderr)
