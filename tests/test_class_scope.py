"""Class fixtures and the class loop scope: order, shared loop, task ownership, failures."""

from __future__ import annotations

import asyncio
import contextvars
import unittest
from typing import Any

import aiounit
from tests.support import messages, outcomes, run_suite

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


class ClassHookOrderTests(unittest.TestCase):
    def test_order_and_one_loop_from_setUpClass_to_class_cleanups(self) -> None:
        events: list[str] = []
        loops: list[asyncio.AbstractEventLoop] = []

        def note(name: str) -> None:
            events.append(name)
            loops.append(asyncio.get_event_loop())

        class Case(aiounit.AsyncTestCase):
            @classmethod
            def setUpClass(cls) -> None:
                note("setUpClass")

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                note("asyncSetUpClass")
                cls.addClassCleanup(note, "class cleanup sync")
                cls.addAsyncClassCleanup(cls.async_note, "class cleanup async")
                await cls.enterAsyncClassContext(ClassResource(note))

            @classmethod
            async def async_note(cls, name: str) -> None:
                await asyncio.sleep(0)
                note(name)

            async def asyncSetUp(self) -> None:
                note(f"asyncSetUp {self._testMethodName}")

            async def test_a(self) -> None:
                note("test_a")

            def test_b(self) -> None:
                note("test_b")

            @classmethod
            async def asyncTearDownClass(cls) -> None:
                note("asyncTearDownClass")

            @classmethod
            def tearDownClass(cls) -> None:
                note("tearDownClass")

        result = run_suite(Case)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(
            events,
            [
                "setUpClass",
                "asyncSetUpClass",
                "resource enter",
                "asyncSetUp test_a",
                "test_a",
                "asyncSetUp test_b",
                "test_b",
                "asyncTearDownClass",
                "tearDownClass",
                "resource exit",
                "class cleanup async",
                "class cleanup sync",
            ],
        )
        self.assertTrue(
            all(loop is loops[0] for loop in loops), "class hooks and tests ran on several loops"
        )
        self.assertTrue(loops[0].is_closed())

    def test_setUpClass_without_super_still_runs_the_async_class_hook(self) -> None:
        events: list[str] = []

        class Base(aiounit.AsyncTestCase):
            @classmethod
            async def asyncSetUpClass(cls) -> None:
                events.append(f"asyncSetUpClass {cls.__name__}")

        class NoSuper(Base):
            @classmethod
            def setUpClass(cls) -> None:  # does not call super(), as many suites do
                events.append("NoSuper.setUpClass")

            async def test_it(self) -> None:
                pass

        class WithSuper(Base):
            @classmethod
            def setUpClass(cls) -> None:
                events.append("WithSuper.setUpClass before super")
                super().setUpClass()
                events.append("WithSuper.setUpClass after super")

            async def test_it(self) -> None:
                pass

        result = run_suite(NoSuper, WithSuper)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(
            events,
            [
                "NoSuper.setUpClass",
                "asyncSetUpClass NoSuper",
                "WithSuper.setUpClass before super",
                "WithSuper.setUpClass after super",
                "asyncSetUpClass WithSuper",
            ],
        )

    def test_loop_scope_class_without_class_hooks_shares_the_loop(self) -> None:
        loops: list[asyncio.AbstractEventLoop] = []

        class Case(aiounit.AsyncTestCase):
            loop_scope = "class"

            async def test_a(self) -> None:
                loops.append(asyncio.get_running_loop())

            async def test_b(self) -> None:
                loops.append(asyncio.get_running_loop())

        self.assertTrue(run_suite(Case).wasSuccessful())
        self.assertEqual(len(loops), 2)
        self.assertIs(loops[0], loops[1])

    def test_each_subclass_gets_its_own_loop_and_fixture_run(self) -> None:
        runs: list[tuple[str, asyncio.AbstractEventLoop]] = []

        class Base(aiounit.AsyncTestCase):
            @classmethod
            async def asyncSetUpClass(cls) -> None:
                runs.append((cls.__name__, asyncio.get_running_loop()))

            async def test_it(self) -> None:
                self.assertIs(asyncio.get_running_loop(), runs[-1][1])

        class Child(Base):
            pass

        result = run_suite(Base, Child)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual([name for name, _ in runs], ["Base", "Child"])
        self.assertIsNot(runs[0][1], runs[1][1])


