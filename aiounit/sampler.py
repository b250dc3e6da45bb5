"""The blocked-loop sampler: a daemon thread that reads a loop's stack when a step runs long.

It looks at the running step of the watched timer once the step passes the threshold, off
the loop's thread so the loop pays nothing for it: the stack it reads shows the line that
blocks.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import types
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from aiounit.blocked import StepTimer

__all__ = ["StepSample", "sampler"]

_monotonic: Final = time.monotonic
#: How long the thread keeps polling with nothing to watch before it waits to be woken,
#: and how often it polls then.
_LINGER: Final = 1.0
_IDLE_PAUSE: Final = 0.025
_NEVER: Final = float("inf")


class StepSample:
    """What the sampler saw of a step that ran long: the step (by its start), its frames
    (file, line, function, code flags; outermost first) and the callback it runs."""

    # A plain class: a NamedTuple costs more to build at import than the rest of this.
    __slots__ = ("frames", "handle", "start")

    def __init__(self, start: float, frames: list[tuple[str, int, str, int]], handle: str) -> None:
        self.start = start
        self.frames = frames
        self.handle = handle


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

    def watch(self, timer: StepTimer) -> None:
        """Watch ``timer``'s steps (replacing any other)."""
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

    def forget_thread(self) -> None:
        """After fork(): the child has no sampler thread; the next watch starts one."""
        self._thread = None
        self._wake = threading.Event()
        self._idle = True

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
        if start is None:
            return threshold / 4
        due = start + threshold - _monotonic()
        if due > 0:
            return due
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
