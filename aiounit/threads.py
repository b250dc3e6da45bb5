"""The ``leaked-thread`` check: threads a test started that are still running after it ended."""

from __future__ import annotations

import asyncio
import concurrent.futures.thread
import linecache
import os
import sys
import threading
import time
import types
import unittest
import weakref
from collections.abc import Callable
from typing import Any, Final

from aiounit import exit_guard
from aiounit._compat import shut_down_executor
from aiounit.errors import ConfigurationError
from aiounit.hygiene import Finding, Level

__all__ = [
    "DEFAULT_THREAD_GRACE",
    "THREAD_GRACE_ENV",
    "ThreadOrigin",
    "ThreadWatch",
    "describe_left_thread",
    "origin_of",
    "thread_grace",
]

# The Thread.start() wrapper sits between the user's code and the thread: hide it from
# tracebacks (starting a thread twice raises from inside it).
__unittest = True

SLUG: Final = "leaked-thread"
#: Seconds, read at each use: how long a thread a test left running may take to end,
#: after the test's teardown before it is reported, and at exit before the process ends.
THREAD_GRACE_ENV: Final = "AIOUNIT_THREAD_GRACE"
#: The grace when ``AIOUNIT_THREAD_GRACE`` is not set: enough for a thread that was told
#: to stop in a cleanup to notice it, short enough not to slow a run down.
DEFAULT_THREAD_GRACE: Final = 0.5

# Enough frames to reach the user's line through asyncio.to_thread(), run_in_executor()
# and the executor's own frames, which are left out when the origin is shown.
_ORIGIN_DEPTH: Final = 16

_THREADING_FILE: Final = threading.__file__
_HIDDEN_DIRS: Final = (
    os.path.dirname(asyncio.__file__) + os.sep,
    os.path.dirname(unittest.__file__) + os.sep,
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.dirname(concurrent.futures.thread.__file__) + os.sep,
)
# threading.py's own frames that every thread has: how it started, not where it is.
_BOOTSTRAP: Final = frozenset({"_bootstrap", "_bootstrap_inner", "run"})


def thread_grace() -> float:
    """The grace in seconds, from ``AIOUNIT_THREAD_GRACE`` or the default."""
    raw = os.environ.get(THREAD_GRACE_ENV, "").strip()
    if not raw:
        return DEFAULT_THREAD_GRACE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigurationError(
            f"environment variable {THREAD_GRACE_ENV}={raw!r} is not a number of seconds. "
            "Set it to 0 or more, e.g. 0.5, or unset it for the default of "
            f"{DEFAULT_THREAD_GRACE:g} s",
            slug="bad-setting",
        )
    return value


class ThreadOrigin:
    """Which test started a thread, and where (frames outermost first)."""

    # A plain class: a dataclass costs a millisecond to build at import.
    __slots__ = ("frames", "test_id", "token")

    def __init__(
        self, test_id: str, frames: tuple[tuple[str, int, str], ...], token: object
    ) -> None:
        self.test_id = test_id
        self.frames = frames
        #: Identifies the run of the test that started the thread (a test id may run twice).
        self.token = token

    def __repr__(self) -> str:
        return f"ThreadOrigin(test_id={self.test_id!r}, frames={len(self.frames)})"


# Every thread started while a test ran, until the thread object is freed.
_origins: weakref.WeakKeyDictionary[threading.Thread, ThreadOrigin] = weakref.WeakKeyDictionary()
_active: ThreadWatch | None = None
_original_start: Callable[[threading.Thread], None] | None = None


def _tracking_start(self: threading.Thread) -> None:
    watch = _active
    if watch is not None and self.ident is None:
        watch.started(self, sys._getframe(1))
    assert _original_start is not None
    _original_start(self)


def _install() -> None:
    # Thread.start() is the one place every thread goes through, executor workers and
    # subclasses alike, on every Python version; while no test runs it costs one check.
    global _original_start
    current = threading.Thread.start
    if current is _tracking_start:
        return
    _original_start = current
    threading.Thread.start = _tracking_start  # type: ignore[method-assign]


def origin_of(thread: threading.Thread) -> ThreadOrigin | None:
    """The test that started ``thread`` and where, if it was started during a test."""
    return _origins.get(thread)


