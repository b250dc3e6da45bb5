"""Choosing the loop: names, module:callable paths, the environment, and the errors."""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import signal
import sys
import unittest
import weakref
from typing import Any
from unittest import mock

import aiounit
from aiounit import loops, selector_loop
from tests.support import messages, run_suite

CUSTOM_LOOPS: list[asyncio.AbstractEventLoop] = []


def custom_loop() -> asyncio.AbstractEventLoop:
    """A loop factory found by tests through 'tests.test_loops:custom_loop'."""
    loop = asyncio.new_event_loop()
    CUSTOM_LOOPS.append(loop)
    return loop


class Namespace:
    factory = staticmethod(custom_loop)
    not_callable = 3


def _clean_env(**values: str) -> mock._patch[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in (loops.LOOP_ENV, loops.LOOP_DEBUG_ENV)}
    env.update(values)
    return mock.patch.dict(os.environ, env, clear=True)


class ResolveTests(unittest.TestCase):
    def setUp(self) -> None:
        self.addCleanup(loops._cache.clear)
        loops._cache.clear()

    def test_names_and_paths(self) -> None:
        self.assertIs(loops.resolve_loop_factory("asyncio"), loops.resolve_loop_factory(""))
        self.assertIs(loops.resolve_loop_factory("tests.test_loops:custom_loop"), custom_loop)
        self.assertIs(
            loops.resolve_loop_factory(" tests.test_loops:Namespace.factory "), custom_loop
        )
        loop = loops.resolve_loop_factory("asyncio")()
        self.addCleanup(loop.close)
        self.assertIsInstance(loop, asyncio.AbstractEventLoop)

    def test_uvloop_by_name(self) -> None:
        try:
            import uvloop
        except ImportError:
            self.fail("uvloop is part of the test extra: pip install -e '.[test]'")
        loop = loops.resolve_loop_factory("uvloop")()
        self.addCleanup(loop.close)
        self.assertIsInstance(loop, uvloop.Loop)

    def test_missing_uvloop_says_how_to_install_it(self) -> None:
        with mock.patch.dict(sys.modules, {"uvloop": None}):
            with self.assertRaises(aiounit.LoopFactoryError) as caught:
                loops.resolve_loop_factory("uvloop")
        text = str(caught.exception)
        self.assertIn("pip install aiounit[uvloop]", text)
        self.assertTrue(text.endswith("[uvloop-missing]"), text)

    def test_bad_specs_explain_themselves(self) -> None:
        cases = {
            "trio": "not a known loop name nor of the form 'package.module:callable'",
            "no_such_module_xyz:factory": "module 'no_such_module_xyz' cannot be imported",
            "tests.test_loops:missing": "has no attribute 'missing'",
            "tests.test_loops:Namespace.not_callable": "which is not callable",
            "tests.test_loops:": "not a known loop name",
        }
        for spec, expected in cases.items():
            with self.subTest(spec=spec):
                with self.assertRaises(aiounit.LoopFactoryError) as caught:
                    loops.resolve_loop_factory(spec)
                self.assertIn(expected, str(caught.exception))
                self.assertTrue(str(caught.exception).endswith("[bad-loop-factory]"))


