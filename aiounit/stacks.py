"""Describe where tasks and threads are waiting: await chains and stacks as readable text."""

from __future__ import annotations

import asyncio
import gc
import linecache
import os
import sys
import types
import unittest
from collections.abc import Iterable
from typing import Any

__all__ = ["describe_task", "describe_tasks", "describe_thread"]

# Deep await chains are cut: the innermost frames say where the task waits, the
# outermost where it started; the middle rarely helps.
_MAX_CHAIN = 30


def _frame_line(frame: types.FrameType, lineno: int | None = None) -> str:
    code = frame.f_code
    line_no = frame.f_lineno if lineno is None else lineno
    if line_no is None:  # a frame between two instructions has no line (seen under uvloop)
        line_no = code.co_firstlineno
    source = linecache.getline(code.co_filename, line_no, frame.f_globals).strip()
    where = f'  File "{code.co_filename}", line {line_no}, in {code.co_name}'
    return f"{where}\n    {source}" if source else where


def _awaitable_chain(awaitable: Any) -> list[str]:
    """The frames of a coroutine and of everything it awaits, outermost first."""
    lines: list[str] = []
    current = awaitable
    while current is not None and len(lines) < _MAX_CHAIN:
        frame = getattr(current, "cr_frame", None) or getattr(current, "gi_frame", None)
        if frame is None:
            frame = getattr(current, "ag_frame", None)
        if frame is not None:
            lines.append(_frame_line(frame))
        nxt = (
            getattr(current, "cr_await", None)
            or getattr(current, "gi_yieldfrom", None)
            or getattr(current, "ag_await", None)
        )
        if nxt is None and frame is None:
            # An awaitable written in C that wraps a generator, as aclose() and asend()
            # of an async generator do: follow it to the generator it drives.
            nxt = _wrapped_generator(current)
        if nxt is None and frame is None and current is not awaitable:
            lines.append(f"  waiting for {_short_repr(current)}")
        elif nxt is not None and not _is_frame_owner(nxt):
            lines.append(f"  waiting for {_short_repr(_awaited_future(nxt))}")
            break
        current = nxt
    return lines


def _awaited_future(obj: Any) -> Any:
    # `await future` suspends on an iterator object written in C; the future it waits
    # for says more (what it is, and which task or callback should resolve it).
    if isinstance(obj, asyncio.Future):
        return obj
    for referent in gc.get_referents(obj):
        if isinstance(referent, asyncio.Future):
            return referent
    return obj


def _wrapped_generator(obj: Any) -> Any:
    for referent in gc.get_referents(obj):
        if _is_frame_owner(referent):
            return referent
    return None


def _is_frame_owner(obj: Any) -> bool:
    return any(hasattr(obj, attr) for attr in ("cr_frame", "gi_frame", "ag_frame"))


def _short_repr(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 200 else text[:197] + "..."


def describe_task(task: asyncio.Task[Any]) -> str:
    """Name a task, its coroutine, and the chain of awaits it is suspended in."""
    coro = task.get_coro()
    qualname = getattr(coro, "__qualname__", type(coro).__name__)
    header = f"Task {task.get_name()!r} running {qualname}()"
    if task.done():
        return f"{header}: done"
    chain = _awaitable_chain(coro)
    if not chain:
        return f"{header}: not started yet"
    return header + ", waiting at (outermost first):\n" + "\n".join(chain)


def describe_tasks(tasks: Iterable[asyncio.Task[Any]], first: asyncio.Task[Any] | None) -> str:
    """Describe ``tasks``, ``first`` (the test's own task) before the others."""
    ordered = sorted(tasks, key=lambda task: (task is not first, task.get_name()))
    return "\n\n".join(describe_task(task) for task in ordered)


_FRAMEWORK_DIRS = (
    os.path.dirname(asyncio.__file__) + os.sep,
    os.path.dirname(unittest.__file__) + os.sep,
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
)


def _is_framework(frame: types.FrameType) -> bool:
    filename = frame.f_code.co_filename
    return filename.startswith(_FRAMEWORK_DIRS) or filename.startswith("<frozen runpy")


def describe_thread(thread_id: int) -> str:
    """The current stack of a thread, outermost first, or a note that it has ended.

    Frames of asyncio, unittest, aiounit and the interpreter's start-up are left out, so
    what remains is the test's own code, down to the line that is running.
    """
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return "  (the thread has ended)"
    frames: list[types.FrameType] = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    shown = [f for f in frames if not _is_framework(f)] or frames[-1:]
    return "\n".join(_frame_line(f) for f in shown)
