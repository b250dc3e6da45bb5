"""Virtual time for the asyncio loop: skip idle waits, step time by hand, fail fast on deadlocks."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar, cast

from aiounit.env import getenv
from aiounit.errors import AiounitError, ConfigurationError
from aiounit.stacks import describe_tasks

__all__ = [
    "IO_GRACE",
    "ClockMode",
    "DeadlockError",
    "VirtualClock",
    "VirtualTimeUnsupportedError",
    "get_virtual_clock",
    "install_virtual_time",
]

ClockMode = Literal["auto", "manual"]
_MODES: tuple[ClockMode, ...] = ("auto", "manual")

#: How long, in real seconds, an idle loop that has sockets or pipes registered waits for
#: them before its clock jumps to the next timer. A peer in the same process or on
#: loopback answers well within it; a peer that needs longer looks idle (see
#: :func:`install_virtual_time`).
IO_GRACE = 0.001

# asyncio caps a single select() at a day (base_events.MAXIMUM_SELECT_TIMEOUT); epoll and
# friends reject much larger timeouts.
_MAX_WAIT = 24 * 3600.0

# Real waits are measured with the real clock as it was at import, so a test that mocks
# time.monotonic (freezegun, mock.patch) cannot distort how far the virtual clock moves.
_real_monotonic = time.monotonic

_MISSING = object()


class DeadlockError(AiounitError):
    """The loop would wait forever: nothing it knows of can ever wake it.

    Raised from inside the loop (out of ``run_until_complete``), with the await chain of
    every waiting task in the message. The loop stays usable: its tasks can be cancelled
    and it can be closed as usual.
    """

    slug = "deadlock"


class VirtualTimeUnsupportedError(ConfigurationError):
    """Virtual time was asked for on a loop whose clock cannot be replaced (uvloop)."""

    slug = "virtual-time-unsupported"


def install_virtual_time(
    loop: asyncio.AbstractEventLoop, *, mode: ClockMode = "auto", io_grace: float = IO_GRACE
) -> VirtualClock:
    """Put ``loop`` on a virtual clock and return it.

    Call it on a fresh loop, before anything runs on it. Only the loop *instance* is
    changed, never a class or a module, so other loops and the rest of the process keep
    real time; :meth:`VirtualClock.uninstall` undoes it. Installing again on the same
    loop returns its clock, switched to ``mode`` and ``io_grace``.

    The clock starts at the loop's real time rounded down to a whole second (so code that
    keeps ``0`` as "never" still works, and whole-second steps add up exactly) and stands
    still while callbacks run, so ``await asyncio.sleep(3600)`` returns with
    ``loop.time()`` exactly ``3600`` later. It moves only while the loop would wait:

    ``mode="auto"``
        When nothing is ready to run, the clock jumps straight to the next timer, so
        ``sleep``, ``call_later``, ``call_at``, ``asyncio.timeout`` and ``wait_for`` fire at
        once, in their true order (timers due at the same instant run in the order they
        were scheduled). Work outside the loop is waited for in real time, and the clock
        follows real time meanwhile, never jumping: jobs of ``run_in_executor`` and
        ``asyncio.to_thread`` (and ``getaddrinfo``, which uses them), subprocesses started
        by the loop until their exit is seen, the executor's shutdown, and any block of
        :meth:`VirtualClock.real_time`. With sockets or pipes registered, the loop first
        waits ``io_grace`` real seconds for them before jumping; with none, it jumps at
        once, which makes a sleepy test cost what ``sleep(0)`` costs.
    ``mode="manual"``
        The clock never moves by itself: ``await clock.advance(seconds)`` moves it,
        running everything that falls due on the way (within that window it behaves as
        in auto mode). Outside an advance, the loop still waits for sockets, jobs and
        subprocesses, and the clock stays where it is meanwhile.

    A loop that would wait forever with nothing that could wake it (no timer, no job,
    subprocess or real-time block in flight, no socket, pipe or signal handler) raises
    :class:`DeadlockError` instead of hanging. In manual mode, a loop whose only hope is
    a timer also deadlocks: no timer is due until the clock is advanced, and every task
    is waiting, so none can advance it.

    Limits, by design:

    * ``time.time()`` and ``time.monotonic()`` keep real time. Timeouts of the test
      framework are measured with them and must stay real, and a process-wide patch
      would also move time for threads and libraries outside the loop. Code under test
      that needs the clock should take it as a parameter defaulting to the loop's
      (``time_source=asyncio.get_running_loop().time``) or call ``loop.time()``.
    * Only what the loop itself starts is known to be in flight. A thread the test
      starts itself, ``asyncio.wrap_future(executor.submit(...))`` or
      ``run_coroutine_threadsafe`` from another loop are invisible: wrap the wait in
      ``with clock.real_time():``.
    * Sockets: a peer that takes longer than ``io_grace`` to answer (another process
      under load, a real network) looks idle, and the clock may jump past a timeout
      before its answer. Wrap such waits in ``with clock.real_time():``.
    * A child process keeps the clock on real time until it exits: a server run as a
      subprocess for the whole test gets no jumps.
    * Code that polls ``loop.time()`` without ever waiting (``while loop.time() < t:
      await asyncio.sleep(0)``) never sees it move, and debug mode's slow-callback
      warnings never fire, since callbacks take no virtual time.

    Raises :class:`VirtualTimeUnsupportedError` for loops not derived from
    :class:`asyncio.BaseEventLoop`, uvloop among them.
    """
    if mode not in _MODES:
        raise ConfigurationError(
            f"virtual time mode {mode!r} is not a mode. Use 'auto' (the clock jumps to the "
            "next timer whenever the loop is idle) or 'manual' (only clock.advance() moves it)"
        )
    if not (isinstance(io_grace, int | float) and 0 <= io_grace < math.inf):
        raise ConfigurationError(
            f"virtual time io_grace={io_grace!r} is not a number of seconds. Use a small "
            f"non-negative number such as the default, {IO_GRACE}"
        )
    existing = get_virtual_clock(loop)
    if existing is not None:
        existing.mode = mode
        existing._io_grace = float(io_grace)
        return existing
    _check_supported(loop)
    clock = VirtualClock(loop, mode=mode, io_grace=io_grace)
    clock._install()
    return clock


def get_virtual_clock(loop: asyncio.AbstractEventLoop) -> VirtualClock | None:
    """Return the virtual clock installed on ``loop``, or None when it keeps real time."""
    # The clock is found through the loop's patched time() rather than a registry: a
    # registry would keep every loop alive (the clock refers to its loop).
    owner = getattr(getattr(loop, "time", None), "__self__", None)
    return owner if isinstance(owner, VirtualClock) else None


def _check_supported(loop: asyncio.AbstractEventLoop) -> None:
    kind = f"{type(loop).__module__}.{type(loop).__qualname__}"
    if kind.startswith("uvloop."):
        raise VirtualTimeUnsupportedError(
            f"virtual time cannot be installed on {kind}: uvloop's clock lives in C "
            "(libuv) and cannot be replaced from Python. Use the asyncio loop for "
            "virtual-time tests, e.g. set `loop_factory = asyncio.new_event_loop` on that "
            "test class, or turn virtual time off for it"
        )
    inner: Any = loop
    supported = (
        isinstance(loop, asyncio.BaseEventLoop)
        and hasattr(loop, "__dict__")
        and isinstance(getattr(inner, "_scheduled", None), list)
        and callable(getattr(getattr(inner, "_selector", None), "select", None))
        and hasattr(getattr(inner, "_selector", None), "__dict__")
    )
    if loop.is_closed():
        raise AiounitError(
            f"virtual time cannot be installed on {loop!r}: the loop is closed. Install it "
            "right after creating the loop, before anything runs on it",
            slug="clock-misuse",
        )
    if not supported:
        raise VirtualTimeUnsupportedError(
            f"virtual time cannot be installed on {kind}: only loops derived from "
            "asyncio.BaseEventLoop, which poll a selector, can have their clock replaced. "
            "Use the asyncio loop for virtual-time tests, e.g. set "
            "`loop_factory = asyncio.new_event_loop` on that test class, or turn virtual "
            "time off for it"
        )


class VirtualClock:
    """The virtual clock of one asyncio loop; made by :func:`install_virtual_time`.

    It hooks the loop's ``time()``, ``call_at()``, its selector's ``select()`` (where the
    loop decides to wait, and where the clock decides to jump) and the methods that start
    work outside the loop (``run_in_executor``, ``subprocess_exec``, ``subprocess_shell``,
    ``shutdown_default_executor``), on the loop instance only.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, mode: ClockMode, io_grace: float
    ) -> None:
        self._loop = loop
        # The loop's private state (timer heap, ready queue, selector) is read through an
        # untyped alias: it is what asyncio.BaseEventLoop has from 3.11 to 3.13 at least.
        inner: Any = loop
        self._inner = inner
        self._mode: ClockMode = mode
        self._io_grace = float(io_grace)
        # A whole number of seconds, so whole-second sleeps add up exactly.
        self._now = float(math.floor(loop.time()))
        self._selector: Any = inner._selector
        self._real_select: Callable[[float | None], list[Any]] = self._selector.select
        ssock = getattr(loop, "_ssock", None)
        self._self_fd: int | None = ssock.fileno() if ssock is not None else None
        # Jobs, spawns and real_time() blocks in flight.
        self._external = 0
        self._children: list[Any] = []
        self._advances: list[tuple[float, asyncio.Future[None]]] = []
        # Scheduling order of each timer (by id), so timers due at the same instant run
        # first-scheduled first: the heap alone would run them in an arbitrary order.
        self._order: dict[int, int] = {}
        self._counter = itertools.count()
        self._patches: list[tuple[object, str, object, object]] = []

    # -- public API ----------------------------------------------------------------------

    @property
    def mode(self) -> ClockMode:
        """``"auto"`` (jump to the next timer when idle) or ``"manual"`` (only advance())."""
        return self._mode

    @mode.setter
    def mode(self, value: ClockMode) -> None:
        if value not in _MODES:
            raise ConfigurationError(
                f"virtual time mode {value!r} is not a mode. Use 'auto' or 'manual'"
            )
        self._mode = value

    @property
    def installed(self) -> bool:
        """True from installation until :meth:`uninstall`."""
        return bool(self._patches)

    def time(self) -> float:
        """The virtual now, which is what the loop's ``time()`` returns."""
        return self._now

    async def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward, running everything that falls due, in order.

        Timers due on the way fire at their own time, callbacks they schedule within the
        window run too, and work outside the loop is waited for as in auto mode. When it
        returns, the clock reads exactly ``seconds`` later than when it was called and
        nothing due is left. ``advance(0)`` lets everything ready run. It works in both
        modes; in manual mode it is the only thing that moves the clock.
        """
        if not (isinstance(seconds, int | float) and 0 <= seconds < math.inf):
            raise ConfigurationError(
                f"clock.advance({seconds!r}): the clock only moves forward, by a finite "
                "number of seconds. Pass a number >= 0",
                slug="bad-advance",
            )
        loop = asyncio.get_running_loop()
        if loop is not self._loop or not self.installed:
            raise AiounitError(
                f"clock.advance() was awaited on {loop!r}, but this clock "
                f"{'belongs to ' + repr(self._loop) if self.installed else 'was uninstalled'}"
                ". Await the advance() of the clock of the running loop "
                "(aiounit.clock.get_virtual_clock(asyncio.get_running_loop()))",
                slug="clock-misuse",
            )
        entry: tuple[float, asyncio.Future[None]] = (self._now + seconds, loop.create_future())
        self._advances.append(entry)
        try:
            await entry[1]
        finally:
            if entry in self._advances:
                self._advances.remove(entry)

    @contextlib.contextmanager
    def real_time(self) -> Iterator[None]:
        """While inside, treat work outside the loop as in flight: the clock does not jump.

        For waits on something the loop cannot see: a thread the test started itself, a
        server in another process, a slow network peer. The clock follows real time
        meanwhile, so timeouts fire after their real duration, as without virtual time.
        """
        self._external += 1
        try:
            yield
        finally:
            self._external -= 1

    def uninstall(self) -> None:
        """Give the loop its real clock back. Calling it twice does nothing.

        Pending timers keep their remaining delay (they are moved onto the real clock),
        and pending :meth:`advance` calls return. Deadlines that objects keep themselves
        (``asyncio.Timeout.when()``) still read in virtual time: best effort.
        """
        if not self._patches:
            return
        for target, name, hook, previous in reversed(self._patches):
            if vars(target).get(name) is hook:
                if previous is _MISSING:
                    delattr(target, name)
                else:
                    setattr(target, name, previous)
        self._patches.clear()
        inner = self._inner
        shift = inner.time() - self._now
        # A uniform shift keeps the heap ordered.
        for handle in inner._scheduled:
            handle._when += shift
        self._order.clear()
        self._children.clear()
        if not self._loop.is_closed():
            for _, future in self._advances:
                if not future.done():
                    future.set_result(None)
        self._advances.clear()

    def __repr__(self) -> str:
        state = self._mode if self.installed else "uninstalled"
        return f"<VirtualClock {state} now={self._now!r} loop={self._loop!r}>"

    # -- installation --------------------------------------------------------------------

    def _patch(self, target: object, name: str, hook: object) -> None:
        previous = vars(target).get(name, _MISSING)
        setattr(target, name, hook)
        self._patches.append((target, name, hook, previous))

    def _install(self) -> None:
        inner = self._inner
        call_at = inner.call_at
        run_in_executor = inner.run_in_executor
        subprocess_exec = inner.subprocess_exec
        subprocess_shell = inner.subprocess_shell
        shutdown_default_executor = inner.shutdown_default_executor
        order = self._order
        counter = self._counter

        def call_at_hook(when: float, callback: Any, *args: Any, context: Any = None) -> Any:
            handle = call_at(when, callback, *args, context=context)
            order[id(handle)] = next(counter)
            if len(order) > 2 * len(inner._scheduled) + 1024:
                self._prune_order()
            return handle

        def run_in_executor_hook(executor: Any, func: Any, *args: Any) -> Any:
            future = run_in_executor(executor, func, *args)
            self._external += 1
            future.add_done_callback(self._job_done)
            return future

        def spawn_hook(spawn: Callable[..., Any]) -> Callable[..., Any]:
            async def hook(*args: Any, **kwargs: Any) -> Any:
                # Counted from the start: the child runs before the transport is returned.
                self._external += 1
                try:
                    transport, protocol = await spawn(*args, **kwargs)
                finally:
                    self._external -= 1
                self._children.append(transport)
                return transport, protocol

            return hook

        async def shutdown_hook(*args: Any, **kwargs: Any) -> None:
            # The executor's threads are joined from another thread, which reports back
            # through call_soon_threadsafe; from 3.12 a timer bounds that wait and would
            # otherwise be jumped to at once.
            self._external += 1
            try:
                await shutdown_default_executor(*args, **kwargs)
            finally:
                self._external -= 1

        self._patch(self._loop, "time", self.time)
        self._patch(self._loop, "call_at", call_at_hook)
        self._patch(self._loop, "run_in_executor", run_in_executor_hook)
        self._patch(self._loop, "subprocess_exec", spawn_hook(subprocess_exec))
        self._patch(self._loop, "subprocess_shell", spawn_hook(subprocess_shell))
        self._patch(self._loop, "shutdown_default_executor", shutdown_hook)
        self._patch(self._selector, "select", self._select)

    def _job_done(self, future: asyncio.Future[Any]) -> None:
        self._external -= 1

    def _prune_order(self) -> None:
        # Cancelled timers leave the heap without passing through the clock.
        live = {id(handle) for handle in self._inner._scheduled}
        self._order = {key: value for key, value in self._order.items() if key in live}

    # -- where the loop waits ------------------------------------------------------------

    def _select(self, timeout: float | None = None) -> list[Any]:
        if timeout is not None and timeout <= 0:
            # Something is ready to run: the loop only polls, and time stands still.
            return self._real_select(0)
        heap = self._inner._scheduled
        head: float | None = heap[0]._when if heap else None
        stop = self._stop_point(head)
        if stop is None:
            return self._wait_without_stop(head)
        remaining = max(0.0, stop - self._now)
        if self._external_work():
            events = self._wait(remaining, stop)
            if events or self._now < stop:
                return events
        elif self._io_registered():
            events = self._wait(min(self._io_grace, remaining), stop)
            if events:
                return events
        else:
            events = self._real_select(0)
            if events:
                return events
        self._jump(stop)
        return []

    def _stop_point(self, head: float | None) -> float | None:
        """Where the clock may move next: the next timer within reach, or an advance's end."""
        targets = [target for target, _ in self._advances]
        if self._mode == "auto":
            horizon: float | None = math.inf
        else:
            horizon = max(targets) if targets else None
        stop = head if head is not None and horizon is not None and head <= horizon else None
        if targets:
            first = min(targets)
            if stop is None or first < stop:
                stop = first
        return stop

    def _wait_without_stop(self, head: float | None) -> list[Any]:
        if self._external_work() or self._io_registered() or self._signal_handlers():
            return self._wait(None, None)
        # Nothing outside the loop can wake it: a last poll catches a wake-up already
        # written to the self-pipe before this is called a deadlock.
        events = self._real_select(0)
        if events:
            return events
        raise DeadlockError(self._deadlock_message(head))

    def _wait(self, real_timeout: float | None, stop: float | None) -> list[Any]:
        """Wait for real events; the clock follows real time unless it is held (manual)."""
        start = _real_monotonic()
        events = self._real_select(None if real_timeout is None else min(real_timeout, _MAX_WAIT))
        if self._mode == "auto" or stop is not None:
            now = self._now + (_real_monotonic() - start)
            self._now = now if stop is None or now < stop else stop
        return events

    def _jump(self, stop: float) -> None:
        self._now = stop
        # Callbacks of the timers released now may schedule more work within an advance's
        # window: the advance ends at a later idle point, once none is due.
        if not self._release_due_timers():
            self._finish_advances()

    def _release_due_timers(self) -> bool:
        # The same hand-over the loop makes right after select() returns, done here so
        # that timers due at the same instant keep the order they were scheduled in.
        inner = self._inner
        heap = inner._scheduled
        end = self._now + inner._clock_resolution
        due = []
        while heap and heap[0]._when < end:
            handle = heapq.heappop(heap)
            handle._scheduled = False
            due.append(handle)
        if not due:
            return False
        order = self._order
        if len(due) > 1:
            due.sort(key=lambda handle: order.get(id(handle), -1))
        for handle in due:
            order.pop(id(handle), None)
        inner._ready.extend(due)
        return True

    def _finish_advances(self) -> None:
        now = self._now
        pending = []
        for target, future in self._advances:
            if target <= now:
                if not future.done():
                    future.set_result(None)
            else:
                pending.append((target, future))
        self._advances = pending

    # -- what could still wake the loop --------------------------------------------------

    def _external_work(self) -> bool:
        if self._external:
            return True
        if self._children:
            self._children = [t for t in self._children if t.get_returncode() is None]
        return bool(self._children)

    def _io_registered(self) -> bool:
        get_map = getattr(self._selector, "get_map", None)
        if get_map is None:
            return True  # A selector that cannot list its files: assume some are there.
        registered = get_map()
        count = len(registered)
        if count and self._self_fd is not None and self._self_fd in registered:
            count -= 1
        return count > 0

    def _signal_handlers(self) -> bool:
        return bool(getattr(self._loop, "_signal_handlers", None))

    # -- deadlock report -----------------------------------------------------------------

    def _deadlock_message(self, head: float | None) -> str:
        if head is not None:
            text = (
                f"{self._loop!r} is on a manual virtual clock and would wait forever: its "
                f"next timer is due in {head - self._now:g} s of loop time, but no timer is "
                "due until you advance the clock, and every task is waiting, so none can "
                "call `await clock.advance(...)`. Likely cause: the test awaited code that "
                "sleeps or times out instead of running it in a task and advancing the "
                "clock. Fix: start that code with asyncio.create_task(), then step time "
                "from the test with `await clock.advance(seconds)`; or use automatic "
                "virtual time (mode 'auto')."
            )
        else:
            text = (
                f"{self._loop!r} can never be woken: every task is waiting, and no timer "
                "is scheduled, no executor job, subprocess or clock.real_time() block is "
                "in flight, and no socket, pipe or signal handler is registered. Likely "
                "cause: a task awaits a future, event, lock or queue that nothing will "
                "ever complete (a deadlock). Fix: make the code under test complete it, or "
                "bound the wait with asyncio.timeout(); if a thread the loop does not know "
                "of will wake it, wait inside `with clock.real_time():`."
            )
        tasks = asyncio.all_tasks(self._loop)
        if not tasks:
            listing = "(none: the loop was run with nothing left to run)"
        else:
            listing = describe_tasks(tasks, _run_until_complete_task(tasks))
        return f"{text}\nWaiting tasks, the one the loop runs until complete first:\n{listing}\n"


