"""The terminal report: live progress, failures grouped at the end, and the summary lines."""

from __future__ import annotations

from aiounit.result import (
    ERROR,
    EXPECTED_FAILURE,
    FAILED,
    PASSED,
    SKIPPED,
    UNEXPECTED_SUCCESS,
    ResultListener,
    TestRecord,
    TestResult,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any, TextIO

__all__ = ["COLOR_MODES", "RunSummary", "TextReporter", "use_color"]

#: The accepted values of ``--color``.
COLOR_MODES = ("auto", "always", "never")

SEPARATOR1 = "=" * 70
SEPARATOR2 = "-" * 70

_GREEN = "\033[32m"
_RED = "\033[31m"
_YELLOW = "\033[33m"
_RESET = "\033[0m"

# Live status of each outcome: (word under -v, character otherwise, colour).
_STATUS = {
    PASSED: ("ok", ".", _GREEN),
    FAILED: ("FAIL", "F", _RED),
    ERROR: ("ERROR", "E", _RED),
    SKIPPED: ("skipped", "s", _YELLOW),
    EXPECTED_FAILURE: ("expected failure", "x", _YELLOW),
    UNEXPECTED_SUCCESS: ("unexpected success", "u", _RED),
}


def use_color(mode: str, stream: Any, environ: Mapping[str, str]) -> bool:
    """Whether to colour output to ``stream`` under ``--color mode``.

    ``auto`` colours a terminal, unless ``NO_COLOR`` is set (https://no-color.org) or
    ``TERM`` is ``dumb``; ``always`` and ``never`` decide alone.
    """
    if mode == "always":
        return True
    if mode == "never" or environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class RunSummary:
    """The counts and timing of a run, as the summary lines and the reports state them."""

    __slots__ = (
        "duration",
        "errors",
        "expected_failures",
        "failed",
        "passed",
        "seed",
        "skipped",
        "started_at",
        "successful",
        "tests_run",
        "unexpected_successes",
    )

    def __init__(
        self,
        records: Iterable[TestRecord],
        *,
        tests_run: int,
        successful: bool,
        duration: float,
        started_at: float,
        seed: int | None = None,
    ) -> None:
        counts = dict.fromkeys(_STATUS, 0)
        for record in records:
            counts[record.outcome] += 1
        self.passed = counts[PASSED]
        self.failed = counts[FAILED]
        self.errors = counts[ERROR]
        self.skipped = counts[SKIPPED]
        self.expected_failures = counts[EXPECTED_FAILURE]
        self.unexpected_successes = counts[UNEXPECTED_SUCCESS]
        self.tests_run = tests_run
        self.successful = successful
        self.duration = duration
        self.started_at = started_at
        self.seed = seed

    @classmethod
    def from_result(
        cls, result: TestResult, duration: float, started_at: float, seed: int | None = None
    ) -> RunSummary:
        """Summarise a finished run from its result."""
        return cls(
            result.records,
            tests_run=result.testsRun,
            successful=result.wasSuccessful(),
            duration=duration,
            started_at=started_at,
            seed=seed,
        )

    def unittest_line(self) -> str:
        """``OK``, ``FAILED (failures=1, errors=2)`` or ``NO TESTS RAN``, as unittest words it."""
        infos = []
        if not self.successful:
            status = "FAILED"
            if self.failed:
                infos.append(f"failures={self.failed}")
            if self.errors:
                infos.append(f"errors={self.errors}")
        elif self.tests_run == 0 and not self.skipped:
            status = "NO TESTS RAN"
        else:
            status = "OK"
        if self.skipped:
            infos.append(f"skipped={self.skipped}")
        if self.expected_failures:
            infos.append(f"expected failures={self.expected_failures}")
        if self.unexpected_successes:
            infos.append(f"unexpected successes={self.unexpected_successes}")
        return f"{status} ({', '.join(infos)})" if infos else status

    def line(self) -> str:
        """The last line: ``3 passed, 1 failed, 2 errors, 1 skipped in 0.05s``.

        It always starts with the passed and failed counts; other counts follow only
        when they are not zero.
        """
        parts = [f"{self.passed} passed", f"{self.failed} failed"]
        for count, one, many in (
            (self.errors, "error", "errors"),
            (self.skipped, "skipped", "skipped"),
            (self.expected_failures, "expected failure", "expected failures"),
            (self.unexpected_successes, "unexpected success", "unexpected successes"),
        ):
            if count:
                parts.append(f"{count} {one if count == 1 else many}")
        return f"{', '.join(parts)} in {self.duration:.2f}s"

    def to_dict(self) -> dict[str, Any]:
        """The counts as a JSON-compatible dict."""
        return {
            "tests_run": self.tests_run,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "expected_failures": self.expected_failures,
            "unexpected_successes": self.unexpected_successes,
            "successful": self.successful,
        }


class TextReporter(ResultListener):
    """Writes a run to a text stream as unittest's text runner does, plus a summary line.

    Under verbosity 2 each test gets a line (``test_x (mod.Class.test_x) ... ok``); under
    1 a character (``.``, ``F``, ``E``, ``s``, ``x``, ``u``); under 0 nothing until the end.
    The end lists errors and failures with unittest's separators, the slowest tests
    when asked, ``Ran N tests in X.XXXs``, unittest's status line and the summary line.
    """

    def __init__(
        self, stream: TextIO, verbosity: int = 1, descriptions: bool = True, color: bool = False
    ) -> None:
        self.stream = stream
        self.verbosity = verbosity
        self.descriptions = descriptions
        self.color = color
        self._newline = True

    def _paint(self, text: str, colour: str) -> str:
        return f"{colour}{text}{_RESET}" if self.color else text

    def _describe(self, description: str, doc: str) -> str:
        if self.descriptions and doc:
            return f"{description}\n{doc}"
        return description

    def write_lines(self, lines: Iterable[str]) -> None:
        """Write lines before the run starts (the seed, the selection)."""
        for line in lines:
            self.stream.write(line + "\n")
        self.stream.flush()

    def test_started(self, description: str, doc: str) -> None:
        """Under ``-v``, start the test's line."""
        if self.verbosity > 1:
            self.stream.write(self._describe(description, doc) + " ... ")
            self.stream.flush()
            self._newline = False

    def outcome_added(self, record: TestRecord) -> None:
        """Finish the test's line under ``-v``, or write its progress character."""
        word, char, colour = _STATUS[record.outcome]
        if self.verbosity > 1:
            if record.outcome == SKIPPED:
                word = f"skipped {record.message!r}"
            is_subtest = record.kind == "subtest"
            if is_subtest or self._newline:
                if not self._newline:
                    self.stream.write("\n")
                if is_subtest:
                    self.stream.write("  ")
                self.stream.write(self._describe(record.description, record.doc) + " ... ")
            self.stream.write(self._paint(word, colour) + "\n")
            # unittest writes these two statuses without marking the line finished, so a
            # fixture error right after one shows no description; kept for identical output.
            self._newline = record.outcome not in (EXPECTED_FAILURE, UNEXPECTED_SUCCESS)
        elif self.verbosity == 1:
            self.stream.write(self._paint(char, colour))
        self.stream.flush()

    def write_report(
        self,
        records: list[TestRecord],
        summary: RunSummary,
        durations: int | None = None,
        collected_durations: Iterable[tuple[str, float]] = (),
    ) -> None:
        """Write everything after the last test: failures, durations, counts, summary."""
        write = self.stream.write
        if self.verbosity > 0:
            write("\n")
        for outcome, flavour in ((ERROR, "ERROR"), (FAILED, "FAIL")):
            for record in records:
                if record.outcome == outcome:
                    write(SEPARATOR1 + "\n")
                    heading = self._describe(record.description, record.doc)
                    write(f"{self._paint(flavour, _RED)}: {heading}\n")
                    write(SEPARATOR2 + "\n")
                    write(record.traceback + "\n")
        for record in records:
            # Findings at level "error" already failed their test; these only warn.
            for finding in record.findings:
                if finding.get("level") == "warn":
                    write(SEPARATOR1 + "\n")
                    heading = self._describe(record.description, record.doc)
                    write(f"{self._paint('WARNING', _YELLOW)}: {heading}\n")
                    write(SEPARATOR2 + "\n")
                    write(f"{finding.get('message', '')} [{finding.get('check', '')}]\n\n")
        unexpected = [r for r in records if r.outcome == UNEXPECTED_SUCCESS]
        if unexpected:
            write(SEPARATOR1 + "\n")
            for record in unexpected:
                heading = self._describe(record.description, record.doc)
                write(f"UNEXPECTED SUCCESS: {heading}\n")
        if durations is not None:
            self._write_durations(durations, list(collected_durations))
        write(SEPARATOR2 + "\n")
        run = summary.tests_run
        write(f"Ran {run} test{'' if run == 1 else 's'} in {summary.duration:.3f}s\n\n")
        status = summary.unittest_line()
        good = summary.successful and status != "NO TESTS RAN"
        head, sep, tail = status.partition(" (")
        write(self._paint(head, _GREEN if good else _RED) + sep + tail + "\n")
        line_colour = _GREEN if good else (_YELLOW if summary.successful else _RED)
        write(self._paint(summary.line(), line_colour) + "\n")
        self.stream.flush()

    def _write_durations(self, count: int, collected: list[tuple[str, float]]) -> None:
        if not collected:
            return
        rows = sorted(collected, key=lambda row: row[1], reverse=True)
        if count > 0:
            rows = rows[:count]
        write = self.stream.write
        write("Slowest test durations\n")
        write(SEPARATOR2 + "\n")
        hidden = False
        for description, elapsed in rows:
            if self.verbosity < 2 and elapsed < 0.001:
                hidden = True
                continue
            write(f"{f'{elapsed:.3f}s':<10} {description}\n")
        if hidden:
            write("\n(durations < 0.001s were hidden; use -v to show these durations)\n")
        else:
            write("\n")
