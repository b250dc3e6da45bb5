"""Loop scopes: open an event loop, run coroutines in a shared context, close and restore."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import sys
import types
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from aiounit._compat import (
    CurrentLoopState,
    set_current_loop,
    shutdown_default_executor,
    task_context,
    track_task_contexts,
    unfinished_tasks,
)
from aiounit.clock import ClockMode, VirtualClock, install_virtual_time
from aiounit.errors import LoopTamperedError
from aiounit.loops import LoopFactory, default_loop_debug, default_loop_factory

__all__ = ["BorrowedScope", "LoopScope", "StepSource", "as_coroutine"]

# Frames of this module sit between the user's code and the loop: hide them from
# failure tracebacks so a failure points at the test.
__unittest = True

T = TypeVar("T")

# Set in each test's context when tests share a class loop. Tasks inherit the context
# they are created in, so a task whose context carries a test's mark belongs to that
# test, while tasks made for the class (a server's connection handlers, for example,
# which run in the class context) never carry one, whenever they were created.
_TEST_MARK: contextvars.ContextVar[object] = contextvars.ContextVar("aiounit_test_mark")

# Private loop attributes read only to skip no-op shutdown steps; a loop without them
# (uvloop, third-party loops) simply gets every step.
_MISSING = object()


class StepSource(Protocol):
    """What a time limit or a Ctrl-C acts on: a scope's loop (None until it is made) and
    the task of the step it runs now (None between steps). Every scope is one."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop, once made."""
        ...

    @property
    def current_task(self) -> asyncio.Task[Any] | None:
        """The task of the step running now."""
        ...


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def as_coroutine(awaitable: Awaitable[T]) -> Coroutine[Any, Any, T]:
    """Return ``awaitable`` as a coroutine, which is what ``create_task`` accepts."""
    # The type test answers for every `async def` coroutine; the ABC's, for the others.
    if type(awaitable) is _COROUTINE or isinstance(awaitable, Coroutine):
        return awaitable
    return _await(awaitable)


_COROUTINE = types.CoroutineType


