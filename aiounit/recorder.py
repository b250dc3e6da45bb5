"""A stand-in result for a test run in a worker thread: records its calls, replays them later."""

from __future__ import annotations

import sys
import time
import unittest
from typing import Any, Final

from aiounit import capture

__all__ = ["ResultRecorder"]


class ResultRecorder:
    """Stands in for ``result`` while a test runs in a worker thread of a concurrent
    class: records each outcome call, so that they can be replayed onto ``result`` in
    the main thread, the test whole, when it is that test's turn to be reported.
    Other attributes (``failfast``, ``shouldStop``, ``buffer``) are read from ``result``,
    and a method ``result`` lacks is missing here too."""

    _RECORDED: Final = frozenset(
        {
            "addSuccess",
            "addFailure",
            "addError",
            "addSkip",
            "addExpectedFailure",
            "addUnexpectedSuccess",
            "addSubTest",
            "addDuration",
            "add_finding",
        }
    )

    def __init__(self, result: unittest.TestResult) -> None:
        self._result = result
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._started = 0.0
        self.elapsed = 0.0

    def startTest(self, test: unittest.TestCase) -> None:
        """Record the start, and when it happened."""
        self._started = time.perf_counter()
        self.calls.append(("startTest", (test,)))

    def stopTest(self, test: unittest.TestCase) -> None:
        """Record the end, and how long the test took."""
        self.elapsed = time.perf_counter() - self._started
        self.calls.append(("stopTest", (test,)))

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._result, name)  # missing on the result: missing here too
        if name in self._RECORDED:
            calls = self.calls

            def record(*args: Any) -> None:
                calls.append((name, args))

            return record
        return value

    def replay(self, out: capture.Capture | None) -> None:
        """Make the recorded calls on the real result, with the captured output."""
        result = self._result
        names = {name for name, _ in self.calls}
        for name, args in self.calls:
            if name == "stopTest" and "addDuration" not in names and "addSkip" not in names:
                # Python 3.11's TestCase.run reports no duration: give the measured one.
                add_duration = getattr(result, "addDuration", None)
                if add_duration is not None:
                    add_duration(args[0], self.elapsed)
            method = getattr(result, name, None)
            if method is not None:
                method(*args)
            if name == "startTest" and out is not None:
                # The result has just replaced sys.stdout and sys.stderr with its own
                # buffers (-b): the test's output goes there, as if printed now.
                sys.stdout.write(out.stdout.getvalue())
                sys.stderr.write(out.stderr.getvalue())
        self.calls = []