class ThreadWatch:
    """Notes the threads one test starts and reports those still alive after it ended.

    Threads started by a thread that an earlier test started belong to that test, never
    to the one running when they start. ``result`` is the result the test runs with; it
    decides the exit status when a thread left behind would keep the process alive.
    """

    __test__ = False  # not a test class, whatever pytest's name patterns say

    def __init__(self, test_id: str, level: Level, result: object = None) -> None:
        self.test_id = test_id
        self.level = level
        self.result = result
        self._token = object()
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self._previous: ThreadWatch | None = None

    def start(self) -> None:
        """Begin noting the threads started from now on."""
        global _active
        _install()
        # A test run from inside another test (a framework's own tests do this) hands
        # the watch back to the outer one when it ends.
        self._previous, _active = _active, self

    def started(self, thread: threading.Thread, frame: types.FrameType | None) -> None:
        """Record ``thread``, which code at ``frame`` is starting while this test runs."""
        owner = _origins.get(threading.current_thread())
        frames = _task_origin() + _frames(frame)
        if owner is not None and owner.token is not self._token:
            # Started by a thread an earlier test left running: that test's, and already
            # outliving it, so it counts at exit like the thread that started it.
            _origins[thread] = ThreadOrigin(owner.test_id, frames, owner.token)
            if not thread.daemon:
                exit_guard.abandon(thread, owner.test_id, _describer(thread))
            return
        _origins[thread] = ThreadOrigin(self.test_id, frames, self._token)
        self._threads.append(thread)

    def stop(self) -> list[Finding]:
        """Stop noting threads; after a grace, report those of the test still running.

        Call it once the test's loop is closed (its default executor shut down).
        """
        global _active
        if _active is self:
            _active = self._previous
        if self._stopped:
            return []
        self._stopped = True
        threads, self._threads = self._threads, []
        candidates = [
            t for t in threads if t.is_alive() and not _idle_worker(t) and not _follower(t)
        ]
        if not candidates:
            return []
        if self.level != "off":
            deadline = time.monotonic() + thread_grace()
            for thread in candidates:
                thread.join(max(0.0, deadline - time.monotonic()))
        left = [t for t in candidates if t.is_alive() and not _idle_worker(t)]
        findings = []
        for thread in left:
            if not thread.daemon:
                exit_guard.abandon(thread, self.test_id, _describer(thread), self.result)
            if self.level != "off":
                findings.append(Finding(SLUG, self.level, self._message(thread)))
        return findings

    def _message(self, thread: threading.Thread) -> str:
        if thread.daemon:
            effect = (
                "It is a daemon thread, so it cannot keep the process from exiting, but it "
                "keeps running while the next tests run"
            )
        else:
            effect = (
                "It keeps running while the next tests run, and Python waits for it before "
                "the process can exit (aiounit ends the process instead, see the guide)"
            )
        return (
            f"{self.test_id} left a thread running after its teardown. "
            f"{describe_left_thread(thread)}\n{effect}. Make the thread end before the test "
            "does: tell it to stop (an Event it checks, a sentinel on its queue, closing "
            "what it reads from) and join() it in a cleanup. An executor job keeps running "
            "when the task awaiting it is cancelled: make the function itself return"
        )


def _describer(thread: threading.Thread) -> Callable[[], str]:
    # Called at exit, when the thread's stack says where it is stuck by then.
    return lambda: describe_left_thread(thread)


def describe_left_thread(thread: threading.Thread) -> str:
    """Name a thread and what it runs, where it was started and where it is now."""
    lines = [f"Thread {thread.name!r}{_what_it_runs(thread)}"]
    origin = _origins.get(thread)
    if origin is not None:
        shown = _format(origin.frames)
        if shown:
            lines.append("Started at (most recent call last):\n" + shown)
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        lines.append("It has just ended.")
    else:
        lines.append("Running now at (most recent call last):\n" + _format(_stack(frame)))
    return "\n".join(lines)


def _what_it_runs(thread: threading.Thread) -> str:
    job = _executor_job(thread)
    if job is not None:
        return f", a worker of a ThreadPoolExecutor, running the job {_name(job)}()"
    target = getattr(thread, "_target", None)  # private, but the only place it is kept
    if target is not None:
        return f" running {_name(target)}()"
    if type(thread).run is not threading.Thread.run:
        return f" running {type(thread).__qualname__}.run()"
    return ""


