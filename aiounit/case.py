"""AsyncTestCase: a unittest.TestCase whose async hooks and tests run on a loop it owns."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import os
import sys
import unittest
import warnings
import weakref
from collections.abc import Callable, Mapping
from types import EllipsisType
from typing import Any, ClassVar, Literal, TypeVar

from aiounit import interrupts
from aiounit.clock import VirtualClock, method_mode, mode_for
from aiounit.concurrent_scope import scope_for
from aiounit.config import parse_concurrent
from aiounit.errors import ConfigurationError, LoopScopeError
from aiounit.hygiene import CheckError, CheckWarning, Finding, Level, levels_for
from aiounit.loops import LoopFactory, resolve_loop_factory
from aiounit.monitor import TestMonitor
from aiounit.scope import BorrowedScope, LoopScope, StepSource, as_coroutine
from aiounit.threads import ThreadWatch
from aiounit.timeouts import (
    LoopBlockedInterrupt,
    TestTimeoutError,
    TimeoutJob,
    timeout_for,
)

__all__ = ["AsyncTestCase", "as_async_case"]

# Frames of this module sit between the user's code and the loop: hide them from
# failure tracebacks so a failure points at the test.
__unittest = True

LoopScopeName = Literal["test", "class"]
_SCOPES = ("test", "class")
_T = TypeVar("_T")
_C = TypeVar("_C", bound=type[unittest.TestCase])

# An entry of unittest's cleanup stacks: the function, its args and kwargs.
_Cleanup = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

# Marks the class-hook wrappers installed by __init_subclass__, so a hook is wrapped once.
_WRAPPED = "_aiounit_class_hook"


_CO_COROUTINE = inspect.CO_COROUTINE


# What calling a hook gives: _PLAIN for an `async def` function or method, which makes the
# coroutine without running any of its code; _OTHER for another callable that returns a
# coroutine (inspect says so); _SYNC for the rest.
_SYNC, _OTHER, _PLAIN = 0, 1, 2


def _coroutine_kind(func: Any) -> int:
    # inspect.iscoroutinefunction() costs microseconds per call, and it runs for every
    # hook of every test: read the code flags of plain functions and methods directly.
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    if code is not None and type(func).__name__ in ("function", "method"):
        return _PLAIN if code.co_flags & _CO_COROUTINE else _SYNC
    return _OTHER if inspect.iscoroutinefunction(func) else _SYNC


def _new_coroutine(func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Call ``func``, a plain ``async def`` function, without tracking the coroutine's origin.

    Calling it runs none of its code. The coroutines aiounit makes itself (the test's,
    its hooks') are always awaited, and their origin would be aiounit's own lines, which
    are the costly part of tracking per test: only coroutines of the test's code are
    tracked, for the unawaited-coroutine check.
    """
    depth = _get_origin_depth()
    if not depth:
        return func(*args, **kwargs)
    _set_origin_depth(0)
    try:
        return func(*args, **kwargs)
    finally:
        _set_origin_depth(depth)


_get_origin_depth = sys.get_coroutine_origin_tracking_depth
_set_origin_depth = sys.set_coroutine_origin_tracking_depth


def _static_lookup(cls: type, name: str) -> Any:
    # Reads a class attribute without binding it: `loop_factory = some_function` must
    # stay a plain function, not become a method of the test.
    for klass in cls.__mro__:
        if name in vars(klass):
            value = vars(klass)[name]
            if isinstance(value, staticmethod):
                return value.__func__
            return value
    return None


def _overrides(cls: type, name: str) -> bool:
    """Whether ``cls`` replaces AsyncTestCase's own (no-op) hook ``name``."""
    # Looked up on every test rather than cached at class creation, so a hook patched
    # onto the class later (mock.patch.object) is still seen; getattr hits the type cache.
    attr = getattr(cls, name)
    return getattr(attr, "__func__", attr) is not _DEFAULT_HOOKS[name]


