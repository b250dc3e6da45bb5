"""Appends one line per test hook to the file named by COMPAT_EVENT_LOG, for the outer tests.

Each line is ``<event> loop=<id> open=<ids>``: the loop the hook ran on (``-`` for a hook
that runs outside any loop) and every loop seen so far that is not closed yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any, TypeVar

EVENT_LOG_ENV = "COMPAT_EVENT_LOG"

T = TypeVar("T")

# Holding every loop seen keeps it alive, so no later loop can reuse its id().
_seen: list[asyncio.AbstractEventLoop] = []


def _record(event: str, loop: asyncio.AbstractEventLoop | None) -> None:
    if loop is not None and not any(seen is loop for seen in _seen):
        _seen.append(loop)
    still_open = ",".join(str(id(seen)) for seen in _seen if not seen.is_closed())
    path = os.environ.get(EVENT_LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{event} loop={id(loop) if loop else '-'} open={still_open or '-'}\n")


def running(event: str) -> None:
    """Log ``event`` from async code, with the loop it runs on."""
    _record(event, asyncio.get_running_loop())


def current(event: str) -> None:
    """Log ``event`` from sync code that must see the test's loop as the current loop."""
    _record(event, asyncio.get_event_loop())


def outside(event: str) -> None:
    """Log ``event`` from sync code that runs outside any test's loop."""
    _record(event, None)


@contextlib.asynccontextmanager
async def logged_exit(event: str, resource: Any) -> AsyncIterator[Any]:
    """Enter the async context manager ``resource``; log ``event`` just before leaving it."""
    async with resource as value:
        try:
            yield value
        finally:
            running(event)
