"""The blocked-loop check: a step that holds its test's loop too long, with the line."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import unittest
import warnings
from typing import Any
from unittest import mock

import aiounit
from aiounit import cpu_wait, sampler
from tests.support import Recorded, messages, outcomes, run_suite

# Step timing wraps asyncio's selector loop: these classes run on it whatever
# AIOUNIT_LOOP says (uvloop has no steps to time; tests.test_checks_resources shows that).
SELECTOR_LOOP = asyncio.SelectorEventLoop
# Real blocking calls in these tests last well over the threshold (0.1 s), so that a busy
# machine cannot bring them under it.
BLOCK = 0.3


def _nap() -> None:
    time.sleep(BLOCK)


class BlockedLoopTests(unittest.TestCase):
    """A step of the loop that runs past the threshold, with the line that held it."""

    def test_a_slow_callback_is_named_with_its_line_on_its_test_only(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_1_slow_callback(self) -> None:
                asyncio.get_running_loop().call_soon(_nap)
                await asyncio.sleep(0.01)

            async def test_2_clean(self) -> None:
                await asyncio.sleep(0.01)

        run = Recorded(Case)
        self.assertEqual(run.outcomes, {"test_1_slow_callback": "passed", "test_2_clean": "passed"})
        self.assertEqual(run.checks("test_1_slow_callback"), ["blocked-loop"])
        self.assertEqual(run.findings["test_2_clean"], [])
        text = run.message("test_1_slow_callback", "blocked-loop")
        self.assertRegex(
            text,
            # On a busy machine the time the thread waited for a CPU is named, not counted.
            r"one step of the event loop ran for 0\.\d\d s \(the limit is 0\.1 s"
            r"(, not counting 0\.\d\d s it waited for a CPU)?\)",
        )
        self.assertIn("It was the callback _nap(), at (outermost first):", text)
        self.assertIn(f'File "{__file__}", line {_nap.__code__.co_firstlineno + 1}, in _nap', text)
        self.assertIn("time.sleep(BLOCK)", text)
        self.assertIn("await asyncio.sleep()", text)

    def test_a_callback_written_in_c_is_named_by_its_handle(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_sleeps_in_a_callback(self) -> None:
                asyncio.get_running_loop().call_soon(time.sleep, BLOCK)
                await asyncio.sleep(0.01)

        text = Recorded(Case).message("test_sleeps_in_a_callback", "blocked-loop")
        self.assertIn("It was the callback <Handle sleep(", text)

    def test_a_busy_task_step_is_named_with_its_line(self) -> None:
        async def spin() -> None:
            end = time.monotonic() + BLOCK
            while time.monotonic() < end:
                pass

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_spins(self) -> None:
                await asyncio.create_task(spin())

        text = Recorded(Case).message("test_spins", "blocked-loop")
        self.assertIn("It was a step of the coroutine spin(), at (outermost first):", text)
        self.assertIn("in spin\n    while time.monotonic() < end:", text)

    def test_waiting_is_not_blocking(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_waits(self) -> None:
                await asyncio.sleep(0.2)
                await asyncio.to_thread(time.sleep, 0.2)

        run = Recorded(Case)
        self.assertEqual(run.outcomes, {"test_waits": "passed"})
        self.assertEqual(run.findings["test_waits"], [])

    def test_the_threshold_comes_from_the_environment(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_naps(self) -> None:
                time.sleep(BLOCK)

        with mock.patch.dict(os.environ, {"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "0.5"}):
            relaxed = Recorded(Case)
        with mock.patch.dict(os.environ, {"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "0.05"}):
            strict = Recorded(Case)
        self.assertEqual(relaxed.findings["test_naps"], [])
        self.assertRegex(
            strict.message("test_naps", "blocked-loop"),
            r"\(the limit is 0\.05 s(, not counting 0\.\d\d s it waited for a CPU)?\)",
        )

    def test_a_bad_threshold_fails_the_test_with_the_fix(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                pass

        for value in ("soon", "-1", "0"):
            with self.subTest(value=value):
                with mock.patch.dict(os.environ, {"AIOUNIT_BLOCKED_LOOP_THRESHOLD": value}):
                    result = run_suite(Case("test_it"))
                self.assertEqual(outcomes(result), {"test_it": "error"})
                text = messages(result.errors)
                self.assertIn(f"AIOUNIT_BLOCKED_LOOP_THRESHOLD={value!r} is not a number", text)
                self.assertIn("AIOUNIT_CHECKS=blocked-loop=off", text)
                self.assertIn("[bad-blocked-loop-threshold]", text)

    def test_many_slow_steps_are_counted_after_the_first_three(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_naps_often(self) -> None:
                for _ in range(5):
                    time.sleep(0.1)
                    await asyncio.sleep(0)

        with mock.patch.dict(os.environ, {"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "0.02"}):
            run = Recorded(Case)
        self.assertEqual(run.checks("test_naps_often"), ["blocked-loop"] * 4)
        last = run.findings["test_naps_often"][-1]["message"]
        self.assertRegex(last, r"test_naps_often: 2 more steps held the loop longer than 0\.02 s")

    def test_levels_from_class_and_method(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP
            checks = {"blocked-loop": "error"}

            async def test_strict(self) -> None:
                time.sleep(BLOCK)

            @aiounit.checks(blocked_loop="off")
            async def test_unchecked(self) -> None:
                time.sleep(BLOCK)

        result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_strict": "error"})
        self.assertIn("[blocked-loop]", messages(result.errors))


class LoadTests(unittest.TestCase):
    """Time the loop's thread spent waiting for a CPU is not charged to the step.

    The kernel's count of that waiting is replaced by one the inner test moves itself, as
    a loaded machine would: then what is reported does not depend on the real load.
    """

    def waiting(self) -> dict[str, int]:
        """Patch the kernel's count with one the test moves (``counter["ns"]``)."""
        # It starts from the real count: marks taken before the patch stay lower bounds.
        counter = {"ns": cpu_wait.run_delay(threading.get_native_id()) or 0}
        self.enterContext(mock.patch.object(cpu_wait, "run_delay", lambda _: counter["ns"]))
        return counter

    def test_a_step_slow_only_because_its_thread_waited_for_a_cpu_is_not_reported(self) -> None:
        counter = self.waiting()

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_1_preempted(self) -> None:
                await asyncio.sleep(0.05)  # the next step starts with a fresh note of the count
                counter["ns"] += int(10 * BLOCK * 1e9)  # all of the step was waiting
                time.sleep(BLOCK)

            async def test_2_blocks(self) -> None:
                await asyncio.sleep(0.05)
                time.sleep(BLOCK)  # and here the thread never waited

        run = Recorded(Case)
        self.assertEqual(run.outcomes, {"test_1_preempted": "passed", "test_2_blocks": "passed"})
        self.assertEqual(run.findings["test_1_preempted"], [])
        text = run.message("test_2_blocks", "blocked-loop")
        self.assertRegex(text, r"ran for 0\.\d\d s \(the limit is 0\.1 s\) without")

    def test_part_of_a_step_spent_waiting_is_named_and_not_counted(self) -> None:
        counter = self.waiting()

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_blocks_while_the_machine_is_busy(self) -> None:
                await asyncio.sleep(0.05)
                counter["ns"] += 50_000_000
                time.sleep(BLOCK)

        text = Recorded(Case).message("test_blocks_while_the_machine_is_busy", "blocked-loop")
        match = re.search(
            r"ran for (0\.\d\d) s \(the limit is 0\.1 s, not counting (0\.\d\d) s it "
            r"waited for a CPU\)",
            text,
        )
        assert match is not None, text
        self.assertGreaterEqual(float(match[2]), 0.05)
        self.assertGreater(float(match[1]), 0.1)
        self.assertIn("time.sleep(BLOCK)", text)

    def test_without_the_kernels_count_the_wall_clock_time_is_used(self) -> None:
        self.enterContext(mock.patch.object(cpu_wait, "run_delay", lambda native_id: None))

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_blocks(self) -> None:
                time.sleep(BLOCK)

        text = Recorded(Case).message("test_blocks", "blocked-loop")
        self.assertRegex(text, r"ran for 0\.\d\d s \(the limit is 0\.1 s\) without")

    def test_the_kernels_count_is_read_where_the_system_keeps_it(self) -> None:
        native_id = threading.get_native_id()
        delay = cpu_wait.run_delay(native_id)
        if os.path.exists(f"/proc/self/task/{native_id}/schedstat"):
            self.assertIsInstance(delay, int)
        else:
            self.assertIsNone(delay)


