"""The JUnit XML report that Jenkins, GitLab and GitHub test reporters read."""

from __future__ import annotations

import os
import re
import time
import xml.etree.ElementTree as ET

from aiounit.result import (
    ERROR,
    EXPECTED_FAILURE,
    FAILED,
    SKIPPED,
    UNEXPECTED_SUCCESS,
    TestRecord,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from aiounit.report import RunSummary

__all__ = ["junit_counts", "junit_xml", "write_junit_xml"]

# Characters XML 1.0 cannot carry at all, even escaped (ANSI escapes from coloured
# output are the usual ones).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def junit_counts(records: list[TestRecord]) -> dict[str, int]:
    """The testsuite counts of ``records``: tests, failures, errors, skipped.

    JUnit has no expected failures nor unexpected successes: an expected failure is
    reported as skipped and an unexpected success as a failure, as pytest does.
    """
    return {
        "tests": len(records),
        "failures": sum(r.outcome in (FAILED, UNEXPECTED_SUCCESS) for r in records),
        "errors": sum(r.outcome == ERROR for r in records),
        "skipped": sum(r.outcome in (SKIPPED, EXPECTED_FAILURE) for r in records),
    }


def _exception_type(message: str) -> str:
    head = message.split("\n", 1)[0].split(":", 1)[0].strip()
    return head if head.replace(".", "").replace("_", "").isalnum() else ""


def _testcase(record: TestRecord) -> ET.Element:
    case = ET.Element(
        "testcase",
        classname=_clean(record.classname),
        name=_clean(record.name),
        time=_seconds(record.duration),
    )
    first_line = _clean(record.message.split("\n", 1)[0])
    if record.outcome in (FAILED, ERROR):
        tag = "failure" if record.outcome == FAILED else "error"
        child = ET.SubElement(case, tag, message=first_line)
        exc_type = _exception_type(record.message)
        if exc_type:
            child.set("type", exc_type)
        child.text = _clean(record.traceback)
    elif record.outcome == UNEXPECTED_SUCCESS:
        ET.SubElement(case, "failure", message="unexpected success", type="unexpected-success")
    elif record.outcome == SKIPPED:
        ET.SubElement(case, "skipped", message=first_line, type="skip")
    elif record.outcome == EXPECTED_FAILURE:
        child = ET.SubElement(case, "skipped", message=first_line, type="expected-failure")
        child.text = _clean(record.traceback)
    if record.stdout:
        ET.SubElement(case, "system-out").text = _clean(record.stdout)
    if record.stderr:
        ET.SubElement(case, "system-err").text = _clean(record.stderr)
    return case


def junit_xml(records: list[TestRecord], summary: RunSummary, *, name: str = "aiounit") -> bytes:
    """The JUnit XML document of a run, encoded as UTF-8.

    One ``testsuite`` holds one ``testcase`` per record (``classname`` is the dotted class,
    ``name`` the test); ``failure``, ``error`` and ``skipped`` carry a ``message`` and the
    traceback; ``system-out``/``system-err`` carry output captured under ``-b``.
    """
    import socket

    counts = {key: str(value) for key, value in junit_counts(records).items()}
    elapsed = _seconds(summary.duration)
    root = ET.Element("testsuites", {"name": name, **counts, "time": elapsed})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": name,
            **counts,
            "time": elapsed,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(summary.started_at)),
            "hostname": _clean(socket.gethostname()),
        },
    )
    if summary.seed is not None:
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="seed", value=str(summary.seed))
    suite.extend(_testcase(record) for record in records)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def write_junit_xml(path: str, records: list[TestRecord], summary: RunSummary) -> None:
    """Write the JUnit XML report to ``path``, making its directory if needed."""
    data = junit_xml(records, summary)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as file:
        file.write(data)
