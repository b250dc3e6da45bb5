"""The result object: turns unittest's outcome calls into plain records and prints nothing."""

from __future__ import annotations

import sys
import time
import traceback
import unittest

# unittest's own runner tells subtests apart by this class; it has been stable since 3.4.
from unittest.case import _SubTest  # type: ignore[attr-defined]

# Importing typing costs a few milliseconds at start-up that `python -m unittest` does
# not pay; type checkers treat this name as true, the interpreter never does.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType
    from typing import Any, TextIO

    ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]

__all__ = [
    "BAD_OUTCOMES",
    "ERROR",
    "EXPECTED_FAILURE",
    "FAILED",
    "OUTCOMES",
    "PASSED",
    "SKIPPED",
    "UNEXPECTED_SUCCESS",
    "ResultListener",
    "TestRecord",
    "TestResult",
    "load_target",
    "make_record",
]

PASSED = "passed"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
EXPECTED_FAILURE = "expected-failure"
UNEXPECTED_SUCCESS = "unexpected-success"
#: Every outcome a record can have, in the order summaries list them.
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED, EXPECTED_FAILURE, UNEXPECTED_SUCCESS)
#: Outcomes that make a run unsuccessful, as ``unittest.TestResult.wasSuccessful`` counts.
BAD_OUTCOMES = frozenset({FAILED, ERROR, UNEXPECTED_SUCCESS})

_FIELDS = (
    "id",
    "target",
    "kind",
    "description",
    "doc",
    "module",
    "classname",
    "name",
    "outcome",
    "duration",
    "message",
    "traceback",
    "stdout",
    "stderr",
    "findings",
)


class TestRecord:
    """One outcome of one test, as plain data that can cross a process boundary.

    A test normally produces one record. A test whose subtests fail produces one record
    per failing subtest; a test that fails and then errors in a cleanup produces two,
    exactly as ``unittest`` lists it twice. Class and module fixture errors and modules
    that fail to import produce records too.

    Attributes:
        id: The id ``unittest`` gives the test (``pkg.mod.Class.test_x``, ``pkg.mod.Class.test_x
            (i=1)`` for a subtest, ``setUpClass (pkg.mod.Class)`` for a fixture error).
        target: The test, class or module the record is about, as a dotted name; what
            ``--last-failed`` selects on the next run.
        kind: ``"test"``, ``"subtest"``, ``"fixture"`` (class or module fixture) or ``"load"``
            (a module that fails to import, a name that cannot be loaded).
        description: ``str(test)``, as unittest's text runner prints it.
        doc: The first line of the test's docstring, or ``""``.
        module: The module of the test.
        classname: The dotted name of the test's class (``pkg.mod.Class``).
        name: The test's name within its class (``test_x``, ``test_x (i=1)``).
        outcome: One of :data:`OUTCOMES`.
        duration: Seconds from before ``setUp`` to after the cleanups.
        message: The exception as one or more lines (``AssertionError: 1 != 2``), the skip
            reason, or ``""``.
        traceback: The traceback text unittest reports, or ``""``.
        stdout: Output captured under ``-b``/``--buffer``.
        stderr: Error output captured under ``-b``/``--buffer``.
        findings: Findings of post-test checks, each a JSON-compatible mapping.
    """

    __slots__ = _FIELDS

    id: str
    target: str
    kind: str
    description: str
    doc: str
    module: str
    classname: str
    name: str
    outcome: str
    duration: float
    message: str
    traceback: str
    stdout: str
    stderr: str
    findings: list[dict[str, Any]]

    def __init__(
        self,
        *,
        id: str,
        outcome: str,
        target: str = "",
        kind: str = "test",
        description: str = "",
        doc: str = "",
        module: str = "",
        classname: str = "",
        name: str = "",
        duration: float = 0.0,
        message: str = "",
        traceback: str = "",
        stdout: str = "",
        stderr: str = "",
        findings: list[dict[str, Any]] | None = None,
    ) -> None:
        self.id = id
        self.target = target or id
        self.kind = kind
        self.description = description or id
        self.doc = doc
        self.module = module
        self.classname = classname
        self.name = name or id
        self.outcome = outcome
        self.duration = duration
        self.message = message
        self.traceback = traceback
        self.stdout = stdout
        self.stderr = stderr
        self.findings = [] if findings is None else findings

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-compatible dict (the inverse of :meth:`from_dict`)."""
        data = {field: getattr(self, field) for field in _FIELDS}
        data["findings"] = [dict(finding) for finding in self.findings]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestRecord:
        """Rebuild a record from :meth:`to_dict`'s output; unknown keys are ignored."""
        return cls(**{field: data[field] for field in _FIELDS if field in data})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TestRecord):
            return NotImplemented
        return all(getattr(self, field) == getattr(other, field) for field in _FIELDS)

    __hash__ = None  # type: ignore[assignment]  # records are mutable until the test stops

    def __repr__(self) -> str:
        return f"<TestRecord {self.id!r} {self.outcome}>"


