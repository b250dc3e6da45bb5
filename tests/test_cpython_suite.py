"""CPython's own tests of IsolatedAsyncioTestCase, run against aiounit.AsyncTestCase."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import unittest
from types import ModuleType
from typing import Any
from unittest import async_case, mock

import aiounit
from tests.support import run_suite

# Where the interpreter keeps the tests of unittest.IsolatedAsyncioTestCase: they moved
# from unittest/test/ to test/test_unittest/ in Python 3.12.
CPYTHON_MODULE = (
    "unittest.test.test_async_case"
    if sys.version_info < (3, 12)
    else "test.test_unittest.test_async_case"
)
# The module imports test.support, which distributions may strip together with the tests.
_SUPPORT_MODULE = "test.support"
# CI sets this so that a stripped interpreter fails the build instead of skipping quietly.
REQUIRE_ENV = "AIOUNIT_REQUIRE_CPYTHON_TESTS"


def _tests_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() == "1"


def _package_prefixes(dotted: str) -> set[str]:
    parts = dotted.split(".")
    return {".".join(parts[: i + 1]) for i in range(len(parts))}


class _LoopStateSnapshot:
    """The process-wide asyncio state that the CPython module changes on purpose.

    Its ``tearDownModule`` resets the event loop policy, and some of its tests call
    ``asyncio.set_event_loop(None)``. Under CPython's regrtest each test module runs
    alone, so that is harmless there; here it would change what sync
    ``asyncio.get_event_loop()`` does in the tests that run after it.
    """

    def __init__(self) -> None:
        # Read the module global, not get_event_loop_policy(): that would create a
        # policy when there is none, which is itself a change of state.
        self.policy = getattr(asyncio.events, "_event_loop_policy", None)
        local = getattr(self.policy, "_local", None)
        self.local = local
        self.loop = getattr(local, "_loop", None)
        self.set_called = getattr(local, "_set_called", None)

    def restore(self) -> None:
        """Put the policy and the thread's current loop back as they were captured."""
        if getattr(asyncio.events, "_event_loop_policy", None) is not self.policy:
            # set_event_loop_policy() is deprecated from 3.14, where the private
            # setter exists and does the same without the warning.
            setter = getattr(asyncio.events, "_set_event_loop_policy", None)
            if setter is None:
                setter = asyncio.set_event_loop_policy
            setter(self.policy)
        if self.local is not None:
            # The thread-local of the default policy (3.11 to 3.13) holds the current
            # loop and whether set_event_loop() was called; both decide what
            # get_event_loop() does, so both go back as they were.
            self.local._loop = self.loop
            if self.set_called is not None:
                self.local._set_called = self.set_called


def _import_fresh(name: str) -> tuple[ModuleType | None, str]:
    """Import ``name`` anew; return it, or None and why it is not available."""
    sys.modules.pop(name, None)
    try:
        return importlib.import_module(name), ""
    except ModuleNotFoundError as exc:
        missing = _package_prefixes(name) | _package_prefixes(_SUPPORT_MODULE)
        if exc.name not in missing:
            raise  # Installed but broken: that is a real error, not a stripped package.
        return None, f"module {exc.name!r} is not installed ({exc})"
    except unittest.SkipTest as exc:
        # test.support skips the whole module on platforms without working sockets.
        return None, f"the module skips itself on this platform: {exc}"


def _describe(rows: list[tuple[unittest.TestCase, str]]) -> str:
    return "\n".join(f"--- {test.id()}\n{text}" for test, text in rows)