class ClassResource:
    def __init__(self, note: Any) -> None:
        self.note = note

    async def __aenter__(self) -> ClassResource:
        self.note("resource enter")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.note("resource exit")


class TaskOwnershipTests(unittest.TestCase):
    def test_tasks_of_a_test_end_with_it_and_class_tasks_live_on(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            checks = {"leaked-task": "off"}  # leaking is the point here; test_checks reports it

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.ticks = 0
                cls.ticker = asyncio.create_task(cls.tick())

            @classmethod
            async def tick(cls) -> None:
                try:
                    while True:
                        cls.ticks += 1
                        await asyncio.sleep(0)
                except asyncio.CancelledError:
                    events.append("class task cancelled")
                    raise

            async def test_1_leaves_a_task(self) -> None:
                async def forgotten() -> None:
                    try:
                        await asyncio.sleep(3600)
                    except asyncio.CancelledError:
                        events.append("test task cancelled")
                        raise

                asyncio.create_task(forgotten())
                await asyncio.sleep(0)

            async def test_2_sees_a_clean_loop(self) -> None:
                events.append("test_2")
                others = asyncio.all_tasks() - {asyncio.current_task(), self.ticker}
                self.assertEqual(others, set())
                before = self.ticks
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                self.assertGreater(self.ticks, before, "the class task stopped")

        result = run_suite(Case)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(events, ["test task cancelled", "test_2", "class task cancelled"])

    def test_a_class_server_keeps_its_connection_handlers_across_tests(self) -> None:
        class Case(aiounit.AsyncTestCase):
            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.handler_done = asyncio.Event()
                cls.server = await asyncio.start_server(cls.echo, "127.0.0.1", 0)
                cls.addAsyncClassCleanup(cls.server.wait_closed)
                cls.addClassCleanup(cls.server.close)
                port = cls.server.sockets[0].getsockname()[1]
                cls.reader, cls.writer = await asyncio.open_connection("127.0.0.1", port)
                # Python 3.11's wait_closed() does not wait for handlers: wait ourselves.
                cls.addAsyncClassCleanup(cls.handler_done.wait)
                cls.addClassCleanup(cls.writer.close)

            @classmethod
            async def echo(cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                while line := await reader.readline():
                    writer.write(line)
                    await writer.drain()
                writer.close()
                await writer.wait_closed()
                cls.handler_done.set()

            async def roundtrip(self, text: bytes) -> bytes:
                self.writer.write(text + b"\n")
                return await self.reader.readline()

            async def test_1(self) -> None:
                self.assertEqual(await self.roundtrip(b"one"), b"one\n")

            async def test_2(self) -> None:
                # The handler task started while test_1 ran; it belongs to the server.
                self.assertEqual(await self.roundtrip(b"two"), b"two\n")

        result = run_suite(Case)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))

    def test_context_of_the_class_reaches_tests_but_tests_stay_apart(self) -> None:
        seen: list[str] = []

        class Case(aiounit.AsyncTestCase):
            @classmethod
            async def asyncSetUpClass(cls) -> None:
                VAR.set("from class")

            async def test_1(self) -> None:
                seen.append(VAR.get())
                VAR.set("from test_1")

            async def test_2(self) -> None:
                seen.append(VAR.get())

        self.assertTrue(run_suite(Case).wasSuccessful())
        self.assertEqual(seen, ["from class", "from class"])


