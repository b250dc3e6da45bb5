"""Concurrent classes: the tests of one class run at the same time on the class loop.

How it works. The class loop runs in the main thread, as for any class. Each test runs
unittest's own, unmodified ``TestCase.run`` in a worker thread of its own; every hook,
test and cleanup it reaches is handed to the class loop (coroutines as tasks in the
test's context, synchronous code as a callback in that context) and the worker waits
for it. So all user code runs in the loop's thread, one step at a time, while the tests
interleave at their awaits. Each test's calls on the result are recorded and replayed
onto the real result in the main thread, in the order the tests were loaded, as each
test (and every test before it) ends: the result never sees two tests at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import sys
import threading
import time
import unittest
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

from aiounit import capture, interrupts
from aiounit._compat import task_context
from aiounit.clock import VirtualClock
from aiounit.errors import LoopTamperedError
from aiounit.hygiene import Finding, Level, TestMonitor
from aiounit.scope import _TEST_MARK, BorrowedScope, LoopScope, _drop_asyncio_frames, as_coroutine
from aiounit.timeouts import TimeoutJob, install_signal_handler

__all__ = ["DEFAULT_CONCURRENCY", "ConcurrentScope", "ConcurrentSuite", "scope_for"]

# Frames of this module sit between the user's code and the loop: hide them from
# failure tracebacks so a failure points at the test.
__unittest = True

#: How many tests of a class run at once when it sets ``concurrent = True``.
DEFAULT_CONCURRENCY: Final = 64
# How many frames of the creating code a coroutine remembers (as the checks ask for).
_ORIGIN_DEPTH: Final = 3

_T = TypeVar("_T")

# The test a worker thread runs: what the case asks for when it opens its loop.
_local = threading.local()


def scope_for(owner: LoopScope, context: contextvars.Context) -> ConcurrentScope | None:
    """The scope of a test that a concurrent batch on ``owner``'s loop runs in this
    thread, or None when this thread runs no such test."""
    slot: _Slot | None = getattr(_local, "slot", None)
    if slot is None or slot.batch.owner is not owner:
        return None
    return ConcurrentScope(slot, owner, context)


class _Step:
    """One step handed to the loop's thread, and its outcome for the waiting worker."""

    __slots__ = ("_lock", "error", "value")

    def __init__(self) -> None:
        # A lock handed over between threads is the cheapest wait-and-wake there is.
        self._lock = threading.Lock()
        self._lock.acquire()
        self.value: Any = None
        self.error: BaseException | None = None

    def finish(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error
        self._lock.release()

    def wait(self) -> Any:
        self._lock.acquire()
        error, self.error = self.error, None
        if error is not None:
            _drop_asyncio_frames(error)
            try:
                raise error
            finally:
                del error
        return self.value


class ConcurrentScope(BorrowedScope):
    """One test's view of the class loop while the class's tests run concurrently.

    Called from the test's worker thread, it runs each coroutine as a task on the loop
    (in the main thread) and waits for it; :meth:`call_in_context` does the same for
    synchronous hooks and tests. Tasks created in the test's context belong to it, as
    with :class:`BorrowedScope`.
    """

    def __init__(self, slot: _Slot, owner: LoopScope, context: contextvars.Context) -> None:
        super().__init__(owner, context)
        self._slot = slot
        self._current: asyncio.Task[Any] | None = None
        #: The batch the test runs in; the case asks it for a time limit and checks.
        self.concurrent_batch = slot.batch
        slot.mark = self._mark
        if slot.batch.capture_output:
            slot.capture = capture.capture_in(context)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The class's loop (running in the main thread)."""
        return self._owner.get_loop()

    @property
    def current_task(self) -> asyncio.Task[Any] | None:
        """The task of this test's step running now."""
        return self._current

    def run(self, coro: Any, *, context: contextvars.Context | None = None) -> Any:
        """Run ``coro`` as a task on the class loop, in ``context``; wait for its result."""
        loop = self._owner.get_loop()
        if loop.is_closed():
            close = getattr(coro, "close", None)
            if close is not None:
                close()
            raise LoopTamperedError(_CLOSED)
        step = _Step()
        batch = self._slot.batch

        def done(task: asyncio.Task[Any]) -> None:
            if self._current is task:
                self._current = None
            batch.busy(1)
            try:
                value = task.result()
            except BaseException as exc:  # the step's outcome, whatever it is
                step.finish(None, exc)
            else:
                step.finish(value, None)

        def start() -> None:
            batch.busy(-1)
            try:
                task = loop.create_task(as_coroutine(coro), context=context)
            except BaseException as exc:
                batch.busy(1)
                step.finish(None, exc)
                return
            self._current = task
            task.add_done_callback(done)

        loop.call_soon_threadsafe(start)
        return step.wait()

    def call_in_context(
        self, context: contextvars.Context | None, func: Callable[..., _T], /, *args: Any, **kw: Any
    ) -> _T:
        """Call the synchronous ``func`` in the loop's thread, in ``context``; return its
        result. It holds the loop while it runs, as synchronous code in a test does."""
        step = _Step()
        batch = self._slot.batch

        def invoke() -> None:
            batch.busy(-1)
            try:
                value = func(*args, **kw) if context is None else context.run(func, *args, **kw)
            except BaseException as exc:
                step.finish(None, exc)
            else:
                step.finish(value, None)
            finally:
                batch.busy(1)

        loop = self._owner.get_loop()
        loop.call_soon_threadsafe(invoke)
        result: _T = step.wait()
        return result

    def _on_loop_thread(self, func: Callable[[], _T]) -> _T:
        if threading.get_ident() == self._slot.batch.thread_id:
            return func()
        return self.call_in_context(None, func)

    def owned_tasks(self) -> set[asyncio.Task[Any]]:
        """The test's unfinished tasks (read in the loop's thread, which changes them)."""
        loop = self._owner.loop
        if loop is None or loop.is_closed():
            return set()
        return self._on_loop_thread(super().owned_tasks)

    def close(self) -> None:
        """Cancel the tasks this test started and wait for them; the loop stays open."""
        loop = self._owner.loop
        if loop is None or loop.is_closed() or not self._owner.is_open:
            return
        tasks = self.owned_tasks()
        if tasks:
            self.run(_cancel_all(tasks, "tasks the test left running"))


async def _cancel_all(tasks: set[asyncio.Task[Any]], what: str) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    loop = asyncio.get_running_loop()
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": f"unhandled exception while cancelling {what}",
                    "exception": task.exception(),
                    "task": task,
                }
            )


