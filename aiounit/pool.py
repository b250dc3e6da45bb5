"""The worker processes of a parallel run: starting them, their state, their limits."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import time

from aiounit.worker_main import serve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from typing import Any

    from aiounit.workers import _UnitState

__all__ = [
    "START_METHOD",
    "Limits",
    "Worker",
    "WorkerPool",
    "deadline",
    "exit_status",
    "grace_for",
    "resolve_jobs",
]

#: How workers are started. ``spawn`` starts each in a fresh interpreter: safe when the
#: main process has threads (aiounit's watchdog, the user's), unlike ``fork``, at the cost
#: of importing aiounit and the test modules again in every worker.
START_METHOD = "spawn"


def resolve_jobs(jobs: int) -> int:
    """The number of workers for ``jobs``; 0 means one per CPU this process may use."""
    if jobs > 0:
        return jobs
    counter = getattr(os, "process_cpu_count", None) or os.cpu_count
    return max(1, counter() or 1)


def grace_for(limit: float) -> float:
    """Seconds a worker may stay silent past a test's limit before it is killed.

    The worker's own watchdog fires at the limit and reports where the test hung; only a
    worker that cannot answer (blocked inside C code) outlives the grace.
    """
    return min(30.0, max(2.0, limit / 2))


class Worker:
    """One worker process and what it is doing."""

    def __init__(self, context: Any, number: int) -> None:
        self.number = number
        ours, theirs = context.Pipe()
        # Not a daemon: multiprocessing forbids daemons children of their own, and tests
        # that start processes (multiprocessing, a nested aiounit -j) must run in a worker
        # as they do serially. The run stops and joins its workers itself, and a worker
        # whose main process is gone reads the end of its pipe and exits.
        self.process = context.Process(
            target=serve, args=(theirs,), name=f"aiounit-worker-{number}", daemon=False
        )
        self.process.start()
        theirs.close()
        self.conn: Connection = ours
        self.set_up = False
        self.state: _UnitState | None = None
        #: The ids sent with the unit now running, and those of them that are done
        #: (ended, or never to start because their class fixture failed).
        self.attempt: list[str] = []
        self.finished: set[str] = set()
        self.cursor = 0
        #: Units sent ahead, to start as soon as the current one is done.
        self.queued: list[tuple[_UnitState, list[str]]] = []
        #: When the worker must have answered by.
        self.deadline: float | None = None
        self.killed_after: float | None = None

    @property
    def test(self) -> str | None:
        """The test the worker runs now (or sets up for): its unit's first one not done.

        Tests end in the order they were sent, so no message is needed when one starts.
        """
        attempt, finished = self.attempt, self.finished
        while self.cursor < len(attempt) and attempt[self.cursor] in finished:
            self.cursor += 1  # done only grows: the cursor never moves back
        return attempt[self.cursor] if self.cursor < len(attempt) else None

    @property
    def busy(self) -> bool:
        """Whether the worker has a unit to run."""
        return self.state is not None

    def send(self, message: object) -> None:
        """Send ``message`` to the worker, unless it has died."""
        # A worker that died cannot be sent to; its sentinel reports the death next.
        with contextlib.suppress(OSError):
            self.conn.send(message)


class WorkerPool:
    """The worker processes of a run.

    The command line starts the pool as soon as it knows ``-j``, so the workers start up
    while the main process discovers the tests; :class:`ParallelSuite` starts one itself
    when given none, and starts new workers in place of those that die.
    """

    def __init__(self, jobs: int, *, start: bool = True) -> None:
        #: The number of workers the run uses at most.
        self.size = resolve_jobs(jobs)
        self.context = multiprocessing.get_context(START_METHOD)
        self.started = 0
        self.workers: list[Worker] = []
        if start:
            for _ in range(self.size):
                self.add()

    def add(self) -> Worker:
        """Start one more worker."""
        self.started += 1
        worker = Worker(self.context, self.started)
        self.workers.append(worker)
        return worker


def deadline(limit: float | None) -> float | None:
    """The monotonic time by which a worker given ``limit`` seconds must have answered."""
    if limit is None or math.isinf(limit):
        return None
    return time.monotonic() + limit + grace_for(limit)


class Limits:
    """Time limits of tests as their cases compute them, read once per class."""

    def __init__(self) -> None:
        self._classes: dict[type, float | None] = {}

    def of(self, test: object, *, of_class: bool = False) -> float | None:
        """The limit of ``test`` (of its class's hooks with ``of_class``); None: no limit."""
        from aiounit.case import AsyncTestCase, _static_lookup
        from aiounit.timeouts import _ATTR, timeout_for

        cls = type(test)
        if cls not in self._classes:
            limit = None
            if isinstance(test, AsyncTestCase):
                with contextlib.suppress(ValueError):
                    limit = timeout_for(None, _static_lookup(cls, "timeout"), cls.__qualname__)[0]
            self._classes[cls] = limit
        limit = self._classes[cls]
        if limit is None or of_class:
            return limit
        method = getattr(cls, getattr(test, "_testMethodName", ""), None)
        own = getattr(method, _ATTR, ...)
        return limit if own is ... else own


def exit_status(code: int | None) -> str:
    """How a process ended, from its exit code: ``exit status 3``, ``killed by signal 9...``."""
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        description = signal.strsignal(-code) or name
        return f"killed by signal {-code}, {name}: {description}"
    return f"exit status {code}"
