"""How long a loop's thread waited for a CPU: the kernel's count, noted at step starts.

On a loaded machine the kernel may leave a runnable thread off the CPU for tens of
milliseconds; a loop step then takes longer by the clock without the test doing
anything. Linux counts that waiting per thread (the run-queue delay, the second number in
``/proc/self/task/<tid>/schedstat``). Reading it costs a few microseconds, too much for
every step: a thread's count is noted at the start of a step only when its last note is
older than a set interval, and read again only at the end of a step that ran long.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Final

__all__ = ["CpuWait", "for_thread", "run_delay"]

_monotonic: Final = time.monotonic
# Notes kept per thread: at most one is taken per step, so the last one taken at or
# before a long step began is still there when it ends.
_NOTES: Final = 3
_files: dict[int, int | None] = {}
_threads: dict[int, CpuWait] = {}


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


class CpuWait:
    """The notes of one thread's count: (when, nanoseconds waited so far), oldest first."""

    __slots__ = ("last", "native_id", "notes")

    def __init__(self, native_id: int) -> None:
        self.native_id = native_id
        self.notes: tuple[tuple[float, int], ...] = ()
        #: When the last note was taken, or tried (the system may keep no count).
        self.last = -float("inf")

    def note(self, when: float) -> None:
        """Note the count now; ``when`` is the monotonic time it stands for (just before)."""
        self.last = when
        delay = run_delay(self.native_id)
        if delay is not None:
            self.notes = (*self.notes, (when, delay))[-_NOTES:]

    def since(self, start: float) -> float | None:
        """Seconds the thread waited for a CPU from ``start`` until now, at most: counted
        from the last note taken at or before ``start``. None when it cannot be told."""
        now = run_delay(self.native_id)
        if now is None:
            return None
        for when, delay in reversed(self.notes):
            if when <= start:
                return max(0, now - delay) / 1e9
        return None


def for_thread(native_id: int) -> CpuWait:
    """The notes of thread ``native_id`` (kept from test to test)."""
    wait = _threads.get(native_id)
    if wait is None:
        wait = _threads[native_id] = CpuWait(native_id)
    return wait


def _forget() -> None:
    # A child's files and notes are of the parent's threads.
    for fd in _files.values():
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    _files.clear()
    _threads.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)
