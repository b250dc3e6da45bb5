"""Post-test checks (hygiene): what a test left behind or let slip, each with a slug and a level."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import io
import linecache
import os
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import traceback
import tracemalloc
import types
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, TypeVar, cast

from aiounit.errors import AiounitError, ConfigurationError
from aiounit.stacks import describe_task

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
    "unclosed-resource": "warn",
    "blocked-loop": "warn",
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


def _environ(name: str) -> str | None:
    """``os.environ.get(name)`` at a twentieth of its cost: settings are read per test.

    For an unset variable os.environ.get() raises and catches a KeyError inside (a
    microsecond); the dict it reads from answers directly.
    """
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    decode = getattr(os.environ, "decodevalue", None)
    if not isinstance(data, dict) or encode is None or decode is None:
        return os.environ.get(name)
    raw = data.get(encode(name))
    return None if raw is None else str(decode(raw))


def _from_environment() -> dict[str, Level]:
    raw = (_environ(CHECKS_ENV) or "").strip()
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
    if (_environ(STRICT_ENV) or "").strip().lower() in ("1", "true", "yes", "on"):
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
        self._started = False
        self._stopped = False
        self._resources: _ResourceWatch | None = None
        self._steps: _StepTimer | None = None

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
            sys.set_coroutine_origin_tracking_depth(max(_ORIGIN_DEPTH, self._previous_depth))
        if self.levels.get("unclosed-resource", "off") != "off":
            self._resources = _ResourceWatch(self)
            self._resources.start()
        if blocked:
            self._steps = _StepTimer.install(self, threshold)
        _active = self

    def before_teardown_of_loop(self) -> None:
        """Record the test's tasks that are still pending (they are cancelled next), and
        what it left open on the loop."""
        if self.levels["leaked-task"] != "off":
            for task in sorted(self._owned(), key=lambda t: t.get_name()):
                if task.done():
                    continue
                self._add(
                    "leaked-task",
                    f"{self.test_id} left a task running; it is cancelled now. "
                    f"{describe_task(task)}{_origin(task.get_coro())}\nAwait it, cancel it "
                    "in a cleanup, or keep it in a TaskGroup the test exits",
                )
        if self._resources is not None:
            self._resources.check_loop()

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
        steps, self._steps = self._steps, None
        if steps is not None:
            steps.uninstall()
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


# -- where things come from ---------------------------------------------------------------

_STDLIB_DIR: Final = sysconfig.get_paths()["stdlib"] + os.sep


def _is_internal(filename: str) -> bool:
    """Whether a frame's file is asyncio's, aiounit's or the standard library's."""
    if filename.startswith(_INTERNAL_DIRS):
        return True
    return filename.startswith(_STDLIB_DIR) and "-packages" not in filename


def _format_frames(frames: list[tuple[str, int, str | None]], limit: int = 8) -> str:
    """Frames (outermost first) as traceback lines: the user's and the innermost one, or
    all of them when none is the user's (then the library's own code is the story)."""
    user = [frame for frame in frames if not _is_internal(frame[0])]
    if not user:
        kept = frames
    elif _is_internal(frames[-1][0]):
        kept = user + frames[-1:]  # the line in the library that the user's code called
    else:
        kept = user
    kept = kept[-limit:]
    lines = []
    for filename, lineno, name in kept:
        source = linecache.getline(filename, lineno).strip()
        where = f'  File "{filename}", line {lineno}' + (f", in {name}" if name else "")
        lines.append(f"{where}\n    {source}" if source else where)
    return "\n".join(lines)


def _created_at(obj: object) -> str:
    """Where ``obj`` was allocated, when tracemalloc traces (aiounit does not turn it on:
    it slows every allocation down)."""
    if not tracemalloc.is_tracing():
        return "\nRun with PYTHONTRACEMALLOC=20 to see where it was created."
    # Python 3.11 finds no trace for objects with a managed __dict__ (a Server, a
    # transport): the socket or process they hold was made by the same call.
    for part in _parts(obj):
        traceback_ = tracemalloc.get_object_traceback(part)
        if traceback_ is not None:
            break
    else:
        return ""
    frames: list[tuple[str, int, str | None]] = [(f.filename, f.lineno, None) for f in traceback_]
    return "\nCreated at (most recent call last):\n" + _format_frames(frames)


# -- unclosed resources -------------------------------------------------------------------
# Two sources. The loop's state when the test ends (readers and writers it still
# watches, open transports, listening servers) is exact. ResourceWarning, which sockets,
# files, transports and subprocesses emit when they are freed unclosed, catches the rest:
# while a test runs, a filter in front of the user's lets ResourceWarnings (and nothing
# else) through to warnings._showwarnmsg, which the test's watch takes over.

_RESOURCE_FILTER: Final = ("always", None, ResourceWarning, None, 0)
# Objects already reported from a loop's state, by id, with a weak reference: when the
# garbage collector frees them later, perhaps during another test, their
# ResourceWarning is not that test's. The collector clears weak references before it
# runs finalizers, so a dead reference still matches its own object's warning.
_reported: dict[int, weakref.ref[Any]] = {}
_in_collection = False
_LOOP_CLOSED: Final = "loop is closed"


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _in_collection
    _in_collection = phase == "start"


def _filters_changed() -> None:
    """Tell the warnings machinery (its C part caches them) that its filters changed."""
    if _FILTERS_MUTATED is not None:
        _FILTERS_MUTATED()
    elif _FILTERS_MUTATED_LOCK_HELD is not None and _WARNINGS_LOCK is not None:
        with _WARNINGS_LOCK:
            _FILTERS_MUTATED_LOCK_HELD()


# Python 3.14 renamed the hook, and wants the module's lock held around it.
_FILTERS_MUTATED: Final[Callable[[], None] | None] = getattr(warnings, "_filters_mutated", None)
_FILTERS_MUTATED_LOCK_HELD: Final[Callable[[], None] | None] = getattr(
    warnings, "_filters_mutated_lock_held", None
)
_WARNINGS_LOCK: Final[Any] = getattr(warnings, "_lock", None)


def _parts(obj: object) -> Iterator[object]:
    """``obj`` and what would warn in its place when freed: its socket, process, pipes."""
    yield obj
    for name in ("_sock", "_proc"):
        part = getattr(obj, name, None)
        if part is not None:
            yield part
    yield from _file_parts(getattr(obj, "_pipe", None))
    yield from getattr(obj, "_sockets", None) or ()
    pipes = getattr(obj, "_pipes", None)
    if isinstance(pipes, dict):
        for protocol in pipes.values():
            pipe = getattr(protocol, "pipe", None)
            if pipe is not None:
                yield pipe
                yield from _file_parts(getattr(pipe, "_pipe", None))


def _file_parts(file: object) -> Iterator[object]:
    """A file object and the raw file under its buffer: each warns for itself."""
    while file is not None:
        yield file
        file = getattr(file, "raw", None) if isinstance(file, io.BufferedIOBase) else None


def _remember(obj: object) -> None:
    for part in _parts(obj):
        # An object that takes no weak reference cannot be remembered without keeping
        # it alive: it warns again when freed.
        with contextlib.suppress(TypeError):
            _reported[id(part)] = weakref.ref(part)


def _reported_before(source: object) -> bool:
    """Whether ``source`` was reported from a loop's state already (and forget it)."""
    ref = _reported.pop(id(source), None)
    if ref is None:
        return False
    alive = ref()
    if alive is None or alive is source:
        return True
    _reported[id(source)] = ref  # a different object now has that id
    return False


