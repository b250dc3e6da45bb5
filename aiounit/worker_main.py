"""The worker side of ``-j``: load units of tests by name, run them, stream the records back."""

from __future__ import annotations

import collections
import contextlib
import io
import operator
import os
import pickle
import select
import signal
import sys
import unittest
import warnings

from aiounit.loader import TestLoader
from aiounit.order import flatten
from aiounit.result import ERROR, TestRecord, TestResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from multiprocessing.connection import Connection
    from typing import Any

    from aiounit.shards import Unit

    Event = tuple[Any, ...]

__all__ = [
    "StreamingResult",
    "WorkerOptions",
    "load_unit",
    "pack",
    "readable",
    "run_unit",
    "serve",
    "unit_suite",
    "unpack",
]

# This module runs the user's tests and raises for tests it cannot load: keep its frames
# out of the tracebacks reported for them.
__unittest = True

# The module of aiounit's own Ctrl-C handler, which a forked worker keeps.
_INTERRUPTS = "aiounit.interrupts"


class WorkerOptions:
    """What a worker needs to run tests as the main process would; plain data, picklable."""

    __slots__ = ("asyncio_mode", "buffer", "failfast", "tb_locals", "warnings")

    def __init__(
        self,
        *,
        asyncio_mode: str = "strict",
        buffer: bool = False,
        failfast: bool = False,
        tb_locals: bool = False,
        warnings: str | None = None,
    ) -> None:
        self.asyncio_mode = asyncio_mode
        self.buffer = buffer
        self.failfast = failfast
        self.tb_locals = tb_locals
        self.warnings = warnings

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)


class StreamingResult(TestResult):
    """A :class:`TestResult` that hands every event to ``send`` as plain data.

    Events, in the order a serial run would report them:

    * ``("records", [records])``: outcomes recorded outside a test (class and module
      fixtures), sent before the next test starts and when a unit ends;
    * ``("test", test_id, description, doc, [records], duration or None, stdout echo,
      stderr echo)``: a test ended; the echoes are what unittest prints of output
      captured under ``-b`` when the test fails.

    The records are :class:`TestRecord` objects; :func:`pack` makes an event lighter
    to send through a pipe. That a test started is not sent: tests end in the order the
    main process sent them, so it knows which one runs from those that ended, and one
    message per test halves the traffic.
    """

    def __init__(self, send: Callable[[Event], None], options: WorkerOptions) -> None:
        super().__init__(None, True, 0)
        self._aiounit_send = send
        self._aiounit_sent = 0
        self._aiounit_durations = 0
        self.buffer = options.buffer
        self.failfast = options.failfast
        self.tb_locals = options.tb_locals
        # unittest echoes captured output of a failing test to these; the main process
        # prints it in the test's place instead.
        self._aiounit_streams = sys.stdout, sys.stderr
        self._original_stdout = io.StringIO()
        self._original_stderr = io.StringIO()
        #: Set by the main process's stop request: end after the running test.
        self.stop_requested: Callable[[], bool] = lambda: False

    def _restoreStdout(self) -> None:
        # unittest restores sys.stdout to the echo sinks above: put the real streams back.
        super()._restoreStdout()  # type: ignore[misc]
        if self.buffer:
            sys.stdout, sys.stderr = self._aiounit_streams

    def _aiounit_new_records(self) -> list[TestRecord]:
        fresh = self.records[self._aiounit_sent :]
        self._aiounit_sent = len(self.records)
        return fresh

    def flush(self) -> None:
        """Send the records made since the last event (fixture outcomes)."""
        fresh = self._aiounit_new_records()
        if fresh:
            self._aiounit_send(("records", fresh))

    def startTest(self, test: unittest.TestCase) -> None:
        """Send what happened before this test; note which test runs now."""
        if self.stop_requested():
            self.stop()
        if len(self.records) > self._aiounit_sent:
            self.flush()
        super().startTest(test)

    def stopTest(self, test: unittest.TestCase) -> None:
        """Send the test's records, its duration and the output unittest echoed."""
        super().stopTest(test)
        duration = None
        if len(self.collectedDurations) > self._aiounit_durations:
            duration = self.collectedDurations[-1][1]
            self._aiounit_durations = len(self.collectedDurations)
        # unittest echoes captured output only under -b.
        stdout = _drain(self._original_stdout) if self.buffer else ""
        stderr = _drain(self._original_stderr) if self.buffer else ""
        records = self._aiounit_new_records()
        self._aiounit_send(
            ("test", test.id(), str(test), _doc(test), records, duration, stdout, stderr)
        )


