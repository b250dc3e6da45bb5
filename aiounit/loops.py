"""Event loop factories: the asyncio loop, uvloop or any module:callable, chosen by name."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import os
import selectors
import socket
import sys
from collections.abc import Callable
from typing import Any, Protocol

from aiounit._compat import custom_policy_installed
from aiounit.env import getenv
from aiounit.errors import LoopFactoryError

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
    if not _REUSE or custom_policy_installed():
        return asyncio.new_event_loop()
    return _ReusingSelectorEventLoop()


# -- reusing the OS plumbing of closed loops ---------------------------------------------
# Making an asyncio loop costs an epoll instance and a socket pair (the "self-pipe" that
# wakes it from other threads and signal handlers); closing it, their unregistering and
# closing. That is most of a fresh loop's cost per test. A closed loop with nothing
# registered but its self-pipe hands both to the next loop instead: the loop object, its
# callbacks, timers, tasks, executor and handlers are all new, only empty kernel objects
# are reused. Anything that could carry state disqualifies them (another registration,
# signal handlers, an instance attribute patched onto the selector, unread wake-up bytes
# that cannot be drained), and then the loop closes them as asyncio does.

# (selector, reading end, writing end, the selector's attribute names when it was new)
_Spare = tuple["LoopSelector", socket.socket, socket.socket, frozenset[str]]
_spares: list[_Spare] = []
# A loop per test needs one; a class loop open during per-test loops of another class,
# or loops in threads, a few more. The rest are closed.
_MAX_SPARES = 4


def _close_spares() -> None:
    while _spares:
        selector, ssock, csock, _ = _spares.pop()
        for closable in (ssock, csock, selector):
            with contextlib.suppress(OSError):
                closable.close()


# Closed at exit, so that no socket is reported as unclosed; dropped in a forked child,
# whose copy of an epoll instance would still be shared with its parent.
atexit.register(_close_spares)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_spares)


def _drain(sock: socket.socket) -> bool:
    """Read every pending wake-up byte; False if the socket is no longer usable."""
    while True:
        try:
            if not sock.recv(4096):
                return False  # the other end was closed
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False


class StepHooks(Protocol):
    """What :class:`LoopSelector` calls around each poll: the blocked-loop timer."""

    def end_step(self) -> None:
        """The loop is about to poll: the step that ran since the last poll has ended."""

    def begin_step(self) -> None:
        """The poll returned: the loop's next step begins."""


class LoopSelector(selectors.DefaultSelector):
    """The selector of aiounit's asyncio loops.

    Two things make it cheaper than the default one, per iteration of the loop:

    - ``hooks`` (the blocked-loop timer) are called here, in the poll itself, rather than
      through wrappers patched onto the loop and the selector for each test;
    - a poll that must not wait (``timeout=0``: callbacks are ready) returns at once,
      without a system call, when nothing is registered but the loop's own wake-up
      socket and ``quiet`` says no signal handler reads from it. Bytes on that socket
      only wake a waiting loop; they are read at the next poll that may wait.
    """

    #: Called around each poll; None when the loop's steps are not timed.
    hooks: StepHooks | None = None
    #: Whether empty polls may be skipped: False once the loop has a signal handler,
    #: whose signals arrive as bytes on the wake-up socket and must be read promptly.
    quiet = True

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        hooks = self.hooks
        if hooks is not None:
            hooks.end_step()
        this: Any = self  # _fd_to_key: the registrations of the stdlib's selectors
        if timeout == 0 and self.quiet and len(this._fd_to_key) <= 1:
            ready: list[tuple[selectors.SelectorKey, int]] = []
        else:
            ready = super().select(timeout)
        if hooks is not None:
            hooks.begin_step()
        return ready

    def set_data(self, fd: int, data: Any) -> None:
        """Give the registered ``fd`` new data, keeping its events: what ``modify()`` does
        for a change of data alone, without rebuilding the key through ``_replace()``."""
        this: Any = self
        key = this._fd_to_key[fd]
        this._fd_to_key[fd] = selectors.SelectorKey(key.fileobj, fd, key.events, data)

    def holds_only(self, fd: int) -> bool:
        """Whether ``fd`` is registered, for reading alone, and nothing else is."""
        this: Any = self
        keys = this._fd_to_key
        return len(keys) == 1 and fd in keys and keys[fd].events == selectors.EVENT_READ


class _ReusingSelectorEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop that takes its selector and self-pipe from a closed one.

    Only made where the selector loop is asyncio's default (not on Windows).
    """

    # The private attributes of asyncio's selector loop used here (_selector, _ssock,
    # _csock, _internal_fds, _signal_handlers, _add_reader, _read_from_self) are the same
    # from 3.11 to 3.14; they are reached through `this: Any`, as typeshed has none.

    def __init__(self) -> None:
        try:
            spare: _Spare | None = _spares.pop()  # atomic: loops may be made in threads
        except IndexError:
            spare = None
        self._aiounit_spare = spare
        self._aiounit_woken = False
        super().__init__(spare[0] if spare is not None else LoopSelector())
        this: Any = self
        self._aiounit_fresh_attrs = (
            spare[3] if spare is not None else frozenset(vars(this._selector))
        )

    def run_forever(self) -> None:
        """Run the loop until stop(); the last step of the run ends with it."""
        try:
            super().run_forever()
        finally:
            hooks = getattr(self._selector, "hooks", None)  # type: ignore[attr-defined]
            if hooks is not None:
                hooks.end_step()

    def add_signal_handler(self, sig: int, callback: Any, *args: Any) -> None:  # type: ignore[override]
        """As asyncio's; the selector then polls for the signals' wake-up bytes always."""
        selector = self._selector  # type: ignore[attr-defined]
        if selector is not None:
            selector.quiet = False
        super().add_signal_handler(sig, callback, *args)

    def _write_to_self(self) -> None:
        # Noted, so that a loop nobody woke hands its self-pipe on without reading it.
        self._aiounit_woken = True
        base: Any = super()
        base._write_to_self()

    def _make_self_pipe(self) -> None:
        this: Any = self
        spare = self._aiounit_spare
        if spare is None:
            base: Any = super()
            base._make_self_pipe()
            return
        self._aiounit_spare = None
        this._ssock, this._csock = spare[1], spare[2]
        this._internal_fds += 1
        # The key is still registered, with no handler: set the one _add_reader() would.
        handle = asyncio.Handle(this._read_from_self, (), self, None)
        spare[0].set_data(this._ssock.fileno(), (handle, None))

    def _close_self_pipe(self) -> None:
        if not self._aiounit_give_back():
            base: Any = super()
            base._close_self_pipe()

    def _aiounit_give_back(self) -> bool:
        this: Any = self
        selector: Any = this._selector
        ssock: socket.socket | None = this._ssock
        csock: socket.socket | None = this._csock
        if len(_spares) >= _MAX_SPARES or selector is None or ssock is None or csock is None:
            return False
        fd = ssock.fileno()
        if (
            not isinstance(selector, LoopSelector)
            or not selector.holds_only(fd)
            or this._signal_handlers
            or vars(selector).keys() != self._aiounit_fresh_attrs
            or (self._aiounit_woken and not _drain(ssock))
        ):
            return False
        # Forget this loop's handler (it would keep the loop alive), not the key.
        selector.set_data(fd, (None, None))
        this._ssock = this._csock = None
        this._internal_fds -= 1
        this._selector = None  # so close() does not close it: it is handed on
        _spares.append((selector, ssock, csock, self._aiounit_fresh_attrs))
        return True


_REUSE = sys.platform != "win32"  # the default loop there is the proactor


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