class LoopScope:
    """Owns one event loop from its first use until :meth:`close`.

    ``factory`` and ``debug`` default to the run's settings (``AIOUNIT_LOOP``,
    ``AIOUNIT_LOOP_DEBUG``), read when the loop is made: a bad setting then fails the
    test that needed the loop, which is reported, rather than the whole run.

    It follows the protocol of :class:`asyncio.Runner` (``get_loop``, ``run``, ``close``),
    which is what the stdlib test case keeps in ``_asyncioRunner``, so code written for
    that attribute keeps working. Unlike ``asyncio.Runner`` it makes its loop the current
    loop whatever the factory, and restores the previous current loop when it closes.
    """

    def __init__(
        self,
        factory: LoopFactory | None = None,
        *,
        debug: bool | None = None,
        shared: bool = False,
        virtual: ClockMode | None = None,
    ) -> None:
        self._factory = factory
        self._debug = debug
        self._shared = shared
        self._virtual = virtual
        #: The loop's virtual clock, when the scope runs on virtual time.
        self.clock: VirtualClock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: CurrentLoopState | None = None
        self._closed = False
        #: The task of the step running now (a hook, the test, a shutdown step): what a
        #: timeout cancels.
        self.current_task: asyncio.Task[Any] | None = None
        # Counts the steps run, so a list of tasks can tell whether it is still current.
        self._steps = 0
        self._listed: _Listed | None = None
        self._before_close: list[Callable[[], object]] = []

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop, once made and until closed."""
        return self._loop

    @property
    def is_open(self) -> bool:
        """True once the loop exists and until the scope is closed."""
        return self._loop is not None and not self._closed

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """Return the scope's loop, creating it and making it current on first use."""
        loop = self._loop
        if loop is not None:
            return loop
        if self._closed:
            raise RuntimeError("this loop scope is already closed")
        factory = self._factory or default_loop_factory()
        debug = default_loop_debug() if self._debug is None else self._debug
        # Captured before the factory runs: asyncio.new_event_loop() creates the event
        # loop policy, and a scope must leave "no policy" behind if there was none.
        previous = CurrentLoopState.capture()
        loop = factory()
        if self._virtual is not None:
            try:
                self.clock = install_virtual_time(loop, mode=self._virtual)
                self._before_close.append(self.clock.uninstall)
            except BaseException:
                loop.close()  # uvloop, for one: its clock cannot be replaced
                previous.restore()
                raise
        self._previous = previous
        loop.set_debug(debug)
        if self._shared:
            track_task_contexts(loop)
        self._loop = loop
        set_current_loop(loop)
        return loop

    def owned_tasks(self) -> set[asyncio.Task[Any]]:
        """Every unfinished task of the loop: on a loop of its own, a test owns them all."""
        loop = self._loop
        tasks = set() if loop is None or loop.is_closed() else unfinished_tasks(loop)
        self._listed = (self._steps, tasks)
        return tasks

    def make_current(self) -> None:
        """Make the loop the thread's current loop again (a test may have changed it)."""
        if self._loop is not None:
            set_current_loop(self._loop)

    def run(self, coro: Awaitable[T], *, context: contextvars.Context | None = None) -> T:
        """Run ``coro`` as a task on the scope's loop, in ``context``, and return its result."""
        loop = self._loop
        if loop is None:
            loop = self.get_loop()
        if loop.is_closed():
            close = getattr(coro, "close", None)
            if close is not None:
                close()  # it will never run: no "never awaited" warning on top
            raise LoopTamperedError(_CLOSED_BY_TEST)
        return self._run_step(loop, coro, context)

    def _run_step(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Awaitable[T],
        context: contextvars.Context | None = None,
    ) -> T:
        self._steps += 1
        task = loop.create_task(as_coroutine(coro), context=context)
        self.current_task = task
        try:
            return loop.run_until_complete(task)
        except BaseException as exc:
            _drop_asyncio_frames(exc)
            if task.done() and not task.cancelled():
                # KeyboardInterrupt and SystemExit leave the loop *and* stay stored on the
                # task: they have been raised here, so mark them retrieved, or the task
                # would later report "exception was never retrieved".
                task.exception()
            # The loop stopped with the step still pending (loop.stop(), a deadlock,
            # Ctrl-C): end it now, in its own context. Cancelled later, from inside the
            # test's context, it could not even take its last step.
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(task)
                if loop.is_closed() is False and _stopped_early():
                    raise LoopTamperedError(
                        "the test stopped its event loop (loop.stop()) before the step "
                        "it was running had finished. Do not stop the loop aiounit gives "
                        "the test; end a wait with an Event or a Future instead",
                        slug="loop-stopped-by-test",
                    ) from None
            raise
        finally:
            self.current_task = None

    def cancel_tasks(self, tasks: set[asyncio.Task[Any]], what: str) -> None:
        """Cancel ``tasks``, wait for them to end and report errors they raised doing so."""
        if not tasks:
            return
        loop = self.get_loop()
        for task in tasks:
            task.cancel()
        self._run_step(loop, asyncio.gather(*tasks, return_exceptions=True))
        for task in tasks:
            if task.cancelled():
                continue
            exc = task.exception()
            if exc is not None:
                loop.call_exception_handler(
                    {
                        "message": f"unhandled exception while cancelling {what}",
                        "exception": exc,
                        "task": task,
                    }
                )

    def call_before_close(self, callback: Callable[[], object]) -> None:
        """Have ``callback`` take its hooks off the loop just before the loop closes.

        Callbacks run last in, first out, after the loop's shutdown steps, and also when
        one of those fails. A selector still carrying a hook (the virtual clock's, the
        blocked-loop timer's) could not be handed on to the next loop (see aiounit.selector_loop).
        """
        self._before_close.append(callback)

    def _unhook(self) -> None:
        callbacks, self._before_close = self._before_close, []
        error: BaseException | None = None
        for callback in reversed(callbacks):
            try:
                callback()
            except BaseException as exc:  # the others still run; the first is raised
                error = error or exc
        if error is not None:
            raise error

    def close(self) -> None:
        """Cancel leftover tasks, shut down async generators and the executor, close the loop.

        Closing twice does nothing. The thread's current loop is restored even when a
        shutdown step fails. A loop the test closed itself is reported once restored.
        """
        loop = self._loop
        if self._closed:
            return
        self._closed = True
        if loop is None:
            return
        closed_by_test = loop.is_closed()
        try:
            if not closed_by_test:
                leftovers = _still_current(self._listed, self._steps)
                if leftovers is None:
                    leftovers = unfinished_tasks(loop)
                self.cancel_tasks(leftovers, "tasks left running at the end of the scope")
                ready = getattr(loop, "_ready", _MISSING)
                asyncgens = getattr(loop, "_asyncgens", _MISSING)
                executor = getattr(loop, "_default_executor", _MISSING)
                if ready is _MISSING or asyncgens is _MISSING or executor is _MISSING:
                    # A loop that does not show what it holds (uvloop) gets every step,
                    # in one run: each run of such a loop has a fixed cost of its own
                    # (uvloop sets up its signal wake-up socket for every run).
                    self._run_step(loop, _shut_down(loop))
                else:
                    if ready:
                        # Callbacks are waiting (a transport closed by a sync cleanup
                        # still has to run its connection_lost): give them a turn.
                        self._run_step(loop, asyncio.sleep(0))
                    if asyncgens:
                        self._run_step(loop, loop.shutdown_asyncgens())
                    if executor is not None:
                        self._run_step(loop, shutdown_default_executor(loop))
        finally:
            try:
                self._unhook()
                if not loop.is_closed():
                    loop.close()
            finally:
                if self._previous is not None:
                    self._previous.restore()
                self._loop = None
        if closed_by_test:
            raise LoopTamperedError(_CLOSED_BY_TEST)


