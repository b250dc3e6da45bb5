"""Output capture per test for tests that run at the same time: streams routed by context."""

from __future__ import annotations

import contextlib
import contextvars
import io
import sys
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["Capture", "capture_in", "routed_output"]

# Frames of this module sit between the user's print() and the stream: hide them.
__unittest = True

# The capture of the test whose code is running. Each test's context carries its own;
# tasks copy the context they are created in, so a test's background tasks write to
# that test's capture too. Code outside any test (the class's server, say) finds none.
_TARGET: contextvars.ContextVar[Capture | None] = contextvars.ContextVar(
    "aiounit_capture", default=None
)


class Capture:
    """What one test wrote to ``sys.stdout`` and ``sys.stderr``."""

    __slots__ = ("stderr", "stdout")

    def __init__(self) -> None:
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()


def capture_in(context: contextvars.Context) -> Capture:
    """Give the test whose context is ``context`` a capture of its own, and return it."""
    capture = Capture()
    context.run(_TARGET.set, capture)
    return capture


class _RoutedStream(io.TextIOBase):
    """Stands in for ``sys.stdout`` or ``sys.stderr``: writes go to the running test's
    capture, or to the stream it replaced when no test's code is running."""

    def __init__(self, fallback: TextIO, name: str) -> None:
        super().__init__()
        self._fallback = fallback
        self._name = name

    def _target(self) -> TextIO:
        capture = _TARGET.get()
        if capture is None:
            return self._fallback
        stream: TextIO = getattr(capture, self._name)
        return stream

    def write(self, text: str) -> int:
        """Write ``text`` to the running test's capture (or the replaced stream)."""
        return self._target().write(text)

    def writelines(self, lines: Any) -> None:
        """Write each of ``lines``."""
        target = self._target()
        for line in lines:
            target.write(line)

    def flush(self) -> None:
        """Flush the replaced stream (a capture needs no flushing)."""
        target = self._target()
        if target is self._fallback:
            target.flush()

    def writable(self) -> bool:
        """Always writable."""
        return True

    def isatty(self) -> bool:
        """Captured output is never a terminal."""
        return _TARGET.get() is None and self._fallback.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The replaced stream's encoding."""
        return getattr(self._fallback, "encoding", "utf-8") or "utf-8"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fallback, name)


@contextlib.contextmanager
def routed_output() -> Iterator[None]:
    """While inside, ``sys.stdout`` and ``sys.stderr`` write to the running test's capture.

    What was there before is put back on the way out, unless something replaced the
    routing streams meanwhile (then that choice is left alone).
    """
    saved_out, saved_err = sys.stdout, sys.stderr
    routed_out = _RoutedStream(saved_out, "stdout")
    routed_err = _RoutedStream(saved_err, "stderr")
    sys.stdout, sys.stderr = routed_out, routed_err
    try:
        yield
    finally:
        if sys.stdout is routed_out:
            sys.stdout = saved_out
        if sys.stderr is routed_err:
            sys.stderr = saved_err
