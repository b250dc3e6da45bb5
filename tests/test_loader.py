"""The loader: async def tests on a plain TestCase are reported (strict) or run (auto)."""

from __future__ import annotations

import asyncio
import inspect
import sys
import types
import unittest
import warnings
from typing import Any
from unittest import mock

import aiounit
from aiounit.errors import AiounitError
from aiounit.loader import AsyncTestInSyncCase, TestLoader, is_async_test
from aiounit.result import TestResult


def run(suite: unittest.TestSuite) -> TestResult:
    result = TestResult()
    with warnings.catch_warnings():
        # A coroutine that is never awaited would warn; strict mode must never call one.
        warnings.simplefilter("error")
        suite.run(result)
    return result


def make_plain_class(ran: list[str]) -> type[unittest.TestCase]:
    class PlainAsync(unittest.TestCase):
        setups = 0

        @classmethod
        def setUpClass(cls) -> None:
            cls.setups += 1

        def test_sync(self) -> None:
            ran.append("test_sync")

        async def test_async_passes(self) -> None:
            await asyncio.sleep(0)
            ran.append("test_async_passes")

        async def test_async_fails(self) -> None:
            await asyncio.sleep(0)
            ran.append("test_async_fails")
            self.assertEqual("awaited", "skipped")

    return PlainAsync


class StrictMode(unittest.TestCase):
    def test_strict_is_the_default(self) -> None:
        self.assertEqual(TestLoader().asyncio_mode, "strict")

    def test_async_tests_become_one_error_naming_the_class(self) -> None:
        ran: list[str] = []
        cls = make_plain_class(ran)
        suite = TestLoader().loadTestsFromTestCase(cls)
        tests = list(suite)
        self.assertIsInstance(tests[0], AsyncTestInSyncCase)
        self.assertEqual([t.id() for t in tests[1:]], [cls("test_sync").id()])
        result = run(suite)
        # The sync test still runs; the async ones never do.
        self.assertEqual(ran, ["test_sync"])
        [error] = [r for r in result.records if r.outcome == "error"]
        class_id = f"{cls.__module__}.{cls.__qualname__}"
        self.assertEqual(error.id, class_id)
        self.assertEqual(error.target, class_id)
        self.assertEqual(error.kind, "load")
        self.assertEqual(error.module, cls.__module__)
        self.assertEqual(error.description, f"{cls.__qualname__} ({class_id})")
        for text in (
            class_id,
            "test_async_fails, test_async_passes",
            "aiounit.AsyncTestCase",
            "--asyncio-mode auto",
            "cpython#112296",
            "[async-test-in-sync-case]",
        ):
            self.assertIn(text, error.message)
        self.assertIn("AiounitError", error.traceback)
        self.assertEqual(len(result.errors), 1)

    def test_the_error_keeps_the_class_fixtures_running_once(self) -> None:
        cls = make_plain_class([])
        run(TestLoader().loadTestsFromTestCase(cls))
        self.assertEqual(cls.setups, 1)

    def test_name_patterns_filter_before_the_check(self) -> None:
        ran: list[str] = []
        loader = TestLoader()
        loader.testNamePatterns = ["*test_sync*"]
        suite = loader.loadTestsFromTestCase(make_plain_class(ran))
        self.assertEqual([type(t).__name__ for t in suite], ["PlainAsync"])
        result = run(suite)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(ran, ["test_sync"])

    def test_a_single_async_method_loaded_by_name_is_reported(self) -> None:
        ran: list[str] = []
        module = types.ModuleType("fake_tests")
        module.PlainAsync = make_plain_class(ran)  # type: ignore[attr-defined]
        suite = TestLoader().loadTestsFromName("PlainAsync.test_async_passes", module)
        [test] = list(suite)
        self.assertIsInstance(test, AsyncTestInSyncCase)
        result = run(suite)
        self.assertEqual(ran, [])
        self.assertIn("(test_async_passes)", result.records[0].message)

    def test_a_sync_method_loaded_by_name_is_left_alone(self) -> None:
        ran: list[str] = []
        module = types.ModuleType("fake_tests")
        module.PlainAsync = make_plain_class(ran)  # type: ignore[attr-defined]
        suite = TestLoader().loadTestsFromName("PlainAsync.test_sync", module)
        self.assertTrue(run(suite).wasSuccessful())
        self.assertEqual(ran, ["test_sync"])

    def test_a_whole_module_is_checked_class_by_class(self) -> None:
        module = types.ModuleType("fake_tests")
        module.PlainAsync = make_plain_class([])  # type: ignore[attr-defined]

        class AllSync(unittest.TestCase):
            def test_fine(self) -> None:
                pass

        module.AllSync = AllSync  # type: ignore[attr-defined]
        result = run(TestLoader().loadTestsFromModule(module))
        self.assertEqual(sorted(r.outcome for r in result.records), ["error", "passed", "passed"])