_CLOSED = (
    "the class's event loop was closed while its tests were running concurrently. Do not "
    "close the loop aiounit gives the tests; give code that closes a loop a loop of its own"
)


class _ConcurrentMonitor(TestMonitor):
    """A test's checks when it shares the loop with tests running at the same time.

    The batch owns the loop's exception handler and the never-awaited hook, and hands
    each report to the monitor of the test it came from.
    """

    def __init__(
        self, batch: _Batch, scope: ConcurrentScope, test_id: str, levels: dict[str, Level]
    ) -> None:
        loop = scope.get_loop()
        super().__init__(test_id, loop, levels, scope.owned_tasks)
        self._batch = batch
        self._scope = scope

    def start(self) -> None:
        """Begin receiving what the batch attributes to this test."""
        self._batch.monitors[self._scope._mark] = self

    def before_teardown_of_loop(self) -> None:
        """Record the test's pending tasks, reading them in the loop's thread."""
        self._scope._on_loop_thread(super().before_teardown_of_loop)

    def stop(self) -> list[Finding]:
        """Stop receiving reports; return what was found."""
        self._batch.monitors.pop(self._scope._mark, None)
        return self.findings


class _JobWatcher:
    """Watches the time limits of a concurrent class's tests, several at once.

    A limit that passes cancels that test's running step from inside the loop. When the
    loop does not answer, synchronous code blocks it: the loop's thread is interrupted
    only while that code is the test's own (its context carries the test's mark), so an
    interrupt never lands in another test's code.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, TimeoutJob]] = []
        self._armed: set[TimeoutJob] = set()
        self._counter = itertools.count()
        self._closed = False
        self._thread: threading.Thread | None = None

    def arm(self, job: TimeoutJob) -> None:
        with self._cond:
            self._armed.add(job)
            heapq.heappush(self._heap, (job.deadline, next(self._counter), job))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="aiounit-concurrent-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def disarm(self, job: TimeoutJob) -> None:
        with self._cond:
            self._armed.discard(job)

    def is_armed(self, job: TimeoutJob) -> bool:
        return job in self._armed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._armed.clear()
            self._cond.notify()

    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, _, job = self._heap[0]
                if job not in self._armed or deadline != job.deadline:
                    heapq.heappop(self._heap)  # disarmed, or pushed again since
                    if job in self._armed and deadline != job.deadline:
                        heapq.heappush(self._heap, (job.deadline, next(self._counter), job))
                    continue
                now = time.monotonic()
                if now < deadline:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
                # Without the lock: fire() waits for the loop to answer.
                self._cond.release()
                try:
                    job.fire()
                except Exception:
                    pass
                finally:
                    self._cond.acquire()
                # Steps after a timeout get the grace period each, as in a serial run.
                heapq.heappush(self._heap, (job.deadline, next(self._counter), job))


class _Recorder:
    """Stands in for the result while a test runs in a worker: records each call, so
    the batch can replay them onto the real result in the main thread."""

    _RECORDED: Final = frozenset(
        {
            "addSuccess",
            "addFailure",
            "addError",
            "addSkip",
            "addExpectedFailure",
            "addUnexpectedSuccess",
            "addSubTest",
            "addDuration",
            "add_finding",
        }
    )

    def __init__(self, result: unittest.TestResult) -> None:
        self._result = result
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._started = 0.0
        self.elapsed = 0.0

    def startTest(self, test: unittest.TestCase) -> None:
        self._started = time.perf_counter()
        self.calls.append(("startTest", (test,)))

    def stopTest(self, test: unittest.TestCase) -> None:
        self.elapsed = time.perf_counter() - self._started
        self.calls.append(("stopTest", (test,)))

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._result, name)  # missing on the result: missing here too
        if name in self._RECORDED:
            calls = self.calls

            def record(*args: Any) -> None:
                calls.append((name, args))

            return record
        return value

    def replay(self, out: capture.Capture | None) -> None:
        """Make the recorded calls on the real result, with the captured output."""
        result = self._result
        names = {name for name, _ in self.calls}
        for name, args in self.calls:
            if name == "stopTest" and "addDuration" not in names and "addSkip" not in names:
                # Python 3.11's TestCase.run reports no duration: give the measured one.
                add_duration = getattr(result, "addDuration", None)
                if add_duration is not None:
                    add_duration(args[0], self.elapsed)
            method = getattr(result, name, None)
            if method is not None:
                method(*args)
            if name == "startTest" and out is not None:
                # The result has just replaced sys.stdout and sys.stderr with its own
                # buffers (-b): the test's output goes there, as if printed now.
                sys.stdout.write(out.stdout.getvalue())
                sys.stderr.write(out.stderr.getvalue())
        self.calls = []


class _Slot:
    """One test of the batch: its worker, its recorder and what became of it."""

    __slots__ = ("batch", "capture", "done", "error", "interrupted", "mark", "recorder", "test")

    def __init__(self, batch: _Batch, test: unittest.TestCase) -> None:
        self.batch = batch
        self.test = test
        self.recorder = _Recorder(batch.result)
        self.capture: capture.Capture | None = None
        self.mark: object = None
        self.done = False
        self.interrupted = False
        self.error: tuple[Any, ...] | None = None


class _Batch:
    """The tests of one concurrent class, run on its loop at most ``limit`` at a time."""

    def __init__(
        self,
        owner: LoopScope,
        tests: list[unittest.TestCase],
        result: unittest.TestResult,
        limit: int,
    ) -> None:
        self.owner = owner
        self.result = result
        self.limit = max(1, limit)
        self.slots = [_Slot(self, test) for test in tests]
        self.capture_output = bool(getattr(result, "buffer", False))
        self.monitors: dict[object, TestMonitor] = {}
        self.watcher = _JobWatcher()
        self.thread_id = threading.get_ident()
        self.stopping = False
        self.presses = 0
        self._interrupt_states: dict[int, interrupts.TestInterrupts] = {}
        self._replayed = 0
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: VirtualClock | None = owner.clock
        self._previous_handler: Any = None

    # -- asked for by the test case, from its worker thread ----------------------------

    def adopt_job(self, job: TimeoutJob, scope: ConcurrentScope) -> None:
        """Have ``job`` (the test's time limit) watched here, for that test's tasks."""
        job.watcher = self.watcher
        job.tasks = scope.owned_tasks
        # The test's code runs in the loop's thread, in contexts marked as the test's.
        job.thread_id = self.thread_id
        mark = scope._mark
        job.owns_thread = lambda: _TEST_MARK.get(None) is mark

    def add_interrupts(self, state: interrupts.TestInterrupts) -> None:
        """The Ctrl-C state of the test this worker runs."""
        self._interrupt_states[threading.get_ident()] = state

    def monitor(
        self, scope: ConcurrentScope, test_id: str, levels: dict[str, Level]
    ) -> TestMonitor:
        """The checks of one test."""
        return _ConcurrentMonitor(self, scope, test_id, levels)

    # -- in the loop's thread -----------------------------------------------------------

    def busy(self, delta: int) -> None:
        # Workers doing unittest's bookkeeping between two steps are work the loop cannot
        # see: a virtual clock must not jump meanwhile (nor call it a deadlock).
        if self._clock is not None:
            self._clock._external += delta

    def press(self) -> None:
        """Ctrl-C: the first cancels every running test's step and starts no new test;
        their teardowns still run. The second stops at once."""
        self.presses += 1
        if self.presses > 1:
            raise KeyboardInterrupt
        self.stopping = True
        for state in list(self._interrupt_states.values()):
            state.interrupt()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(_nothing)

    def _finished(self, slot: _Slot) -> None:
        slot.done = True
        self.busy(-1)
        if self._wake is not None:
            self._wake.set()

    def _replay_ready(self) -> None:
        while self._replayed < len(self.slots):
            slot = self.slots[self._replayed]
            if not slot.done:
                return
            self._replayed += 1
            slot.recorder.replay(slot.capture)
            if slot.error is not None:
                self.result.addError(slot.test, slot.error)
            if getattr(self.result, "shouldStop", False):
                self.stopping = True

    def abandon(self) -> None:
        """Report every started test as far as it got, without waiting for it to end."""
        for slot in self.slots[self._replayed :]:
            calls = list(slot.recorder.calls)
            if not calls:
                continue
            slot.recorder.calls = calls
            if calls[-1][0] != "stopTest":
                calls.append(("stopTest", (slot.test,)))
            slot.recorder.replay(slot.capture)
        self._replayed = len(self.slots)

    async def drive(self) -> None:
        """Start the tests, at most ``limit`` at a time, and replay each as it ends."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        pending = iter(self.slots)
        running: list[_Slot] = []
        while True:
            while not self.stopping and len(running) < self.limit:
                slot = next(pending, None)
                if slot is None:
                    break
                running.append(slot)
                self.busy(1)
                _start_in_worker(self._work, slot)
            if not running:
                break
            await self._wake.wait()
            self._wake.clear()
            running = [slot for slot in running if not slot.done]
            self._replay_ready()
        # Tests never started (Ctrl-C, failfast) are not reported, as in a serial run.
        self.slots = self.slots[: self._replayed]

    # -- in a worker thread -------------------------------------------------------------

    def _work(self, slot: _Slot) -> None:
        _local.slot = slot
        sys.set_coroutine_origin_tracking_depth(_ORIGIN_DEPTH)
        try:
            slot.test(slot.recorder)  # type: ignore[arg-type]
        except KeyboardInterrupt:
            slot.interrupted = True  # the test ended after a Ctrl-C, with its teardown
        except BaseException:
            slot.error = sys.exc_info()
        finally:
            _local.slot = None
            self._interrupt_states.pop(threading.get_ident(), None)
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits
                    loop.call_soon_threadsafe(self._finished, slot)

    # -- checks, routed to the test they are about -------------------------------------

    def _current_monitor(self) -> TestMonitor | None:
        mark = _TEST_MARK.get(None)
        if mark is None:
            slot: _Slot | None = getattr(_local, "slot", None)
            mark = slot.mark if slot is not None else None
        return self.monitors.get(mark) if mark is not None else None

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        monitor = None
        task = context.get("task")
        if isinstance(task, asyncio.Task):
            task_ctx = task_context(task)
            mark = task_ctx.get(_TEST_MARK, None) if task_ctx is not None else None
            monitor = self.monitors.get(mark) if mark is not None else None
        if monitor is None:
            monitor = self._current_monitor()
        if monitor is None or monitor.levels["loop-exception"] == "off":
            previous = self._previous_handler
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        monitor._on_loop_exception(loop, context)

    @property
    def levels(self) -> dict[str, Level]:
        """The check levels of the test whose code runs now (read by the never-awaited hook)."""
        monitor = self._current_monitor()
        return monitor.levels if monitor is not None else _UNAWAITED_OFF

    def unawaited(self, coro: Any) -> None:
        """A coroutine was destroyed without being awaited: tell the test it belongs to."""
        monitor = self._current_monitor()
        if monitor is not None:
            monitor.unawaited(coro)

    @contextlib.contextmanager
    def installed(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        """Route Ctrl-C, the loop's exception handler, never-awaited coroutines and (under
        ``-b``) output to the batch's tests, and put everything back afterwards."""
        from aiounit import hygiene

        previous_handler = self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._on_loop_exception)
        hygiene._hook_unawaited()
        previous_active = hygiene._active
        hygiene._active = self  # type: ignore[assignment]
        previous_depth = sys.get_coroutine_origin_tracking_depth()
        sys.set_coroutine_origin_tracking_depth(max(_ORIGIN_DEPTH, previous_depth))
        install_signal_handler()  # in the main thread: the loop's, where test code runs
        output = capture.routed_output() if self.capture_output else contextlib.nullcontext()
        try:
            with interrupts.routed(self), output:
                yield
        finally:
            sys.set_coroutine_origin_tracking_depth(previous_depth)
            hygiene._active = previous_active
            if not loop.is_closed() and loop.get_exception_handler() == self._on_loop_exception:
                loop.set_exception_handler(previous_handler)
            self.watcher.close()


_UNAWAITED_OFF: Final[dict[str, Level]] = {"unawaited-coroutine": "off"}


class _Worker:
    """A thread that runs one test at a time and then waits, idle, for the next.

    Starting a thread costs the starting thread a wait for the new one to get going;
    keeping the threads between tests and classes pays that once per thread.
    """

    def __init__(self) -> None:
        self._ready = threading.Lock()
        self._ready.acquire()
        self._job: tuple[Callable[[_Slot], None], _Slot] | None = None
        threading.Thread(target=self._serve, name="aiounit-concurrent", daemon=True).start()

    def give(self, job: Callable[[_Slot], None], slot: _Slot) -> None:
        self._job = (job, slot)
        self._ready.release()

    def _serve(self) -> None:
        while True:
            self._ready.acquire()
            job, self._job = self._job, None
            if job is not None:
                job[0](job[1])
                job = None
            _idle.append(self)


# Workers waiting for a test; list.append and list.pop are atomic.
_idle: list[_Worker] = []


def _start_in_worker(job: Callable[[_Slot], None], slot: _Slot) -> None:
    try:
        worker = _idle.pop()
    except IndexError:
        worker = _Worker()
    worker.give(job, slot)


def _nothing() -> None:
    return None


def run_batch(
    owner: LoopScope, tests: list[unittest.TestCase], result: unittest.TestResult, limit: int
) -> None:
    """Run ``tests`` (one class's, its class fixtures set up) concurrently on ``owner``'s
    loop, at most ``limit`` at a time. Raises KeyboardInterrupt after a Ctrl-C, once
    the tests it ended have been reported."""
    batch = _Batch(owner, tests, result, limit)
    loop = owner.get_loop()
    with batch.installed(loop):
        try:
            owner.run(batch.drive())
        except KeyboardInterrupt:
            batch.abandon()  # a second Ctrl-C: report what the running tests got to
            raise
    if batch.presses or any(slot.interrupted for slot in batch.slots):
        raise KeyboardInterrupt


class ConcurrentSuite(unittest.TestSuite):
    """The tests of one class that runs them concurrently (``concurrent = True``).

    aiounit's loader makes one per such class. Class and module fixtures run as
    unittest's suite runs them; the tests in between run at the same time on the class
    loop, at most ``limit`` at once. Where the class loop is not open (its
    ``setUpClass`` was not ours) or in ``debug()``, the tests run one by one.
    """

    def __init__(self, tests: Any = (), *, limit: int = DEFAULT_CONCURRENCY) -> None:
        super().__init__(tests)
        self.limit = limit

    def run(self, result: unittest.TestResult, debug: bool = False) -> unittest.TestResult:
        """Run the class's fixtures, then its tests concurrently."""
        items = list(self)
        tests = [test for test in items if isinstance(test, unittest.TestCase)]
        if debug or not tests or len(tests) != len(items):
            return super().run(result, debug)
        cls = type(tests[0])
        if getattr(cls, "__unittest_skip__", False) or any(type(t) is not cls for t in tests):
            return super().run(result, debug)
        top_level = False
        if getattr(result, "_testRunEntered", False) is False:
            result._testRunEntered = top_level = True  # type: ignore[attr-defined]
        # unittest's suite helpers: the same fixture handling as a plain suite's.
        self._tearDownPreviousClass(tests[0], result)  # type: ignore[attr-defined]
        self._handleModuleFixture(tests[0], result)  # type: ignore[attr-defined]
        self._handleClassSetUp(tests[0], result)  # type: ignore[attr-defined]
        result._previousTestClass = cls  # type: ignore[attr-defined]
        failed = getattr(cls, "_classSetupFailed", False) or getattr(
            result, "_moduleSetUpFailed", False
        )
        if not failed and not result.shouldStop:
            state = vars(cls).get("_aiounit_class_state")
            owner = getattr(state, "scope", None)
            if isinstance(owner, LoopScope) and owner.is_open:
                run_batch(owner, tests, result, self.limit)
            else:
                for test in tests:
                    if getattr(result, "shouldStop", False):
                        break
                    test(result)
        if top_level:
            self._tearDownPreviousClass(None, result)  # type: ignore[attr-defined]
            self._handleModuleTearDown(result)  # type: ignore[attr-defined]
            result._testRunEntered = False  # type: ignore[attr-defined]
        return result