class _ClassState:
    """What a class with async class hooks keeps between setUpClass and doClassCleanups."""

    def __init__(self, scope: LoopScope | None) -> None:
        self.scope = scope
        self.context = contextvars.copy_context()
        self.depth = 0
        # A scope for async class cleanups of a class that has no class loop.
        self.cleanup_scope: LoopScope | None = None

    def loop_scope(self, cls: type[AsyncTestCase]) -> LoopScope:
        if self.scope is not None:
            return self.scope
        if self.cleanup_scope is None:
            self.cleanup_scope = cls._aiounit_new_scope()
        return self.cleanup_scope

    def call(
        self, cls: type[AsyncTestCase], func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        name = getattr(func, "__qualname__", repr(func))
        with _time_limit(cls, name, func, lambda: self.scope or self.cleanup_scope):
            result = self.context.run(func, *args, **kwargs)
            if inspect.isawaitable(result):
                return self.loop_scope(cls).run(result, context=self.context)
            return result

    def close(self, cls: type[AsyncTestCase]) -> None:
        for scope in (self.scope, self.cleanup_scope):
            if scope is not None:
                with _time_limit(cls, "closing the class loop", None, lambda: scope):  # noqa: B023
                    scope.close()


def _time_limit(
    cls: type[AsyncTestCase], what: str, method: object, scope: Callable[[], Any]
) -> _TimeoutGuard:
    """Run a class hook or class cleanup under the class's time limit."""
    seconds, source = timeout_for(method, _static_lookup(cls, "timeout"), cls.__qualname__)
    steps = _ClassSteps(scope)
    return _TimeoutGuard(_new_job(f"{cls.__qualname__}: {what}", seconds, source, steps))


class _ClassSteps:
    """The steps of a class's scope, looked up each time: a class may open its loop later."""

    __slots__ = ("_scope",)

    def __init__(self, scope: Callable[[], Any]) -> None:
        self._scope = scope

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return getattr(self._scope(), "loop", None)

    @property
    def current_task(self) -> asyncio.Task[Any] | None:
        return getattr(self._scope(), "current_task", None)


def _new_job(what: str, seconds: float | None, source: str, steps: StepSource) -> TimeoutJob | None:
    if seconds is None:
        return None
    return TimeoutJob(what, seconds, source, steps)


class _TimeoutGuard:
    """Around one step of user code: arm the job if needed, allow the watchdog to
    interrupt the thread, and turn what a firing or a Ctrl-C did into a test error."""

    __slots__ = ("_armed_here", "_fired", "_job", "_presses", "_state", "_test")

    def __init__(
        self,
        job: TimeoutJob | None,
        state: interrupts.TestInterrupts | None = None,
        test: AsyncTestCase | None = None,
    ) -> None:
        self._job = job
        self._state = state
        self._test = test

    def __enter__(self) -> None:
        state = self._state
        if state is not None:
            self._presses = state.presses
        job = self._job
        if job is None:
            return
        self._armed_here = not job.watcher.is_armed(job)
        if self._armed_here:
            job.watcher.arm(job)
        self._fired = job.fired
        job.interruptible += 1

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is not None and self._test is not None:
            self._test._aiounit_raised = True
        self._exit_timeout(exc)
        state = self._state
        if state is not None and exc is not None:
            replacement = state.translate(exc, self._presses)
            if replacement is not None:
                raise replacement from exc

    def _exit_timeout(self, exc: BaseException | None) -> None:
        job = self._job
        if job is None:
            return
        job.interruptible -= 1
        if self._armed_here:
            job.watcher.disarm(job)
        if job.fired == self._fired:
            return
        if isinstance(exc, LoopBlockedInterrupt):
            raise TestTimeoutError(str(exc), slug="loop-blocked") from None
        if isinstance(exc, asyncio.CancelledError):
            raise TestTimeoutError(job.report, slug="test-timeout") from None


def _class_state(cls: type[AsyncTestCase]) -> _ClassState | None:
    state: _ClassState | None = vars(cls).get("_aiounit_class_state")
    return state


def _wrap_set_up_class(func: Callable[..., None]) -> classmethod[Any, [], None]:
    def setUpClass(cls: type[AsyncTestCase]) -> None:
        state = _class_state(cls)
        if state is not None and state.depth:
            # Reached through super() from a subclass's setUpClass: the outermost call
            # runs the async part once, after every sync part.
            func(cls)
            return
        if state is not None:
            state.close(cls)  # A previous run of this class never reached doClassCleanups.
        state = _ClassState(
            cls._aiounit_new_scope(shared=True) if cls._aiounit_scope_name() == "class" else None
        )
        cls._aiounit_class_state = state
        if state.scope is not None:
            state.scope.get_loop()
            if state.scope.clock is not None:
                cls.clock = state.scope.clock
        state.depth += 1
        try:
            func(cls)
        finally:
            state.depth -= 1
        if _overrides(cls, "asyncSetUpClass"):
            state.call(cls, cls.asyncSetUpClass)

    setattr(setUpClass, _WRAPPED, True)
    setUpClass.__doc__ = func.__doc__
    return classmethod(setUpClass)


def _wrap_tear_down_class(func: Callable[..., None]) -> classmethod[Any, [], None]:
    def tearDownClass(cls: type[AsyncTestCase]) -> None:
        state = _class_state(cls)
        if state is None or state.depth:
            func(cls)
            return
        # The class mirror of asyncTearDown then tearDown: the sync hook is skipped when
        # the async one raised.
        if _overrides(cls, "asyncTearDownClass"):
            state.call(cls, cls.asyncTearDownClass)
        state.depth += 1
        try:
            func(cls)
        finally:
            state.depth -= 1

    setattr(tearDownClass, _WRAPPED, True)
    tearDownClass.__doc__ = func.__doc__
    return classmethod(tearDownClass)


_TESTCASE_SETUP = unittest.TestCase.setUp
_TESTCASE_TEARDOWN = unittest.TestCase.tearDown

_CLASS_HOOK_WRAPPERS = (
    ("setUpClass", _wrap_set_up_class),
    ("tearDownClass", _wrap_tear_down_class),
)


class AsyncTestCase(unittest.TestCase):
    """A test case whose ``async def`` tests, hooks and cleanups run on an event loop it owns.

    It is a drop-in replacement for :class:`unittest.IsolatedAsyncioTestCase`: ``setUp``,
    ``asyncSetUp``, the test, ``asyncTearDown``, ``tearDown`` and one LIFO stack of
    cleanups run in that order, in one :class:`contextvars.Context`. ``setUp`` and
    ``tearDown`` may themselves be ``async def``.

    Configuration, as class attributes:

    ``loop_scope``
        ``"test"`` for a fresh loop per test, ``"class"`` to share one loop between the
        class hooks and every test of the class. ``None`` (the default) means
        ``"class"`` when the class defines ``asyncSetUpClass``, else ``"test"``.
    ``loop_factory``
        A callable returning a new event loop (the name is the stdlib's, from 3.13).
        ``None`` takes the ``AIOUNIT_LOOP`` environment variable (``asyncio``,
        ``uvloop`` or ``package.module:callable``), else the asyncio loop.
    ``loop_debug``
        ``True`` runs the loop in asyncio debug mode. ``None`` takes
        ``AIOUNIT_LOOP_DEBUG``, ``PYTHONASYNCIODEBUG`` and ``python -X dev``.
    ``checks``
        Levels of the post-test checks for this class's tests, as a dict of check slug
        to ``"error"``, ``"warn"`` or ``"off"`` (``@aiounit.checks`` for one method).
    ``virtual_time``
        ``True`` (or ``"auto"``) runs the loop on a virtual clock that jumps to the next
        timer whenever the loop would wait, so sleeps and timeouts take no real time;
        ``"manual"`` moves it only with ``await self.clock.advance(seconds)``. ``None``
        follows ``AIOUNIT_VIRTUAL_TIME``; ``@aiounit.virtual_time`` sets it for one test.
        Such a class runs on asyncio's loop unless it sets ``loop_factory`` itself: the
        clock of uvloop cannot be replaced.
    ``timeout``
        The time limit of each test in seconds, from ``setUp`` to the loop's shutdown,
        or ``None`` for no limit. Not set (``...``), it is ``AIOUNIT_TIMEOUT``, else
        120 s. ``@aiounit.timeout(seconds)`` sets it for one method. Class hooks and
        class cleanups each get the class's limit too.
    ``concurrent``
        ``True`` runs the class's tests at the same time as tasks on the class loop
        (which it implies), when aiounit's loader loads them (``python -m aiounit``);
        a number caps how many run at once (``True``: 64). For I/O-bound tests that
        share no mutable state; see the concurrency guide. ``None`` follows
        ``AIOUNIT_CONCURRENT`` (``--concurrent``). Other runners run the tests one by one.
    """

    loop_scope: ClassVar[LoopScopeName | None] = None
    loop_factory: ClassVar[LoopFactory | None] = None
    loop_debug: ClassVar[bool | None] = None
    timeout: ClassVar[float | EllipsisType | None] = ...
    checks: ClassVar[Mapping[str, Level]] = {}
    virtual_time: ClassVar[bool | Literal["auto", "manual"] | None] = None
    concurrent: ClassVar[bool | int | None] = None
    #: The virtual clock of the running test (or, on the class, of the class loop); set
    #: only when virtual time is on, so that a ``clock`` of the user's is never hidden.
    clock: VirtualClock

    _aiounit_class_state: ClassVar[_ClassState | None] = None
    # Set by unittest.TestCase; declared here for the type checker.
    _class_cleanups: ClassVar[list[_Cleanup]]
    _cleanups: list[_Cleanup]
    tearDown_exceptions: ClassVar[list[Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._aiounit_check_settings()
        for name, wrap in (
            ("setUpClass", _wrap_set_up_class),
            ("tearDownClass", _wrap_tear_down_class),
        ):
            hook = inspect.getattr_static(cls, name)
            func = getattr(hook, "__func__", None)
            if func is None or not getattr(func, _WRAPPED, False):
                # A subclass (or a mixin) defined its own hook, perhaps without calling
                # super(): wrap it so the class loop and async class hooks still run.
                setattr(cls, name, wrap(func if func is not None else hook))

    @classmethod
    def _aiounit_check_settings(cls) -> None:
        scope = cls.loop_scope
        if scope is not None and scope not in _SCOPES:
            raise LoopScopeError(
                f"{cls.__qualname__} sets loop_scope={scope!r}, which is not a loop scope. "
                "Use 'test' (a fresh loop per test) or 'class' (one loop for the class)"
            )
        if scope == "test" and _overrides(cls, "asyncSetUpClass"):
            raise LoopScopeError(
                f"{cls.__qualname__} defines asyncSetUpClass but sets loop_scope='test': "
                "objects made there would belong to a loop that closes before the first "
                "test runs. Remove loop_scope (class fixtures imply 'class'), or move that "
                "code to asyncSetUp",
                slug="class-hook-needs-class-scope",
            )
        debug = cls.loop_debug
        if debug is not None and not isinstance(debug, bool):
            raise LoopScopeError(
                f"{cls.__qualname__} sets loop_debug={debug!r}. Use True, False or None "
                "(None follows AIOUNIT_LOOP_DEBUG, PYTHONASYNCIODEBUG and -X dev)",
                slug="bad-setting",
            )
        own_concurrency = _static_lookup(cls, "concurrent")
        if own_concurrency is not None and cls._aiounit_concurrency() and scope == "test":
            raise LoopScopeError(
                f"{cls.__qualname__} sets concurrent={own_concurrency!r} but "
                "loop_scope='test': concurrent tests run as tasks on one loop, the class's. "
                "Remove loop_scope (concurrent implies 'class'), or remove concurrent to "
                "give each test a loop of its own",
                slug="concurrent-needs-class-scope",
            )
        levels_for(None, _static_lookup(cls, "checks"), cls.__qualname__)  # raises if bad
        mode_for(None, _static_lookup(cls, "virtual_time"), cls.__qualname__)
        limit = _static_lookup(cls, "timeout")
        if limit is not ...:
            timeout_for(None, limit, cls.__qualname__)  # raises a ConfigurationError
        factory = _static_lookup(cls, "loop_factory")
        if factory is not None and not callable(factory):
            raise LoopScopeError(
                f"{cls.__qualname__} sets loop_factory={factory!r}, which is not callable. "
                "Set a callable that returns a new event loop, such as asyncio.new_event_loop, "
                "or leave it None and choose the loop with AIOUNIT_LOOP",
                slug="bad-loop-factory",
            )

    @classmethod
    def _aiounit_scope_name(cls) -> LoopScopeName:
        if cls.loop_scope is not None:
            return cls.loop_scope
        if _overrides(cls, "asyncSetUpClass") or cls._aiounit_concurrency():
            return "class"
        return "test"

    @classmethod
    def _aiounit_concurrency(cls) -> int:
        """How many tests of the class may run at once; 0 when they run one by one."""
        own = _static_lookup(cls, "concurrent")
        if own is not None:
            if not isinstance(own, bool | int) or own < 0:
                raise ConfigurationError(
                    f"{cls.__qualname__} sets concurrent={own!r}. Use True, False, None, or "
                    "the most tests of the class to run at once (a whole number)",
                    slug="bad-setting",
                )
            return parse_concurrent(own)
        if cls.loop_scope == "test":
            return 0  # a loop per test, chosen by the class: the run's setting cannot apply
        raw = os.environ.get("AIOUNIT_CONCURRENT", "").strip()
        if not raw:
            return 0
        try:
            return parse_concurrent(raw)
        except ValueError as exc:
            raise ConfigurationError(
                f"environment variable AIOUNIT_CONCURRENT={raw!r}: {exc}",
                slug="bad-config-value",
            ) from None

    @classmethod
    def _aiounit_new_scope(cls, *, shared: bool = False, method: object = None) -> LoopScope:
        # Read through the class, which binds no plain function (and unwraps a staticmethod).
        factory = cls.loop_factory
        own_setting = cls.virtual_time
        virtual = mode_for(method, own_setting, cls.__qualname__)
        if factory is None and virtual is not None and (own_setting or method_mode(method)):
            # The class asked for virtual time itself, which only asyncio's loop can give:
            # that wins over the run's default loop (AIOUNIT_LOOP=uvloop, say).
            factory = resolve_loop_factory("asyncio")
        return LoopScope(factory, debug=cls.loop_debug, shared=shared, virtual=virtual)

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        # Every attribute of a test's own state is set here, in one order: instances
        # then share one attribute layout, which later reads and writes are fast on
        # (set only while the test runs, they would not). Both stay None until the test
        # runs, so a test that has not run pickles (parallel runners send tests to
        # worker processes). The first two names are the stdlib's.
        self._asyncioRunner: Any = None
        self._asyncioTestContext: contextvars.Context | None = None
        self._aiounit_in_context = 0
        self._aiounit_job: TimeoutJob | None = None
        self._aiounit_monitor: TestMonitor | None = None
        self._aiounit_threads: ThreadWatch | None = None
        self._aiounit_result: unittest.TestResult | None = None
        self._aiounit_interrupts: interrupts.TestInterrupts | None = None
        self._aiounit_raised = False
        self._aiounit_method: object = None  # the test's function, read when it runs

    # -- the stdlib's async API ---------------------------------------------------------

    async def asyncSetUp(self) -> None:
        """Hook run after ``setUp``, on the test's loop. Does nothing by default."""

    async def asyncTearDown(self) -> None:
        """Hook run before ``tearDown``, on the test's loop. Does nothing by default."""

    def addAsyncCleanup(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Add a cleanup whose result is awaited; it shares the stack of ``addCleanup``."""
        self.addCleanup(func, *args, **kwargs)

    async def enterAsyncContext(self, cm: Any) -> Any:
        """Enter the async context manager ``cm``; its exit runs as a cleanup."""
        enter, exit_ = _async_cm_methods(cm)
        result = await enter(cm)
        self.addAsyncCleanup(exit_, cm, None, None, None)
        return result

    # -- class-level async API ----------------------------------------------------------

    @classmethod
    def setUpClass(cls) -> None:
        """Open the class loop (class scope), then run ``asyncSetUpClass`` on it."""

    @classmethod
    def tearDownClass(cls) -> None:
        """Run ``asyncTearDownClass`` on the class loop, then the sync class teardown."""

    @classmethod
    async def asyncSetUpClass(cls) -> None:
        """Class hook run on the class loop after ``setUpClass``. Does nothing by default.

        Defining it makes the class share one loop between its hooks and tests
        (``loop_scope = "class"``).
        """

    @classmethod
    async def asyncTearDownClass(cls) -> None:
        """Class hook run on the class loop before ``tearDownClass``. Does nothing by default."""

    @classmethod
    def addAsyncClassCleanup(cls, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Add a class cleanup whose result is awaited on the class loop."""
        cls.addClassCleanup(func, *args, **kwargs)

    @classmethod
    async def enterAsyncClassContext(cls, cm: Any) -> Any:
        """Enter the async context manager ``cm``; its exit runs as a class cleanup."""
        enter, exit_ = _async_cm_methods(cm)
        result = await enter(cm)
        cls.addAsyncClassCleanup(exit_, cm, None, None, None)
        return result

    @classmethod
    def doClassCleanups(cls) -> None:
        """Run class cleanups (awaiting async ones on the class loop), then close that loop.

        Errors are collected in ``cls.tearDown_exceptions``, where unittest and pytest
        look for them, so each is reported like a ``tearDownClass`` error.
        """
        cls.tearDown_exceptions = []
        state = _class_state(cls)
        while cls._class_cleanups:
            function, args, kwargs = cls._class_cleanups.pop()
            try:
                if state is None:
                    state = _ClassState(None)
                    cls._aiounit_class_state = state
                state.call(cls, function, *args, **kwargs)
            except Exception:
                cls.tearDown_exceptions.append(sys.exc_info())
        if state is not None:
            cls._aiounit_class_state = None
            try:
                state.close(cls)
            except Exception:
                cls.tearDown_exceptions.append(sys.exc_info())

    # -- the four hooks of unittest.TestCase --------------------------------------------

    def _callSetUp(self) -> None:
        # The time limit and the checks run from here (a skipped test gets neither) to
        # the end of run(); a bad setting fails this test, not the run.
        self._cleanups.insert(0, _CLOSE_TEST_LOOP)  # at the bottom, so it runs last
        cls = type(self)
        method = self._aiounit_method
        # Plain data, read with getattr (cheaper, per test) rather than _static_lookup.
        seconds, source = timeout_for(method, cls.timeout, cls.__qualname__)
        levels = levels_for(method, cls.checks, cls.__qualname__)
        runner = self._asyncioRunner  # kept: the attribute is cleared before the loop closes
        test_id = self.id()
        job = _new_job(test_id, seconds, source, runner)  # the scope is the steps acted on
        # Set when the test runs at the same time as others of its class (concurrent).
        batch = getattr(runner, "concurrent_batch", None)
        if job is not None:
            self._aiounit_job = job
            if batch is not None:
                batch.adopt_job(job, runner)
            job.watcher.arm(job)
        state = interrupts.TestInterrupts(test_id, runner)
        self._aiounit_interrupts = state
        if batch is not None:
            batch.add_interrupts(state)
        else:
            interrupts.start(state)
        # The loop exists and is current before the sync setUp, as in the stdlib.
        loop = runner.get_loop()
        clock = getattr(runner, "clock", None)
        if clock is not None:
            self.clock = clock
        elif isinstance(runner, BorrowedScope) and method_mode(method) is not None:
            raise ConfigurationError(
                f"{self.id()} asks for virtual time, but its class shares one loop between "
                "its tests (loop_scope='class') and that loop keeps real time. Set "
                f"virtual_time on {cls.__qualname__} instead, so the class loop is virtual",
                slug="virtual-time-needs-class-setting",
            )
        owned = getattr(runner, "owned_tasks", None) or (lambda: asyncio.all_tasks(loop))
        if batch is not None:
            monitor = self._aiounit_monitor = batch.monitor(runner, test_id, levels)
            monitor.start()
        else:
            monitor = self._aiounit_monitor = TestMonitor(test_id, loop, levels, owned)
            monitor.start()
            before_close = getattr(runner, "call_before_close", None)
            if before_close is not None:  # the test's own loop: steps are timed to the end
                before_close(monitor.stop_timing)
            # Threads are told apart by the one test running; tests of a concurrent
            # batch run at once, so their threads are not attributed (documented).
            self._aiounit_threads = ThreadWatch(
                test_id, levels["leaked-thread"], self._aiounit_result
            )
            self._aiounit_threads.start()
        if cls.setUp is not _TESTCASE_SETUP:  # unittest's own does nothing
            self._callMaybeAsync(self.setUp)
        if _overrides(cls, "asyncSetUp"):
            self._callAsync(self.asyncSetUp)

    def _aiounit_test_function(self) -> object:
        # The test's function as its class holds it, where the decorators' marks are read:
        # reading a mark that is absent costs a fraction through the plain function of
        # what it costs through the bound method.
        name = self._testMethodName
        function = getattr(type(self), name, None)
        return function if function is not None else getattr(self, name, None)

    def _callTestMethod(self, method: Callable[[], Any]) -> None:
        if self._callMaybeAsync(method) is not None:
            warnings.warn(
                f"It is deprecated to return a value that is not None from a test case ({method})",
                DeprecationWarning,
                stacklevel=4,
            )

    def _callTearDown(self) -> None:
        cls = type(self)
        if _overrides(cls, "asyncTearDown"):
            self._callAsync(self.asyncTearDown)
        if cls.tearDown is not _TESTCASE_TEARDOWN:
            self._callMaybeAsync(self.tearDown)

    def _callCleanup(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        if function is _close_test_loop:
            # aiounit's own last cleanup: it runs in the test's thread and context.
            self._aiounit_in_context += 1
            try:
                self._asyncioTestContext.run(self._aiounit_close_runner)  # type: ignore[union-attr]
            finally:
                self._aiounit_in_context -= 1
            return
        self._callMaybeAsync(function, *args, **kwargs)

    # -- the stdlib's override points ---------------------------------------------------

    def _callAsync(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        assert self._asyncioRunner is not None, "asyncio runner is not initialized"
        if _coroutine_kind(func) == _PLAIN:
            return self._aiounit_await(_new_coroutine(func, args, kwargs))
        return self._aiounit_await(func(*args, **kwargs))

    def _callMaybeAsync(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        assert self._asyncioRunner is not None, "asyncio runner is not initialized"
        kind = _coroutine_kind(func)
        if kind == _PLAIN:
            return self._aiounit_await(_new_coroutine(func, args, kwargs))
        if kind == _OTHER:
            return self._aiounit_await(func(*args, **kwargs))
        if self._aiounit_in_context:
            # Already inside the test's context (doCleanups() called from a sync test):
            # entering it again would raise (cpython#101018).
            result = func(*args, **kwargs)
        else:
            self._aiounit_in_context += 1
            try:
                with _TimeoutGuard(self._aiounit_job, self._aiounit_interrupts, self):
                    # A concurrent class's test: sync code runs in the loop's thread.
                    call = getattr(self._asyncioRunner, "call_in_context", None)
                    if call is not None:
                        result = call(self._asyncioTestContext, func, *args, **kwargs)
                    else:
                        result = self._asyncioTestContext.run(func, *args, **kwargs)  # type: ignore[union-attr]
            finally:
                self._aiounit_in_context -= 1
        # A plain function may return an awaitable (a functools.partial of a coroutine
        # function, a sync wrapper): await it rather than drop it (cpython#101486). An
        # async generator is not awaitable and stays a value (the return-value warning).
        if inspect.isawaitable(result):
            return self._aiounit_await(result)
        return result

    def _aiounit_await(self, awaitable: Any) -> Any:
        runner = self._asyncioRunner
        loop = runner.get_loop()
        # Whether this thread is inside the loop, which cannot be re-entered (tests of a
        # concurrent class run their unittest parts in other threads, beside the running
        # loop). _get_running_loop() is public despite its name, and answers None where
        # get_running_loop() would raise.
        if asyncio._get_running_loop() is loop:
            # doCleanups() called from inside an async test: the loop cannot be re-entered.
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()  # Nobody will await it: avoid a "never awaited" warning.
            raise RuntimeError(
                f"{self.id()}: an async cleanup cannot run while the test's own loop is "
                "running (doCleanups() was called from an async test). Call doCleanups() "
                "from a sync test, or await the cleanup directly [async-cleanup-in-loop]"
            )
        # A sync test that calls doCleanups() has the test's context entered already, and
        # a task cannot enter it a second time (its first step would fail and the loop
        # would wait for it forever): such a cleanup runs in a copy of the context.
        context = None if self._aiounit_in_context else self._asyncioTestContext
        self._aiounit_in_context += 1
        try:
            with _TimeoutGuard(self._aiounit_job, self._aiounit_interrupts, self):
                # A runner of the suite's own (asyncio.Runner) takes coroutines alone.
                return runner.run(as_coroutine(awaitable), context=context)
        finally:
            self._aiounit_in_context -= 1

    def doCleanups(self) -> Any:  # unittest returns whether every cleanup succeeded
        """Run the cleanups; at the end of the test, close (or release) its loop too.

        Closing the loop is the test's last step, inside its report: an error or a hang
        while cancelling leftover tasks or shutting down is reported against the test.
        It is the first cleanup the test registers, so it runs after all the others.
        """
        cleanups = self._cleanups
        if self._aiounit_in_context and cleanups and cleanups[0] is _CLOSE_TEST_LOOP:
            # Called by the test itself: its loop stays open for the rest of the test.
            del cleanups[0]
            try:
                return super().doCleanups()
            finally:
                cleanups.insert(0, _CLOSE_TEST_LOOP)
        return super().doCleanups()

    def _aiounit_close_runner(self) -> None:
        monitor, self._aiounit_monitor = self._aiounit_monitor, None
        guard = _TimeoutGuard(self._aiounit_job, self._aiounit_interrupts, self)
        if monitor is None:
            with guard:
                self._tearDownAsyncioRunner()
            return
        try:
            monitor.before_teardown_of_loop()
            with guard:
                self._tearDownAsyncioRunner()
        finally:
            if self._aiounit_raised:
                # A failure's traceback keeps its frames alive in reference cycles, and
                # with them coroutines that were never awaited: collect them now, so that
                # they are reported against this test and not whichever test a later
                # collection happens in. Passing tests do not pay for this.
                gc.collect()
            self._aiounit_report(monitor.stop() + self._aiounit_stop_threads())

    def _aiounit_stop_threads(self) -> list[Finding]:
        # After the loop closed: threads the test started and left running.
        watch, self._aiounit_threads = self._aiounit_threads, None
        return [] if watch is None else watch.stop()

    def _aiounit_report(self, findings: list[Finding]) -> None:
        """Hand every finding to a result that records them, else warn of each one; then
        fail the test once for the error ones.

        Under ``-W error`` the first warning raises: it is caught and the remaining
        findings are still warned of, and the test then fails once, naming them all.
        """
        job = self._aiounit_job
        if job is not None and job.fired:
            # The timeout's report shows the line that held the loop already.
            findings = [finding for finding in findings if finding.check != "blocked-loop"]
        if not findings:
            return
        add_finding = getattr(self._aiounit_result, "add_finding", None)
        raised: list[Finding] = []
        for finding in findings:
            if add_finding is not None:
                add_finding(self, finding.as_record())
            elif finding.level == "warn":
                try:
                    warnings.warn(CheckWarning(str(finding)), stacklevel=2)
                except CheckWarning:
                    raised.append(finding)
        if any(finding.level == "error" for finding in findings):
            raise CheckError([f for f in findings if f.level == "error" or f in raised])
        if len(raised) == 1:
            raise CheckWarning(str(raised[0]))
        if raised:
            text = "\n\n".join(str(finding) for finding in raised)
            raise CheckWarning(f"{len(raised)} checks found something:\n\n{text}\n")

    def _setupAsyncioRunner(self) -> None:
        assert self._asyncioRunner is None, "asyncio runner is already initialized"
        method = self._aiounit_method = self._aiounit_test_function()
        state = _class_state(type(self))
        if state is not None and state.scope is not None and state.scope.is_open:
            context = state.context.copy()
            runner = scope_for(state.scope, context)  # a concurrent class's test, or None
            self._asyncioRunner = runner or BorrowedScope(state.scope, context)
            self._asyncioTestContext = context
        else:
            # Test scope, or a class-scope test run on its own (no setUpClass ran).
            self._asyncioRunner = self._aiounit_new_scope(method=method)
            self._asyncioTestContext = contextvars.copy_context()

    def _tearDownAsyncioRunner(self) -> None:
        runner = self._asyncioRunner
        if runner is None:
            return
        self._asyncioRunner = None
        runner.close()

    # -- running ------------------------------------------------------------------------

    def run(self, result: unittest.TestResult | None = None) -> unittest.TestResult | None:
        """Run the test on its loop, which is closed (or released) when the test ends."""
        self._setupAsyncioRunner()
        self._aiounit_result = result
        try:
            return super().run(result)
        finally:
            self._aiounit_result = None
            try:
                if self._asyncioRunner is not None:  # closed by doCleanups() normally
                    self._tearDownAsyncioRunner()
            finally:
                self._aiounit_end_time_limit()
                self._aiounit_end_interrupts()

    def _aiounit_end_interrupts(self) -> None:
        state, self._aiounit_interrupts = self._aiounit_interrupts, None
        if state is not None:
            interrupts.stop(state)
            if state.presses:
                # Only now, with teardown, cleanups and the loop done: stop the run.
                raise KeyboardInterrupt

    def _aiounit_end_time_limit(self) -> None:
        monitor, self._aiounit_monitor = self._aiounit_monitor, None
        if monitor is not None:  # the test never reached its last cleanup (debug())
            monitor.stop()
            self._aiounit_stop_threads()
        job = self._aiounit_job
        if job is not None:
            self._aiounit_job = None
            job.watcher.disarm(job)

    def debug(self) -> None:
        """Run the test without a result; exceptions propagate.

        As in the stdlib, the loop stays open when the test raises, so that
        ``doCleanups()`` can still run async cleanups on it afterwards. When the test
        passes, its cleanups run and its loop closes, and what the checks found is
        raised as under :meth:`run` it fails the test (:class:`~aiounit.CheckError`).
        """
        self._setupAsyncioRunner()
        try:
            super().debug()
        finally:
            self._aiounit_end_time_limit()
            self._aiounit_end_interrupts()
        self._tearDownAsyncioRunner()

    def __del__(self) -> None:
        if getattr(self, "_asyncioRunner", None) is not None:
            self._tearDownAsyncioRunner()


def _close_test_loop() -> None:
    """Stands for closing the test's loop among its cleanups; run by ``_callCleanup``."""
    raise AssertionError("the test's loop is closed by AsyncTestCase._callCleanup")


# The entry of the cleanup stack that closes the test's loop (function, args, kwargs).
_CLOSE_TEST_LOOP: _Cleanup = (
    _close_test_loop,
    (),
    {},
)


def _async_cm_methods(cm: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    # Special methods are looked up on the type, as the `async with` statement does.
    cls = type(cm)
    try:
        return cls.__aenter__, cls.__aexit__
    except AttributeError:
        raise TypeError(
            f"'{cls.__module__}.{cls.__qualname__}' object does not support the "
            "asynchronous context manager protocol"
        ) from None


_DEFAULT_HOOKS: dict[str, Any] = {
    name: getattr(getattr(AsyncTestCase, name), "__func__", None)
    for name in ("asyncSetUpClass", "asyncTearDownClass")
}
_DEFAULT_HOOKS.update(
    asyncSetUp=AsyncTestCase.asyncSetUp, asyncTearDown=AsyncTestCase.asyncTearDown
)


_async_variants: weakref.WeakKeyDictionary[type, type] = weakref.WeakKeyDictionary()


def as_async_case(cls: _C) -> _C:
    """Return a subclass of the plain TestCase ``cls`` that runs its ``async def`` tests.

    The subclass behaves as if ``cls`` had derived from :class:`AsyncTestCase`: each test
    gets a fresh loop. It keeps the name, module and qualified name of ``cls``, so test
    ids do not change, and the same subclass is returned for the same class. Its tests
    pickle (parallel runners send tests to other processes) by naming ``cls``. Used by
    the loader's ``auto`` asyncio mode.
    """
    if issubclass(cls, AsyncTestCase):
        return cls
    variant = _async_variants.get(cls)
    if variant is None:
        namespace = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            "__reduce_ex__": _reduce_async_variant,
            "_aiounit_plain_class": cls,
        }
        variant = type(cls.__name__, (cls, AsyncTestCase), namespace)
        _async_variants[cls] = variant
    return variant  # type: ignore[return-value]


def _reduce_async_variant(self: Any, protocol: Any) -> tuple[Any, ...]:
    # Pickle by the plain class, which is importable by its name; the generated class
    # shares that name, so pickle could not find it by name itself.
    return (_new_async_variant, (type(self)._aiounit_plain_class,), self.__dict__)


def _new_async_variant(cls: type[unittest.TestCase]) -> unittest.TestCase:
    instance: unittest.TestCase = object.__new__(as_async_case(cls))
    return instance
