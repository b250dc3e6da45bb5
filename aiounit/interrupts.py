"""Ctrl-C during a test: the first ends the test with its teardown, the second stops at once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, Protocol

from aiounit.errors import AiounitError

if TYPE_CHECKING:  # a scope is what gives the steps; imported for annotations only
    from aiounit.scope import StepSource

__all__ = ["InterruptedTestError", "KeyboardInterruptInTestError", "TestInterrupts"]


class InterruptedTestError(AiounitError):
    """The test was running when Ctrl-C was pressed; the run stops after its teardown."""

    slug = "interrupted"


class KeyboardInterruptInTestError(AiounitError):
    """Test code raised KeyboardInterrupt itself, with no Ctrl-C: an error of that test."""

    slug = "keyboard-interrupt-in-test"


class _CtrlC(BaseException):
    """Raised by the handler into synchronous test code on the first Ctrl-C.

    A BaseException, so that ``except Exception`` in the test cannot swallow it.
    """


_MESSAGE: Final = (
    "{test} was interrupted by Ctrl-C. Its teardown and cleanups still ran; the run stops "
    "after it and reports what ran. Press Ctrl-C twice to stop at once"
)


class TestInterrupts:
    """The Ctrl-C state of one running test.

    ``steps`` gives the test's loop and the task of the step running now, which the
    first Ctrl-C cancels (as asyncio.Runner does for its main task).
    """

    __test__ = False  # not a test class, whatever pytest's name patterns say

    def __init__(
        self,
        test_id: str,
        steps: StepSource,
    ) -> None:
        self.test_id = test_id
        self._steps = steps
        self.presses = 0

    @property
    def message(self) -> str:
        """The error reported against the interrupted test."""
        return _MESSAGE.format(test=self.test_id)

    def press(self) -> None:
        """A Ctrl-C arrived while this test ran (called by the signal handler)."""
        self.presses += 1
        if self.presses > 1:
            raise KeyboardInterrupt
        task = self._steps.current_task
        loop = self._steps.loop
        if task is not None and not task.done() and loop is not None and loop.is_running():
            task.cancel(msg="interrupted by Ctrl-C")
            # The loop may be waiting in select(), which Python restarts after a signal
            # handler returns: wake it so that it sees the cancellation.
            loop.call_soon_threadsafe(_nothing)
            return
        raise _CtrlC(self.message)

    def interrupt(self) -> None:
        """Count a Ctrl-C and cancel the running step, raising nothing: used for the
        tests of a concurrent class, which a first Ctrl-C ends all together."""
        self.presses += 1
        task = self._steps.current_task
        if task is not None and not task.done():
            task.cancel(msg="interrupted by Ctrl-C")

    def translate(self, exc: BaseException | None, presses_before: int) -> BaseException | None:
        """What a step that ended with ``exc`` should raise instead, if anything."""
        if self.presses != presses_before and isinstance(exc, asyncio.CancelledError | _CtrlC):
            return InterruptedTestError(self.message)
        if isinstance(exc, KeyboardInterrupt) and self.presses == 0 and _ctrl_c_is_known():
            return KeyboardInterruptInTestError(
                f"{self.test_id} raised KeyboardInterrupt, but no Ctrl-C was pressed: it is "
                "reported as an error of this test and the run goes on. Raise another "
                "exception to fail a test"
            )
        return None


def _nothing() -> None:
    return None


class _Pressable(Protocol):
    def press(self) -> None: ...


_active: _Pressable | None = None
_checked = False


def _on_sigint(signum: int, frame: Any) -> None:
    state = _active
    if state is None:
        raise KeyboardInterrupt  # no test runs: Python's default behaviour
    state.press()


def _ctrl_c_is_known() -> bool:
    # Whether a real Ctrl-C would have been seen: through our handler, or not at all when
    # the process ignores SIGINT (a background job, some CI runners). Under another
    # handler (unittest's -c), a KeyboardInterrupt may be a real Ctrl-C: leave it be.
    handler = signal.getsignal(signal.SIGINT)
    return handler is signal.SIG_IGN or (_checked and handler is _on_sigint)


def _install() -> None:
    global _checked
    if not _checked and threading.current_thread() is threading.main_thread():
        _checked = True
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _on_sigint)


@contextlib.contextmanager
def routed(target: _Pressable) -> Iterator[None]:
    """While inside, Ctrl-C calls ``target.press()`` (a concurrent class's tests share it).

    Called in the main thread, with the same rules as :func:`start` for the handler.
    """
    global _active
    _install()
    previous, _active = _active, target
    try:
        yield
    finally:
        _active = previous


def start(state: TestInterrupts) -> None:
    """Route Ctrl-C to ``state`` while its test runs (main thread, default handler only).

    The handler is installed once, and only over Python's default one: a runner that
    handles Ctrl-C itself (unittest's ``-c``) keeps its own behaviour.
    """
    global _active
    _install()
    _active = state


def stop(state: TestInterrupts) -> None:
    """The test has ended; Ctrl-C behaves as Python's default again."""
    global _active
    if _active is state:
        _active = None
