"""Event loop factories: the asyncio loop, uvloop or any module:callable, chosen by name."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable

from aiounit._compat import custom_policy_installed
from aiounit.env import getenv
from aiounit.errors import LoopFactoryError
from aiounit.selector_loop import REUSE, ReusingSelectorEventLoop

__all__ = [
    "LOOP_DEBUG_ENV",
    "LOOP_ENV",
    "LoopFactory",
    "default_loop_debug",
    "default_loop_factory",
    "resolve_loop_factory",
]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

#: Selects the loop of every class that does not set ``loop_factory`` itself.
LOOP_ENV = "AIOUNIT_LOOP"
#: ``1`` turns asyncio debug mode on for every class that does not set ``loop_debug``.
LOOP_DEBUG_ENV = "AIOUNIT_LOOP_DEBUG"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
# The usual spellings, answered without normalising them (read for every loop made).
_FLAGS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


def _asyncio_loop() -> asyncio.AbstractEventLoop:
    # new_event_loop() keeps working for suites that install a loop policy of their own,
    # as they could with IsolatedAsyncioTestCase; aiounit itself never sets a policy.
    if not REUSE or custom_policy_installed():
        return asyncio.new_event_loop()
    return ReusingSelectorEventLoop()


def _uvloop_factory() -> LoopFactory:
    try:
        import uvloop
    except ImportError as exc:
        raise LoopFactoryError(
            "uvloop was asked for but is not installed in this environment "
            f"({sys.executable}). Install it with `pip install aiounit[uvloop]` "
            "(or `pip install uvloop`), or choose the asyncio loop",
            slug="uvloop-missing",
        ) from exc
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def _import_factory(spec: str) -> LoopFactory:
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise LoopFactoryError(
            f"loop {spec!r} is not a known loop name nor of the form 'package.module:callable'. "
            "Use 'asyncio', 'uvloop' or a path such as 'mypkg.loops:new_loop'"
        )
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise LoopFactoryError(
            f"loop {spec!r}: module {module_name!r} cannot be imported ({exc}). "
            "Check the module path and that its package is installed"
        ) from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise LoopFactoryError(
                f"loop {spec!r}: {module_name!r} has no attribute {attr_path!r}. "
                "Name a callable that returns a new event loop"
            ) from None
    if not callable(target):
        raise LoopFactoryError(
            f"loop {spec!r} names {target!r}, which is not callable. "
            "Name a callable that returns a new event loop"
        )
    return target  # type: ignore[return-value,unused-ignore]


_cache: dict[str, LoopFactory] = {}


def resolve_loop_factory(spec: str) -> LoopFactory:
    """Return the loop factory a name stands for.

    ``spec`` is ``"asyncio"``, ``"uvloop"`` (imported only now, with an error that says how
    to install it when it is missing) or ``"package.module:callable"``. Raises
    :class:`~aiounit.errors.LoopFactoryError` with the reason and the fix otherwise.
    """
    spec = spec.strip()
    factory = _cache.get(spec)
    if factory is None:
        if spec in ("", "asyncio"):
            factory = _asyncio_loop
        elif spec == "uvloop":
            factory = _uvloop_factory()
        else:
            factory = _import_factory(spec)
        _cache[spec] = factory
    return factory


def default_loop_factory() -> LoopFactory:
    """The factory for classes that set no ``loop_factory``: ``AIOUNIT_LOOP``, else asyncio."""
    spec = getenv(LOOP_ENV) or ""
    try:
        return resolve_loop_factory(spec)
    except LoopFactoryError as exc:
        # Name the variable, keep the cause's own slug (uvloop-missing, bad-loop-factory).
        message = exc.args[0].removesuffix(f" [{exc.slug}]")
        raise LoopFactoryError(
            f"environment variable {LOOP_ENV}={spec!r}: {message}", slug=exc.slug
        ) from None


def _flag(name: str) -> bool | None:
    value = getenv(name)
    if value is None:
        return None
    known = _FLAGS.get(value)
    if known is not None:
        return known
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise LoopFactoryError(
        f"environment variable {name}={value!r} is not a yes/no value. Use 1 or 0",
        slug="bad-setting",
    )


def default_loop_debug() -> bool:
    """Whether asyncio debug mode is on for classes that set no ``loop_debug``.

    ``AIOUNIT_LOOP_DEBUG`` decides when set; otherwise asyncio's own switches do
    (``PYTHONASYNCIODEBUG`` and ``python -X dev``).
    """
    flag = _flag(LOOP_DEBUG_ENV)
    if flag is not None:
        return flag
    return sys.flags.dev_mode or bool(getenv("PYTHONASYNCIODEBUG"))