class BorrowedScope:
    """One test's view of a loop that a whole class shares.

    It runs on the class's loop and leaves it open when it closes, but tasks created in
    the test's context and still running then are cancelled, so they cannot leak into
    the next test. ``context`` is the test's context; it is marked as the test's own.
    """

    def __init__(self, owner: LoopScope, context: contextvars.Context) -> None:
        self._owner = owner
        self._mark = object()
        self._started = False
        self._listed: _Listed | None = None
        context.run(_TEST_MARK.set, self._mark)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """Return the class's loop; the first call makes it current for this test."""
        loop = self._owner.get_loop()
        if not self._started:
            self._started = True
            self._owner.make_current()
        return loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The class's loop."""
        return self._owner.loop

    @property
    def current_task(self) -> asyncio.Task[Any] | None:
        """The task of the step running now on the class's loop."""
        return self._owner.current_task

    @property
    def clock(self) -> VirtualClock | None:
        """The class loop's virtual clock, if it has one."""
        return self._owner.clock

    def run(self, coro: Awaitable[T], *, context: contextvars.Context | None = None) -> T:
        """Run ``coro`` on the class's loop, as :meth:`LoopScope.run` does."""
        self.get_loop()
        return self._owner.run(coro, context=context)

    def close(self) -> None:
        """Cancel the tasks this test started; the loop stays open for the next test."""
        if not self._owner.is_open:
            return
        loop = self._owner.get_loop()
        if loop.is_closed():
            return
        leftovers = _still_current(self._listed, self._owner._steps)
        if leftovers is None:
            leftovers = self.owned_tasks()
        self._owner.cancel_tasks(leftovers, "tasks the test left running")

    def owned_tasks(self) -> set[asyncio.Task[Any]]:
        """The unfinished tasks created in this test's context."""
        loop = self._owner.loop
        if loop is None or loop.is_closed():
            return set()
        mark = self._mark
        tasks = {task for task in unfinished_tasks(loop) if _marked(task, mark)}
        self._listed = (self._owner._steps, tasks)
        return tasks


_CLOSED_BY_TEST = (
    "the test's event loop was closed by the test itself, so its cleanups could not run on "
    "it. Do not close the loop aiounit gives the test; to test code that closes a loop, "
    "give that code a loop of its own (asyncio.new_event_loop()) and close that one"
)


_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep


def _drop_asyncio_frames(exc: BaseException) -> None:
    # run_until_complete() re-raises the test's exception from inside asyncio: without
    # its frames, the failure starts at the user's code, as unittest shows sync ones.
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_ASYNCIO_DIR):
            if tb.tb_frame.f_globals.get("__unittest"):  # our own frames: skip them too
                tb = tb.tb_next
                continue
            break
        tb = tb.tb_next
    if tb is not None and tb is not exc.__traceback__:
        exc.__traceback__ = tb


async def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    # The shutdown steps of asyncio.Runner.close(), in order, as one task. A step that
    # fails does not keep the later ones from running; the first error is raised.
    try:
        await asyncio.sleep(0)  # one turn for callbacks already scheduled
        await loop.shutdown_asyncgens()
    finally:
        await shutdown_default_executor(loop)


def _stopped_early() -> bool:
    # run_until_complete() says so with this RuntimeError when loop.stop() ended it.
    exc = sys.exc_info()[1]
    return isinstance(exc, RuntimeError) and "stopped before Future completed" in str(exc)


# What owned_tasks() found, and the number of steps run by then.
_Listed = tuple[int, set[asyncio.Task[Any]]]


def _still_current(listed: _Listed | None, steps: int) -> set[asyncio.Task[Any]] | None:
    # The post-test checks list the test's tasks just before its scope closes, with only
    # aiounit's code in between: closing reuses that list rather than scanning every
    # task again, unless a step has run on the loop since.
    if listed is None or listed[0] != steps:
        return None
    return listed[1]


def _marked(task: asyncio.Task[Any], mark: object) -> bool:
    context = task_context(task)
    return context is not None and context.get(_TEST_MARK, None) is mark