def _prune_reported() -> None:
    for key, ref in list(_reported.items()):
        if ref() is None:
            del _reported[key]


def _address(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return repr(address)


def _transport_owner(transport: asyncio.BaseTransport) -> object:
    """The subprocess a pipe transport belongs to, else the transport itself."""
    proc = getattr(getattr(transport, "_protocol", None), "proc", None)
    return proc if isinstance(proc, asyncio.SubprocessTransport) else transport


def _handle_owner(handle: asyncio.Handle) -> object | None:
    """The server or transport a reader or writer callback works for, if any."""
    callback = getattr(handle, "_callback", None)
    candidates = [getattr(callback, "__self__", None), *(getattr(handle, "_args", None) or ())]
    # The child watcher that uses a pidfd passes (callback, args) on to the callback.
    candidates += [item for c in candidates if isinstance(c, tuple) for item in c]
    for candidate in candidates:
        if isinstance(candidate, asyncio.AbstractServer):
            return candidate
    for candidate in candidates:
        if isinstance(candidate, asyncio.BaseTransport):
            return _transport_owner(candidate)
    return None


def _loop_resources(loop: asyncio.AbstractEventLoop) -> dict[int, tuple[object, str]]:
    """What the loop still watches, by id: the object and the file descriptor or role.

    Reads asyncio's private selector-loop state; a loop without it (uvloop, the proactor
    loop) has nothing to show here, and only ResourceWarnings are watched.
    """
    found: dict[int, tuple[object, str]] = {}
    selector = getattr(loop, "_selector", None)
    get_map = getattr(selector, "get_map", None)
    # Most tests leave nothing: then only the loop's own pipe is registered.
    fds = getattr(selector, "_fd_to_key", None)
    if get_map is not None and (fds is None or len(fds) > 1):
        own = getattr(loop, "_ssock", None)
        own_fd = own.fileno() if own is not None else -1
        mapping = get_map()
        if len(mapping) > (own_fd >= 0):
            for key in list(mapping.values()):
                data = key.data
                if key.fd == own_fd or not isinstance(data, tuple):
                    continue
                for role, handle in zip(("reader", "writer"), data, strict=False):
                    if handle is None or handle.cancelled():
                        continue
                    owner = _handle_owner(handle)
                    if owner is None:
                        found.setdefault(id(handle), (handle, f"{role} on fd {key.fd}"))
                    else:
                        found.setdefault(id(owner), (owner, f"fd {key.fd}"))
    transports = getattr(loop, "_transports", None)
    if transports:
        for fd, transport in list(transports.items()):
            if transport is not None and not transport.is_closing():
                owner = _transport_owner(transport)
                found.setdefault(id(owner), (owner, f"fd {fd}"))
    return found


def _still_open(obj: object) -> bool:
    """Whether a leftover noted before the loop closed is open still (the loop's
    shutdown cancels the test's tasks, whose cleanup may close it)."""
    if isinstance(obj, asyncio.AbstractServer):
        return obj.is_serving()
    if isinstance(obj, asyncio.BaseTransport):
        return not obj.is_closing()
    if isinstance(obj, asyncio.Handle):
        return not obj.cancelled()
    return True


def _describe(obj: object, where: str) -> str:
    """Name a leftover of the loop's state: what it is, its addresses or process."""
    if isinstance(obj, asyncio.AbstractServer):
        names = [_address(sock.getsockname()) for sock in getattr(obj, "sockets", None) or ()]
        return f"a server listening on {', '.join(names) or where} ({obj!r})"
    if isinstance(obj, asyncio.SubprocessTransport):
        code = obj.get_returncode()
        state = "still running" if code is None else f"ended with code {code}, never waited for"
        args = getattr(getattr(obj, "_proc", None), "args", None)
        command = f" ({subprocess.list2cmdline(args)})" if isinstance(args, list | tuple) else ""
        return f"subprocess {obj.get_pid()}{command}, {state} ({obj!r})"
    if isinstance(obj, asyncio.BaseTransport):
        local = obj.get_extra_info("sockname")
        peer = obj.get_extra_info("peername")
        text = f"a transport {obj!r}"
        if local is not None:
            text += f" on {_address(local)}"
        if peer is not None:
            text += f" connected to {_address(peer)}"
        protocol = obj.get_protocol()
        if protocol is not None:
            text += f", with protocol {type(protocol).__qualname__}"
        return text
    return f"a {where} registered with loop.add_{where.split()[0]}(): {obj!r}"


_HOW_TO_CLOSE: Final = {
    "server": (
        "Close it: server.close() then await server.wait_closed(), or serve inside "
        "`async with server:`. In a test, register both right after creating it: "
        "self.addAsyncCleanup(server.wait_closed), then self.addCleanup(server.close)"
    ),
    "subprocess": (
        "Wait for it: await proc.wait() (after proc.kill() or proc.terminate() if it would "
        "not end by itself) before the test ends, for example in self.addAsyncCleanup"
    ),
    "transport": (
        "Close it: for streams, writer.close() then await writer.wait_closed(); else "
        "transport.close(). In a test, self.addAsyncCleanup() registers that for the end"
    ),
    "handle": (
        "Remove it before the test ends (loop.remove_reader(fd) or loop.remove_writer(fd)), "
        "and close the file descriptor"
    ),
    "socket": (
        "Close it: sock.close(), or create it in `with socket.socket(...) as sock:`. In a "
        "test, self.addCleanup(sock.close) right after creating it"
    ),
    "file": "Close it: open it in a `with` block, or self.addCleanup(f.close) after opening",
    "loop": "Close the loop the test made (loop.close()), or use `with asyncio.Runner():`",
    "other": "Close it when the test is done with it, for example in self.addCleanup()",
}


def _how_to_close(obj: object, text: str) -> str:
    """How to close ``obj`` (or what the warning ``text`` names) in a test."""
    kind = "other"
    if isinstance(obj, asyncio.AbstractServer):
        kind = "server"
    elif isinstance(obj, asyncio.SubprocessTransport | subprocess.Popen):
        kind = "subprocess"
    # StreamWriter warns without naming itself as the source.
    elif isinstance(obj, asyncio.BaseTransport) or (obj is None and "StreamWriter" in text):
        kind = "transport"
    elif isinstance(obj, asyncio.Handle):
        kind = "handle"
    elif isinstance(obj, socket.socket):
        kind = "socket"
    elif isinstance(obj, io.IOBase):
        kind = "file"
    elif isinstance(obj, asyncio.AbstractEventLoop):
        kind = "loop"
    elif obj is not None:
        # uvloop's handles (TCPServer, UVProcessTransport, TCPTransport) warn for
        # themselves and derive from none of asyncio's classes.
        name = type(obj).__name__
        if name.endswith("Server"):
            kind = "server"
        elif "Process" in name:
            kind = "subprocess"
        elif "Transport" in name:
            kind = "transport"
    return _HOW_TO_CLOSE[kind]


class _ResourceWatch:
    """One test's watch for what it leaves open: ResourceWarnings while it runs, and what
    is still open on its loop once that loop is closed.

    A loop that a class shares stays open after the test, and what the test opened on
    it may belong to a class fixture (a connection pool keeps connections from test to
    test), so on such a loop only ResourceWarnings count.
    """

    __slots__ = (
        "_filters",
        "_hook",
        "_impl",
        "_leftovers",
        "_monitor",
        "_previous",
        "_showwarning",
    )

    def __init__(self, monitor: TestMonitor) -> None:
        self._monitor = monitor
        self._leftovers: list[tuple[object, str]] = []
        self._hook: Callable[[Any], None] | None = None
        self._previous: Callable[[Any], None] | None = None
        self._impl: object = None
        self._showwarning: object = None
        self._filters: list[Any] | None = None

    def start(self) -> None:
        """Take ResourceWarnings from now on."""
        if _reported:
            _prune_reported()
        previous = getattr(warnings, "_showwarnmsg", None)
        if previous is None:
            return  # a warnings module without the hook: only the loop's state is read
        self._previous = previous
        # A test that opens its own catch_warnings(record=True) (assertWarns) replaces
        # these two: its ResourceWarnings then go where it asked, untouched.
        self._impl = getattr(warnings, "_showwarnmsg_impl", None)
        self._showwarning = warnings.showwarning
        self._hook = hook = self._show
        warnings._showwarnmsg = hook  # type: ignore[attr-defined]
        self._filters = filters = cast("list[Any]", warnings.filters)
        filters.insert(0, _RESOURCE_FILTER)
        _filters_changed()
        gc.callbacks.append(_on_gc)

    def check_loop(self) -> None:
        """Note what is open on the loop before it closes (described while it is open)."""
        loop = self._monitor.loop
        if not loop.is_closed():
            found = _loop_resources(loop)
            if found:
                self._leftovers = [(obj, _describe(obj, where)) for obj, where in found.values()]

    def stop(self) -> None:
        """Report what stayed open with the loop closed; give ResourceWarnings back."""
        # Reported first: what only the leftovers list kept alive is freed when it goes,
        # while the hook still takes (and drops) the warnings about it.
        self._report_leftovers()
        hook, self._hook = self._hook, None
        if hook is None:
            return
        if getattr(warnings, "_showwarnmsg", None) is hook:
            warnings._showwarnmsg = self._previous  # type: ignore[attr-defined]
        filters, self._filters = self._filters or [], None
        if filters and filters[0] is _RESOURCE_FILTER:
            del filters[0]
        else:  # the test added filters of its own in front
            for index, item in enumerate(filters):
                if item is _RESOURCE_FILTER:
                    del filters[index]
                    break
        _filters_changed()
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(_on_gc)

    def _report_leftovers(self) -> None:
        leftovers, self._leftovers = self._leftovers, []
        if not leftovers or not self._monitor.loop.is_closed():
            return
        for obj, description in leftovers:
            if _still_open(obj):
                _remember(obj)
                self._monitor._add(
                    "unclosed-resource",
                    f"{self._monitor.test_id} left {description} open when it ended."
                    f"{_created_at(obj)}\n{_how_to_close(obj, '')}",
                )

    def _show(self, msg: Any) -> None:
        if (
            self._hook is not None
            and isinstance(msg.category, type)
            and issubclass(msg.category, ResourceWarning)
            and getattr(warnings, "_showwarnmsg_impl", None) is self._impl
            and warnings.showwarning is self._showwarning
        ):
            try:
                self._on_resource_warning(msg)
                return
            except Exception:
                pass  # a bug here must not lose the warning: it goes on as usual
        if self._previous is not None:
            self._previous(msg)

    def _on_resource_warning(self, msg: Any) -> None:
        source = msg.source
        text = str(msg.message)
        if source is None and (_in_collection or text == _LOOP_CLOSED):
            # Nothing names the object, so nothing says which test dropped it: freed by
            # the collector it may be an earlier test's, and a StreamWriter that warns
            # "loop is closed" outlived its loop, which an earlier test closed.
            return
        if source is not None and _reported_before(source):
            return
        if _in_collection:
            freed = (
                " The garbage collector freed it now: it may have been dropped earlier, "
                "by an earlier test."
            )
        elif not _is_internal(msg.filename):
            freed = (
                f'\nThe last reference went away at:\n  File "{msg.filename}", line {msg.lineno}'
            )
        else:
            freed = ""
        created = _created_at(source) if source is not None else ""
        self._monitor._add(
            "unclosed-resource",
            f"{self._monitor.test_id}: {text}. It was freed without being closed.{freed}"
            f"{created}\n{_how_to_close(source, text)}",
        )


# -- blocked loop -------------------------------------------------------------------------
# A step is what the loop runs between two polls of its selector: the ready callbacks
# and task steps of one iteration. Timing it wraps two methods of the loop instance,
# its selector's select() and run_forever() (for the last step of a run); that costs a
# call and two clock reads per iteration. To say *where* a step is stuck, one daemon
# thread wakes when the running step passes the threshold and reads the loop thread's
# stack, which is the line that blocks.

_monotonic: Final = time.monotonic
_NEVER: Final = float("inf")
_threshold_setting: tuple[str | None, float] = (None, DEFAULT_BLOCKED_LOOP_THRESHOLD)
# A test that blocks in a loop would fill a report with the same finding: the first
# few say it, then one line counts the rest.
_MAX_BLOCKED_FINDINGS: Final = 3


def blocked_loop_threshold() -> float:
    """Seconds one step may hold the loop: ``AIOUNIT_BLOCKED_LOOP_THRESHOLD``, else 0.1."""
    global _threshold_setting
    raw = _environ(BLOCKED_LOOP_THRESHOLD_ENV)
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


class _StepTimer:
    """Times the steps of one test's loop and reports those longer than the threshold."""

    __slots__ = (
        "_count",
        "_longest",
        "_loop",
        "_monitor",
        "_real_run_forever",
        "_real_select",
        "_selector",
        "sample",
        "step",
        "threshold",
    )

    def __init__(
        self, monitor: TestMonitor, loop: asyncio.AbstractEventLoop, selector: Any, threshold: float
    ) -> None:
        self._monitor = monitor
        self._loop = loop
        self._selector = selector
        # What is there now (the class's methods, or a virtual clock's hook) is called
        # through, and put back when the test ends.
        self._real_select: Callable[..., Any] = selector.select
        self._real_run_forever: Callable[[], None] = loop.run_forever
        self.threshold = threshold
        #: When the running step started (a new float object per step), or None.
        self.step: float | None = None
        #: What the sampler saw of the step that ran long.
        self.sample: _StepSample | None = None
        self._count = 0
        self._longest = 0.0

    @classmethod
    def install(cls, monitor: TestMonitor, threshold: float) -> _StepTimer | None:
        """Time ``monitor``'s loop, if it is a selector loop (uvloop is not)."""
        loop = monitor.loop
        selector = getattr(loop, "_selector", None)
        if selector is None:
            return None
        timer = cls(monitor, loop, selector, threshold)
        # Set as attributes, never through __dict__: on Python 3.11+ reading an
        # instance's __dict__ turns its inline attribute storage into a real dict, which
        # slows every later attribute access on the loop.
        try:
            selector.select = timer._select
            loop.run_forever = timer._run_forever  # type: ignore[method-assign]
        except AttributeError:  # objects that take no attributes of their own
            timer.uninstall()
            return None
        _sampler.watch(timer)
        return timer

    def uninstall(self) -> None:
        """Stop timing; report how many more slow steps there were than were shown."""
        threshold, self.threshold = self.threshold, _NEVER
        self.step = None
        _sampler.unwatch(self)
        # A hook installed over ours later (a virtual clock) and not removed yet still
        # calls ours, which now only passes calls through.
        _unhook(self._selector, "select", self, self._real_select)
        _unhook(self._loop, "run_forever", self, self._real_run_forever)
        extra = self._count - _MAX_BLOCKED_FINDINGS
        if extra > 0:
            self._monitor._add(
                "blocked-loop",
                f"{self._monitor.test_id}: {extra} more step{'s' if extra > 1 else ''} held "
                f"the loop longer than {threshold:g} s (the longest {self._longest:.2f} s)",
            )

    def _select(self, timeout: float | None = None) -> Any:
        start = self.step
        if start is not None:
            self.step = None
            held = _monotonic() - start
            if held > self.threshold:
                self._held(held, start)
        try:
            return self._real_select(timeout)
        finally:
            self.step = _monotonic()

    def _run_forever(self) -> None:
        try:
            self._real_run_forever()
        finally:
            start = self.step
            if start is not None:
                self.step = None
                held = _monotonic() - start
                if held > self.threshold:
                    self._held(held, start)

    def _held(self, held: float, start: float) -> None:
        self._count += 1
        self._longest = max(self._longest, held)
        if self._count > _MAX_BLOCKED_FINDINGS:
            return
        sample = self.sample
        if sample is not None and sample.start is not start:
            sample = None
        self._monitor._add(
            "blocked-loop",
            f"{self._monitor.test_id}: one step of the event loop ran for {held:.2f} s "
            f"(the limit is {self.threshold:g} s) without giving control back, so no other "
            f"task, callback or I/O could run meanwhile. {_describe_step(sample)}\n"
            "In async code, replace blocking calls: time.sleep() with await "
            "asyncio.sleep(), blocking I/O with await asyncio.to_thread(...); run long "
            "computations in an executor. If the step is meant to take that long, raise "
            f"the limit with {BLOCKED_LOOP_THRESHOLD_ENV}=seconds or turn the check off for "
            "the test with @aiounit.checks(blocked_loop='off')",
        )


def _unhook(obj: object, name: str, timer: _StepTimer, previous: Any) -> None:
    """Put ``previous`` back as ``obj.name`` if the timer's hook is still there."""
    if getattr(getattr(obj, name, None), "__self__", None) is not timer:
        return
    if getattr(previous, "__self__", None) is obj:
        delattr(obj, name)  # it was the class's own method
    else:
        setattr(obj, name, previous)


class _StepSample(NamedTuple):
    """What the sampler saw of a step that ran long: the step (by its start), its frames
    (file, line, function, code flags; outermost first) and the callback it runs."""

    start: float
    frames: list[tuple[str, int, str, int]]
    handle: str


def _describe_step(sample: _StepSample | None) -> str:
    if sample is None:
        return (
            "Where it ran could not be seen (the step ended before it was looked at, or "
            "held the interpreter lock throughout); loop_debug=True makes asyncio name "
            "slow callbacks itself."
        )
    frames = sample.frames
    # The first frame is Handle._run(), which calls the callback (or the task step).
    called = [frame for frame in frames[1:] if not _is_internal(frame[0])] or frames[1:]
    if called and called[0][3] & inspect.CO_COROUTINE:
        what = f"a step of the coroutine {called[0][2]}()"
    elif called:
        what = f"the callback {called[0][2]}()"
    else:  # a callback written in C, which has no frame
        what = f"the callback {sample.handle}"
    stack = _format_frames([(filename, lineno, func) for filename, lineno, func, _ in frames])
    return f"It was {what}, at (outermost first):\n{stack}"


def _step_sample(start: float, thread_id: int) -> _StepSample | None:
    """What runs in ``thread_id`` now, or None when it is not inside a step of a loop."""
    frame: types.FrameType | None = sys._current_frames().get(thread_id)
    frames: list[tuple[str, int, str, int]] = []
    outer: types.FrameType | None = None
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_run_once":
            frames.reverse()
            return _StepSample(start, frames, _handle_text(outer))
        lineno = frame.f_lineno
        frames.append(
            (
                code.co_filename,
                code.co_firstlineno if lineno is None else lineno,
                code.co_name,
                code.co_flags,
            )
        )
        outer, frame = frame, frame.f_back
    return None


def _handle_text(frame: types.FrameType | None) -> str:
    """The handle whose callback the step runs, read from Handle._run()'s frame.

    It names a callback written in C (time.sleep), which has no frame of its own.
    Reading another thread's frame locals is safe while this thread holds the GIL.
    """
    if frame is None or frame.f_code.co_name != "_run":
        return "(unknown)"
    text = repr(frame.f_locals.get("self"))
    return text if len(text) <= 200 else text[:197] + "..."


class _Sampler:
    """The daemon thread that looks at a step which runs past the threshold."""

    def __init__(self) -> None:
        self._timer: _StepTimer | None = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        #: True while the thread waits for a timer to watch (or has not started).
        self._idle = True

    def watch(self, timer: _StepTimer) -> None:
        """Watch ``timer``'s steps (replacing any other)."""
        self._timer = timer
        # Set before it is read here, and read after it is set in _run(): one of the
        # two threads sees the other's write, so the thread never sleeps on a timer.
        if self._idle:
            self._idle = False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="aiounit-blocked-loop", daemon=True
                )
                self._thread.start()
            else:
                self._wake.set()

    def unwatch(self, timer: _StepTimer) -> None:
        """Stop watching ``timer`` if it is the watched one."""
        if self._timer is timer:
            self._timer = None

    def forget_thread(self) -> None:
        """After fork(): the child has no sampler thread; the next watch starts one."""
        self._thread = None
        self._wake = threading.Event()
        self._idle = True

    def _run(self) -> None:
        while True:
            pause = self._look()
            if pause is not None:
                time.sleep(pause)
                continue
            self._wake.clear()
            self._idle = True
            if self._timer is None:
                self._wake.wait()
            self._idle = False

    def _look(self) -> float | None:
        """Sample the watched step if it runs past the threshold; return how long to
        sleep, or None when nothing is watched. Nothing is held while sleeping, so a
        test's loop is never freed in this thread."""
        timer = self._timer
        if timer is None:
            return None
        start = timer.step
        if start is None:
            return timer.threshold / 4
        due = start + timer.threshold - _monotonic()
        if due > 0:
            return due
        thread_id = getattr(timer._loop, "_thread_id", None)  # set while the loop runs
        sample = timer.sample
        if thread_id is not None and (sample is None or sample.start is not start):
            sample = _step_sample(start, thread_id)
            # Read again: if the step ended meanwhile, the frames are another's.
            if sample is not None and timer.step is start:
                timer.sample = sample
        return timer.threshold / 4


_sampler = _Sampler()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_sampler.forget_thread)
