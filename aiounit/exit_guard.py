"""At interpreter exit: end the process rather than wait forever for threads tests left running."""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Final

__all__ = ["abandon", "exit_if_abandoned", "still_running"]

_ADVICE: Final = (
    "Make each thread end before its test does: tell it to stop and join() it in a cleanup "
    "(see the leaked-thread findings) [threads-at-exit]"
)

# Non-daemon threads that outlived the test that started them: the test's id and how to
# describe the thread (where it is stuck is read when the description is made).
_abandoned: dict[threading.Thread, tuple[str, Callable[[], str]]] = {}
# What the exit status depends on when no aiounit main gives it: the results the tests
# that left threads ran with (weakly), and the lists of bad outcomes they fill, which
# outlive the result object if the runner dropped it before the interpreter exits.
_results: list[tuple[weakref.ref[Any] | None, tuple[list[Any], ...], weakref.ref[Any] | None]] = []
_registered = False


def abandon(
    thread: threading.Thread, test_id: str, describe: Callable[[], str], result: object = None
) -> None:
    """Note that ``thread``, started by ``test_id``, outlived it.

    The first time, a callback is registered that runs before the interpreter joins
    non-daemon threads at exit: if an abandoned thread still runs then, it ends the
    process instead of letting it hang. ``result`` is the result the test ran with.
    """
    global _registered
    _abandoned[thread] = (test_id, describe)
    _remember(result)
    if not _registered:
        # Imported here: the command line imports this module, and _compat imports
        # asyncio, which a run of synchronous tests never needs.
        from aiounit._compat import call_before_thread_join

        _registered = call_before_thread_join(_before_thread_join)


def _remember(result: object) -> None:
    if result is None or any(ref is not None and ref() is result for ref, _, _ in _results):
        return
    names = ("failures", "errors", "unexpectedSuccesses")
    lists = tuple(v for v in (getattr(result, n, None) for n in names) if isinstance(v, list))
    # pytest hands each unittest test its own item as the "result"; the session counts
    # the run's failures.
    session = getattr(result, "session", None)
    _results.append((_weak(result), lists, _weak(session) if session is not None else None))


def _weak(obj: object) -> weakref.ref[Any] | None:
    try:
        return weakref.ref(obj)
    except TypeError:
        return None


def still_running() -> list[threading.Thread]:
    """The abandoned threads that are still alive, in the order they were abandoned."""
    return [thread for thread in _abandoned if thread.is_alive()]


def exit_if_abandoned(code: int) -> None:
    """End the process now with ``code`` if threads tests left behind are still running.

    ``python -m aiounit`` calls it with the run's exit status once the reports are
    written; it returns when no such thread runs (after a grace, if some did).
    """
    _finish(code, "the run's exit status")


def _before_thread_join() -> None:
    _finish(None, "")


def _finish(code: int | None, why: str) -> None:
    threads = still_running()
    if not threads:
        return
    grace = _grace()
    deadline = time.monotonic() + grace
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    threads = still_running()
    if not threads:
        return
    if code is None:
        code, why = _status_from_results()
    count = f"{len(threads)} thread{'s' if len(threads) > 1 else ''}"
    details = "\n\n".join(f"Left by {_abandoned[t][0]}: {_abandoned[t][1]()}" for t in threads)
    message = (
        f"\naiounit: {count} that tests started {'are' if len(threads) > 1 else 'is'} still "
        f"running as the process exits, {grace:g} s after the end of the run. Python would "
        "wait for them forever, so aiounit ends the process now, with exit status "
        f"{code} ({why}).\n\n{details}\n\n{_ADVICE}\n"
    )
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is sys.stderr:
                stream.write(message)
            stream.flush()
        except Exception:  # a closed or broken stream must not keep the process alive
            pass
    os._exit(code)


def _status_from_results() -> tuple[int, str]:
    for ref, lists, session_ref in _results:
        result = ref() if ref is not None else None
        successful = getattr(result, "wasSuccessful", None)
        failed = not successful() if callable(successful) else any(lists)
        session: Any = session_ref() if session_ref is not None else None
        if failed or bool(getattr(session, "testsfailed", None)):
            return 1, "the run recorded a failure or an error"
    return 0, "the run recorded no failure or error"


def _grace() -> float:
    from aiounit.threads import DEFAULT_THREAD_GRACE, thread_grace

    try:
        return thread_grace()
    except Exception:  # a bad setting was reported by the tests; exit must still happen
        return DEFAULT_THREAD_GRACE
