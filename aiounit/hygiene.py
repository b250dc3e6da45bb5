"""Post-test checks (hygiene): what a test left behind or let slip, each with a slug and a level."""

from __future__ import annotations

import asyncio
import linecache
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from aiounit.errors import AiounitError, ConfigurationError
from aiounit.stacks import describe_task

__all__ = [
    "CHECKS_ENV",
    "DEFAULT_LEVELS",
    "STRICT_ENV",
    "CheckError",
    "CheckWarning",
    "Finding",
    "Level",
    "TestMonitor",
    "checks",
    "levels_for",
]

Level = Literal["error", "warn", "off"]
_LEVELS: Final = ("error", "warn", "off")

#: Every check and its level when nothing else is set.
DEFAULT_LEVELS: Final[Mapping[str, Level]] = {
    "loop-exception": "error",
    "unawaited-coroutine": "error",
    "leaked-task": "warn",
    "leaked-thread": "warn",  # the check itself lives in aiounit.threads
}
#: Levels for the run, as ``slug=level`` pairs separated by commas.
CHECKS_ENV: Final = "AIOUNIT_CHECKS"
#: ``1`` makes every check an error, whatever else is set (``--strict``).
STRICT_ENV: Final = "AIOUNIT_STRICT"

# How many frames of the creating code a coroutine remembers while a test runs: enough
# to show the line that created it and its caller, cheap enough to leave on.
_ORIGIN_DEPTH: Final = 3
_ATTR: Final = "__aiounit_checks__"
_F = TypeVar("_F", bound=Callable[..., Any])


class CheckError(AiounitError):
    """A check at level ``error`` found something: the test fails with what it found."""

    slug = "check-failed"

    def __init__(self, findings: list[Finding]) -> None:
        count = f"{len(findings)} check{'s' if len(findings) > 1 else ''} failed"
        text = "\n\n".join(str(finding) for finding in findings)
        # Each finding ends with its own slug; the message needs no other.
        Exception.__init__(self, f"{count}:\n\n{text}\n")
        self.slug = findings[0].check
        self.findings = findings


class CheckWarning(UserWarning):
    """A check at level ``warn`` found something (shown when no aiounit result records it)."""


@dataclass(frozen=True)
class Finding:
    """One thing a check found, attached to the test that caused it."""

    check: str
    level: Level
    message: str

    def as_record(self) -> dict[str, Any]:
        """The JSON-compatible form the result records."""
        return {"check": self.check, "level": self.level, "message": self.message}

    def __str__(self) -> str:
        return f"{self.message} [{self.check}]"


def _validate(levels: Mapping[str, object], where: str) -> dict[str, Level]:
    checked: dict[str, Level] = {}
    for slug, level in levels.items():
        if slug not in DEFAULT_LEVELS:
            raise ConfigurationError(
                f"{where} names the check {slug!r}, which does not exist. Known checks: "
                f"{', '.join(DEFAULT_LEVELS)}",
                slug="unknown-check",
            )
        if level not in _LEVELS:
            raise ConfigurationError(
                f"{where} sets the check {slug!r} to {level!r}. Use 'error', 'warn' or 'off'",
                slug="bad-check-level",
            )
        checked[slug] = level
    return checked


def checks(levels: Mapping[str, Level] | None = None, /, **by_name: Level) -> Callable[[_F], _F]:
    """Decorate a test method with its own check levels.

    ``@aiounit.checks({"leaked-task": "error"})`` or ``@aiounit.checks(leaked_task="error")``
    (underscores stand for dashes). They win over the class's ``checks`` and the run's.
    """
    merged = dict(levels or {})
    merged.update({name.replace("_", "-"): level for name, level in by_name.items()})
    validated = _validate(merged, "@aiounit.checks()")

    def decorate(func: _F) -> _F:
        setattr(func, _ATTR, validated)
        return func

    return decorate


def _from_environment() -> dict[str, Level]:
    raw = os.environ.get(CHECKS_ENV, "").strip()
    if not raw:
        return {}
    pairs: dict[str, str] = {}
    for item in raw.split(","):
        slug, sep, level = item.partition("=")
        if not sep:
            raise ConfigurationError(
                f"environment variable {CHECKS_ENV}={raw!r}: {item.strip()!r} is not of the "
                "form check=level, e.g. leaked-task=error,blocked-loop=off",
                slug="bad-check-level",
            )
        pairs[slug.strip()] = level.strip()
    return _validate(pairs, f"environment variable {CHECKS_ENV}")


