"""Where things come from: the user's frames in a coroutine's origin or a captured stack."""

from __future__ import annotations

import asyncio
import linecache
import os
from typing import Any, Final

__all__ = ["coroutine_origin", "format_frames", "is_internal"]

_INTERNAL_DIRS: Final = (
    os.path.dirname(asyncio.__file__) + os.sep,
    os.path.dirname(__file__) + os.sep,
)
# Where os.py is, which is sysconfig's "stdlib" path without importing sysconfig.
_STDLIB_DIR: Final = os.path.dirname(os.__file__) + os.sep


def coroutine_origin(coro: Any) -> str:
    """The lines that created ``coro`` (tracked while a test runs), as a "Created at"
    paragraph that starts on a new line, or "" when none of them is the user's."""
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


def is_internal(filename: str) -> bool:
    """Whether a frame's file is asyncio's, aiounit's or the standard library's."""
    if filename.startswith(_INTERNAL_DIRS):
        return True
    return filename.startswith(_STDLIB_DIR) and "-packages" not in filename


def format_frames(frames: list[tuple[str, int, str | None]], limit: int = 8) -> str:
    """Frames (outermost first) as traceback lines: the user's and the innermost one, or
    all of them when none is the user's (then the library's own code is the story)."""
    user = [frame for frame in frames if not is_internal(frame[0])]
    if not user:
        kept = frames
    elif is_internal(frames[-1][0]):
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