# A record crosses the pipe as the tuple of its fields: a third of the bytes of its dict,
# and quicker to pickle and to rebuild.
_FIELDS: tuple[str, ...] = TestRecord.__slots__
_fields_of = operator.attrgetter(*_FIELDS)


def _record(values: Sequence[Any]) -> TestRecord:
    record = TestRecord.__new__(TestRecord)
    for name, value in zip(_FIELDS, values, strict=True):
        setattr(record, name, value)
    return record


def pack(event: Event) -> Event:
    """``event`` of a :class:`StreamingResult`, its records as tuples, to send to a pipe."""
    return _map_records(event, _fields_of)


def unpack(event: Event) -> Event:
    """The event :func:`pack` was given, records rebuilt."""
    return _map_records(event, _record)


def _map_records(event: Event, convert: Callable[[Any], Any]) -> Event:
    # Where each kind of event holds its list of records: "records" events at 1, "test" at 4.
    kind = event[0]
    if kind == "records":
        return (kind, [convert(item) for item in event[1]])
    if kind == "test":
        return (*event[:4], [convert(item) for item in event[4]], *event[5:])
    return event


def _drain(stream: Any) -> str:
    if not isinstance(stream, io.StringIO):
        return ""
    text = stream.getvalue()
    stream.seek(0)
    stream.truncate()
    return text


def _doc(test: unittest.TestCase) -> str:
    return test.shortDescription() or ""


def load_unit(loader: TestLoader, classes: list[str], ids: list[str]) -> unittest.TestSuite:
    """The tests ``ids`` of the classes named ``classes``, loaded afresh, in ``ids`` order.

    A test that cannot be found any more (its module changed, say) gets an error record
    in its place, so it is not silently lost.
    """
    found: dict[str, Any] = {}
    for name in classes:
        for item in flatten(loader.loadTestsFromName(name)):
            if isinstance(item, unittest.TestCase):
                found.setdefault(item.id(), item)
    tests = [found.get(test_id) or _Missing(test_id, classes) for test_id in ids]
    return loader.suiteClass(tests)


def unit_suite(loader: TestLoader, unit: Unit, ids: list[str]) -> unittest.TestSuite:
    """The tests ``ids`` of ``unit`` as the main process loaded them, in ``ids`` order.

    A worker forked from the main process has them already, modules imported.
    """
    found = {
        test.id(): test
        for item in unit.items
        for test in flatten(item)
        if isinstance(test, unittest.TestCase)
    }
    tests = [found.get(test_id) or _Missing(test_id, unit.classes) for test_id in ids]
    return loader.suiteClass(tests)


class _Missing(unittest.TestCase):
    """Stands for a test the main process found but this worker could not load."""

    def __init__(self, test_id: str, classes: list[str]) -> None:
        super().__init__("_aiounit_report")
        self._aiounit_id = test_id
        self._aiounit_classes = classes

    def id(self) -> str:
        return self._aiounit_id

    def __str__(self) -> str:
        return self._aiounit_id

    def _aiounit_report(self) -> None:
        raise RuntimeError(
            f"the worker process could not load {self._aiounit_id} from "
            f"{', '.join(self._aiounit_classes)}, where the main process found it. Make the "
            "test importable by name (no tests created at import time from changing data) "
            "or run without -j [worker-load-failed]"
        )


def run_unit(suite: unittest.TestSuite, result: StreamingResult) -> bool:
    """Run one unit's suite into ``result``; True when Ctrl-C stopped it."""
    # Each unit is a run of its own: fixtures of the previous unit were torn down at its
    # end, and must not be torn down again when this one starts.
    vars(result).pop("_previousTestClass", None)
    vars(result).pop("_moduleSetUpFailed", None)
    interrupted = False
    try:
        suite(result)
    except KeyboardInterrupt:
        interrupted = True
    result.flush()
    return interrupted