def _run_until_complete_task(tasks: set[asyncio.Task[Any]]) -> asyncio.Task[Any] | None:
    """The task the loop was asked to run until complete: in a test, the test's own step."""
    for task in tasks:
        # run_until_complete() marks its future with this done-callback; the callback list
        # is private, so on a loop without it no task is put first.
        for entry in getattr(task, "_callbacks", None) or ():
            callback = entry[0] if isinstance(entry, tuple) else entry
            if getattr(callback, "__name__", None) == "_run_until_complete_cb":
                return task
    return None


#: ``1``/``auto`` or ``manual`` puts every class that sets no ``virtual_time`` on a virtual
#: clock (``--virtual-time``); ``0`` keeps real time.
VIRTUAL_TIME_ENV = "AIOUNIT_VIRTUAL_TIME"
_ATTR = "__aiounit_virtual_time__"
_F = TypeVar("_F", bound=Callable[..., Any])


def virtual_time(func: _F | None = None, /, *, mode: ClockMode = "auto") -> Any:
    """Run one test method on a virtual clock: ``@aiounit.virtual_time`` or
    ``@aiounit.virtual_time(mode="manual")``. The test reaches the clock as ``self.clock``.

    On a class whose tests share a loop (``loop_scope = "class"``) the loop's clock is
    the class's choice: set ``virtual_time`` on the class instead.
    """
    checked = mode_from_setting(mode, "@aiounit.virtual_time(mode=...)")

    def decorate(target: _F) -> _F:
        setattr(target, _ATTR, checked)
        return target

    return decorate(func) if func is not None else decorate


