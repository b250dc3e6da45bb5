"""TestRunner: runs a suite into a recording result and hands the records to the reporters."""

from __future__ import annotations

import os
import sys
import time
import unittest
import warnings
from unittest.signals import registerResult

from aiounit.report import RunSummary, TextReporter, use_color
from aiounit.result import TestResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, TextIO

    from aiounit.result import TestRecord

    Writer = Callable[[str, list[TestRecord], RunSummary], None]

__all__ = ["AsyncTestRunner", "TestRunner"]


class TestRunner:
    """A drop-in for ``unittest.TextTestRunner`` that also writes JUnit XML and JSON reports.

    It takes TextTestRunner's arguments (``durations`` works on Python 3.11 too) and:

    * ``color``: ``"auto"`` (a terminal, unless ``NO_COLOR`` is set), ``"always"`` or
      ``"never"``;
    * ``junit_xml`` / ``json_report``: paths of the reports to write after the run;
    * ``seed``: the random-order seed, stated in the reports;
    * ``header``: lines written before the first test (the seed, the selection).

    The result is a :class:`aiounit.TestResult`; its records feed the terminal report
    and the files alike. Given a ``resultclass`` that is not one, :meth:`run` hands the
    suite to ``unittest.TextTestRunner`` instead (without the reports). Problems writing
    a report are listed in ``report_errors`` after :meth:`run`.
    """

    resultclass: type[unittest.TestResult] = TestResult

    def __init__(
        self,
        stream: TextIO | None = None,
        descriptions: bool = True,
        verbosity: int = 1,
        failfast: bool = False,
        buffer: bool = False,
        resultclass: type[unittest.TestResult] | None = None,
        warnings: str | None = None,
        *,
        tb_locals: bool = False,
        durations: int | None = None,
        color: str = "auto",
        junit_xml: str | None = None,
        json_report: str | None = None,
        seed: int | None = None,
        header: Iterable[str] = (),
    ) -> None:
        # As TextTestRunner: the stream is chosen when the runner is made, so a
        # redirect_stderr() around the construction catches the output.
        self.stream: TextIO = sys.stderr if stream is None else stream
        self.descriptions = descriptions
        self.verbosity = verbosity
        self.failfast = failfast
        self.buffer = buffer
        self.warnings = warnings
        self.tb_locals = tb_locals
        self.durations = durations
        if resultclass is not None:
            self.resultclass = resultclass
        self.color = color
        self.junit_xml = junit_xml
        self.json_report = json_report
        self.seed = seed
        self.header = list(header)
        self.report_errors: list[str] = []

    def _makeResult(self) -> unittest.TestResult:
        """A new result of ``resultclass``, made as TextTestRunner makes its results."""
        factory: Any = self.resultclass
        try:
            result: unittest.TestResult = factory(
                self.stream, self.descriptions, self.verbosity, durations=self.durations
            )
        except TypeError:  # a result class that does not take durations
            result = factory(self.stream, self.descriptions, self.verbosity)
        return result

    def run(self, test: unittest.TestSuite | unittest.TestCase) -> unittest.TestResult:
        """Run ``test``, write the terminal report and the files; return the result."""
        if not issubclass(self.resultclass, TestResult):
            return self._run_with_unittest(test)
        result = self._makeResult()
        assert isinstance(result, TestResult)
        registerResult(result)
        result.failfast = self.failfast
        result.buffer = self.buffer
        result.tb_locals = self.tb_locals
        color = use_color(self.color, self.stream, os.environ)
        reporter = TextReporter(self.stream, self.verbosity, self.descriptions, color)
        result.listeners.append(reporter)
        if self.header:
            reporter.write_lines(self.header)
        with warnings.catch_warnings():
            if self.warnings:
                # As unittest does: without -W options, show each warning once, even
                # DeprecationWarning, which Python hides by default.
                warnings.simplefilter(self.warnings)  # type: ignore[arg-type]
            started_at = time.time()
            start = time.perf_counter()
            result.startTestRun()
            try:
                test(result)
            except KeyboardInterrupt:
                # Ctrl-C: keep every result so far, report them and write the files.
                result.interrupted = True
            finally:
                result.stopTestRun()
            elapsed = time.perf_counter() - start
        if result.interrupted:
            reporter.write_lines(
                ["", "Interrupted by Ctrl-C: the run stopped early; what ran is reported below."]
            )
        summary = RunSummary.from_result(result, elapsed, started_at, self.seed)
        reporter.write_report(result.records, summary, self.durations, result.collectedDurations)
        self._write_files(result, summary)
        return result

    def _run_with_unittest(
        self, test: unittest.TestSuite | unittest.TestCase
    ) -> unittest.TestResult:
        runner: Any = unittest.TextTestRunner(
            self.stream,
            self.descriptions,
            self.verbosity,
            self.failfast,
            self.buffer,
            self.resultclass,  # type: ignore[arg-type]
            self.warnings,
            tb_locals=self.tb_locals,
        )
        runner.durations = self.durations  # read by TextTestRunner.run from 3.12
        result: unittest.TestResult = runner.run(test)
        return result

    def _write_files(self, result: TestResult, summary: RunSummary) -> None:
        if self.junit_xml:
            from aiounit.report_junit import write_junit_xml

            self._write("JUnit XML", self.junit_xml, write_junit_xml, result, summary)
        if self.json_report:
            from aiounit.report_json import write_json_report

            self._write("JSON", self.json_report, write_json_report, result, summary)

    def _write(
        self, kind: str, path: str, writer: Writer, result: TestResult, summary: RunSummary
    ) -> None:
        try:
            writer(path, result.records, summary)
        except OSError as exc:
            message = (
                f"the {kind} report cannot be written to {path} ({exc}). Check that the "
                "directory exists or can be made, and that the path is not a directory "
                "[report-not-written]"
            )
            self.report_errors.append(message)
            self.stream.write(f"aiounit: error: {message}\n")
            self.stream.flush()


#: The same runner under the name that says what it is for.
AsyncTestRunner = TestRunner
