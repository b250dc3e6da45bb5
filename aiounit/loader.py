"""TestLoader: unittest's loader that also finds async tests a plain TestCase would not run."""

from __future__ import annotations

import sys
import unittest

from aiounit.errors import AiounitError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ASYNCIO_MODES", "AsyncTestInSyncCase", "TestLoader", "is_async_test"]

# The error test raised below is not the user's code: keep its frames out of tracebacks.
__unittest = True

#: The accepted values of ``--asyncio-mode``.
ASYNCIO_MODES = ("strict", "auto")

# CO_COROUTINE from inspect: the code flag of an `async def` function.
_CO_COROUTINE = 0x0080

# Methods a TestCase subclass overrides when it runs coroutine tests itself
# (IsolatedAsyncioTestCase, AsyncTestCase and third-party async cases all do).
_RUNNER_HOOKS = ("_callTestMethod", "run", "__getattribute__")


def is_async_test(func: object) -> bool:
    """Whether ``func`` is an ``async def`` function (or marked as one)."""
    inspect = sys.modules.get("inspect")
    if inspect is not None:
        return bool(inspect.iscoroutinefunction(func))
    # inspect is costly to import at start-up; until something imported it, nothing can
    # have marked a function with inspect.markcoroutinefunction, so the code flag decides.
    code = getattr(func, "__code__", None)
    return code is not None and bool(code.co_flags & _CO_COROUTINE)


def _runs_coroutines(cls: type[unittest.TestCase]) -> bool:
    """Whether ``cls`` changes how tests are called, as async test cases do."""
    return any(getattr(cls, hook) is not getattr(unittest.TestCase, hook) for hook in _RUNNER_HOOKS)


class AsyncTestInSyncCase(unittest.TestCase):
    """Stands in a suite for the async tests of a plain ``unittest.TestCase`` class.

    Loaded in ``strict`` mode: running it reports an error that names the class and
    says how to fix it, instead of the tests passing without running (cpython#112296).
    """

    def __init__(self, cls: type[unittest.TestCase], names: list[str]) -> None:
        # Not "runTest" nor "test*": a loader given this class (a module that imports
        # it) must find no test in it.
        super().__init__("_aiounit_report")
        self._aiounit_target = f"{cls.__module__}.{cls.__qualname__}"
        self._aiounit_module = cls.__module__
        self._aiounit_class_name = cls.__qualname__
        self._aiounit_names = list(names)

    def id(self) -> str:
        """The dotted name of the class, so ``--last-failed`` selects the class again."""
        return self._aiounit_target

    def __str__(self) -> str:
        return f"{self._aiounit_class_name} ({self._aiounit_target})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._aiounit_target == other._aiounit_target

    def __hash__(self) -> int:
        return hash((type(self), self._aiounit_target))

    def shortDescription(self) -> None:
        """No docstring line: the description names the class."""
        return None

    def _aiounit_report(self) -> None:
        """Raise the error that explains why the class's async tests cannot run."""
        names = ", ".join(self._aiounit_names)
        raise AiounitError(
            f"{self._aiounit_target} has async def tests ({names}) but derives from "
            "unittest.TestCase, which calls them without awaiting: they would pass without "
            "running (cpython#112296). Derive the class from aiounit.AsyncTestCase (or "
            "unittest.IsolatedAsyncioTestCase), or run with --asyncio-mode auto to run them "
            "on a fresh event loop per test",
            slug="async-test-in-sync-case",
        )