def _name(func: Any) -> str:
    inner = getattr(func, "func", None)  # functools.partial, as asyncio.to_thread makes
    if inner is not None:
        # to_thread() runs partial(context.run, func, ...): name the user's function.
        args = getattr(func, "args", None) or (None,)
        if getattr(inner, "__qualname__", "") == "Context.run" and callable(args[0]):
            return _name(args[0])
        return _name(inner)
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None) or repr(func)
    return f"{module}.{qualname}" if module and module != "builtins" else qualname


def _frames(frame: types.FrameType | None) -> tuple[tuple[str, int, str], ...]:
    found: list[tuple[str, int, str]] = []
    while frame is not None and len(found) < _ORIGIN_DEPTH:
        code = frame.f_code
        found.append((code.co_filename, frame.f_lineno or code.co_firstlineno, code.co_name))
        frame = frame.f_back
    found.reverse()
    return tuple(found)


def _task_origin() -> tuple[tuple[str, int, str], ...]:
    # A thread started from a task other than the test's own (asyncio.wait_for() runs
    # asyncio.to_thread() in a task of its own) has only asyncio's frames below it: the
    # line that created the task's coroutine, tracked while a test runs, is the user's.
    if asyncio._get_running_loop() is None:
        return ()
    task = asyncio.current_task()
    origin = getattr(task.get_coro(), "cr_origin", None) if task is not None else None
    return tuple(reversed(origin)) if origin else ()


def _stack(frame: types.FrameType) -> tuple[tuple[str, int, str], ...]:
    found: list[tuple[str, int, str]] = []
    current: types.FrameType | None = frame
    while current is not None:
        code = current.f_code
        found.append((code.co_filename, current.f_lineno or code.co_firstlineno, code.co_name))
        current = current.f_back
    found.reverse()
    return tuple(found)


def _format(frames: tuple[tuple[str, int, str], ...]) -> str:
    # Leave out asyncio, unittest, aiounit, the executor and threading's start-up: what
    # remains is the user's code and, innermost, the call that blocks.
    shown = [
        f
        for i, f in enumerate(frames)
        if not f[0].startswith(_HIDDEN_DIRS)
        and not (f[0] == _THREADING_FILE and (f[2] in _BOOTSTRAP or i < len(frames) - 3))
    ] or list(frames[-1:])
    lines = []
    for filename, lineno, name in shown:
        source = linecache.getline(filename, lineno).strip()
        where = f'  File "{filename}", line {lineno}, in {name}'
        lines.append(f"{where}\n    {source}" if source else where)
    return "\n".join(lines)


def _worker_frames(thread: threading.Thread) -> list[types.FrameType] | None:
    """The frames from an executor worker's loop inwards, or None if not a worker."""
    target = getattr(thread, "_target", None)
    if getattr(target, "__module__", None) != "concurrent.futures.thread":
        return None
    frame = sys._current_frames().get(thread.ident or -1)
    frames: list[types.FrameType] = []
    while frame is not None:
        frames.append(frame)
        if frame.f_code.co_name == "_worker":
            frames.reverse()
            return frames
        frame = frame.f_back
    return None


def _idle_worker(thread: threading.Thread) -> bool:
    # A worker between jobs waits on its executor's queue; one running a job has the
    # work item's run() just inside its loop. An idle worker is the executor's to keep
    # (a class loop's executor serves later tests) and ends at exit on its own.
    frames = _worker_frames(thread)
    return frames is not None and (len(frames) < 2 or frames[1].f_code.co_name != "run")


def _executor_job(thread: threading.Thread) -> Any:
    frames = _worker_frames(thread)
    if frames is None or len(frames) < 2 or frames[1].f_code.co_name != "run":
        return None
    try:
        item = frames[1].f_locals.get("self")
    except Exception:  # reading another thread's locals is best effort
        return None
    return getattr(item, "fn", None)


def _follower(thread: threading.Thread) -> bool:
    # asyncio's own helper threads wait on something else the test left, which is the
    # finding and the one that counts at exit; each helper ends when that thing does.
    # - The default executor's shutdown helper waits for a stuck worker.
    # - A child watcher's waitpid thread (3.11, and where pidfd is missing) waits for a
    #   subprocess the test never waited for: unclosed-resource names the subprocess.
    target = getattr(thread, "_target", None)
    if target is shut_down_executor:
        return True
    name = getattr(target, "__name__", None)
    if name == "_do_shutdown":
        return isinstance(getattr(target, "__self__", None), asyncio.AbstractEventLoop)
    return name == "_do_waitpid" and getattr(target, "__module__", "").startswith("asyncio")
