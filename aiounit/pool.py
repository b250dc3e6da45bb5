"""The worker processes of a parallel run: starting them, their state, their limits."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import sys
import threading
import time

from aiounit.worker_main import readable, serve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from multiprocessing.connection import Connection
    from typing import Any

    from aiounit.shards import Unit
    from aiounit.workers import _UnitState

__all__ = [
    "SAFE_METHOD",
    "Limits",
    "Worker",
    "WorkerPool",
    "deadline",
    "exit_status",
    "fork_is_safe",
    "forks_here",
    "grace_for",
    "resolve_jobs",
]

#: How workers start when forking is not safe: a fresh interpreter that imports aiounit and
#: the test modules itself, whatever threads the main process has.
SAFE_METHOD = "spawn"


def forks_here() -> bool:
    """Whether this platform may start workers by forking (Linux, where threads can be seen).

    macOS forks badly under its system libraries (CPython spawns there by default), and
    other systems give no cheap way to count a process's threads, C threads included.
    """
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def fork_is_safe() -> bool:
    """Whether forking this process now is safe: Linux, and no thread but the calling one.

    A thread (aiounit's watchdog, the user's, one a C extension started) may hold a lock
    at the moment of the fork, which would stay held forever in the child; Python 3.12+
    warns (``DeprecationWarning``) about exactly this. The kernel's list of the process's
    tasks counts C threads too, which :func:`threading.active_count` does not see.
    """
    if not forks_here() or threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


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

    def __init__(
        self,
        number: int,
        units: Mapping[int, Unit] | None = None,
        others: Sequence[Connection] = (),
    ) -> None:
        self.number = number
        #: ``fork`` (the worker has the main process's tests) or :data:`SAFE_METHOD`.
        self.method = "fork" if units is not None else SAFE_METHOD
        context: Any = multiprocessing.get_context(self.method)
        ours, theirs = context.Pipe()
        if units is None:
            args: tuple[Any, ...] = (theirs,)
        else:
            # A forked worker holds copies of this end of its pipe and of the other
            # workers' pipes: it closes them, so that each worker still reads the end of
            # its pipe when the main process is gone.
            args = (theirs, units, [ours, *others])
        # Not a daemon: multiprocessing forbids daemons children of their own, and tests
        # that start processes (multiprocessing, a nested aiounit -j) must run in a worker
        # as they do serially. The run stops and joins its workers itself, and a worker
        # whose main process is gone reads the end of its pipe and exits.
        self.process = context.Process(
            target=serve, args=args, name=f"aiounit-worker-{number}", daemon=False
        )
        self.process.start()
        theirs.close()
        self.conn: Connection = ours
        #: Whether the worker has sent something not read yet (or has ended).
        self.readable = readable(ours)
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

    Workers are forked from the main process once the tests are loaded, when that is safe
    (see :func:`fork_is_safe`): they inherit the imported test modules and the loaded
    tests, and start in a few milliseconds. Otherwise they are spawned, and each imports
    aiounit and the test modules again. On a platform that never forks, the command line
    starts the pool as soon as it knows ``-j``, so the spawned workers start up while the
    main process discovers the tests; :class:`ParallelSuite` starts the workers a run
    lacks, and new workers in place of those that die, forked if safe at that moment.
    """

    def __init__(self, jobs: int, *, start: bool = True, fork: bool = True) -> None:
        #: The number of workers the run uses at most.
        self.size = resolve_jobs(jobs)
        #: Whether workers may be forked (``--worker-start auto``); False spawns them all.
        self.fork = fork and forks_here()
        self.started = 0
        self.workers: list[Worker] = []
        if start and not self.fork:
            for _ in range(self.size):
                self.add()

    def add(self, units: Mapping[int, Unit] | None = None) -> Worker:
        """Start one more worker: forked with ``units`` (by index) if allowed and safe now,
        else spawned."""
        self.started += 1
        if units is not None and not (self.fork and fork_is_safe()):
            units = None
        others = [worker.conn for worker in self.workers]
        worker = Worker(self.started, units, others)
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
