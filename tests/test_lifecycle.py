"""The order and the loop of every per-test hook, on whichever loop AIOUNIT_LOOP selects."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
import unittest
from typing import Any
from unittest import mock

import aiounit
from tests.support import messages, outcomes, run_suite

VAR: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("VAR", default=())


class HookOrderTests(unittest.TestCase):
    def test_full_cycle_order_and_shared_context(self) -> None:
        events: list[str] = []
        seen_context: list[tuple[str, ...]] = []

        def note(name: str) -> None:
            events.append(name)
            VAR.set((*VAR.get(), name))

        class Case(aiounit.AsyncTestCase):
            def setUp(self) -> None:
                note("setUp")
                self.addCleanup(note, "cleanup-sync-from-setUp")
                self.addAsyncCleanup(self.async_note, "cleanup-async-from-setUp")

            async def asyncSetUp(self) -> None:
                note("asyncSetUp")
                self.enterContext(mock.patch.dict(os.environ, {"AIOUNIT_TEST_MARK": "1"}))

            async def test_it(self) -> None:
                note("test")
                self.assertEqual(os.environ["AIOUNIT_TEST_MARK"], "1")
                await self.enterAsyncContext(Recorder(events, "acm"))

            async def asyncTearDown(self) -> None:
                note("asyncTearDown")

            def tearDown(self) -> None:
                note("tearDown")

            async def async_note(self, name: str) -> None:
                await asyncio.sleep(0)
                note(name)
                seen_context.append(VAR.get())

        result = run_suite(Case("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(
            events,
            [
                "setUp",
                "asyncSetUp",
                "test",
                "acm-enter",
                "asyncTearDown",
                "tearDown",
                "acm-exit",
                "cleanup-async-from-setUp",
                "cleanup-sync-from-setUp",
            ],
        )
        # One context from setUp to the last cleanup: each step saw all earlier ones.
        self.assertEqual(
            seen_context,
            [
                (
                    "setUp",
                    "asyncSetUp",
                    "test",
                    "asyncTearDown",
                    "tearDown",
                    "cleanup-async-from-setUp",
                )
            ],
        )
        self.assertNotIn("AIOUNIT_TEST_MARK", os.environ)

    def test_async_def_setUp_and_tearDown_are_awaited(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            async def setUp(self) -> None:
                await asyncio.sleep(0)
                events.append("async setUp")
                self.loop = asyncio.get_running_loop()

            async def test_it(self) -> None:
                events.append("test")
                self.assertIs(asyncio.get_running_loop(), self.loop)

            async def tearDown(self) -> None:
                await asyncio.sleep(0)
                self.assertIs(asyncio.get_running_loop(), self.loop)
                events.append("async tearDown")

        result = run_suite(Case("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(events, ["async setUp", "test", "async tearDown"])

    def test_asyncTearDown_error_skips_tearDown_but_not_cleanups(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                self.addAsyncCleanup(asyncio.sleep, 0)
                self.addCleanup(events.append, "cleanup")

            async def asyncTearDown(self) -> None:
                events.append("asyncTearDown")
                raise ValueError("teardown broke")

            def tearDown(self) -> None:
                events.append("tearDown")

        result = run_suite(Case("test_it"))
        self.assertEqual(events, ["asyncTearDown", "cleanup"])
        self.assertEqual(outcomes(result), {"test_it": "error"})
        self.assertIn("ValueError: teardown broke", messages(result.errors))

    def test_failure_in_each_phase_is_reported_against_the_test(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def asyncSetUp(self) -> None:
                if self._testMethodName == "test_setup_fails":
                    raise RuntimeError("setup broke")

            async def test_setup_fails(self) -> None:
                raise AssertionError("not reached")

            async def test_fails(self) -> None:
                self.assertEqual(1, 2)

            async def test_errors(self) -> None:
                raise KeyError("boom")

            async def test_cleanup_errors(self) -> None:
                async def broken() -> None:
                    raise OSError("cleanup broke")

                self.addAsyncCleanup(broken)

        result = run_suite(Case)
        self.assertEqual(
            outcomes(result),
            {
                "test_setup_fails": "error",
                "test_fails": "failure",
                "test_errors": "error",
                "test_cleanup_errors": "error",
            },
        )
        text = messages(result.errors)
        self.assertIn("RuntimeError: setup broke", text)
        self.assertIn("KeyError: 'boom'", text)
        self.assertIn("OSError: cleanup broke", text)
        self.assertNotIn("not reached", text)

    def test_subtests_skips_and_expected_failures(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_subtests(self) -> None:
                for i in range(3):
                    with self.subTest(i=i):
                        await asyncio.sleep(0)
                        self.assertNotEqual(i, 1)

            async def test_skip_inside(self) -> None:
                await asyncio.sleep(0)
                self.skipTest("not today")

            @unittest.expectedFailure
            async def test_expected_failure(self) -> None:
                self.assertTrue(False)

            @unittest.expectedFailure
            async def test_unexpected_success(self) -> None:
                pass

        result = run_suite(Case)
        self.assertEqual(len(result.failures), 1)
        self.assertIn("i=1", str(result.failures[0][0]))
        self.assertEqual([reason for _, reason in result.skipped], ["not today"])
        self.assertEqual(len(result.expectedFailures), 1)
        self.assertEqual(
            [t._testMethodName for t in result.unexpectedSuccesses], ["test_unexpected_success"]
        )
        self.assertEqual(result.testsRun, 4)

    def test_run_without_result_returns_one(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                self.assertEqual(1, 2)

        result = Case("test_it").run()
        assert result is not None
        self.assertEqual(len(result.failures), 1)

    def test_returning_a_value_warns(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_returns(self) -> int:
                return 1

        with self.assertWarnsRegex(DeprecationWarning, "return a value that is not None") as caught:
            Case("test_returns").run()
        self.assertIn("test_returns", str(caught.warning))
        self.assertEqual(caught.filename, __file__)


class Recorder:
    """An async context manager that notes when it is entered and exited."""

    def __init__(self, events: list[str], name: str) -> None:
        self.events = events
        self.name = name

    async def __aenter__(self) -> Recorder:
        self.events.append(f"{self.name}-enter")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(0)
        self.events.append(f"{self.name}-exit")


class LoopTests(unittest.TestCase):
    def test_one_loop_per_test_current_in_sync_hooks_and_closed_after(self) -> None:
        loops: dict[str, list[asyncio.AbstractEventLoop]] = {}

        class Case(aiounit.AsyncTestCase):
            def setUp(self) -> None:
                self.seen = loops.setdefault(self._testMethodName, [])
                self.seen.append(asyncio.get_event_loop())

            async def test_a(self) -> None:
                self.seen.append(asyncio.get_running_loop())
                self.addCleanup(lambda: self.seen.append(asyncio.get_event_loop()))

            def test_sync(self) -> None:
                self.seen.append(asyncio.get_event_loop())

            def tearDown(self) -> None:
                self.seen.append(asyncio.get_event_loop())

        result = run_suite(Case)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        for name, seen in loops.items():
            self.assertEqual(len(seen), 4 if name == "test_a" else 3, name)
            self.assertTrue(all(loop is seen[0] for loop in seen), f"{name} saw several loops")
            self.assertTrue(seen[0].is_closed(), f"{name}'s loop was left open")
        self.assertIsNot(loops["test_a"][0], loops["test_sync"][0])

    def test_current_loop_is_restored_after_the_test(self) -> None:
        outer = asyncio.new_event_loop()
        self.addCleanup(outer.close)
        asyncio.set_event_loop(outer)
        self.addCleanup(asyncio.set_event_loop, None)

        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                self.assertIsNot(asyncio.get_running_loop(), outer)

        self.assertTrue(run_suite(Case("test_it")).wasSuccessful())
        self.assertIs(asyncio.get_event_loop(), outer)

    def test_skipped_test_creates_no_loop(self) -> None:
        made: list[asyncio.AbstractEventLoop] = []

        def factory() -> asyncio.AbstractEventLoop:
            loop = asyncio.new_event_loop()
            made.append(loop)
            return loop

        class Case(aiounit.AsyncTestCase):
            loop_factory = factory  # a plain function: must not be bound as a method

            @unittest.skip("skipped")
            async def test_skipped(self) -> None:
                pass

            async def test_runs(self) -> None:
                self.assertIs(asyncio.get_running_loop(), made[-1])

        result = run_suite(Case("test_skipped"))
        self.assertEqual(len(result.skipped), 1)
        self.assertEqual(made, [])
        result = run_suite(Case("test_runs"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(len(made), 1)

    def test_leftover_tasks_are_cancelled_and_their_errors_reported(self) -> None:
        events: list[str] = []
        handled: list[dict[str, Any]] = []

        class Case(aiounit.AsyncTestCase):
            checks = {"leaked-task": "off"}  # leaking is the point here; test_checks reports it

            async def test_it(self) -> None:
                asyncio.get_running_loop().set_exception_handler(lambda _, ctx: handled.append(ctx))

                async def polite() -> None:
                    try:
                        await asyncio.sleep(3600)
                    except asyncio.CancelledError:
                        events.append("polite cancelled")
                        raise

                async def rude() -> None:
                    try:
                        await asyncio.sleep(3600)
                    finally:
                        raise LookupError("raised while cancelled")

                asyncio.create_task(polite())
                asyncio.create_task(rude())
                await asyncio.sleep(0)

        result = run_suite(Case("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(events, ["polite cancelled"])
        self.assertEqual(len(handled), 1)
        self.assertIsInstance(handled[0]["exception"], LookupError)
        self.assertIn("cancelling", handled[0]["message"])

    def test_async_generators_and_default_executor_are_shut_down(self) -> None:
        events: list[str] = []
        workers: list[threading.Thread] = []

        async def ticker() -> Any:
            try:
                while True:
                    yield 1
            finally:
                events.append("generator finalized")

        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                gen = ticker()
                self.assertEqual(await gen.__anext__(), 1)
                self.keep = gen  # still referenced: only loop shutdown can finalize it
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: workers.append(threading.current_thread())
                )

        test = Case("test_it")
        result = run_suite(test)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(events, ["generator finalized"])
        self.assertEqual(len(workers), 1)
        self.assertFalse(workers[0].is_alive(), "the default executor's worker outlived the test")

    def test_loop_debug_setting(self) -> None:
        seen: dict[str, bool] = {}

        def case(debug: bool | None) -> type[aiounit.AsyncTestCase]:
            class Case(aiounit.AsyncTestCase):
                loop_debug = debug

                async def test_it(self) -> None:
                    seen[str(debug)] = asyncio.get_running_loop().get_debug()

            return Case

        with mock.patch.dict(os.environ, {"AIOUNIT_LOOP_DEBUG": "0"}):
            run_suite(case(True)("test_it"), case(None)("test_it"))
        with mock.patch.dict(os.environ, {"AIOUNIT_LOOP_DEBUG": "1"}):
            run_suite(case(False)("test_it"))
            seen["env on"] = seen.pop("False")
            run_suite(case(None)("test_it"))
        self.assertEqual(seen, {"True": True, "None": True, "env on": False})


class CleanupTests(unittest.TestCase):
    def test_doCleanups_inside_a_sync_test(self) -> None:
        # cpython#101018: the stdlib raises "cannot enter context" here.
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            def test_it(self) -> None:
                events.append("started")
                loop = asyncio.get_event_loop()
                self.addCleanup(events.append, "sync cleanup")
                self.addAsyncCleanup(self.async_cleanup)
                self.doCleanups()
                # The test's loop stays open for the rest of it, and for its last cleanups.
                events.append(f"end, loop closed: {loop.is_closed()}")
                self.addAsyncCleanup(self.async_cleanup)

            async def async_cleanup(self) -> None:
                await asyncio.sleep(0)
                events.append("async cleanup")

        result = run_suite(Case("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(
            events,
            [
                "started",
                "async cleanup",
                "sync cleanup",
                "end, loop closed: False",
                "async cleanup",
            ],
        )

    def test_doCleanups_inside_an_async_test(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            async def test_sync_cleanups(self) -> None:
                self.addCleanup(events.append, "sync cleanup")
                self.doCleanups()
                events.append("end")

            async def test_async_cleanup(self) -> None:
                self.addAsyncCleanup(asyncio.sleep, 0)
                self.doCleanups()

        result = run_suite(Case("test_sync_cleanups"), Case("test_async_cleanup"))
        self.assertEqual(events, ["sync cleanup", "end"])
        self.assertEqual(outcomes(result), {"test_async_cleanup": "error"})
        self.assertIn("[async-cleanup-in-loop]", messages(result.errors))

    def test_a_cleanup_registered_before_setUp_still_runs_on_the_test_loop(self) -> None:
        # The loop's close goes under every cleanup, even one added before the test ran.
        events: list[str] = []

        async def cleanup() -> None:
            await asyncio.sleep(0)
            events.append(f"loop closed: {asyncio.get_running_loop().is_closed()}")

        class Case(aiounit.AsyncTestCase):
            def __init__(self, methodName: str = "runTest") -> None:
                super().__init__(methodName)
                self.addCleanup(cleanup)

            async def test_it(self) -> None:
                events.append("test")

        result = run_suite(Case("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(events, ["test", "loop closed: False"])

    def test_sync_cleanup_returning_an_awaitable_is_awaited(self) -> None:
        # cpython#101486: the stdlib drops the coroutine ("never awaited").
        events: list[str] = []

        async def close(name: str) -> None:
            await asyncio.sleep(0)
            events.append(name)

        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                self.addCleanup(functools.partial(close, "partial"))
                self.addCleanup(lambda: close("lambda"))

        result = run_suite(Case("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(events, ["lambda", "partial"])

    def test_enterAsyncContext_rejects_non_context_managers(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                with self.assertRaisesRegex(TypeError, "asynchronous context manager protocol"):
                    await self.enterAsyncContext(object())

        self.assertTrue(run_suite(Case("test_it")).wasSuccessful())


class DebugTests(unittest.TestCase):
    def test_debug_runs_async_parts_and_keeps_the_loop_for_doCleanups(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            async def asyncSetUp(self) -> None:
                self.future = asyncio.get_running_loop().create_future()
                self.addAsyncCleanup(self.cleanup)

            async def test_it(self) -> None:
                events.append("test")
                raise ValueError("in debug")

            async def cleanup(self) -> None:
                # Only possible on the loop the future belongs to.
                self.future.set_result(None)
                await self.future
                events.append("cleanup on the same loop")

        test = Case("test_it")
        with self.assertRaisesRegex(ValueError, "in debug"):
            test.debug()
        self.assertEqual(events, ["test"])
        test.doCleanups()
        self.assertEqual(events, ["test", "cleanup on the same loop"])
        test._tearDownAsyncioRunner()
        test._tearDownAsyncioRunner()  # closing twice is harmless

    def test_debug_success_closes_the_loop(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                self.loop = asyncio.get_running_loop()

        test = Case("test_it")
        test.debug()
        self.assertTrue(test.loop.is_closed())

    def test_debug_raises_what_the_checks_found(self) -> None:
        # As run() fails the test for an error-level finding, debug() raises it, once the
        # test's cleanups and the loop's close have run.
        events: list[str] = []

        async def forgotten() -> None:
            pass

        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                self.addCleanup(events.append, "cleanup")
                self.loop = asyncio.get_running_loop()
                forgotten()

        test = Case("test_it")
        with self.assertRaises(aiounit.CheckError) as caught:
            test.debug()
        self.assertIn("coroutine", str(caught.exception))
        self.assertIn("forgotten() was created but never awaited", str(caught.exception))
        self.assertIn("[unawaited-coroutine]", str(caught.exception))
        self.assertEqual(events, ["cleanup"])
        self.assertTrue(test.loop.is_closed())


class OverridePointTests(unittest.TestCase):
    def test_a_custom_runner_in_setupAsyncioRunner_is_used(self) -> None:
        made: list[asyncio.Runner] = []

        class Case(aiounit.AsyncTestCase):
            def _setupAsyncioRunner(self) -> None:
                runner = asyncio.Runner(debug=False)
                made.append(runner)
                self._asyncioRunner = runner
                self._asyncioTestContext = contextvars.copy_context()

            async def test_it(self) -> None:
                self.assertIs(asyncio.get_running_loop(), self._asyncioRunner.get_loop())

        result = run_suite(Case("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(len(made), 1)

    def test_a_custom_runner_is_given_a_coroutine_for_any_awaitable(self) -> None:
        # asyncio.Runner.run() refuses anything but a coroutine: a cleanup's awaitable
        # that is not one is wrapped before the runner gets it.
        events: list[str] = []

        class Awaitable:
            def __await__(self) -> Any:
                yield from asyncio.sleep(0).__await__()
                events.append("awaited")

        class Case(aiounit.AsyncTestCase):
            def _setupAsyncioRunner(self) -> None:
                self._asyncioRunner = asyncio.Runner(debug=False)
                self._asyncioTestContext = contextvars.copy_context()

            async def test_it(self) -> None:
                self.addCleanup(Awaitable)

        result = run_suite(Case("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(events, ["awaited"])

    def test_callAsync_override_wraps_every_async_hook(self) -> None:
        wrapped: list[str] = []

        class Case(aiounit.AsyncTestCase):
            def _callAsync(self, func: Any, /, *args: Any, **kwargs: Any) -> Any:
                wrapped.append(func.__name__)
                return super()._callAsync(func, *args, **kwargs)

            async def asyncSetUp(self) -> None:
                pass

            async def test_it(self) -> None:
                pass

        self.assertTrue(run_suite(Case("test_it")).wasSuccessful())
        self.assertEqual(wrapped, ["asyncSetUp"])