class ResultListener:
    """Receives a :class:`TestResult`'s events as they happen; every method does nothing.

    Reporters that draw live progress subclass it. Records handed to ``outcome_added``
    are final except for ``duration``, ``stdout`` and ``stderr``, which are filled in
    when the test stops.
    """

    def test_started(self, description: str, doc: str) -> None:
        """A test began; ``description`` is ``str(test)``, ``doc`` its docstring's first line."""

    def outcome_added(self, record: TestRecord) -> None:
        """An outcome was recorded: a test's result, a failing subtest or a fixture error."""


class TestResult(unittest.TestResult):
    """A ``unittest.TestResult`` that also keeps every outcome as a :class:`TestRecord`.

    It prints nothing: reporters render ``records`` (live through ``listeners``, or at
    the end). The unittest lists (``failures``, ``errors``, ``skipped``, ...) and
    ``testsRun`` are kept as usual, so code that reads them keeps working. Durations
    arrive through :meth:`addDuration` (called by ``TestCase.run`` from Python 3.12) and
    are measured here on 3.11, so ``collectedDurations`` is filled on every version.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        descriptions: bool | None = None,
        verbosity: int | None = None,
        *,
        durations: int | None = None,
    ) -> None:
        super().__init__(stream, descriptions, verbosity)
        self.durations = durations
        self.records: list[TestRecord] = []
        self.listeners: list[ResultListener] = []
        self.collectedDurations: list[tuple[str, float]] = []
        self._aiounit_pending: list[TestRecord] | None = None
        self._aiounit_started = 0.0
        self._aiounit_elapsed: float | None = None
        self._aiounit_findings: list[dict[str, Any]] = []
        # The running test with its description and docstring line, each read once.
        self._aiounit_test: Any = None
        self._aiounit_description = ""
        self._aiounit_doc = ""
        #: Set by the runner when Ctrl-C stopped the run before its end.
        self.interrupted = False

    # -- the test's life ---------------------------------------------------------------

    def startTest(self, test: unittest.TestCase) -> None:
        """Count the test, start capturing under ``-b`` and tell the listeners."""
        super().startTest(test)
        self._aiounit_pending = []
        self._aiounit_elapsed = None
        self._aiounit_started = time.perf_counter()
        description, doc = str(test), _doc(test)
        self._aiounit_test = test
        self._aiounit_description = description
        self._aiounit_doc = doc
        for listener in self.listeners:
            listener.test_started(description, doc)

    def addDuration(self, test: unittest.TestCase, elapsed: float) -> None:
        """Keep how long the test took, including its cleanups."""
        self._aiounit_elapsed = elapsed
        # As unittest stores it: the description, not the test, which would keep it alive.
        description = self._aiounit_description if test is self._aiounit_test else str(test)
        self.collectedDurations.append((description, elapsed))

    def stopTest(self, test: unittest.TestCase) -> None:
        """Finish the test's records: duration and captured output; restore the streams."""
        pending = self._aiounit_pending
        if pending is not None:
            if self._aiounit_elapsed is None:
                elapsed = time.perf_counter() - self._aiounit_started
                # Python 3.11 never calls addDuration; 3.12 calls it for every test that
                # ran, that is every test not skipped before its setUp.
                if not pending or any(record.outcome != SKIPPED for record in pending):
                    self.addDuration(test, elapsed)
                else:
                    self._aiounit_elapsed = elapsed
            # Read before unittest empties the buffers in stopTest.
            stdout = _buffered(getattr(self, "_stdout_buffer", None)) if self.buffer else ""
            stderr = _buffered(getattr(self, "_stderr_buffer", None)) if self.buffer else ""
            for record in pending:
                record.duration = self._aiounit_elapsed or 0.0
                record.stdout = stdout
                record.stderr = stderr
        self._aiounit_pending = None
        self._aiounit_findings = []
        self._aiounit_test = None
        super().stopTest(test)

    # -- outcomes ----------------------------------------------------------------------

    def addSuccess(self, test: unittest.TestCase) -> None:
        """Record a passed test."""
        super().addSuccess(test)
        self._add(test, PASSED)

    def addFailure(self, test: unittest.TestCase, err: ExcInfo) -> None:
        """Record a failed test (an assertion, or ``failureException``)."""
        super().addFailure(test, err)
        self._add(test, FAILED, _exception_text(err), self.failures[-1][1])

    def addError(self, test: unittest.TestCase, err: ExcInfo) -> None:
        """Record an error: in a test, a fixture, or a module that fails to import."""
        super().addError(test, err)
        self._add(test, ERROR, _exception_text(err), self.errors[-1][1])

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        """Record a skipped test (or a class or module whose fixture skipped it)."""
        super().addSkip(test, reason)
        self._add(test, SKIPPED, reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: ExcInfo) -> None:
        """Record a test marked ``expectedFailure`` that failed, as expected."""
        super().addExpectedFailure(test, err)
        self._add(test, EXPECTED_FAILURE, _exception_text(err), self.expectedFailures[-1][1])

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        """Record a test marked ``expectedFailure`` that passed, which fails the run."""
        super().addUnexpectedSuccess(test)
        self._add(test, UNEXPECTED_SUCCESS, "unexpected success")

    def addSubTest(
        self, test: unittest.TestCase, subtest: unittest.TestCase, err: ExcInfo | None
    ) -> None:
        """Record a failing subtest; passing subtests leave no record, as in unittest."""
        super().addSubTest(test, subtest, err)
        if err is None:
            return
        if err[0] is not None and issubclass(err[0], test.failureException):
            self._add(subtest, FAILED, _exception_text(err), self.failures[-1][1])
        else:
            self._add(subtest, ERROR, _exception_text(err), self.errors[-1][1])

    def add_finding(self, test: unittest.TestCase, finding: Mapping[str, Any]) -> None:
        """Attach a post-test check finding to the records of the running ``test``.

        Call it before ``stopTest``; ``finding`` must be JSON-compatible. The records of
        the test made so far get it; if the test has no record yet, its next one does.
        """
        test_id = test.id()
        pending = self._aiounit_pending or []
        records = [record for record in pending if test_id in (record.id, record.target)]
        for record in records:
            record.findings.append(dict(finding))
        if not records:
            self._aiounit_findings.append(dict(finding))

    def _add(self, test: Any, outcome: str, message: str = "", text: str = "") -> None:
        if test is self._aiounit_test:
            record = make_record(
                test, outcome, message, text, self._aiounit_description, self._aiounit_doc
            )
        else:
            record = make_record(test, outcome, message, text)
        if self._aiounit_findings:
            record.findings.extend(self._aiounit_findings)
            self._aiounit_findings = []
        self.records.append(record)
        if self._aiounit_pending is not None and record.kind != "fixture":
            self._aiounit_pending.append(record)
        for listener in self.listeners:
            listener.outcome_added(record)


