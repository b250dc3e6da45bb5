"""Per-test timeouts: the limit each test gets, and the watchdog thread that enforces it."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from aiounit.env import getenv
from aiounit.errors import AiounitError, ConfigurationError
from aiounit.stacks import describe_tasks, describe_thread

if TYPE_CHECKING:  # a scope is what gives the steps; imported for annotations only
    from aiounit.scope import StepSource

__all__ = [
    "DEFAULT_TIMEOUT",
    "TEARDOWN_GRACE",
    "TIMEOUT_ENV",
    "LoopBlockedInterrupt",
    "TestTimeoutError",
    "TimeoutJob",
    "timeout",
    "timeout_for",
]

#: The limit of a test that sets none: long enough for slow integration tests, short
#: enough that a hung test costs a CI job two minutes rather than its whole budget.
DEFAULT_TIMEOUT: Final = 120.0
#: A number of seconds, or ``none``: the limit of tests whose class and method set none.
TIMEOUT_ENV: Final = "AIOUNIT_TIMEOUT"
#: Once a test has timed out, each later step (teardown, each cleanup, closing the loop)
#: gets at most this long, so cleanups still run but cannot hang the run either.
TEARDOWN_GRACE: Final = 10.0
# How long the watchdog waits for the loop to run its timeout callback before it
# concludes that synchronous code is blocking the loop, and interrupts that code.
_LOOP_ANSWER_GRACE: Final = 0.5
# The signal that interrupts a blocked test thread (the main thread only: Python runs
# signal handlers there). pthread_kill() makes a blocking system call return early.
_SIGNAL: Final = getattr(signal, "SIGALRM", signal.SIGINT)

_F = TypeVar("_F", bound=Callable[..., Any])
_ATTR: Final = "__aiounit_timeout__"


class TestTimeoutError(AiounitError, TimeoutError):
    """A test (or one of its hooks) ran past its time limit."""

    slug = "test-timeout"
    __test__ = False  # not a test class, whatever pytest's name patterns say


class LoopBlockedInterrupt(BaseException):
    """Raised inside code that blocked the thread past the time limit.

    It derives from BaseException so that an ``except Exception`` around the blocking
    call cannot swallow it. The message says where the thread was blocked.
    """


def timeout(seconds: float | None) -> Callable[[_F], _F]:
    """Decorate a test method with its own time limit in seconds (``None``: no limit).

    It wins over the class's ``timeout`` attribute and the run's default.
    """
    limit = _validate(seconds, "@aiounit.timeout()")

    def decorate(func: _F) -> _F:
        setattr(func, _ATTR, limit)
        return func

    return decorate


def _validate(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"{where} got {value!r}: a time limit is a number of seconds above 0, "
            "or None for no limit",
            slug="bad-timeout",
        )
    return float(value)


# The parsed AIOUNIT_TIMEOUT by its raw text: read for every test, parsed once per value.
_parsed_env: dict[str | None, tuple[float | None, str] | None] = {}


def _from_environment() -> tuple[float | None, str] | None:
    raw = getenv(TIMEOUT_ENV)
    try:
        return _parsed_env[raw]
    except KeyError:
        pass
    parsed = _parse_environment(raw)  # a bad value raises, and is parsed again next time
    _parsed_env[raw] = parsed
    return parsed


def _parse_environment(raw: str | None) -> tuple[float | None, str] | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip().lower()
    if text == "none":
        return None, f"{TIMEOUT_ENV}={raw}"
    try:
        value: object = float(text)
    except ValueError:
        value = raw
    return _validate(value, f"environment variable {TIMEOUT_ENV}"), f"{TIMEOUT_ENV}={raw}"


def timeout_for(method: object, cls_limit: object, cls_name: str) -> tuple[float | None, str]:
    """The limit of one test, and where it came from (for the message when it fires).

    ``cls_limit`` is the class's ``timeout`` attribute, ``...`` when the class sets none.
    """
    own = getattr(method, _ATTR, ...)
    if own is not ...:
        return own, "@aiounit.timeout()"
    if cls_limit is not ...:
        return _validate(cls_limit, f"{cls_name}.timeout"), f"{cls_name}.timeout"
    from_env = _from_environment()
    if from_env is not None:
        return from_env
    return DEFAULT_TIMEOUT, "the default"


class TimeoutJob:
    """One test's (or class hook's) time limit, watched by the watchdog thread.

    ``steps`` gives the loop the test runs on (or None before it has one) and the task
    running the current step, which is cancelled when the limit passes while the loop
    runs. When the loop does not answer, the thread that runs the test is interrupted
    with :class:`LoopBlockedInterrupt`.
    """

    #: What arms and disarms the job: the watchdog, or a concurrent class's own watcher.
    watcher: Watcher

    def __init__(
        self,
        what: str,
        seconds: float,
        source: str,
        steps: StepSource,
    ) -> None:
        self.what = what
        self.seconds = seconds
        self.source = source
        self._steps = steps
        self.thread_id = threading.get_ident()
        self.deadline = time.monotonic() + seconds
        self.fired = 0
        self.report = ""
        #: Above 0 while user code runs: only then may the thread be interrupted, never
        #: inside the test framework's own bookkeeping between two steps.
        self.interruptible = 0
        self._interrupted = 0
        self._answered: threading.Event | None = None  # made when it first fires
        #: The tasks that belong to the test, when it shares its loop with tests running
        #: at the same time: only those are reported and cancelled. None: every task.
        self.tasks: Callable[[], set[asyncio.Task[Any]]] | None = None
        #: For such a test: whether the code the thread runs now is the test's own (only
        #: then may a blocked loop be interrupted for it). None: the thread is the test's.
        self.owns_thread: Callable[[], bool] | None = None

    def describe_limit(self) -> str:
        """What timed out and which setting gave the limit, for the failure message."""
        first = "" if self.fired <= 1 else " (teardown after a timeout)"
        seconds = self.seconds if self.fired <= 1 else min(TEARDOWN_GRACE, self.seconds)
        return (
            f"{self.what} timed out after {seconds:g} s{first}; the limit comes from "
            f"{self.source}. Raise it with @aiounit.timeout(seconds) on the method, a "
            f"`timeout` class attribute or {TIMEOUT_ENV}, if the test is only slow"
        )

    # -- in the watchdog thread ---------------------------------------------------------

    def fire(self) -> None:
        self.fired += 1
        firing = self.fired
        answered = self._answered = threading.Event()
        try:
            loop = self._steps.loop
            if loop is not None and loop.is_running() and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(self._in_loop, firing)
                except RuntimeError:  # closed meanwhile
                    pass
                else:
                    if answered.wait(_LOOP_ANSWER_GRACE):
                        return
            self._interrupted = firing  # a late _in_loop() for this firing does nothing
            self._interrupt_thread()
        finally:
            # The next step (teardown, cleanups) gets the grace period from now on.
            self.deadline = time.monotonic() + min(TEARDOWN_GRACE, self.seconds)

    def _interrupt_thread(self) -> None:
        stack = describe_thread(self.thread_id)
        self.report = (
            f"{self.describe_limit()}.\nThe thread was blocked by synchronous code (the "
            f"loop could not run), at (outermost first):\n{stack}\nIn async code, replace "
            "blocking calls: time.sleep() with await asyncio.sleep(), blocking I/O with "
            "await asyncio.to_thread(...)"
        )
        if self.thread_id != threading.main_thread().ident:
            return  # Only the main thread runs signal handlers; the in-loop path stays.
        if signal.getsignal(_SIGNAL) is not _on_signal:
            global _installed
            _installed = False  # the test replaced it: install it again for the next test
            return  # and do not send: the signal's default action could kill the process
        global _pending
        _pending = self
        if hasattr(signal, "pthread_kill"):
            signal.pthread_kill(self.thread_id, _SIGNAL)
        else:  # pragma: no cover - Windows
            import _thread

            _thread.interrupt_main(_SIGNAL)

    # -- in the loop's thread -----------------------------------------------------------

    def _in_loop(self, firing: int) -> None:
        if self._interrupted == firing:
            return
        if self._answered is not None:
            self._answered.set()
        loop = self._steps.loop
        task = self._steps.current_task
        if loop is None:
            return
        owned = self.tasks
        pending = owned() if owned is not None else asyncio.all_tasks(loop)
        where = describe_tasks(pending, first=task) if pending else "(no task was running)"
        self.report = (
            f"{self.describe_limit()}.\n\nWhere each task was waiting when the limit "
            f"passed (the test's own task first):\n\n{where}\n"
            "End of the report."
        )
        targets = [task] if task is not None and not task.done() else list(pending)
        for target in targets:
            target.cancel(msg=f"{self.what} timed out")


# The job whose interrupt is on its way to the main thread. Set by the watchdog thread,
# read by the handler in the main thread: a plain global, guarded by watchdog.is_armed().
_pending: TimeoutJob | None = None
_previous_handler: Any = None
_installed = False


def _on_signal(signum: int, frame: Any) -> None:
    global _pending
    job = _pending
    if job is not None:
        _pending = None
        # Not a late interrupt meant for an earlier test, and inside user code: else the
        # watchdog fires again after the grace period.
        owns = job.owns_thread
        if job.watcher.is_armed(job) and job.interruptible and (owns is None or owns()):
            raise LoopBlockedInterrupt(job.report)
        return
    previous = _previous_handler
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL and signum == signal.SIGINT:
        raise KeyboardInterrupt


def install_signal_handler() -> None:
    """Install the interrupt handler (main thread only; chains to the previous one)."""
    global _previous_handler, _installed
    if _installed:  # checked again before each use, so a cheap flag is enough here
        return
    current = signal.getsignal(_SIGNAL)
    if current is not _on_signal:
        _previous_handler = current
        signal.signal(_SIGNAL, _on_signal)
    _installed = True


class Watcher(Protocol):
    """What watches time limits: :data:`watchdog`, or a concurrent class's watcher."""

    def arm(self, job: TimeoutJob) -> None:
        """Watch ``job``."""

    def disarm(self, job: TimeoutJob) -> None:
        """Stop watching ``job``."""

    def is_armed(self, job: TimeoutJob) -> bool:
        """Whether ``job`` is being watched."""
        ...