def serve(
    conn: Connection,
    units: Mapping[int, Unit] | None = None,
    inherited: Sequence[Connection] = (),
) -> None:
    """A worker's life: set up as the main process says, then run the units it sends.

    The first message is ``("setup", sys.path, WorkerOptions)``: a spawned worker may have
    been started before discovery added the project's directory to the path. Then come
    ``("unit", index, classes, ids)`` messages, until ``None``. A spawned worker loads
    the tests by name; a forked one is given the main process's ``units`` by index and
    takes them from there, and closes the ``inherited`` connections (the main process's
    ends of the workers' pipes). The worker leaves the terminal's process group, so a
    Ctrl-C reaches only the main process, which passes it on once to each worker; the
    running test then ends with its teardown as in a serial run.
    """
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    if units is not None:
        _leave_main_process(inherited)
    try:
        _serve(conn, units)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    # A Ctrl-C that lands while the worker exits must not print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _leave_main_process(inherited: Sequence[Connection]) -> None:
    """Drop what a forked worker inherited that a spawned one would not have."""
    for connection in inherited:
        connection.close()
    # The main process's streams may be a redirection of its own (a StringIO): the
    # worker writes to its real output, as a spawned one does.
    if sys.__stdout__ is not None and sys.__stderr__ is not None:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    # A Ctrl-C handler of the main process (unittest's -c) would keep the worker's test
    # from being interrupted: Python's own, as in a fresh interpreter. Ignored stays
    # ignored, and aiounit's own handler behaves the same in any process.
    handler = signal.getsignal(signal.SIGINT)
    if handler is not signal.SIG_IGN and getattr(handler, "__module__", "") != _INTERRUPTS:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def readable(conn: Connection) -> Callable[[], bool]:
    """A check that ``conn`` has a message (or its end) to read, cheaper than its poll().

    ``Connection.poll`` makes a selector on each call; the workers and the main process
    check their pipes once per test.
    """
    if not hasattr(select, "poll"):
        return conn.poll
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return lambda: bool(poller.poll(0))


def _serve(conn: Connection, units: Mapping[int, Unit] | None) -> None:
    message = conn.recv()
    if message is None:
        return
    _, path, options = message
    sys.path[:] = path
    if options.warnings:
        warnings.simplefilter(options.warnings)
    loader = TestLoader(options.asyncio_mode)
    # Events hold only plain data: the plain pickler is faster than the one of send().
    result = StreamingResult(
        lambda event: conn.send_bytes(pickle.dumps(pack(event), pickle.HIGHEST_PROTOCOL)),
        options,
    )
    # Units sent ahead of time wait here while a stop request is looked for.
    inbox: collections.deque[Any] = collections.deque()
    stop = False
    waiting = readable(conn)

    def stop_requested() -> bool:
        nonlocal stop
        while not stop and waiting():
            message = conn.recv()
            if message is None or message == ("stop",):
                stop = True
            else:
                inbox.append(message)
        return stop

    result.stop_requested = stop_requested
    while not stop:
        message = inbox.popleft() if inbox else conn.recv()
        if message is None or message == ("stop",):
            break
        _, index, classes, ids = message
        if units is None:
            suite = load_unit(loader, classes, ids)
        else:
            suite = unit_suite(loader, units[index], ids)
        interrupted = run_unit(suite, result)
        conn.send(("done", index, interrupted))
        if interrupted:
            break


def error_record(test: Any, message: str) -> TestRecord:
    """An error record of ``test`` (a test, or a unit key) with ``message``."""
    from aiounit.result import make_record

    if isinstance(test, unittest.TestCase):
        return make_record(test, ERROR, message, message + "\n")
    return TestRecord(
        id=str(test),
        outcome=ERROR,
        kind="fixture",
        description=str(test),
        classname=str(test),
        name="worker",
        message=message,
        traceback=message + "\n",
    )
