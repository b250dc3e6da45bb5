"""The JSON report: one record per test outcome, for tools (schema in docs/cli.md)."""

from __future__ import annotations

import json
import os
from datetime import datetime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aiounit.report import RunSummary
    from aiounit.result import TestRecord

__all__ = ["JSON_VERSION", "json_report", "write_json_report"]

#: Bumped when a field changes meaning or goes away; adding fields keeps it.
JSON_VERSION = 1


def json_report(records: list[TestRecord], summary: RunSummary) -> dict[str, Any]:
    """The JSON document of a run, as a dict (see docs/cli.md for the schema)."""
    from aiounit import __version__

    return {
        "version": JSON_VERSION,
        "tool": {"name": "aiounit", "version": __version__},
        "created": datetime.fromtimestamp(summary.started_at)
        .astimezone()
        .isoformat("T", "seconds"),
        "duration": round(summary.duration, 6),
        "seed": summary.seed,
        "summary": summary.to_dict(),
        "tests": [record.to_dict() for record in records],
    }


def write_json_report(path: str, records: list[TestRecord], summary: RunSummary) -> None:
    """Write the JSON report to ``path``, making its directory if needed."""
    document = json_report(records, summary)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2)
        file.write("\n")