def levels_for(method: object, class_levels: object, cls_name: str) -> dict[str, Level]:
    """The level of every check for one test: method, then class, then run, then default."""
    levels: dict[str, Level] = dict(DEFAULT_LEVELS)
    levels.update(_from_environment())
    if class_levels:
        if not isinstance(class_levels, Mapping):
            raise ConfigurationError(
                f"{cls_name}.checks is {class_levels!r}: set a dict such as "
                "{'leaked-task': 'error'}",
                slug="bad-check-level",
            )
        levels.update(_validate(class_levels, f"{cls_name}.checks"))
    levels.update(getattr(method, _ATTR, {}))
    if os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        levels = dict.fromkeys(levels, "error")
    return levels


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


_INTERNAL_DIRS: Final = (
    os.path.dirname(asyncio.__file__) + os.sep,
    os.path.dirname(__file__) + os.sep,
)


def _origin(coro: Any) -> str:
    origin = getattr(coro, "cr_origin", None) or ()
    # asyncio's and aiounit's own frames say nothing about where the user's code is.
    lines = []
    for filename, lineno, name in origin:
        if filename.startswith(_INTERNAL_DIRS):
            continue
        source = linecache.getline(filename, lineno).strip()
        where = f'  File "{filename}", line {lineno}, in {name}'
        lines.append(f"{where}\n    {source}" if source else where)
    if not lines:
        return ""
    return "\nCreated at (most recent call last):\n" + "\n".join(reversed(lines))


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
        levels: dict[str, Level],
        owned: Callable[[], set[asyncio.Task[Any]]],
    ) -> None:
        self.test_id = test_id
        self.loop = loop
        self.levels = levels
        self._owned = owned
        self.findings: list[Finding] = []
        self._previous_handler: Any = None
        self._previous_depth = 0
        self._stopped = False

    def start(self) -> None:
        """Begin watching: take the loop's exception handler and track coroutine origins."""
        global _active
        if self.levels["loop-exception"] != "off":
            self._previous_handler = self.loop.get_exception_handler()
            self.loop.set_exception_handler(self._on_loop_exception)
        if self.levels["unawaited-coroutine"] != "off":
            _hook_unawaited()
            self._previous_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(max(_ORIGIN_DEPTH, self._previous_depth))
        _active = self

    def before_teardown_of_loop(self) -> None:
        """Record the test's tasks that are still pending (they are cancelled next)."""
        if self.levels["leaked-task"] == "off":
            return
        for task in sorted(self._owned(), key=lambda t: t.get_name()):
            if task.done():
                continue
            self._add(
                "leaked-task",
                f"{self.test_id} left a task running; it is cancelled now. "
                f"{describe_task(task)}{_origin(task.get_coro())}\nAwait it, cancel it in "
                "a cleanup, or keep it in a TaskGroup the test exits",
            )

    def stop(self) -> list[Finding]:
        """Stop watching (the loop may be closed by now) and return what was found."""
        global _active
        if self._stopped:
            return self.findings
        self._stopped = True
        if _active is self:
            _active = None
        if self.levels["unawaited-coroutine"] != "off":
            sys.set_coroutine_origin_tracking_depth(self._previous_depth)
        if (
            self.levels["loop-exception"] != "off"
            and not self.loop.is_closed()
            and self.loop.get_exception_handler() == self._on_loop_exception
        ):
            self.loop.set_exception_handler(self._previous_handler)
        return self.findings

    def _add(self, check: str, message: str) -> None:
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
        self._add("loop-exception", "\n".join(parts))

    def unawaited(self, coro: Any) -> None:
        """Record a coroutine destroyed without ever being awaited."""
        name = getattr(coro, "__qualname__", repr(coro))
        self._add(
            "unawaited-coroutine",
            f"{self.test_id}: coroutine {name}() was created but never awaited, so its "
            f"code never ran.{_origin(coro)}\nAdd `await`, or pass it to "
            "asyncio.create_task() if it should run in the background",
        )