def mode_from_setting(value: object, where: str) -> ClockMode | None:
    """The clock mode a setting stands for: True/"auto", "manual", or None/False for real time."""
    if value is None or value is False:
        return None
    if value is True or value == "auto":
        return "auto"
    if value == "manual":
        return "manual"
    raise ConfigurationError(
        f"{where} is {value!r}: use True (or 'auto') for a clock that jumps to the next "
        "timer, 'manual' for one that moves only with clock.advance(), or False",
        slug="bad-setting",
    )


def method_mode(method: object) -> ClockMode | None:
    """The clock mode ``@aiounit.virtual_time`` gave a test method, if any."""
    return cast("ClockMode | None", getattr(method, _ATTR, None))


def mode_for(method: object, class_setting: object, cls_name: str) -> ClockMode | None:
    """The clock of one test: the method's decorator, the class's ``virtual_time``, the run's."""
    own = getattr(method, _ATTR, ...)
    if own is not ...:
        return cast("ClockMode | None", own)
    if class_setting is not None:
        return mode_from_setting(class_setting, f"{cls_name}.virtual_time")
    raw = (getenv(VIRTUAL_TIME_ENV) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):  # "off" is what --no-virtual-time sets
        return None
    if raw in ("1", "true", "yes", "on"):
        return "auto"
    return mode_from_setting(raw, f"environment variable {VIRTUAL_TIME_ENV}")
