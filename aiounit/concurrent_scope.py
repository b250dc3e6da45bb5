"""One test's view of the class loop while its class runs concurrently, from its worker thread."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiounit import capture
from aiounit.errors import LoopTamperedError
from aiounit.scope import BorrowedScope, LoopScope, _drop_asyncio_frames, as_coroutine

if TYPE_CHECKING:
    from aiounit.concurrent_run import _Slot

__all__ = ["ConcurrentScope", "scope_for"]

# Frames of this module sit between the user's code and the loop: hide them from
# failure tracebacks so a failure points at the test.
__unittest = True

_T = TypeVar("_T")


# The test a worker thread runs: what the case asks for when it opens its loop.
class _ThreadSlot(threading.local):
    # A class default: reading a thread-local attribute that is not set raises inside.
    slot: _Slot | None = None


_local = _ThreadSlot()


def scope_for(owner: LoopScope, context: contextvars.Context) -> ConcurrentScope | None:
    """The scope of a test that a concurrent batch on ``owner``'s loop runs in this
    thread, or None when this thread runs no such test."""
    slot = _local.slot
    if slot is None or slot.batch.owner is not owner:
        return None
    return ConcurrentScope(slot, owner, context)


class _Step:
    """One step handed to the loop's thread, and its outcome for the waiting worker."""

    __slots__ = ("_lock", "error", "value")

    def __init__(self) -> None:
        # A lock handed over between threads is the cheapest wait-and-wake there is.
        self._lock = threading.Lock()
        self._lock.acquire()
        self.value: Any = None
        self.error: BaseException | None = None

    def finish(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error
        self._lock.release()

    def wait(self) -> Any:
        self._lock.acquire()
        error, self.error = self.error, None
        if error is not None:
            _drop_asyncio_frames(error)
            try:
                raise error
            finally:
                del error
        return self.value


class ConcurrentScope(BorrowedScope):
    """One test's view of the class loop while the class's tests run concurrently.

    Called from the test's worker thread, it runs each coroutine as a task on the loop
    (in the main thread) and waits for it; :meth:`call_in_context` does the same for
    synchronous hooks and tests. Tasks created in the test's context belong to it, as
    with :class:`BorrowedScope`.
    """

    def __init__(self, slot: _Slot, owner: LoopScope, context: contextvars.Context) -> None:
        super().__init__(owner, context)
        self._slot = slot
        self._current: asyncio.Task[Any] | None = None
        #: The batch the test runs in; the case asks it for a time limit and checks.
        self.concurrent_batch = slot.batch
        slot.mark = self._mark
        if slot.batch.capture_output:
            slot.capture = capture.capture_in(context)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The class's loop (running in the main thread)."""
        return self._owner.get_loop()

    @property
    def current_task(self) -> asyncio.Task[Any] | None:
        """The task of this test's step running now."""
        return self._current

    def run(self, coro: Any, *, context: contextvars.Context | None = None) -> Any:
        """Run ``coro`` as a task on the class loop, in ``context``; wait for its result."""
        loop = self._owner.get_loop()
        if loop.is_closed():
            close = getattr(coro, "close", None)
            if close is not None:
                close()
            raise LoopTamperedError(_CLOSED)
        step = _Step()
        batch = self._slot.batch

        def done(task: asyncio.Task[Any]) -> None:
            if self._current is task:
                self._current = None
            batch.busy(1)
            try:
                value = task.result()
            except BaseException as exc:  # the step's outcome, whatever it is
                step.finish(None, exc)
            else:
                step.finish(value, None)

        def start() -> None:
            batch.busy(-1)
            try:
                task = loop.create_task(as_coroutine(coro), context=context)
            except BaseException as exc:
                batch.busy(1)
                step.finish(None, exc)
                return
            self._current = task
            task.add_done_callback(done)

        loop.call_soon_threadsafe(start)
        return step.wait()

    def call_in_context(
        self, context: contextvars.Context | None, func: Callable[..., _T], /, *args: Any, **kw: Any
    ) -> _T:
        """Call the synchronous ``func`` in the loop's thread, in ``context``; return its
        result. It holds the loop while it runs, as synchronous code in a test does."""
        step = _Step()
        batch = self._slot.batch

        def invoke() -> None:
            batch.busy(-1)
            try:
                value = func(*args, **kw) if context is None else context.run(func, *args, **kw)
            except BaseException as exc:
                step.finish(None, exc)
            else:
                step.finish(value, None)
            finally:
                batch.busy(1)

        loop = self._owner.get_loop()
        loop.call_soon_threadsafe(invoke)
        result: _T = step.wait()
        return result

    def _on_loop_thread(self, func: Callable[[], _T]) -> _T:
        if threading.get_ident() == self._slot.batch.thread_id:
            return func()
        return self.call_in_context(None, func)

    def owned_tasks(self) -> set[asyncio.Task[Any]]:
        """The test's unfinished tasks (read in the loop's thread, which changes them)."""
        loop = self._owner.loop
        if loop is None or loop.is_closed():
            return set()
        return self._on_loop_thread(super().owned_tasks)

    def close(self) -> None:
        """Cancel the tasks this test started and wait for them; the loop stays open."""
        loop = self._owner.loop
        if loop is None or loop.is_closed() or not self._owner.is_open:
            return
        tasks = self.owned_tasks()
        if tasks:
            self.run(_cancel_all(tasks, "tasks the test left running"))


async def _cancel_all(tasks: set[asyncio.Task[Any]], what: str) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    loop = asyncio.get_running_loop()
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": f"unhandled exception while cancelling {what}",
                    "exception": task.exception(),
                    "task": task,
                }
            )


_CLOSED = (
    "the class's event loop was closed while its tests were running concurrently. Do not "
    "close the loop aiounit gives the tests; give code that closes a loop a loop of its own"
)