def make_record(
    test: Any,
    outcome: str,
    message: str = "",
    text: str = "",
    description: str | None = None,
    doc: str | None = None,
) -> TestRecord:
    """Build the record of one outcome of ``test`` (a test, subtest or fixture holder).

    ``description`` and ``doc`` are ``str(test)`` and its docstring's first line, when
    the caller has them already.
    """
    if description is None:
        description = str(test)
    test_id = test.id()
    if isinstance(test, _SubTest):
        case = test.test_case
        parent_id = case.id()
        module, classname, name = _names(case, parent_id)
        return TestRecord(
            id=test_id,
            target=parent_id,
            kind="subtest",
            description=description,
            doc=_doc(test),
            module=module,
            classname=classname,
            name=name + test_id[len(parent_id) :],
            outcome=outcome,
            message=message,
            traceback=text,
        )
    if not isinstance(test, unittest.TestCase):
        # unittest.suite._ErrorHolder: "setUpClass (pkg.mod.Class)", "setUpModule (pkg.mod)".
        hook, _, where = description.partition(" (")
        where = where.rstrip(")") or description
        return TestRecord(
            id=test_id,
            target=where,
            kind="fixture",
            description=description,
            module=_module_of(where),
            classname=where,
            name=hook,
            outcome=outcome,
            message=message,
            traceback=text,
        )
    module, classname, name = _names(test, test_id)
    target = load_target(test)
    if target is not None:
        module = getattr(test, "_aiounit_module", target)
    return TestRecord(
        id=test_id,
        target=target or test_id,
        kind="test" if target is None else "load",
        description=description,
        doc=_doc(test) if doc is None else doc,
        module=module,
        classname=classname,
        name=name,
        outcome=outcome,
        message=message,
        traceback=text,
    )


