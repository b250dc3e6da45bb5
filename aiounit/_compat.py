"""Every Python-version switch aiounit needs, and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = [
    "PY312",
    "CurrentLoopState",
    "call_before_thread_join",
    "custom_policy_installed",
    "shut_down_executor",
    "shutdown_default_executor",
    "task_context",
    "track_task_contexts",
    "unfinished_tasks",
]

# Python 3.12 added the timeout argument of shutdown_default_executor(). Delete with 3.11.
PY312 = sys.version_info >= (3, 12)

# How long the default executor may take to shut down, as asyncio.Runner allows it.
_EXECUTOR_JOIN_TIMEOUT = 300.0


# Python 3.11 and 3.12 join the helper thread of shutdown_default_executor() in a
# `finally`: when a time limit cancels a shutdown that waits for a stuck worker, that
# join blocks the loop itself, for good. 3.13 does not join after a cancellation.
# Delete with 3.12.
_JOINS_WHEN_CANCELLED = sys.version_info < (3, 13)


async def shutdown_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    """Shut the loop's default executor down, bounded where the Python version allows it.

    Cancelling it (a time limit) leaves the loop free, even when a worker is stuck.
    """
    if _JOINS_WHEN_CANCELLED and isinstance(loop, asyncio.BaseEventLoop):
        await _shutdown_default_executor_3_12(loop)
    elif PY312:
        # Typeshed describes the 3.11 signature when checking for 3.11.
        await loop.shutdown_default_executor(_EXECUTOR_JOIN_TIMEOUT)  # type: ignore[call-arg,unused-ignore]
    else:  # Python 3.11 has no timeout argument.
        await loop.shutdown_default_executor()


async def _shutdown_default_executor_3_12(loop: asyncio.BaseEventLoop) -> None:
    # What 3.13 does, on the private attributes 3.11 and 3.12 share with it.
    loop._executor_shutdown_called = True  # type: ignore[attr-defined]
    executor = loop._default_executor  # type: ignore[attr-defined]
    if executor is None:
        return
    future = loop.create_future()
    # A daemon thread: if a worker never ends, this helper must not hold up the exit.
    thread = threading.Thread(
        target=shut_down_executor,
        args=(loop, executor, future),
        name="aiounit-executor-shutdown",
        daemon=True,
    )
    thread.start()
    try:
        await asyncio.wait_for(future, _EXECUTOR_JOIN_TIMEOUT)
    except TimeoutError:
        executor.shutdown(wait=False)


def shut_down_executor(loop: asyncio.AbstractEventLoop, executor: Any, future: Any) -> None:
    """In a helper thread: wait for ``executor``'s workers, then resolve ``future``."""
    error: BaseException | None = None
    try:
        executor.shutdown(wait=True)
    except BaseException as exc:  # handed to the loop, which re-raises it in the test
        error = exc
    # A closed loop raises RuntimeError: nobody waits for the shutdown any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, error)