class Watchdog:
    """One daemon thread that fires the armed job when its deadline passes.

    Arming costs a lock and, only when the new deadline is earlier than the one the
    thread sleeps towards, a wake-up: tests run one after another, so the thread
    usually wakes once per time limit, not once per test.
    """

    def __init__(self) -> None:
        # Arming and disarming take the lock itself (a C call); only the thread waits on
        # the condition, which shares it.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._job: TimeoutJob | None = None
        self._sleeping_until = float("inf")
        self._thread: threading.Thread | None = None

    def arm(self, job: TimeoutJob) -> None:
        """Watch ``job`` (replacing any other)."""
        if not _installed and threading.current_thread() is threading.main_thread():
            install_signal_handler()
        with self._lock:
            self._job = job
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="aiounit-watchdog", daemon=True
                )
                self._thread.start()
            elif job.deadline < self._sleeping_until:
                self._cond.notify()

    def disarm(self, job: TimeoutJob) -> None:
        """Stop watching ``job`` if it is still the armed one."""
        with self._lock:
            if self._job is job:
                self._job = None

    def is_armed(self, job: TimeoutJob) -> bool:
        """Whether ``job`` is the one being watched."""
        return self._job is job

    def _watch(self) -> None:
        with self._cond:
            while True:
                job = self._job
                now = time.monotonic()
                if job is None:
                    self._sleeping_until = float("inf")
                    self._cond.wait()
                    continue
                if now < job.deadline:
                    self._sleeping_until = job.deadline
                    self._cond.wait(job.deadline - now)
                    continue
                self._sleeping_until = float("inf")
                # Fire without the lock: the test thread may arm or disarm meanwhile,
                # and fire() waits for the loop to answer.
                self._cond.release()
                try:
                    job.fire()
                except Exception:
                    pass
                finally:
                    self._cond.acquire()


watchdog = Watchdog()
#: Who watches a job: the one watchdog, unless the job belongs to a concurrent class.
TimeoutJob.watcher = watchdog
