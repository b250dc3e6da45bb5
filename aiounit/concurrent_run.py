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
import heapq
import itertools
import sys
import threading
import time
import unittest
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from aiounit import capture, interrupts
from aiounit._compat import task_context
from aiounit.clock import VirtualClock
from aiounit.concurrent_scope import ConcurrentScope, _local
from aiounit.config import DEFAULT_CONCURRENCY
from aiounit.hygiene import Finding, Level
from aiounit.monitor import ORIGIN_DEPTH, TestMonitor
from aiounit.recorder import ResultRecorder
from aiounit.scope import _TEST_MARK, LoopScope
from aiounit.timeouts import TimeoutJob, install_signal_handler

__all__ = ["DEFAULT_CONCURRENCY", "ConcurrentSuite", "run_batch"]

# Frames of this module sit between the user's code and the loop: hide them from
# failure tracebacks so a failure points at the test.
__unittest = True


class _ConcurrentMonitor(TestMonitor):
    """A test's checks when it shares the loop with tests running at the same time.

    The batch owns the loop's exception handler and the never-awaited hook, and hands
    each report to the monitor of the test it came from.
    """

    def __init__(
        self, batch: _Batch, scope: ConcurrentScope, test_id: str, levels: Mapping[str, Level]
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


class _Slot:
    """One test of the batch: its worker, its recorder and what became of it."""

    __slots__ = ("batch", "capture", "done", "error", "interrupted", "mark", "recorder", "test")

    def __init__(self, batch: _Batch, test: unittest.TestCase) -> None:
        self.batch = batch
        self.test = test
        self.recorder = ResultRecorder(batch.result)
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
        self._pending = iter(self.slots)
        self._running: list[_Slot] = []
        self.finished = False
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
        self, scope: ConcurrentScope, test_id: str, levels: Mapping[str, Level]
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
        """Start the tests, at most ``limit`` at a time, and replay each as it ends.

        It can be cancelled and driven again: it keeps its place in the batch.
        """
        self._loop = asyncio.get_running_loop()
        if self._wake is None:
            self._wake = asyncio.Event()
        wake = self._wake
        try:
            while True:
                while not self.stopping and len(self._running) < self.limit:
                    slot = next(self._pending, None)
                    if slot is None:
                        break
                    self._running.append(slot)
                    self.busy(1)
                    _start_in_worker(self._work, slot)
                if not self._running:
                    break
                await wake.wait()
                wake.clear()
                self._running = [slot for slot in self._running if not slot.done]
                self._replay_ready()
        except asyncio.CancelledError:
            return  # stopped from outside the loop: run_batch decides what comes next
        # Tests never started (Ctrl-C, failfast) are not reported, as in a serial run.
        self.slots = self.slots[: self._replayed]
        self.finished = True

    # -- in a worker thread -------------------------------------------------------------

    def _work(self, slot: _Slot) -> None:
        _local.slot = slot
        sys.set_coroutine_origin_tracking_depth(ORIGIN_DEPTH)
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
            slot = _local.slot
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
    def levels(self) -> Mapping[str, Level]:
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
        from aiounit import monitor as checks_monitor

        previous_handler = self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._on_loop_exception)
        checks_monitor._hook_unawaited()
        previous_active = checks_monitor._active
        checks_monitor._active = self  # type: ignore[assignment]
        previous_depth = sys.get_coroutine_origin_tracking_depth()
        sys.set_coroutine_origin_tracking_depth(max(ORIGIN_DEPTH, previous_depth))
        install_signal_handler()  # in the main thread: the loop's, where test code runs
        output = capture.routed_output() if self.capture_output else contextlib.nullcontext()
        try:
            with interrupts.routed(self), output:
                yield
        finally:
            sys.set_coroutine_origin_tracking_depth(previous_depth)
            checks_monitor._active = previous_active
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
        while not batch.finished:
            try:
                owner.run(batch.drive())
            except (KeyboardInterrupt, SystemExit):
                if batch.presses > 1:
                    batch.abandon()  # a second Ctrl-C: report what the running tests got to
                    raise
                # Raised by a test's own code: asyncio lets it out of the loop, and keeps
                # it on the test's task too, which hands it to that test. Go on.
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