def _module_of(dotted: str) -> str:
    """The longest imported module that ``dotted`` (a class or module name) starts with."""
    # A class's qualified name can hold dots too (Outer.Inner, f.<locals>.Cls), so the
    # split between module and class cannot be read from the string alone.
    name = dotted
    while name and name not in sys.modules:
        name = name.rpartition(".")[0]
    return name or dotted


def load_target(test: unittest.TestCase) -> str | None:
    """The name a stand-in for something that could not be loaded stands for, else None.

    Stand-ins are aiounit's strict-mode error (it names its class) and
    ``unittest.loader._FailedTest``, whose method name is the module or name that failed.
    """
    target: str | None = getattr(test, "_aiounit_target", None)
    if target is not None:
        return target
    cls = type(test)
    if cls.__name__ == "_FailedTest" and cls.__module__ == "unittest.loader":
        return test._testMethodName
    return None


def _names(test: unittest.TestCase, test_id: str) -> tuple[str, str, str]:
    """Module, dotted class name and test name of a test, as reports show them."""
    method: str | None = getattr(test, "_testMethodName", None)
    if method and test_id.endswith("." + method):
        classname = test_id[: -len(method) - 1]
        name = method
    else:  # doctests and other cases whose id is not class.method
        classname, _, name = test_id.rpartition(".")
    return type(test).__module__, classname, name


def _doc(test: Any) -> str:
    short = getattr(test, "shortDescription", None)
    doc = short() if short is not None else None
    return doc or ""


def _exception_text(err: ExcInfo) -> str:
    exc_type, value, _ = err
    if exc_type is None:
        return ""
    return "".join(traceback.format_exception_only(exc_type, value)).strip()


def _buffered(buffer: Any) -> str:
    getvalue = getattr(buffer, "getvalue", None)
    return getvalue() if getvalue is not None else ""