class TestLoader(unittest.TestLoader):
    """A ``unittest.TestLoader`` that handles ``async def`` tests on plain TestCase classes.

    ``asyncio_mode`` decides what happens to them: ``"strict"`` (the default) loads one
    :class:`AsyncTestInSyncCase` error per class in their place (its other tests still
    run); ``"auto"`` loads the class as if it derived from :class:`aiounit.AsyncTestCase`,
    via :func:`aiounit.case.as_async_case`, so each async test runs on a fresh loop.
    Classes that run their tests themselves (``IsolatedAsyncioTestCase``,
    ``AsyncTestCase``, any class overriding ``run``, ``_callTestMethod`` or
    ``__getattribute__``) are loaded unchanged, except that the tests of a concurrent
    class (``concurrent = True``, or ``--concurrent``) come in a
    :class:`aiounit.concurrent_run.ConcurrentSuite`, which runs them at the same time.
    """

    asyncio_mode = "strict"

    def __init__(self, asyncio_mode: str | None = None) -> None:
        super().__init__()
        if asyncio_mode is not None:
            self.asyncio_mode = asyncio_mode
        self._aiounit_converted: dict[type[unittest.TestCase], type[unittest.TestCase]] = {}

    def loadTestsFromTestCase(self, testCaseClass: type[unittest.TestCase]) -> unittest.TestSuite:
        """Load the tests of a class, handling its async tests as ``asyncio_mode`` says."""
        if not _is_plain_case(testCaseClass):
            suite = super().loadTestsFromTestCase(testCaseClass)
            concurrency = getattr(testCaseClass, "_aiounit_concurrency", None)
            limit = concurrency() if concurrency is not None else 0
            if limit and suite.countTestCases() > 1:
                from aiounit.concurrent_run import ConcurrentSuite

                return ConcurrentSuite(list(suite), limit=limit)
            return suite
        names = self.getTestCaseNames(testCaseClass)
        async_names = [n for n in names if is_async_test(getattr(testCaseClass, n, None))]
        if not async_names:
            return super().loadTestsFromTestCase(testCaseClass)
        if self._aiounit_mode() == "auto":
            return super().loadTestsFromTestCase(self._aiounit_convert(testCaseClass))
        error = AsyncTestInSyncCase(testCaseClass, async_names)
        sync = [testCaseClass(name) for name in names if name not in async_names]
        # The error comes first: placed between the class's tests it would make the
        # suite tear the class's fixtures down and set them up again.
        return self.suiteClass([error, *sync])

    def loadTestsFromName(self, name: str, module: Any = None) -> unittest.TestSuite:
        """Load tests from a dotted name; a single async method is handled as above."""
        suite = super().loadTestsFromName(name, module)
        tests = list(suite) if type(suite) is self.suiteClass else []
        if len(tests) != 1 or not isinstance(tests[0], unittest.TestCase):
            return suite
        test = tests[0]
        cls = type(test)
        method_name: str = test._testMethodName
        method = getattr(cls, method_name, None)
        if not _is_plain_case(cls) or not is_async_test(method):
            return suite
        if self._aiounit_mode() == "auto":
            return self.suiteClass([self._aiounit_convert(cls)(method_name)])
        return self.suiteClass([AsyncTestInSyncCase(cls, [method_name])])

    def _aiounit_mode(self) -> str:
        mode = self.asyncio_mode
        if mode not in ASYNCIO_MODES:
            raise AiounitError(
                f"asyncio_mode {mode!r} of {type(self).__qualname__} is not one of "
                f"{', '.join(ASYNCIO_MODES)}. Use 'strict' to report async tests on plain "
                "TestCase classes, or 'auto' to run them",
                slug="bad-asyncio-mode",
            )
        return mode

    def _aiounit_convert(self, cls: type[unittest.TestCase]) -> type[unittest.TestCase]:
        # One converted class per original, so its class fixtures run once per run even
        # when the class is loaded twice (by name and by module).
        converted = self._aiounit_converted.get(cls)
        if converted is None:
            from aiounit.case import as_async_case  # imports asyncio: only when needed

            converted = as_async_case(cls)
            self._aiounit_converted[cls] = converted
        return converted


def _is_plain_case(cls: type) -> bool:
    return (
        isinstance(cls, type)
        and issubclass(cls, unittest.TestCase)
        and not issubclass(cls, AsyncTestInSyncCase)
        and not _runs_coroutines(cls)
    )
