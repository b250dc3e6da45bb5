"""Shared tools for aiounit's own tests: run an inner suite and read what happened."""

from __future__ import annotations

import unittest
import warnings
from collections.abc import Iterable

from aiounit.result import TestResult


def run_suite(*tests: unittest.TestCase | type[unittest.TestCase]) -> unittest.TestResult:
    """Run test instances and whole classes as unittest's suite would, and return the result.

    Classes are loaded with the default loader; going through a ``TestSuite`` means
    ``setUpClass``, ``tearDownClass`` and ``doClassCleanups`` run as they do for users.
    """
    result = unittest.TestResult()
    suite_of(*tests).run(result)
    return result


def suite_of(*tests: unittest.TestCase | type[unittest.TestCase]) -> unittest.TestSuite:
    """A suite of test instances and whole classes (loaded with the default loader)."""
    suite = unittest.TestSuite()
    for item in tests:
        if isinstance(item, type):
            suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(item))
        else:
            suite.addTest(item)
    return suite


def outcomes(result: unittest.TestResult) -> dict[str, str]:
    """Map each test id (or fixture description) that did not pass to its outcome."""
    found: dict[str, str] = {}
    for kind, rows in (
        ("failure", result.failures),
        ("error", result.errors),
        ("skipped", result.skipped),
        ("expected-failure", result.expectedFailures),
    ):
        for test, _ in rows:
            found[_name(test)] = kind
    for test in result.unexpectedSuccesses:
        found[_name(test)] = "unexpected-success"
    return found


def _name(test: unittest.TestCase) -> str:
    method = getattr(test, "_testMethodName", None)
    return method if method is not None else str(test)


def messages(rows: Iterable[tuple[unittest.TestCase, str]]) -> str:
    """All the traceback texts of ``result.errors`` or ``result.failures``, joined."""
    return "\n".join(text for _, text in rows)


class Recorded:
    """What an inner run recorded: each test's outcome and findings, by method name."""

    def __init__(self, *tests: unittest.TestCase | type[unittest.TestCase]) -> None:
        self.result = TestResult()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # findings are recorded, never warned
            suite_of(*tests).run(self.result)
        records = {record.id.rsplit(".", 1)[1]: record for record in self.result.records}
        self.outcomes = {name: record.outcome for name, record in records.items()}
        self.findings = {name: record.findings for name, record in records.items()}

    def checks(self, name: str) -> list[str]:
        """The slugs of the findings of test ``name``, in order."""
        return [finding["check"] for finding in self.findings[name]]

    def message(self, name: str, check: str) -> str:
        """The message of the one finding of ``check`` on test ``name``."""
        [message] = [f["message"] for f in self.findings[name] if f["check"] == check]
        return str(message)
