"""The per-test monitor: watches one test's loop and collects what the checks find.

It owns the three task checks itself (``loop-exception``, ``unawaited-coroutine``,
``leaked-task``) and starts the watches of the others (:mod:`aiounit.resources`,
:mod:`aiounit.blocked`).
"""

from __future__ import annotations

import asyncio
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final

from aiounit.blocked import StepTimer
from aiounit.hygiene import Finding, Level, blocked_loop_threshold
from aiounit.origins import coroutine_origin
from aiounit.resources import ResourceWatch
from aiounit.stacks import describe_task

__all__ = ["ORIGIN_DEPTH", "TestMonitor"]

# How many frames of the creating code a coroutine remembers while a test runs: enough
# to show the line that created it and its caller, cheap enough to leave on. Each frame
# costs its line number, found by scanning its code's line table: a third frame is most
# often asyncio's long _run_once(), and cost as much as the first two together.
ORIGIN_DEPTH: Final = 2

# -- never-awaited coroutines ----------------------------------------------------------
# CPython reports a coroutine that is destroyed without having run by calling
# warnings._warn_unawaited_coroutine(); the monitor of the running test takes those
# reports, so they are attached to the test that dropped the coroutine.
_active: TestMonitor | None = None
_original_unawaited: Callable[[Any], None] | None = None


def _on_unawaited(coro: Any) -> None:
    monitor = _active
    if monitor is None or monitor.levels["unawaited-coroutine"] == "off":
        if _original_unawaited is not None:
            _original_unawaited(coro)
        return
    monitor.unawaited(coro)


def _hook_unawaited() -> None:
    global _original_unawaited
    current = getattr(warnings, "_warn_unawaited_coroutine", None)
    if current is None or current is _on_unawaited:
        return
    _original_unawaited = current
    warnings._warn_unawaited_coroutine = _on_unawaited  # type: ignore[attr-defined]


class TestMonitor:
    """Watches one test's loop from its start to its end and collects findings.

    ``owned`` returns the tasks that belong to the test (all of a per-test loop's; on a
    class loop, those created in the test's context).
    """

    __test__ = False  # not a test class, whatever pytest's name patterns say

    def __init__(
        self,
        test_id: str,
        loop: asyncio.AbstractEventLoop,
        levels: Mapping[str, Level],
        owned: Callable[[], set[asyncio.Task[Any]]],
    ) -> None:
        self.test_id = test_id
        self.loop = loop
        self.levels = levels
        self._owned = owned
        self.findings: list[Finding] = []
        self._previous_handler: Any = None
        self._previous_depth = 0
        self._started = False
        self._stopped = False
        self._resources: ResourceWatch | None = None
        self._steps: StepTimer | None = None

    def start(self) -> None:
        """Begin watching: take the loop's exception handler, track coroutine origins,
        capture ResourceWarnings and time the loop's steps."""
        global _active
        # Read first: a bad setting raises before anything is installed.
        blocked = self.levels.get("blocked-loop", "off") != "off"
        threshold = blocked_loop_threshold() if blocked else 0.0
        self._started = True
        if self.levels["loop-exception"] != "off":
            self._previous_handler = self.loop.get_exception_handler()
            self.loop.set_exception_handler(self._on_loop_exception)
        if self.levels["unawaited-coroutine"] != "off":
            _hook_unawaited()
            self._previous_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(max(ORIGIN_DEPTH, self._previous_depth))
        if self.levels.get("unclosed-resource", "off") != "off":
            self._resources = ResourceWatch(self)
            self._resources.start()
        if blocked:
            self._steps = StepTimer.install(self, threshold)
        _active = self

    def before_teardown_of_loop(self) -> None:
        """Record the test's tasks that are still pending (they are cancelled next), and
        what it left open on the loop."""
        if self.levels["leaked-task"] != "off" and (owned := self._owned()):
            for task in sorted(owned, key=lambda t: t.get_name()):
                if task.done():
                    continue
                self.add(
                    "leaked-task",
                    f"{self.test_id} left a task running; it is cancelled now. "
                    f"{describe_task(task)}{coroutine_origin(task.get_coro())}\nAwait it, "
                    "cancel it in a cleanup, or keep it in a TaskGroup the test exits",
                )
        if self._resources is not None:
            self._resources.check_loop()

    def stop_timing(self) -> None:
        """Stop timing the loop's steps and take the timer's hooks off the loop.

        Done by :meth:`stop` at the latest; a loop scope does it just before closing the
        loop, so that the loop's selector can be handed on.
        """
        steps, self._steps = self._steps, None
        if steps is not None:
            steps.uninstall()

    def stop(self) -> list[Finding]:
        """Stop watching (the loop may be closed by now) and return what was found."""
        global _active
        if self._stopped:
            return self.findings
        self._stopped = True
        if _active is self:
            _active = None
        if not self._started:
            return self.findings
        self.stop_timing()
        resources, self._resources = self._resources, None
        if resources is not None:
            resources.stop()
        if self.levels["unawaited-coroutine"] != "off":
            sys.set_coroutine_origin_tracking_depth(self._previous_depth)
        # Given back on a closed loop too: the handler refers to this monitor, which
        # refers to the loop, and without that cycle the loop is freed at once.
        if (
            self.levels["loop-exception"] != "off"
            and self.loop.get_exception_handler() == self._on_loop_exception
        ):
            self.loop.set_exception_handler(self._previous_handler)
        return self.findings

    def add(self, check: str, message: str) -> None:
        """Record a finding of ``check`` (a slug) at the level the test has for it."""
        self.findings.append(Finding(check, self.levels[check], message))

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        parts = [f"{self.test_id}: {context.get('message', 'an exception reached the loop')}"]
        for key in ("task", "future", "handle"):
            if key in context:
                obj = context[key]
                parts.append(
                    describe_task(obj) if isinstance(obj, asyncio.Task) else f"{key}: {obj!r}"
                )
        exc = context.get("exception")
        if exc is not None:
            parts.append("".join(traceback.format_exception(exc)).rstrip())
        parts.append(
            "Nothing awaited this error, so the test would have passed without it. Await "
            "the task (or gather it), or handle the error where it is raised"
        )
        self.add("loop-exception", "\n".join(parts))

    def unawaited(self, coro: Any) -> None:
        """Record a coroutine destroyed without ever being awaited."""
        name = getattr(coro, "__qualname__", repr(coro))
        self.add(
            "unawaited-coroutine",
            f"{self.test_id}: coroutine {name}() was created but never awaited, so its "
            f"code never ran.{coroutine_origin(coro)}\nAdd `await`, or pass it to "
            "asyncio.create_task() if it should run in the background",
        )
