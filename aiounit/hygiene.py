"""Check settings: the checks, their levels and where each level comes from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, TypeVar

from aiounit.env import getenv
from aiounit.errors import AiounitError, ConfigurationError

__all__ = [
    "BLOCKED_LOOP_THRESHOLD_ENV",
    "CHECKS_ENV",
    "DEFAULT_BLOCKED_LOOP_THRESHOLD",
    "DEFAULT_LEVELS",
    "STRICT_ENV",
    "CheckError",
    "CheckWarning",
    "Finding",
    "Level",
    "blocked_loop_threshold",
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
    "unclosed-resource": "warn",
    "blocked-loop": "warn",
    "leaked-thread": "warn",  # the check itself lives in aiounit.threads
}
#: Levels for the run, as ``slug=level`` pairs separated by commas.
CHECKS_ENV: Final = "AIOUNIT_CHECKS"
#: ``1`` makes every check an error, whatever else is set (``--strict``).
STRICT_ENV: Final = "AIOUNIT_STRICT"
#: Seconds one step of the loop may run before ``blocked-loop`` reports it.
BLOCKED_LOOP_THRESHOLD_ENV: Final = "AIOUNIT_BLOCKED_LOOP_THRESHOLD"
#: The ``blocked-loop`` threshold when the environment sets none: long enough that
#: ordinary work in a step never reaches it, short enough to catch a blocking call.
DEFAULT_BLOCKED_LOOP_THRESHOLD: Final = 0.1

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


class Finding:
    """One thing a check found, attached to the test that caused it.

    A plain class rather than a dataclass, which would cost a millisecond to build when
    every test run imports this module.
    """

    __slots__ = ("check", "level", "message")

    def __init__(self, check: str, level: Level, message: str) -> None:
        self.check = check
        self.level = level
        self.message = message

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Finding):
            return NotImplemented
        return (self.check, self.level, self.message) == (other.check, other.level, other.message)

    def __hash__(self) -> int:
        return hash((self.check, self.level, self.message))

    def __repr__(self) -> str:
        return f"Finding(check={self.check!r}, level={self.level!r}, message={self.message!r})"

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


# The run's levels (defaults, then AIOUNIT_CHECKS) by the variable's text: read for every
# test, parsed again only when the text changed.
_run_levels: tuple[str | None, Mapping[str, Level]] = (None, DEFAULT_LEVELS)


def _levels_of_run() -> Mapping[str, Level]:
    global _run_levels
    text = getenv(CHECKS_ENV)
    cached, levels = _run_levels
    if text == cached:
        return levels
    levels = {**DEFAULT_LEVELS, **_parse_environment((text or "").strip())}
    _run_levels = (text, levels)
    return levels


def _parse_environment(raw: str) -> dict[str, Level]:
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


_ALL_ERRORS: Final[Mapping[str, Level]] = dict.fromkeys(DEFAULT_LEVELS, "error")


def levels_for(method: object, class_levels: object, cls_name: str) -> Mapping[str, Level]:
    """The level of every check for one test: method, then class, then run, then default.

    Read-only: most tests share the run's mapping.
    """
    levels = _levels_of_run()
    own = getattr(method, _ATTR, None)
    if class_levels or own:
        levels = dict(levels)
        if class_levels:
            if not isinstance(class_levels, Mapping):
                raise ConfigurationError(
                    f"{cls_name}.checks is {class_levels!r}: set a dict such as "
                    "{'leaked-task': 'error'}",
                    slug="bad-check-level",
                )
            levels.update(_validate(class_levels, f"{cls_name}.checks"))
        if own:
            levels.update(own)
    strict = getenv(STRICT_ENV)
    if strict is not None and strict.strip().lower() in ("1", "true", "yes", "on"):
        return _ALL_ERRORS
    return levels


_threshold_setting: tuple[str | None, float] = (None, DEFAULT_BLOCKED_LOOP_THRESHOLD)


def blocked_loop_threshold() -> float:
    """Seconds one step may hold the loop: ``AIOUNIT_BLOCKED_LOOP_THRESHOLD``, else 0.1."""
    global _threshold_setting
    raw = getenv(BLOCKED_LOOP_THRESHOLD_ENV)
    cached, value = _threshold_setting
    if raw == cached:
        return value
    if raw is None or not raw.strip():
        value = DEFAULT_BLOCKED_LOOP_THRESHOLD
    else:
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not 0 < value < float("inf"):
            raise ConfigurationError(
                f"environment variable {BLOCKED_LOOP_THRESHOLD_ENV}={raw!r} is not a number "
                "of seconds above 0. Set it to how long one step of the loop may run, e.g. "
                f"0.25, or turn the check off with {CHECKS_ENV}=blocked-loop=off",
                slug="bad-blocked-loop-threshold",
            )
    _threshold_setting = (raw, value)
    return value