class ClassFailureTests(unittest.TestCase):
    def test_asyncSetUpClass_failure_is_a_setUpClass_error_and_cleanups_still_run(self) -> None:
        events: list[str] = []
        loops: list[asyncio.AbstractEventLoop] = []

        class Case(aiounit.AsyncTestCase):
            @classmethod
            async def asyncSetUpClass(cls) -> None:
                loops.append(asyncio.get_running_loop())
                cls.addAsyncClassCleanup(cls.cleanup)
                raise ConnectionError("database is down")

            @classmethod
            async def cleanup(cls) -> None:
                events.append("class cleanup")

            async def test_it(self) -> None:
                events.append("test ran")

        result = run_suite(Case)
        self.assertEqual(events, ["class cleanup"])
        self.assertEqual(result.testsRun, 0)
        self.assertEqual(len(result.errors), 1)
        self.assertIn("setUpClass", str(result.errors[0][0]))
        self.assertIn("Case", str(result.errors[0][0]))
        self.assertIn("ConnectionError: database is down", result.errors[0][1])
        self.assertTrue(loops[0].is_closed())

    def test_asyncTearDownClass_failure_skips_tearDownClass_not_cleanups(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            loop_scope = "class"

            @classmethod
            def setUpClass(cls) -> None:
                cls.addClassCleanup(events.append, "class cleanup")

            @classmethod
            async def asyncTearDownClass(cls) -> None:
                raise RuntimeError("teardown broke")

            @classmethod
            def tearDownClass(cls) -> None:
                events.append("tearDownClass")

            async def test_it(self) -> None:
                pass

        result = run_suite(Case)
        self.assertEqual(events, ["class cleanup"])
        self.assertEqual(len(result.errors), 1)
        self.assertIn("tearDownClass", str(result.errors[0][0]))
        self.assertIn("RuntimeError: teardown broke", result.errors[0][1])

    def test_class_cleanup_errors_are_reported(self) -> None:
        class Case(aiounit.AsyncTestCase):
            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.addAsyncClassCleanup(cls.broken)

            @classmethod
            async def broken(cls) -> None:
                raise OSError("cleanup broke")

            async def test_it(self) -> None:
                pass

        result = run_suite(Case)
        self.assertEqual(result.testsRun, 1)
        self.assertEqual(len(result.errors), 1)
        self.assertIn("OSError: cleanup broke", result.errors[0][1])

    def test_async_class_cleanup_of_a_test_scope_class(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            @classmethod
            def setUpClass(cls) -> None:
                cls.addAsyncClassCleanup(cls.cleanup)

            @classmethod
            async def cleanup(cls) -> None:
                await asyncio.sleep(0)
                events.append("async class cleanup")

            async def test_it(self) -> None:
                pass

        result = run_suite(Case)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(events, ["async class cleanup"])

    def test_class_scope_test_run_on_its_own(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_scope = "class"

            async def test_it(self) -> None:
                await asyncio.sleep(0)

        result = Case("test_it").run()
        assert result is not None
        self.assertTrue(result.wasSuccessful())


class ClassSettingsTests(unittest.TestCase):
    def test_test_scope_with_asyncSetUpClass_is_rejected_when_defined(self) -> None:
        with self.assertRaises(aiounit.LoopScopeError) as caught:

            class MyTests(aiounit.AsyncTestCase):
                loop_scope = "test"

                @classmethod
                async def asyncSetUpClass(cls) -> None:
                    pass

        text = str(caught.exception)
        self.assertIn("MyTests defines asyncSetUpClass but sets loop_scope='test'", text)
        self.assertIn("Remove loop_scope", text)
        self.assertTrue(text.endswith("[class-hook-needs-class-scope]"), text)

    def test_bad_settings_are_rejected_when_defined(self) -> None:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"loop_scope": "module"}, "loop_scope='module', which is not a loop scope"),
            ({"loop_debug": "yes"}, "loop_debug='yes'"),
            ({"loop_factory": 42}, "loop_factory=42, which is not callable"),
        ]
        for namespace, expected in cases:
            with self.subTest(namespace=namespace):
                with self.assertRaisesRegex(aiounit.LoopScopeError, expected):
                    type("Bad", (aiounit.AsyncTestCase,), namespace)

    def test_implied_class_scope_is_reported_in_outcomes(self) -> None:
        class Case(aiounit.AsyncTestCase):
            @classmethod
            async def asyncSetUpClass(cls) -> None:
                pass

            async def test_fails(self) -> None:
                self.fail("expected")

        self.assertEqual(Case._aiounit_scope_name(), "class")
        self.assertEqual(outcomes(run_suite(Case)), {"test_fails": "failure"})
