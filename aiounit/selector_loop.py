"""aiounit's asyncio loop: a selector loop that reuses the OS plumbing of closed loops.

Made by the ``"asyncio"`` loop factory (:mod:`aiounit.loops`) wherever asyncio's default
loop is the selector loop. Each loop object is new; what a closed loop hands on is only
its empty epoll instance and wake-up socket pair, and what asyncio's constructors would
compute again for every loop.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import keyword
import logging
import os
import selectors
import socket
import sys
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from aiounit.env import getenv

__all__ = ["REUSE", "LoopSelector", "ReusingSelectorEventLoop", "StepHooks"]

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


class ReusingSelectorEventLoop(asyncio.SelectorEventLoop):
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
        plan = _plan
        if spare is not None and plan is not None:
            self._aiounit_set_up(plan, spare)
            return
        self._aiounit_spare = spare
        self._aiounit_woken = False
        super().__init__(spare[0] if spare is not None else LoopSelector())
        this: Any = self
        self._aiounit_fresh_attrs = (
            spare[3] if spare is not None else frozenset(vars(this._selector))
        )
        if not _learned:
            _learn_plan(self)

    def _aiounit_set_up(self, plan: _SetUp, spare: _Spare) -> None:
        # What asyncio's constructors and _make_self_pipe() do on a spare, from the plan.
        plan(self, spare)
        self._aiounit_listen(spare)
        if _asyncio_logger.isEnabledFor(logging.DEBUG):
            _asyncio_logger.debug("Using selector: %s", type(spare[0]).__name__)

    def _aiounit_listen(self, spare: _Spare) -> None:
        # The spare's wake-up socket is still registered, with no handler: set the one
        # _add_reader() would.
        this: Any = self
        handle = asyncio.Handle(this._read_from_self, (), self, None)
        spare[0].set_data(spare[1].fileno(), (handle, None))

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
        self._aiounit_listen(spare)

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


#: Whether this platform's default asyncio loop is the selector loop (on Windows it is
#: the proactor), so that :class:`ReusingSelectorEventLoop` may stand in for it.
REUSE = sys.platform != "win32"


# -- making a loop from a plan -----------------------------------------------------------
# asyncio's constructors set some 25 attributes of a new loop, nearly all to constants,
# and for every loop they read the clock's resolution and the environment
# (PYTHONASYNCIODEBUG) and build containers through Python __init__ methods. A loop made
# on a spare is set up from a plan instead: the attributes of the first loop made by
# those constructors, in their order (which keeps the loops' attribute layout shared),
# each constant copied and each empty container made anew. The plan is learned on the
# running Python, so an attribute a later version adds is planned too; a value it cannot
# reproduce (anything but a constant or an empty container of a known type) leaves the
# loops to asyncio's constructors. It is compiled to one function of plain assignments,
# as dataclasses compiles __init__: a loop of setattr() calls cost half the saving.

_SetUp = Callable[[Any, _Spare], None]
_plan: _SetUp | None = None
_learned = False
_asyncio_logger = logging.getLogger("asyncio")

_CONSTANTS = (type(None), bool, int, float, str)
_CONTAINERS = (collections.deque, list, dict, set, weakref.WeakSet, weakref.WeakValueDictionary)


def _asyncio_debug() -> bool:
    """A new loop's debug mode by asyncio's own rule (``asyncio.coroutines._is_debug_mode``)."""
    flags = sys.flags
    return bool(flags.dev_mode or (not flags.ignore_environment and getenv("PYTHONASYNCIODEBUG")))


# Attributes whose value is not the first loop's: the plumbing of the spare, and the
# debug mode, which follows the environment when each loop is made.
_NOT_COPIED = {
    "_selector": "spare[0]",
    "_ssock": "spare[1]",
    "_csock": "spare[2]",
    "_aiounit_fresh_attrs": "spare[3]",
    "_debug": "asyncio_debug()",
}


def _learn_plan(loop: object) -> None:
    """Learn the plan from ``loop``, just made by asyncio's constructors, if it allows one."""
    global _plan, _learned
    _plan = _plan_of(vars(loop))
    _learned = True


def _plan_of(attributes: dict[str, Any]) -> _SetUp | None:
    """A function that sets ``attributes`` again on a loop made on a spare, or None if
    one of them cannot be made that way."""
    names: dict[str, Any] = {"asyncio_debug": _asyncio_debug}
    lines = []
    for index, (name, value) in enumerate(attributes.items()):
        if not name.isidentifier() or keyword.iskeyword(name):
            return None
        expression = _NOT_COPIED.get(name)
        if expression is None:
            if type(value) in _CONSTANTS:
                expression = f"value_{index}"
                names[expression] = value
            elif type(value) in _CONTAINERS and not value:
                expression = f"kind_{index}()"
                names[f"kind_{index}"] = type(value)
            else:
                return None
        lines.append(f"    loop.{name} = {expression}")
    source = "def set_up(loop, spare):\n" + ("\n".join(lines) or "    pass") + "\n"
    exec(compile(source, f"<{__name__} plan>", "exec"), names)
    set_up: _SetUp = names["set_up"]
    return set_up