class TimeLimitTests(unittest.TestCase):
    def test_a_test_ended_by_its_time_limit_gets_the_timeout_and_no_blocked_loop(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP
            timeout = BLOCK

            async def test_1_blocks_past_its_limit(self) -> None:
                self.addCleanup(events.append, "cleanup ran")
                while True:
                    pass

            async def test_2_blocks_within_its_limit(self) -> None:
                events.append("test_2 ran")
                time.sleep(BLOCK / 2)

        with mock.patch.dict(os.environ, {"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "0.05"}):
            run = Recorded(Case)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # what -W error does under plain unittest
                plain = run_suite(Case)
        self.assertEqual(
            run.outcomes,
            {"test_1_blocks_past_its_limit": "error", "test_2_blocks_within_its_limit": "passed"},
        )
        self.assertEqual(run.findings["test_1_blocks_past_its_limit"], [])
        self.assertEqual(run.checks("test_2_blocks_within_its_limit"), ["blocked-loop"])
        self.assertEqual(events, ["cleanup ran", "test_2 ran"] * 2)
        self.assertEqual(
            outcomes(plain),
            {"test_1_blocks_past_its_limit": "error", "test_2_blocks_within_its_limit": "error"},
        )
        [(_, timed_out), (_, blocked)] = plain.errors
        self.assertIn("timed out after 0.3 s", timed_out)
        self.assertIn("while True:", timed_out)
        self.assertNotIn("[blocked-loop]", timed_out)
        self.assertIn("CheckWarning", blocked)
        self.assertIn("[blocked-loop]", blocked)


class VirtualTimeTests(unittest.TestCase):
    def test_a_virtual_class_loop_sleeps_hours_at_once_with_the_check_on(self) -> None:
        seen: dict[str, Any] = {}

        class Case(aiounit.AsyncTestCase):
            virtual_time = True
            loop_scope = "class"
            checks = {"blocked-loop": "error"}
            # Should the clock be bypassed again, the run ends here instead of hanging.
            timeout = 10

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                seen["start"] = asyncio.get_running_loop().time()

            async def test_1_sleeps_hours(self) -> None:
                selector: Any = getattr(asyncio.get_running_loop(), "_selector", None)
                # aiounit's selector calls the timer from its poll, under the clock's hook.
                seen["hook"] = type(getattr(selector, "hooks", None)).__name__
                await asyncio.sleep(3 * 3600)

            async def test_2_sleeps_more_hours(self) -> None:
                await asyncio.wait_for(asyncio.sleep(5 * 3600), timeout=6 * 3600)
                seen["end"] = asyncio.get_running_loop().time()

            @aiounit.checks(blocked_loop="warn")
            async def test_3_blocks(self) -> None:
                time.sleep(BLOCK)  # real time still passes for a step

        run = Recorded(Case)
        self.assertEqual(
            run.outcomes,
            {
                "test_1_sleeps_hours": "passed",
                "test_2_sleeps_more_hours": "passed",
                "test_3_blocks": "passed",
            },
        )
        self.assertEqual(seen["hook"], "StepTimer")  # the check timed the steps
        self.assertGreaterEqual(seen["end"] - seen["start"], 8 * 3600)
        self.assertEqual(run.findings["test_1_sleeps_hours"], [])
        self.assertEqual(run.findings["test_2_sleeps_more_hours"], [])
        self.assertEqual(run.checks("test_3_blocks"), ["blocked-loop"])


class SamplerTests(unittest.TestCase):
    def test_a_timer_uninstalled_while_the_sampler_looks_does_not_end_the_sampler(self) -> None:
        seen: dict[str, Any] = {}

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_looks(self) -> None:
                timer: Any = sampler.sampler._timer
                threshold, timer.threshold = timer.threshold, float("inf")
                try:  # what the sampler's thread sees if it read the timer just before
                    seen["pause"] = sampler.sampler._look()
                finally:
                    timer.threshold = threshold

            async def test_still_sampled(self) -> None:
                time.sleep(BLOCK)

        run = Recorded(Case)
        self.assertLess(seen["pause"], 1.0)
        self.assertIn("in test_still_sampled", run.message("test_still_sampled", "blocked-loop"))
