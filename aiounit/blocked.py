"""The ``blocked-loop`` check: a step of the loop that held it longer than the threshold.

A step is what the loop runs between two polls of its selector: the ready callbacks and
task steps of one iteration. aiounit's own asyncio loops call the timer from their
selector's poll and from ``run_forever()`` (for the last step of a run); on any other
selector loop, timing wraps those two methods of the instance. Either way it costs two
clock reads per iteration. What a step is charged with is its wall-clock
time less the time its thread waited for a CPU (:mod:`aiounit.cpu_wait`): on a loaded
machine that waiting is not the test's doing. Blocking calls (``time.sleep``, blocking
I/O) and computation count in full. Where a step blocked is read by the sampler thread
(:mod:`aiounit.sampler`).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from aiounit import cpu_wait
from aiounit.hygiene import BLOCKED_LOOP_THRESHOLD_ENV
from aiounit.origins import format_frames, is_internal
from aiounit.sampler import StepSample, sampler
from aiounit.selector_loop import LoopSelector

if TYPE_CHECKING:
    from aiounit.monitor import TestMonitor

__all__ = ["StepTimer"]

_NEVER: Final = float("inf")
# A test that blocks in a loop would fill a report with the same finding: the first
# few say it, then one line counts the rest.
_MAX_BLOCKED_FINDINGS: Final = 3
# Below this, the time a step waited for a CPU is not worth a mention.
_WAIT_WORTH_SAYING: Final = 0.005

_monotonic: Final = time.monotonic


class StepTimer:
    """Times the steps of one test's loop and reports those longer than the threshold."""

    __slots__ = (
        "_count",
        "_cpu",
        "_fresh",
        "_longest",
        "_monitor",
        "_real_run_forever",
        "_real_select",
        "_selector",
        "loop",
        "native_id",
        "sample",
        "step",
        "threshold",
    )

    def __init__(
        self, monitor: TestMonitor, loop: asyncio.AbstractEventLoop, selector: Any, threshold: float
    ) -> None:
        self._monitor = monitor
        #: The loop timed, and the thread it runs in (the kernel's id for it).
        self.loop = loop
        # The thread object keeps its kernel id: get_native_id() asks the kernel each time.
        native_id = threading.current_thread().native_id
        self.native_id = native_id if native_id is not None else threading.get_native_id()
        self._cpu = cpu_wait.for_thread(self.native_id)
        # A note of the thread's CPU waiting older than this is renewed when a step starts.
        self._fresh = threshold / 4
        self._selector = selector
        # Where the timer wraps the loop (not one of aiounit's): what is there now (the
        # class's methods, or a virtual clock's hook) is called through, and put back when
        # the test ends.
        self._real_select: Callable[..., Any] | None = None
        self._real_run_forever: Callable[[], None] | None = None
        self.threshold = threshold
        #: When the running step started (a new float object per step), or None.
        self.step: float | None = None
        #: What the sampler saw of the step that ran long.
        self.sample: StepSample | None = None
        self._count = 0
        self._longest = 0.0

    @classmethod
    def install(cls, monitor: TestMonitor, threshold: float) -> StepTimer | None:
        """Time ``monitor``'s loop, if it is a selector loop (uvloop is not).

        Called in the thread that runs the loop.
        """
        loop = monitor.loop
        selector = getattr(loop, "_selector", None)
        if selector is None:
            return None
        timer = cls(monitor, loop, selector, threshold)
        if isinstance(selector, LoopSelector) and selector.hooks is None:
            # aiounit's own loops call the timer from their selector's poll.
            selector.hooks = timer
            sampler.watch(timer)
            return timer
        # Any other selector loop: wrap its poll and run_forever(). Set as attributes,
        # never through __dict__: on Python 3.11+ reading an instance's __dict__ turns its
        # inline attribute storage into a real dict, which slows every later attribute
        # access on the loop.
        timer._real_select = selector.select
        timer._real_run_forever = loop.run_forever
        try:
            selector.select = timer._select
            loop.run_forever = timer._run_forever  # type: ignore[method-assign]
        except AttributeError:  # objects that take no attributes of their own
            timer.uninstall()
            return None
        sampler.watch(timer)
        return timer

    def uninstall(self) -> None:
        """Stop timing; report how many more slow steps there were than were shown."""
        threshold, self.threshold = self.threshold, _NEVER
        self.step = None
        sampler.unwatch(self)
        selector = self._selector
        if self._real_select is None:  # called by aiounit's selector
            if vars(selector).get("hooks") is self:
                del selector.hooks
        else:
            # A hook installed over ours later (a virtual clock) and not removed yet still
            # calls ours, which now only passes calls through.
            _unhook(selector, "select", self, self._real_select)
            _unhook(self.loop, "run_forever", self, self._real_run_forever)
        extra = self._count - _MAX_BLOCKED_FINDINGS
        if extra > 0:
            self._monitor.add(
                "blocked-loop",
                f"{self._monitor.test_id}: {extra} more step{'s' if extra > 1 else ''} held "
                f"the loop longer than {threshold:g} s (the longest {self._longest:.2f} s)",
            )

    def begin_step(self) -> None:
        """The loop's poll returned: a step begins."""
        now = self.step = _monotonic()
        cpu = self._cpu
        if now - cpu.last > self._fresh:
            cpu.note(now)

    def _select(self, timeout: float | None = None) -> Any:
        self.end_step()
        try:
            return self._real_select(timeout)  # type: ignore[misc]
        finally:
            self.begin_step()

    def _run_forever(self) -> None:
        try:
            self._real_run_forever()  # type: ignore[misc]
        finally:
            self.end_step()  # the last step of the run ends with it, not at a poll

    def end_step(self) -> None:
        """The loop is about to poll, or its run ended: the running step ends."""
        start = self.step
        if start is not None:
            self.step = None
            held = _monotonic() - start
            if held > self.threshold:
                self._held(held, start)

    def _held(self, held: float, start: float) -> None:
        """A step ran past the threshold by the clock: report it unless it was the
        machine's load (its thread waiting for a CPU) that made it that long."""
        waited = self._cpu.since(start)
        own = held if waited is None else held - min(waited, held)
        if own <= self.threshold:
            return
        self._count += 1
        self._longest = max(self._longest, own)
        if self._count > _MAX_BLOCKED_FINDINGS:
            return
        sample = self.sample
        if sample is not None and sample.start is not start:
            sample = None
        load = ""
        if waited is not None and waited >= _WAIT_WORTH_SAYING:
            load = f", not counting {waited:.2f} s it waited for a CPU"
        self._monitor.add(
            "blocked-loop",
            f"{self._monitor.test_id}: one step of the event loop ran for {own:.2f} s "
            f"(the limit is {self.threshold:g} s{load}) without giving control back, so no "
            f"other task, callback or I/O could run meanwhile. {_describe_step(sample)}\n"
            "In async code, replace blocking calls: time.sleep() with await "
            "asyncio.sleep(), blocking I/O with await asyncio.to_thread(...); run long "
            "computations in an executor. If the step is meant to take that long, raise "
            f"the limit with {BLOCKED_LOOP_THRESHOLD_ENV}=seconds or turn the check off for "
            "the test with @aiounit.checks(blocked_loop='off')",
        )


def _unhook(obj: object, name: str, timer: StepTimer, previous: Any) -> None:
    """Put ``previous`` back as ``obj.name`` if the timer's hook is still there."""
    if getattr(getattr(obj, name, None), "__self__", None) is not timer:
        return
    if getattr(previous, "__self__", None) is obj:
        delattr(obj, name)  # it was the class's own method
    else:
        setattr(obj, name, previous)


def _describe_step(sample: StepSample | None) -> str:
    if sample is None:
        return (
            "Where it ran could not be seen (the step ended before it was looked at, or "
            "held the interpreter lock throughout); loop_debug=True makes asyncio name "
            "slow callbacks itself."
        )
    frames = sample.frames
    # The first frame is Handle._run(), which calls the callback (or the task step).
    called = [frame for frame in frames[1:] if not is_internal(frame[0])] or frames[1:]
    if called and called[0][3] & inspect.CO_COROUTINE:
        what = f"a step of the coroutine {called[0][2]}()"
    elif called:
        what = f"the callback {called[0][2]}()"
    else:  # a callback written in C, which has no frame
        what = f"the callback {sample.handle}"
    stack = format_frames([(filename, lineno, func) for filename, lineno, func, _ in frames])
    return f"It was {what}, at (outermost first):\n{stack}"
