"""The main-process side of ``-j``: the worker pool, scheduling, crashes, Ctrl-C, replay."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import unittest
from multiprocessing.connection import wait

from aiounit.pool import Limits, Worker, WorkerPool, deadline, exit_status, grace_for
from aiounit.replay import replay
from aiounit.result import BAD_OUTCOMES, TestResult
from aiounit.worker_main import (
    StreamingResult,
    WorkerOptions,
    error_record,
    run_unit,
    unpack,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from aiounit.shards import Unit
    from aiounit.worker_main import Event

__all__ = ["ParallelSuite"]

# Workers that die in a row before any of their tests ended: the run stops after that
# many, since a new worker would most likely die the same way.
_FRUITLESS_DEATHS = 3
# Seconds between checks of time limits and stop requests while waiting for workers.
_TICK = 0.25
# Seconds this process lets the workers' messages gather before it reads them again. Short
# tests send one message each: waking up for each would cost this process about as much
# as running the test costs a worker, on a core the workers need. The messages wait in the
# pipe meanwhile, where a worker that dies cannot lose them.
_GATHER = 0.005
# How long Ctrl-C waits for workers to finish their running test before killing them.
_INTERRUPT_WAIT = 30.0


class _UnitState:
    """The events received for one unit so far, and what of it is still to run."""

    __slots__ = ("done", "events", "remaining", "unit")

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.events: list[Event] = []
        self.remaining = unit.ids
        self.done = False


class ParallelSuite:
    """Runs units of tests in worker processes and reports them as a serial run would.

    Called with a :class:`aiounit.TestResult` (as a suite is), it starts ``jobs``
    workers, hands them units, heaviest first when durations are known, and replays the
    records they stream back into the result in serial order, so the terminal output
    and the reports are those of a serial run. Local units (tests that cannot be loaded
    by name elsewhere) run in this process. A worker that dies costs the test it was
    running; a new worker takes over the rest.
    """

    def __init__(
        self,
        units: list[Unit],
        jobs: int,
        *,
        asyncio_mode: str = "strict",
        warnings: str | None = None,
        by_weight: bool = False,
        pool: WorkerPool | None = None,
    ) -> None:
        self.units = units
        self.jobs = jobs
        self.pool = pool
        self.asyncio_mode = asyncio_mode
        self.warnings = warnings
        self.by_weight = by_weight
        #: Exit statuses of workers that died during the run, for tests and reports.
        self.crashes: list[str] = []

    def __iter__(self) -> Iterator[Any]:
        return (item for unit in self.units for item in unit.items)

    def countTestCases(self) -> int:
        """The number of tests in all units."""
        return sum(len(unit.ids) for unit in self.units)

    def __call__(self, result: unittest.TestResult) -> unittest.TestResult:
        return self.run(result)

    def run(self, result: unittest.TestResult) -> unittest.TestResult:
        """Run every unit into ``result``; Ctrl-C re-raises after the results are replayed."""
        if not isinstance(result, TestResult):
            from aiounit.errors import AiounitError

            raise AiounitError(
                f"-j needs aiounit's TestResult to replay the workers' records into, but "
                f"the runner made a {type(result).__qualname__}. Use aiounit.TestRunner (or "
                "a subclass) and a result class derived from aiounit.TestResult, or run "
                "without -j",
                slug="parallel-needs-aiounit-result",
            )
        _Run(self, result).go()
        return result


class _Run:
    """One parallel run: the pool, the queue of work, and the replay into the result."""

    def __init__(self, suite: ParallelSuite, result: TestResult) -> None:
        self.suite = suite
        self.result = result
        self.options = WorkerOptions(
            asyncio_mode=suite.asyncio_mode,
            buffer=bool(result.buffer),
            failfast=bool(result.failfast),
            tb_locals=bool(result.tb_locals),
            warnings=suite.warnings,
        )
        self.states = [_UnitState(unit) for unit in suite.units]
        #: What a forked worker is given: the units by index (a shard has some of them).
        self.units = {unit.index: unit for unit in suite.units}
        remote = [state for state in self.states if not state.unit.local]
        if suite.by_weight:
            remote.sort(key=lambda s: (-s.unit.weight, s.unit.index))
        self.queue: list[tuple[_UnitState, list[str]]] = [(s, s.remaining) for s in remote]
        self.pool = suite.pool or WorkerPool(suite.jobs, start=False)
        self.workers = self.pool.workers
        self.released = 0
        self.stopping = False
        self.limits = Limits()
        self.fruitless = 0
        self.tests: dict[str, Any] = {}
        for unit in suite.units:
            for item in unit.items:
                for test in _leaves(item):
                    self.tests.setdefault(test.id(), test)

    # -- the pool ------------------------------------------------------------------------

    def go(self) -> None:
        # Before this process runs any test itself: forked workers get it as discovery
        # left it.
        while len(self.workers) < min(self.pool.size, len(self.queue)):
            self.pool.add(self.units)
        try:
            self._run_local_units()
            self._loop()
        except KeyboardInterrupt:
            self._interrupt()
            self._release(everything=True)
            raise
        finally:
            self._shut_down()
        self._release(everything=True)

    def _run_local_units(self) -> None:
        # While the workers start up: tests only this process can load.
        for state in self.states:
            if not state.unit.local or self.stopping:
                continue
            streaming = StreamingResult(state.events.append, self.options)
            interrupted = run_unit(unittest.TestSuite(state.unit.items), streaming)
            state.done = True
            for event in state.events:
                self._check_failfast(event)
            if interrupted:
                raise KeyboardInterrupt
            self._release()

    def _loop(self) -> None:
        while True:
            if self.result.shouldStop and not self.stopping:
                self._stop()
            self._dispatch()
            busy = [w for w in self.workers if w.busy]
            if not busy and (self.stopping or not self.queue):
                return
            waitables: list[Any] = []
            for worker in self.workers:
                waitables += [worker.conn, worker.process.sentinel]
            ready = set(wait(waitables, timeout=self._timeout()))
            received = False
            for worker in list(self.workers):
                if worker.conn in ready:
                    self._receive(worker)
                    received = received or worker.busy
                if worker.process.sentinel in ready or not worker.process.is_alive():
                    self._receive(worker)
                    self._buried(worker)
            self._enforce_deadlines()
            self._release()
            if received:
                time.sleep(_GATHER)

    def _timeout(self) -> float:
        deadlines = [w.deadline for w in self.workers if w.deadline is not None]
        if not deadlines:
            return _TICK
        return max(0.0, min(_TICK, min(deadlines) - time.monotonic()))

    def _dispatch(self) -> None:
        if self.stopping:
            return
        # Idle workers first; then each gets one unit ahead, so that it goes on at once
        # when its unit is done instead of waiting for this process to be scheduled.
        for ahead in (False, True):
            for worker in self.workers:
                if not self.queue:
                    return
                if worker.busy == ahead and not worker.queued and worker.process.is_alive():
                    self._assign(worker, *self.queue.pop(0))
        if self.queue and not any(w.process.is_alive() and not w.busy for w in self.workers):
            alive = sum(w.process.is_alive() for w in self.workers)
            if alive < min(self.pool.size, len(self.queue) + alive):
                self.pool.add(self.units)

    def _assign(self, worker: Worker, state: _UnitState, ids: list[str]) -> None:
        if not worker.set_up:
            worker.send(("setup", sys.path, self.options))
            worker.set_up = True
        if worker.busy:
            worker.queued.append((state, ids))
        else:
            self._begin(worker, state, ids)
        worker.send(("unit", state.unit.index, state.unit.classes, ids))

    def _begin(self, worker: Worker, state: _UnitState, ids: list[str]) -> None:
        """``worker`` starts on ``ids`` of ``state``'s unit (now, or after its last one)."""
        worker.state = state
        worker.attempt = ids
        worker.finished = set()
        worker.cursor = 0
        worker.deadline = self._nextdeadline(worker)

    # -- events --------------------------------------------------------------------------

    def _receive(self, worker: Worker) -> None:
        try:
            while worker.readable():
                self._handle(worker, unpack(worker.conn.recv()))
        except (EOFError, OSError):
            pass
        if worker.busy:
            worker.deadline = self._nextdeadline(worker)

    def _handle(self, worker: Worker, event: Event) -> None:
        state = worker.state
        if state is None:
            return
        kind = event[0]
        if kind == "done":
            state.done = True
            worker.state = worker.deadline = None
            if event[2]:
                self.stopping = True
            elif worker.queued:
                self._begin(worker, *worker.queued.pop(0))
            return
        state.events.append(event)
        if kind == "test":
            worker.finished.add(event[1])
        else:
            # A class (or module) whose fixture failed: its tests will not start.
            failed = {record.target for record in event[1] if record.kind == "fixture"}
            worker.finished.update(i for i in worker.attempt if _within(i, failed))
        self._check_failfast(event)

    def _check_failfast(self, event: Event) -> None:
        if not self.result.failfast or self.stopping:
            return
        records = event[4] if event[0] == "test" else event[1]
        if any(record.outcome in BAD_OUTCOMES for record in records):
            self._stop()

    def _stop(self) -> None:
        """Start no more units; workers end theirs after the running test."""
        self.stopping = True
        for worker in self.workers:
            worker.send(("stop",))

    def _limit(self, test_id: str) -> float | None:
        return self.limits.of(self.tests.get(test_id))

    def _first_of_its_class(self, worker: Worker) -> bool:
        """Whether the worker's current test is the first it runs of its class."""
        position = worker.cursor
        if position == 0:
            return True
        test = self.tests.get(worker.attempt[position])
        previous = self.tests.get(worker.attempt[position - 1])
        return previous is None or type(previous) is not type(test)

    def _nextdeadline(self, worker: Worker) -> float | None:
        # From now, the worker runs its next test, under that test's limit. When the test
        # is the first of its class, the class's hooks run before it, under the limit of
        # the class, which the test may have lowered: the longer of the two is allowed.
        test_id = worker.test
        if test_id is None:
            return None
        test = self.tests.get(test_id)
        limits = [self.limits.of(test)]
        if self._first_of_its_class(worker):
            limits.append(self.limits.of(test, of_class=True))
        known = [limit for limit in limits if limit is not None]
        return deadline(max(known)) if known else None

    # -- crashes and time limits ---------------------------------------------------------

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for worker in list(self.workers):
            if worker.busy and worker.deadline is not None and now >= worker.deadline:
                test_id = worker.test
                test = self.tests.get(test_id) if test_id is not None else None
                worker.killed_after = self.limits.of(test) or 0.0
                worker.process.kill()
                worker.process.join(5)
                self._receive(worker)
                self._buried(worker)

    def _buried(self, worker: Worker) -> None:
        """``worker`` has exited: report what it cost, hand its work on, replace it."""
        if worker not in self.workers:
            return
        worker.process.join(5)
        self.workers.remove(worker)
        worker.conn.close()
        state = worker.state
        if state is None or self.stopping:
            return
        status = exit_status(worker.process.exitcode)
        self.suite.crashes.append(status)
        self.fruitless = 0 if worker.finished else self.fruitless + 1
        if self.fruitless >= _FRUITLESS_DEATHS:
            self._give_up(state, status)
            return
        test_id = worker.test
        message = self._crash_message(worker, test_id, status)
        if test_id is not None:
            test = self.tests.get(test_id, test_id)
            record = error_record(test, message)
            state.events.append(
                ("test", test_id, record.description, record.doc, [record], None, "", "")
            )
            worker.finished.add(test_id)
        else:
            state.events.append(("records", [error_record(state.unit.key, message)]))
        # A worker that dies in a class fixture costs the test it was setting up for;
        # the rest of the unit (fixture included) runs again in a new worker.
        retry = [i for i in worker.attempt if i not in worker.finished]
        # The rest of the unit, then the units sent ahead (which never started), go back
        # to the front of the queue.
        front = [(state, retry)] if retry else []
        self.queue[:0] = front + worker.queued
        worker.queued = []
        if not retry:
            state.done = True
        self._check_failfast(state.events[-1])

    def _give_up(self, state: _UnitState, status: str) -> None:
        """Workers keep dying before any test ends: report it once and run nothing more."""
        self.stopping = True
        message = (
            f"WorkerCrashedError: {_FRUITLESS_DEATHS} worker processes in a row died before "
            f"a test of theirs ended, the last one running {state.unit.key} ({status}). "
            "Something kills every worker early: a crash while importing the test modules, "
            "or the tests' first fixture. Run without -j to see it happen [worker-crashed]"
        )
        state.events.append(("records", [error_record(state.unit.key, message)]))
        state.done = True

    def _crash_message(self, worker: Worker, test_id: str | None, status: str) -> str:
        if test_id is None:
            what = f"the fixtures of {worker.state and worker.state.unit.key}"
        elif self._first_of_its_class(worker):
            # Workers say when a test ends, not when one starts: the class's fixtures,
            # which run before its first test, may be what was running.
            what = f"{test_id} (or the class fixtures that run before it)"
        else:
            what = test_id
        where = f"worker {worker.number} (pid {worker.process.pid})"
        if worker.killed_after is not None:
            limit = worker.killed_after
            return (
                f"WorkerBlockedError: {what} did not end within its time limit of "
                f"{limit:g}s plus a grace of {grace_for(limit):g}s, and {where} did not "
                f"answer, so aiounit killed the worker ({status}). Code blocked inside C "
                "(an extension, ctypes, a lock taken without a timeout) cannot be "
                "interrupted in-process. Give the call a timeout, or run it in a thread "
                "with asyncio.to_thread; the other tests go on in a new worker "
                "[worker-blocked]"
            )
        return (
            f"WorkerCrashedError: {what} was running in {where} when the worker process "
            f"died ({status}). A crash in C code (an extension module, ctypes), os._exit() "
            "or the out-of-memory killer are the usual causes. Run this test alone "
            "without -j to see it happen; the other tests go on in a new worker "
            "[worker-crashed]"
        )

    # -- Ctrl-C and the end --------------------------------------------------------------

    def _interrupt(self) -> None:
        """Pass Ctrl-C on once to every worker, then gather what they still send."""
        self.stopping = True
        for worker in self.workers:
            if worker.process.is_alive() and worker.process.pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(worker.process.pid, signal.SIGINT)
        deadline = time.monotonic() + _INTERRUPT_WAIT
        try:
            while any(w.process.is_alive() for w in self.workers):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                waitables = [w.conn for w in self.workers] + [
                    w.process.sentinel for w in self.workers
                ]
                wait(waitables, timeout=min(_TICK, remaining))
                for worker in self.workers:
                    self._receive(worker)
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop at once
        for worker in self.workers:
            self._receive(worker)

    def _shut_down(self) -> None:
        for worker in self.workers:
            worker.send(None)
        end = time.monotonic() + 5
        for worker in self.workers:
            worker.process.join(max(0.0, end - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self.workers.clear()

    def _release(self, everything: bool = False) -> None:
        """Replay finished units into the result, in serial order (all of them at the end)."""
        while self.released < len(self.states):
            state = self.states[self.released]
            if not (state.done or everything):
                return
            replay(self.result, state.events)
            self.released += 1


def _leaves(item: Any) -> list[Any]:
    if isinstance(item, unittest.TestSuite):
        return [test for child in item for test in _leaves(child)]
    return [item]


def _within(test_id: str, names: set[str]) -> bool:
    """Whether ``test_id`` is in one of the classes or modules ``names``."""
    return any(test_id.startswith(name + ".") for name in names)
