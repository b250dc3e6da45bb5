"""The blocked-loop sampler: a daemon thread that looks at a loop step running long.

It does two things for :mod:`aiounit.blocked`, both off the loop's thread so the loop
pays nothing for them: it reads the loop thread's stack once a step passes the threshold
(the line that blocks), and it notes now and then how long that thread has waited for a
CPU so far (the run-queue delay the kernel counts), so a step can be measured without
the time the machine gave to other processes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import types
from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    from aiounit.blocked import StepTimer

__all__ = ["StepSample", "run_delay", "sampler"]

_monotonic: Final = time.monotonic
# How many run-delay marks are kept per thread: at most one is taken per step, so the
# last one taken before a long step began is still there when it ends.
_MARKS: Final = 3
#: How long the thread keeps polling with nothing to watch before it waits to be woken,
#: and how often it polls then.
_LINGER: Final = 1.0
_IDLE_PAUSE: Final = 0.025
_NEVER: Final = float("inf")


class StepSample(NamedTuple):
    """What the sampler saw of a step that ran long: the step (by its start), its frames
    (file, line, function, code flags; outermost first) and the callback it runs."""

    start: float
    frames: list[tuple[str, int, str, int]]
    handle: str


# -- run-queue delay ------------------------------------------------------------------------
# /proc/self/task/<tid>/schedstat holds three numbers for a thread: nanoseconds on a CPU,
# nanoseconds spent runnable but waiting for a CPU, and time slices. The second is what a
# loaded machine adds to a step's wall-clock time. One file is kept open per thread and
# read with pread(), which costs a few microseconds: too much for every step, so only the
# sampler reads it routinely, and the loop's thread only at the end of a step that ran long.
_files: dict[int, int | None] = {}


def run_delay(native_id: int) -> int | None:
    """Nanoseconds thread ``native_id`` has waited for a CPU since it started, or None
    where the system does not say (not Linux, or no scheduler statistics)."""
    fd = _files.get(native_id, -1)
    if fd == -1:
        try:
            fd = os.open(f"/proc/self/task/{native_id}/schedstat", os.O_RDONLY)
        except OSError:
            fd = None
        _files[native_id] = fd
    if fd is None:
        return None
    try:
        return int(os.pread(fd, 96, 0).split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _forget_files() -> None:
    # A child's files name the parent's threads; they are reopened by thread id.
    for fd in _files.values():
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    _files.clear()


# -- stacks ------------------------------------------------------------------------------------


def _step_sample(start: float, thread_id: int) -> StepSample | None:
    """What runs in ``thread_id`` now, or None when it is not inside a step of a loop."""
    frame: types.FrameType | None = sys._current_frames().get(thread_id)
    frames: list[tuple[str, int, str, int]] = []
    outer: types.FrameType | None = None
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_run_once":
            frames.reverse()
            return StepSample(start, frames, _handle_text(outer))
        lineno = frame.f_lineno
        frames.append(
            (
                code.co_filename,
                code.co_firstlineno if lineno is None else lineno,
                code.co_name,
                code.co_flags,
            )
        )
        outer, frame = frame, frame.f_back
    return None


def _handle_text(frame: types.FrameType | None) -> str:
    """The handle whose callback the step runs, read from Handle._run()'s frame.

    It names a callback written in C (time.sleep), which has no frame of its own.
    Reading another thread's frame locals is safe while this thread holds the GIL.
    """
    if frame is None or frame.f_code.co_name != "_run":
        return "(unknown)"
    text = repr(frame.f_locals.get("self"))
    return text if len(text) <= 200 else text[:197] + "..."


class _Sampler:
    """The daemon thread that looks at the steps of the watched timer's loop."""

    def __init__(self) -> None:
        self._timer: StepTimer | None = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        #: True while the thread waits for a timer to watch (or has not started).
        self._idle = True
        # Per loop thread: (when, run delay) pairs, oldest first, and the step (by its
        # start) the last one was taken in.
        self._marks: dict[int, tuple[tuple[float, int], ...]] = {}
        self._marked_step: dict[int, float | None] = {}

    def watch(self, timer: StepTimer) -> None:
        """Watch ``timer``'s steps (replacing any other)."""
        if timer.native_id not in self._marks:
            # The first timer of a thread: a mark to measure its first steps from.
            self.mark(timer.native_id, None)
        self._timer = timer
        # Set before it is read here, and read after it is set in _run(): one of the
        # two threads sees the other's write, so the thread never sleeps on a timer.
        if self._idle:
            self._idle = False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="aiounit-blocked-loop", daemon=True
                )
                self._thread.start()
            else:
                self._wake.set()

    def unwatch(self, timer: StepTimer) -> None:
        """Stop watching ``timer`` if it is the watched one."""
        if self._timer is timer:
            self._timer = None

    def mark(self, native_id: int, step: float | None) -> None:
        """Note how long thread ``native_id`` has waited for a CPU so far; ``step`` is the
        start of the step it runs now (None between steps): one mark per step is kept."""
        if step is not None and self._marked_step.get(native_id, None) is step:
            return
        when = _monotonic()
        delay = run_delay(native_id)
        if delay is None:
            return
        self._marked_step[native_id] = step
        self._marks[native_id] = (*self._marks.get(native_id, ()), (when, delay))[-_MARKS:]

    def waited(self, native_id: int, start: float) -> float | None:
        """Seconds thread ``native_id`` waited for a CPU from ``start`` until now, at most
        (counted from the last mark before ``start``), or None when it cannot be told."""
        now = run_delay(native_id)
        if now is None:
            return None
        for when, delay in reversed(self._marks.get(native_id, ())):
            if when <= start:
                return max(0, now - delay) / 1e9
        return None

    def forget_thread(self) -> None:
        """After fork(): the child has no sampler thread; the next watch starts one."""
        self._thread = None
        self._wake = threading.Event()
        self._idle = True
        self._marks.clear()
        self._marked_step.clear()
        _forget_files()

    def _run(self) -> None:
        unwatched_since: float | None = None
        while True:
            pause = self._look()
            if pause is not None:
                unwatched_since = None
                time.sleep(pause)
                continue
            # Between two tests nothing is watched for a moment: waking this thread for
            # each test would cost every test a thread switch, so it lingers a little.
            now = _monotonic()
            if unwatched_since is None:
                unwatched_since = now
            if now - unwatched_since < _LINGER:
                time.sleep(_IDLE_PAUSE)
                continue
            unwatched_since = None
            self._wake.clear()
            self._idle = True
            if self._timer is None:
                self._wake.wait()
            self._idle = False

    def _look(self) -> float | None:
        """Mark the watched loop's thread, and sample its step if it runs past the
        threshold; return how long to sleep, or None when nothing is watched. Nothing is
        held while sleeping, so a test's loop is never freed in this thread."""
        timer = self._timer
        if timer is None:
            return None
        threshold = timer.threshold
        if threshold == _NEVER:  # uninstalled, and not unwatched yet
            return _IDLE_PAUSE
        start = timer.step
        self.mark(timer.native_id, start)
        if start is None:
            return threshold / 4
        due = start + threshold - _monotonic()
        if due > 0:
            # Woken before it is due too, so that the next steps have a recent mark.
            return min(due, threshold / 4)
        thread_id = getattr(timer.loop, "_thread_id", None)  # set while the loop runs
        sample = timer.sample
        if thread_id is not None and (sample is None or sample.start is not start):
            sample = _step_sample(start, thread_id)
            # Read again: if the step ended meanwhile, the frames are another's.
            if sample is not None and timer.step is start:
                timer.sample = sample
        return threshold / 4


#: The one sampler of the process.
sampler: Final = _Sampler()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=sampler.forget_thread)
