"""What an open resource is: its parts, what a loop still holds, how to name and close it.

The loop's state is read from asyncio's private selector-loop attributes; a loop without
them (uvloop, the proactor loop) shows nothing here.
"""

from __future__ import annotations

import _tracemalloc
import asyncio
import io
import socket
import subprocess
from collections.abc import Iterator
from typing import Final

from aiounit.origins import format_frames

# The tracemalloc module imports pickle and more, which a run that does not trace need not
# pay for; its C part says whether it traces. When it does (PYTHONTRACEMALLOC), the module
# is imported now: imported later, in the middle of a test's step, it would make that step
# slow enough to be reported as blocking the loop.
if _tracemalloc.is_tracing():
    import tracemalloc  # noqa: F401

__all__ = [
    "created_at",
    "describe",
    "file_parts",
    "how_to_close",
    "loop_resources",
    "resource_parts",
    "still_open",
]


def resource_parts(obj: object) -> Iterator[object]:
    """``obj`` and what would warn in its place when freed: its socket, process, pipes."""
    yield obj
    for name in ("_sock", "_proc"):
        part = getattr(obj, name, None)
        if part is not None:
            yield part
    yield from file_parts(getattr(obj, "_pipe", None))
    yield from getattr(obj, "_sockets", None) or ()
    pipes = getattr(obj, "_pipes", None)
    if isinstance(pipes, dict):
        for protocol in pipes.values():
            pipe = getattr(protocol, "pipe", None)
            if pipe is not None:
                yield pipe
                yield from file_parts(getattr(pipe, "_pipe", None))


def file_parts(file: object) -> Iterator[object]:
    """A file object and the raw file under its buffer: each warns for itself."""
    while file is not None:
        yield file
        file = getattr(file, "raw", None) if isinstance(file, io.BufferedIOBase) else None


def created_at(obj: object) -> str:
    """Where ``obj`` was allocated, when tracemalloc traces (aiounit does not turn it on:
    it slows every allocation down)."""
    if not _tracemalloc.is_tracing():
        return "\nRun with PYTHONTRACEMALLOC=20 to see where it was created."
    import tracemalloc  # imported already: by this module, or by whoever started tracing

    # Python 3.11 finds no trace for objects with a managed __dict__ (a Server, a
    # transport): the socket or process they hold was made by the same call.
    for part in resource_parts(obj):
        traceback_ = tracemalloc.get_object_traceback(part)
        if traceback_ is not None:
            break
    else:
        return ""
    frames: list[tuple[str, int, str | None]] = [(f.filename, f.lineno, None) for f in traceback_]
    return "\nCreated at (most recent call last):\n" + format_frames(frames)


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


def loop_resources(loop: asyncio.AbstractEventLoop) -> dict[int, tuple[object, str]]:
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


def still_open(obj: object) -> bool:
    """Whether a leftover noted before the loop closed is open still (the loop's
    shutdown cancels the test's tasks, whose cleanup may close it)."""
    if isinstance(obj, asyncio.AbstractServer):
        return obj.is_serving()
    if isinstance(obj, asyncio.BaseTransport):
        return not obj.is_closing()
    if isinstance(obj, asyncio.Handle):
        return not obj.cancelled()
    return True


def describe(obj: object, where: str) -> str:
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


def how_to_close(obj: object, text: str) -> str:
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
