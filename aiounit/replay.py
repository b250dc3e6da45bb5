"""Replaying a unit's events from a worker into the main process's result, as if run here."""

from __future__ import annotations

import sys

from aiounit.result import (
    ERROR,
    EXPECTED_FAILURE,
    FAILED,
    PASSED,
    SKIPPED,
    UNEXPECTED_SUCCESS,
    TestRecord,
    TestResult,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aiounit.worker_main import Event

__all__ = ["replay"]


class _Outcome:
    """Stands for a test in unittest's lists (``failures``, ``errors``...) of a replay."""

    __slots__ = ("_description", "_id")

    def __init__(self, record: TestRecord) -> None:
        self._id = record.id
        self._description = record.description

    def id(self) -> str:
        return self._id

    def __str__(self) -> str:
        return self._description

    def shortDescription(self) -> None:
        return None


def replay(result: TestResult, events: list[Event]) -> None:
    """Feed a unit's events to ``result`` as if its tests had run in this process."""
    for event in events:
        if event[0] == "records":
            for record in event[1]:
                _add(result, record)
            continue
        _, _, description, doc, records, duration, stdout, stderr = event
        result.testsRun += 1
        for listener in result.listeners:
            listener.test_started(description, doc)
        for record in records:
            _add(result, record)
        if duration is not None:
            result.collectedDurations.append((description, duration))
        for text, stream in ((stdout, sys.stdout), (stderr, sys.stderr)):
            if text:
                stream.write(text)
                stream.flush()


def _add(result: TestResult, record: TestRecord) -> None:
    outcome = record.outcome
    if outcome != PASSED:
        # Only unittest's lists of other outcomes hold the test (a stand-in here).
        stand_in: Any = _Outcome(record)
        if outcome == FAILED:
            result.failures.append((stand_in, record.traceback))
        elif outcome == ERROR:
            result.errors.append((stand_in, record.traceback))
        elif outcome == SKIPPED:
            result.skipped.append((stand_in, record.message))
        elif outcome == EXPECTED_FAILURE:
            result.expectedFailures.append((stand_in, record.traceback))
        elif outcome == UNEXPECTED_SUCCESS:
            result.unexpectedSuccesses.append(stand_in)
    result.records.append(record)
    for listener in result.listeners:
        listener.outcome_added(record)