class CPythonAsyncCaseSuiteTests(unittest.TestCase):
    """The stdlib's tests of IsolatedAsyncioTestCase pass with AsyncTestCase in its place."""

    def test_cpython_tests_pass_with_async_test_case(self) -> None:
        created: list[type[Any]] = []
        original_setup = aiounit.AsyncTestCase._setupAsyncioRunner

        def counting_setup(case: aiounit.AsyncTestCase) -> None:
            created.append(type(case))
            original_setup(case)

        snapshot = _LoopStateSnapshot()
        try:
            # The module defines its test classes inside the test methods, reading
            # unittest.IsolatedAsyncioTestCase as they run: the swap must last for
            # loading and running alike, and must end even when the run fails.
            with (
                mock.patch.object(unittest, "IsolatedAsyncioTestCase", aiounit.AsyncTestCase),
                mock.patch.object(aiounit.AsyncTestCase, "_setupAsyncioRunner", counting_setup),
            ):
                module, reason = _import_fresh(CPYTHON_MODULE)
                if module is None:
                    self._unavailable(reason)
                    return
                suite = unittest.defaultTestLoader.loadTestsFromModule(module)
                loaded = suite.countTestCases()
                result = unittest.TestResult()
                suite.run(result)
        finally:
            sys.modules.pop(CPYTHON_MODULE, None)
            snapshot.restore()

        self.assertGreater(loaded, 0, f"{CPYTHON_MODULE} contains no tests")
        self.assertEqual(result.failures, [], f"failures:\n{_describe(result.failures)}")
        self.assertEqual(result.errors, [], f"errors:\n{_describe(result.errors)}")
        self.assertEqual(
            [test.id() for test, _ in result.skipped], [], "these CPython tests were skipped"
        )
        self.assertEqual(result.unexpectedSuccesses, [])
        self.assertEqual(result.expectedFailures, [])
        self.assertEqual(result.testsRun, loaded, "some loaded tests did not run")
        # Without this the test would pass vacuously should CPython stop reading the
        # class through unittest.IsolatedAsyncioTestCase: it would test the stdlib.
        self.assertTrue(created, f"{CPYTHON_MODULE} never ran an aiounit.AsyncTestCase")
        self.assertIs(unittest.IsolatedAsyncioTestCase, async_case.IsolatedAsyncioTestCase)

    def _unavailable(self, reason: str) -> None:
        message = (
            f"CPython's tests of IsolatedAsyncioTestCase ({CPYTHON_MODULE}) cannot be "
            f"loaded by {sys.executable}: {reason}. Some distributions ship them in a "
            "separate package (Debian and Ubuntu: libpython3.X-testsuite); pyenv and "
            "python.org builds include them."
        )
        if _tests_required():
            self.fail(f"{message} {REQUIRE_ENV}=1 requires them.")
        self.skipTest(f"{message} Set {REQUIRE_ENV}=1 to make this a failure.")


class LoopStateSnapshotTests(unittest.TestCase):
    """The snapshot puts back exactly what the CPython module changes."""

    def test_policy_reset_and_current_loop_are_restored(self) -> None:
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        outer = _LoopStateSnapshot()
        self.addCleanup(outer.restore)
        asyncio.set_event_loop(loop)
        snapshot = _LoopStateSnapshot()
        policy = snapshot.policy
        self.assertIsNotNone(policy)

        # What the CPython module does: set_event_loop(None), then reset the policy.
        asyncio.set_event_loop(None)
        setter = getattr(asyncio.events, "_set_event_loop_policy", asyncio.set_event_loop_policy)
        setter(None)
        snapshot.restore()

        self.assertIs(getattr(asyncio.events, "_event_loop_policy", None), policy)
        self.assertIs(asyncio.get_event_loop(), loop)


class RequirementSwitchTests(unittest.TestCase):
    """Without the CPython tests the check skips, or fails when CI requires them."""

    def run_without_cpython_tests(self, required: str | None) -> unittest.TestResult:
        env = {} if required is None else {REQUIRE_ENV: required}
        with (
            mock.patch(f"{__name__}.CPYTHON_MODULE", "test.aiounit_no_such_module"),
            mock.patch.dict(os.environ, env),
        ):
            if required is None:
                os.environ.pop(REQUIRE_ENV, None)
            return run_suite(
                CPythonAsyncCaseSuiteTests("test_cpython_tests_pass_with_async_test_case")
            )

    def test_skips_when_not_required(self) -> None:
        result = self.run_without_cpython_tests(None)
        self.assertEqual(result.failures + result.errors, [])
        self.assertEqual(len(result.skipped), 1)
        reason = result.skipped[0][1]
        self.assertIn("'test.aiounit_no_such_module' is not installed", reason)
        self.assertIn(f"Set {REQUIRE_ENV}=1 to make this a failure", reason)

    def test_fails_when_required(self) -> None:
        result = self.run_without_cpython_tests("1")
        self.assertEqual(result.skipped, [])
        self.assertEqual(len(result.failures), 1)
        self.assertIn(f"{REQUIRE_ENV}=1 requires them", result.failures[0][1])