def _settle(future: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled by a time limit meanwhile
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def call_before_thread_join(func: Callable[[], None]) -> bool:
    """Have ``func`` called at exit before the interpreter waits for non-daemon threads.

    It runs before ``concurrent.futures`` joins its executors' workers, too. Returns
    False when this Python offers no such moment (the caller then has no exit hook).
    """
    # threading._register_atexit() is private, and the same from 3.9 to 3.13: its
    # callbacks run in threading._shutdown(), last registered first, before the join of
    # non-daemon threads (in Python on 3.11 and 3.12, in C, _thread._shutdown(), from
    # 3.13). concurrent.futures.thread registers the join of its workers when imported:
    # importing it first makes ours the later registration, so it runs before that join.
    import concurrent.futures.thread  # noqa: F401

    register = getattr(threading, "_register_atexit", None)
    if register is None:  # not in any version we support; checked for those to come
        return False
    try:
        register(func)
    except RuntimeError:  # the interpreter is already shutting down
        return False
    return True


def _existing_policy() -> Any:
    # The policy is created on first use. Reading the module global tells whether it
    # exists without creating one, which is what lets a scope leave "no policy" behind
    # when there was none (CPython's own tests check this). asyncio policies are
    # deprecated from 3.14 and due to go in 3.16: then the current loop lives elsewhere,
    # and this returns None, so only the public set_event_loop() is used.
    return getattr(asyncio.events, "_event_loop_policy", None)


def custom_policy_installed() -> bool:
    """Whether the suite installed an event loop policy of its own (deprecated from 3.14)."""
    policy = _existing_policy()
    return policy is not None and type(policy) is not _DEFAULT_POLICY


class CurrentLoopState:
    """The thread's "current event loop" before a scope made its own loop current.

    A scope captures this before it calls ``asyncio.set_event_loop()`` and restores it
    after closing its loop, so a test leaves ``asyncio.get_event_loop()`` as it found it
    (the stdlib test case leaves it raising, which breaks later sync tests).
    """

    # A plain class rather than a dataclass: building a dataclass at import costs more
    # than the rest of this module, and every test run imports it.
    __slots__ = ("loop", "policy", "set_called")

    def __init__(
        self, policy: Any, loop: asyncio.AbstractEventLoop | None, set_called: bool | None
    ) -> None:
        self.policy = policy
        self.loop = loop
        self.set_called = set_called

    @classmethod
    def capture(cls) -> CurrentLoopState:
        """Record the current-loop state of this thread without changing it."""
        policy = _existing_policy()
        local = getattr(policy, "_local", None)
        if local is None:
            return cls(policy, None, None)
        # Python 3.11 to 3.13 keep the loop and a "set_event_loop() was called" flag on a
        # thread-local of the default policy; the flag decides whether get_event_loop()
        # creates a loop or raises, so both are restored.
        return cls(policy, getattr(local, "_loop", None), getattr(local, "_set_called", None))

    def restore(self) -> None:
        """Put back the recorded state after a scope's loop was closed."""
        global _spare_policy
        policy = _existing_policy()
        if self.policy is None:
            if policy is not None and type(policy) is _DEFAULT_POLICY:
                # The scope's set_event_loop() created the default policy: drop it again,
                # keeping it for the next scope unless it holds a child watcher.
                asyncio.events._event_loop_policy = None  # type: ignore[attr-defined]
                if _without_watcher(policy):
                    local = getattr(policy, "_local", None)
                    if local is not None:  # as new, and not keeping the closed loop alive
                        local._loop = None
                        if _SET_IN_LOCAL:
                            local._set_called = False
                    _spare_policy = policy
                return
            if policy is None:
                return
        if policy is not self.policy:
            # The test installed another policy on purpose; leave that choice alone.
            return
        local = getattr(policy, "_local", None)
        if local is None:
            asyncio.set_event_loop(self.loop)
            return
        local._loop = self.loop
        if self.set_called is not None:
            local._set_called = self.set_called


# The default policy a scope created and dropped again. Making a policy costs a lock, an
# import statement and a thread-local; the next scope that finds no policy puts this one
# back instead, with the current loop it sets. Its other state is the same as a new one's.
_spare_policy: Any = None


def set_current_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """``asyncio.set_event_loop(loop)``, without making a new default policy each time."""
    global _spare_policy
    policy = _existing_policy()
    spare = _spare_policy
    if spare is not None and policy is None:
        _spare_policy = None
        asyncio.events._event_loop_policy = policy = spare  # type: ignore[attr-defined]
    if (
        _SET_IN_LOCAL
        and type(policy) is _DEFAULT_POLICY
        and _without_watcher(policy)
        and (loop is None or isinstance(loop, asyncio.AbstractEventLoop))
    ):
        # What the default policy's set_event_loop() does when it has no child watcher
        # to attach, without its three calls (the same from 3.11 to 3.13).
        local = policy._local  # type: ignore[attr-defined]
        local._set_called = True
        local._loop = loop
        return
    asyncio.set_event_loop(loop)


def _without_watcher(policy: Any) -> bool:
    # A default policy with a child watcher (3.11, 3.12) attaches it to each loop it is
    # given: only one without a watcher may be kept, or have its current loop set directly.
    return getattr(policy, "_watcher", None) is None


def _default_policy_type() -> type | None:
    # DefaultEventLoopPolicy is deprecated from 3.14 (and private as _DefaultEventLoopPolicy
    # there); reading it from the module dict avoids the warning attribute access gives.
    for module in (
        sys.modules.get("asyncio.unix_events"),
        sys.modules.get("asyncio.windows_events"),
    ):
        if module is None:
            continue
        for attr in ("_DefaultEventLoopPolicy", "DefaultEventLoopPolicy"):
            value = vars(module).get(attr)
            if isinstance(value, type):
                return value
    return None


_DEFAULT_POLICY = _default_policy_type()
# 3.14 deprecates policies and drops the "set_event_loop() was called" flag: from then on,
# only asyncio.set_event_loop() sets the current loop.
_SET_IN_LOCAL = sys.version_info < (3, 14)


def _task_registries() -> tuple[Any, ...]:
    # Where 3.11 to 3.13 keep every task of the process that is still referenced, done or
    # not (3.14 keeps its native tasks in C, out of sight).
    if sys.version_info >= (3, 14):
        return ()
    names = ("_all_tasks",) if sys.version_info < (3, 12) else ("_scheduled_tasks", "_eager_tasks")
    found = tuple(getattr(asyncio.tasks, name, None) for name in names)
    return () if None in found else found


_TASK_REGISTRIES = _task_registries()


def unfinished_tasks(loop: asyncio.AbstractEventLoop) -> set[asyncio.Task[Any]]:
    """``asyncio.all_tasks(loop)``, answered at once when no task exists in the process.

    A test's own task is freed when its step ends, so after most tests no task is left
    anywhere; all_tasks() would still copy and scan the registry to say so.
    """
    registries = _TASK_REGISTRIES
    if registries and not any(registries):
        return set()
    return asyncio.all_tasks(loop)


# Written as a version check, not PY312, so the type checker picks the right branch.
if sys.version_info >= (3, 12):

    def track_task_contexts(loop: asyncio.AbstractEventLoop) -> None:
        """Make :func:`task_context` work for tasks of ``loop`` (nothing to do on 3.12+)."""

    def task_context(task: asyncio.Task[Any]) -> contextvars.Context | None:
        """The context ``task`` runs in."""
        return task.get_context()

else:  # Python 3.11 has no Task.get_context(): record contexts through a task factory.
    _task_contexts: weakref.WeakKeyDictionary[asyncio.Task[Any], contextvars.Context] = (
        weakref.WeakKeyDictionary()
    )

    def track_task_contexts(loop: asyncio.AbstractEventLoop) -> None:
        """Record the context of every task ``loop`` creates from now on."""
        previous: Callable[..., Any] | None = loop.get_task_factory()

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            if previous is not None:
                task = previous(loop, coro, **kwargs)
            else:
                task = asyncio.Task(coro, loop=loop, **kwargs)
            context = kwargs.get("context")
            _task_contexts[task] = context if context is not None else contextvars.copy_context()
            return task

        loop.set_task_factory(factory)

    def task_context(task: asyncio.Task[Any]) -> contextvars.Context | None:
        """The context ``task`` runs in, if its loop tracks contexts."""
        return _task_contexts.get(task)