class AutoMode(unittest.TestCase):
    def test_async_tests_run_and_report_their_own_outcome(self) -> None:
        ran: list[str] = []
        cls = make_plain_class(ran)
        suite = TestLoader(asyncio_mode="auto").loadTestsFromTestCase(cls)
        [converted] = {type(test) for test in suite}
        result = run(suite)
        self.assertEqual(sorted(ran), ["test_async_fails", "test_async_passes", "test_sync"])
        outcomes = {r.name: r.outcome for r in result.records}
        self.assertEqual(
            outcomes,
            {"test_async_fails": "failed", "test_async_passes": "passed", "test_sync": "passed"},
        )
        [failure] = [r for r in result.records if r.outcome == "failed"]
        self.assertEqual(failure.message.splitlines()[0], "AssertionError: 'awaited' != 'skipped'")
        # setUpClass ran once, on the converted class (its counter lands there).
        self.assertEqual(converted.setups, 1)  # type: ignore[attr-defined]

    def test_ids_do_not_change(self) -> None:
        cls = make_plain_class([])
        auto = [t.id() for t in TestLoader(asyncio_mode="auto").loadTestsFromTestCase(cls)]
        stock = [t.id() for t in unittest.TestLoader().loadTestsFromTestCase(cls)]
        self.assertEqual(auto, stock)

    def test_a_class_is_converted_once_per_loader(self) -> None:
        cls = make_plain_class([])
        loader = TestLoader(asyncio_mode="auto")
        first = {type(t) for t in loader.loadTestsFromTestCase(cls)}
        second = {type(t) for t in loader.loadTestsFromTestCase(cls)}
        self.assertEqual(first, second)
        [converted] = first
        self.assertTrue(issubclass(converted, cls))
        self.assertTrue(issubclass(converted, aiounit.AsyncTestCase))

    def test_a_single_async_method_loaded_by_name_runs(self) -> None:
        ran: list[str] = []
        module = types.ModuleType("fake_tests")
        module.PlainAsync = make_plain_class(ran)  # type: ignore[attr-defined]
        loader = TestLoader(asyncio_mode="auto")
        result = run(loader.loadTestsFromName("PlainAsync.test_async_passes", module))
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(ran, ["test_async_passes"])

    def test_a_bad_mode_is_an_error_naming_the_choices(self) -> None:
        loader = TestLoader(asyncio_mode="sometimes")
        with self.assertRaises(AiounitError) as caught:
            loader.loadTestsFromTestCase(make_plain_class([]))
        message = str(caught.exception)
        self.assertIn("'sometimes'", message)
        self.assertIn("strict, auto", message)
        self.assertTrue(message.endswith("[bad-asyncio-mode]"))


class ClassesThatRunTheirOwnTests(unittest.TestCase):
    def assert_untouched(self, cls: type[unittest.TestCase]) -> None:
        for mode in ("strict", "auto"):
            with self.subTest(mode=mode):
                suite = TestLoader(asyncio_mode=mode).loadTestsFromTestCase(cls)
                self.assertEqual({type(t) for t in suite}, {cls})

    def test_async_test_case_is_untouched(self) -> None:
        class Ours(aiounit.AsyncTestCase):
            async def test_a(self) -> None:
                pass

        self.assert_untouched(Ours)

    def test_isolated_asyncio_test_case_is_untouched(self) -> None:
        class Stdlib(unittest.IsolatedAsyncioTestCase):
            async def test_a(self) -> None:
                pass

        self.assert_untouched(Stdlib)

    def test_a_class_with_its_own_test_calling_is_untouched(self) -> None:
        class OwnRunner(unittest.TestCase):
            def _callTestMethod(self, method: Any) -> None:
                asyncio.run(method())

            async def test_a(self) -> None:
                pass

        self.assert_untouched(OwnRunner)
        self.assertTrue(run(TestLoader().loadTestsFromTestCase(OwnRunner)).wasSuccessful())


class AsyncDetection(unittest.TestCase):
    def test_async_functions_are_found_with_or_without_inspect(self) -> None:
        async def coroutine_function() -> None:
            pass

        def plain_function() -> None:
            pass

        for inspect_loaded in (True, False):
            with self.subTest(inspect_loaded=inspect_loaded), mock.patch.dict(sys.modules):
                if not inspect_loaded:
                    del sys.modules["inspect"]
                self.assertTrue(is_async_test(coroutine_function))
                self.assertFalse(is_async_test(plain_function))
                self.assertFalse(is_async_test(None))
                self.assertFalse(is_async_test("test_name"))

    @unittest.skipUnless(hasattr(inspect, "markcoroutinefunction"), "Python 3.12+")
    def test_functions_marked_as_coroutine_functions_count(self) -> None:
        def marked() -> Any:
            return asyncio.sleep(0)

        mark = inspect.markcoroutinefunction  # type: ignore[attr-defined,unused-ignore]
        self.assertTrue(is_async_test(mark(marked)))


if __name__ == "__main__":
    unittest.main()