class EnvironmentTests(unittest.TestCase):
    def setUp(self) -> None:
        self.addCleanup(loops._cache.clear)

    def test_AIOUNIT_LOOP_selects_the_loop_of_classes_without_a_factory(self) -> None:
        seen: dict[str, asyncio.AbstractEventLoop] = {}

        def own_loop() -> asyncio.AbstractEventLoop:
            return asyncio.new_event_loop()

        class Default(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                seen["default"] = asyncio.get_running_loop()

        class Chosen(aiounit.AsyncTestCase):
            loop_factory = own_loop

            async def test_it(self) -> None:
                seen["chosen"] = asyncio.get_running_loop()

        CUSTOM_LOOPS.clear()
        with _clean_env(AIOUNIT_LOOP="tests.test_loops:custom_loop"):
            result = run_suite(Default("test_it"), Chosen("test_it"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(CUSTOM_LOOPS, [seen["default"]])
        self.assertNotIn(seen["chosen"], CUSTOM_LOOPS)

    def test_a_bad_AIOUNIT_LOOP_is_an_error_of_the_test_naming_the_variable_value(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                pass

        with _clean_env(AIOUNIT_LOOP="nope"):
            result = run_suite(Case("test_it"), Case("test_it"))
        # Each test gets the error; the run goes on.
        self.assertEqual(result.testsRun, 2)
        self.assertEqual(len(result.errors), 2)
        self.assertIn(
            "AIOUNIT_LOOP='nope': loop 'nope' is not a known loop name", result.errors[0][1]
        )

    def test_loop_debug_from_the_environment(self) -> None:
        with _clean_env():
            self.assertFalse(loops.default_loop_debug())
        with _clean_env(AIOUNIT_LOOP_DEBUG="1"):
            self.assertTrue(loops.default_loop_debug())
        with _clean_env(AIOUNIT_LOOP_DEBUG="0", PYTHONASYNCIODEBUG="1"):
            self.assertFalse(loops.default_loop_debug())
        with _clean_env(PYTHONASYNCIODEBUG="1"):
            self.assertTrue(loops.default_loop_debug())
        with _clean_env(AIOUNIT_LOOP_DEBUG="maybe"):
            with self.assertRaisesRegex(aiounit.ConfigurationError, "AIOUNIT_LOOP_DEBUG='maybe'"):
                loops.default_loop_debug()


@unittest.skipIf(sys.platform == "win32", "the default loop there is the proactor")
class PlumbingReuseTests(unittest.TestCase):
    """A loop per test, made cheaper: only the empty selector and self-pipe are reused."""

    def test_each_test_gets_a_new_loop_with_nothing_of_the_last(self) -> None:
        from tests.examples.loopreuse import test_loopreuse as example

        with _clean_env():
            result = run_suite(example.LoopReuse)
        self.assertEqual(result.testsRun, 4)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))

    def test_the_same_through_the_command_line(self) -> None:
        from tests.cli_support import aiounit as run_aiounit
        from tests.cli_support import example

        with example("loopreuse") as path:
            done = run_aiounit("discover", "-v", cwd=path)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Ran 4 tests", done.stderr)
        self.assertIn("test_2_gets_a_new_loop_on_the_same_plumbing", done.stderr)

    def test_a_closed_loop_is_freed_when_its_test_ends(self) -> None:
        # Nothing of aiounit's keeps it: not the default policy kept for the next test,
        # nor the checks. Freed by reference counting alone, with the collector off.
        freed: list[weakref.ref[asyncio.AbstractEventLoop]] = []

        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                freed.append(weakref.ref(asyncio.get_running_loop()))

        gc.disable()
        try:
            with _clean_env():
                result = run_suite(Case)
            self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
            self.assertIsNone(freed[0](), "the test's closed loop is still alive")
        finally:
            gc.enable()

    def test_a_loop_left_with_a_signal_handler_hands_nothing_on(self) -> None:
        seen: list[asyncio.AbstractEventLoop] = []
        plumbing: list[Any] = []

        class Case(aiounit.AsyncTestCase):
            async def test_1_signal(self) -> None:
                loop = asyncio.get_running_loop()
                seen.append(loop)
                plumbing.append(loop._selector)  # type: ignore[attr-defined]
                loop.add_signal_handler(signal.SIGUSR1, int)

            async def test_2_after(self) -> None:
                loop = asyncio.get_running_loop()
                seen.append(loop)
                self.assertEqual(loop._signal_handlers, {})  # type: ignore[attr-defined]

        with _clean_env():
            result = run_suite(Case)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        first, second = seen
        self.assertIsNot(first, second)
        # Its selector was closed with it, not handed to the second loop or kept.
        (selector,) = plumbing
        self.assertTrue(selector._selector.closed)
        self.assertNotIn(selector, [spare[0] for spare in selector_loop._spares])
        self.assertIsNot(second._selector, selector)  # type: ignore[attr-defined]
        self.assertEqual(signal.getsignal(signal.SIGUSR1), signal.SIG_DFL)

    @unittest.skipIf(sys.version_info >= (3, 14), "loop policies are deprecated from 3.14")
    def test_a_loop_policy_of_the_suite_still_makes_the_loops(self) -> None:
        made: list[asyncio.AbstractEventLoop] = []

        class Policy(asyncio.DefaultEventLoopPolicy):  # type: ignore[name-defined,misc,unused-ignore]
            def new_event_loop(self) -> asyncio.AbstractEventLoop:
                loop = super().new_event_loop()
                made.append(loop)
                return loop

        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                self.assertIn(asyncio.get_running_loop(), made)

        previous = asyncio.events._event_loop_policy  # type: ignore[attr-defined]
        asyncio.set_event_loop_policy(Policy())
        try:
            with _clean_env():
                result = run_suite(Case)
        finally:
            asyncio.events._event_loop_policy = previous  # type: ignore[attr-defined]
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(len(made), 1)

    def test_spares_are_closed_at_exit_and_in_a_forked_child(self) -> None:
        loop = loops.resolve_loop_factory("asyncio")()
        loop.close()
        spares = list(selector_loop._spares)
        self.assertTrue(spares)
        selector_loop._close_spares()  # what atexit and a forked child run
        self.assertEqual(selector_loop._spares, [])
        for _selector, reading, writing, _attrs in spares:
            self.assertEqual(reading.fileno(), -1)
            self.assertEqual(writing.fileno(), -1)


@unittest.skipIf(sys.platform == "win32", "the default loop there is the proactor")
class LoopPlanTests(unittest.TestCase):
    """A loop made on reused plumbing is set up from a plan of asyncio's own constructors."""

    def _from_plan(self) -> asyncio.AbstractEventLoop:
        # A loop closed first leaves a spare; the next one is made on it, from the plan.
        loops.resolve_loop_factory("asyncio")().close()
        self.assertIsNotNone(selector_loop._plan, "no plan was learned on this Python")
        made_by_asyncio: list[object] = []
        real_init = asyncio.selector_events.BaseSelectorEventLoop.__init__

        def watched_init(loop: Any, *args: Any) -> None:
            made_by_asyncio.append(loop)
            real_init(loop, *args)

        with mock.patch.object(
            asyncio.selector_events.BaseSelectorEventLoop, "__init__", watched_init
        ):
            loop = loops.resolve_loop_factory("asyncio")()
        self.addCleanup(loop.close)
        self.assertEqual(made_by_asyncio, [], "the loop was made by asyncio's constructors")
        return loop

    def test_a_loop_from_the_plan_is_what_asyncio_makes(self) -> None:
        with _clean_env():
            first = self._from_plan()
            second = self._from_plan()
        reference = asyncio.SelectorEventLoop()
        self.addCleanup(reference.close)
        ours = {k: v for k, v in vars(first).items() if not k.startswith("_aiounit_")}
        # The same attributes, set in the same order as asyncio's constructors set them.
        self.assertEqual(list(ours), list(vars(reference)))
        for name, value in vars(reference).items():
            mine = ours[name]
            if name in ("_selector", "_ssock", "_csock"):
                self.assertIsNot(mine, value)  # plumbing of its own
            elif isinstance(value, (int, float, str, type(None))):
                self.assertEqual(mine, value, name)
            else:  # a container: empty, of asyncio's type, and not shared with another loop
                self.assertIs(type(mine), type(value), name)
                self.assertEqual(len(mine), 0, name)
                self.assertIsNot(mine, getattr(second, name), name)
        self.assertEqual(first.run_until_complete(asyncio.sleep(0, "ran")), "ran")

    def test_its_debug_mode_follows_the_environment_as_asyncio_does(self) -> None:
        with _clean_env(PYTHONASYNCIODEBUG="1"):
            self.assertTrue(self._from_plan().get_debug())
        with _clean_env():
            self.assertEqual(self._from_plan().get_debug(), bool(sys.flags.dev_mode))

    def test_a_value_the_plan_cannot_make_leaves_the_loops_to_asyncio(self) -> None:
        self.assertIsNotNone(selector_loop._plan_of({"_ready": collections.deque(), "_n": 0}))
        self.assertIsNone(selector_loop._plan_of({"_handle": object()}))
        self.assertIsNone(selector_loop._plan_of({"_ready": collections.deque([1])}))


class EmptyPollTests(unittest.TestCase):
    """aiounit's selector skips polls that cannot wait and have nothing to find."""

    def test_a_poll_that_cannot_wait_skips_the_wake_up_socket_alone(self) -> None:
        import socket

        selector = selector_loop.LoopSelector()
        reading, writing = socket.socketpair()
        self.addCleanup(selector.close)
        self.addCleanup(reading.close)
        self.addCleanup(writing.close)
        selector.register(reading, 1)
        writing.send(b"x")
        self.assertEqual(selector.select(0), [])  # skipped: only wake-up bytes there
        self.assertEqual(len(selector.select(0.5)), 1)  # a poll that may wait reads them
        selector.quiet = False  # a signal handler reads from it: never skipped
        self.assertEqual(len(selector.select(0)), 1)
        selector.quiet = True
        other, peer = socket.socketpair()
        self.addCleanup(other.close)
        self.addCleanup(peer.close)
        selector.register(other, 1)
        self.assertEqual(len(selector.select(0)), 1)  # more than one socket: polled

    def test_busy_tests_still_see_signals_sockets_and_threads(self) -> None:
        # Each test spins with sleep(0) (polls that cannot wait) until an event that only
        # a poll delivers; were the poll skipped wrongly, it would spin until its limit.
        import socket
        import threading

        async def spin_until(done: Any) -> None:
            while not done():
                await asyncio.sleep(0)

        class Case(aiounit.AsyncTestCase):
            timeout = 5

            async def test_signal_handler(self) -> None:
                loop = asyncio.get_running_loop()
                got: list[int] = []
                loop.add_signal_handler(signal.SIGUSR1, got.append, 1)
                self.addCleanup(loop.remove_signal_handler, signal.SIGUSR1)
                os.kill(os.getpid(), signal.SIGUSR1)
                await spin_until(lambda: got)

            async def test_socket_reader(self) -> None:
                loop = asyncio.get_running_loop()
                reading, writing = socket.socketpair()
                self.addCleanup(reading.close)
                self.addCleanup(writing.close)
                got: list[bytes] = []
                loop.add_reader(reading, lambda: got.append(reading.recv(10)))
                self.addCleanup(loop.remove_reader, reading)
                writing.send(b"ping")
                await spin_until(lambda: got)
                self.assertEqual(got, [b"ping"])

            async def test_call_soon_threadsafe(self) -> None:
                loop = asyncio.get_running_loop()
                got: list[str] = []
                thread = threading.Thread(
                    target=loop.call_soon_threadsafe, args=(got.append, "from a thread")
                )
                thread.start()
                await spin_until(lambda: got)
                thread.join()

        with _clean_env():
            result = run_suite(Case)
        self.assertEqual(result.testsRun, 3)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
