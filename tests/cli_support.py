"""Shared tools for the command-line tests: copy an example project, run a command on it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent / "examples"

# Variables that would change what a child run does, whoever runs this suite.
_CLEARED = ("NO_COLOR", "FORCE_COLOR", "PYTHONASYNCIODEBUG", "TERM", "PYTHONWARNINGS")

_TIMES = re.compile(r"\d+\.\d+s\b")


@contextlib.contextmanager
def example(name: str) -> Iterator[Path]:
    """A fresh copy of ``tests/examples/<name>`` in a temporary directory.

    Runs write caches and reports next to the tests; a copy keeps the repository clean
    and every test independent of the others.
    """
    with tempfile.TemporaryDirectory(prefix=f"aiounit-{name}-") as tmp:
        target = Path(tmp) / name
        shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__"))
        yield target


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child run: ours without AIOUNIT_* and colour settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIOUNIT_") and key not in _CLEARED
    }
    # The examples import aiounit from this checkout, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def run(
    module: str,
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    python_options: tuple[str, ...] = ("-W", "error"),
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module> <args>`` in ``cwd`` with this interpreter and return it."""
    return run_python(*python_options, "-m", module, *args, cwd=cwd, env=env)


def run_python(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` in ``cwd``; output is captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=default_sigint,
    )


def start_python(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[str]:
    """Start this interpreter with ``args`` in ``cwd``, its output piped as text, for a
    test that signals it while it runs. Ctrl-C has its default meaning in the child
    (``preexec_fn``, :func:`default_sigint` unless given)."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=child_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn or default_sigint,
    )


def default_sigint() -> None:
    """In a child about to start: take Ctrl-C as a terminal would deliver it.

    A run started in the background (as some CI runners start theirs) inherits SIGINT
    ignored, and Python then installs no KeyboardInterrupt handler in its children.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def aiounit(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -W error -m aiounit <args>`` in ``cwd``."""
    return run("aiounit", *args, cwd=cwd, env=env)


def unittest_(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -W error -m unittest <args>`` in ``cwd``."""
    return run("unittest", *args, cwd=cwd, env=env)


def without_times(text: str) -> str:
    """``text`` with every duration (``0.004s``) replaced, so two runs compare equal."""
    return _TIMES.sub("X.XXXs", text)


def split_summary(stderr: str) -> tuple[str, str]:
    """The report without aiounit's last line, and that line."""
    body, _, last = stderr.rstrip("\n").rpartition("\n")
    return body + "\n", last


class ExampleRun(NamedTuple):
    """What a run on a copy of an example project gave: the process and its JSON report."""

    process: subprocess.CompletedProcess[str]
    #: The ``--json`` report (``python -m aiounit`` runs only), else None.
    report: dict[str, Any] | None

    @property
    def stderr(self) -> str:
        """The run's standard error: the progress lines and the report."""
        return self.process.stderr

    @property
    def returncode(self) -> int:
        """The run's exit status."""
        return self.process.returncode

    def findings(self) -> dict[str, list[str]]:
        """The slugs of each test's findings in the JSON report, by ``Class.method``."""
        assert self.report is not None, "the run wrote no JSON report"
        return {
            ".".join(record["id"].split(".")[-2:]): [f["check"] for f in record["findings"]]
            for record in self.report["tests"]
        }


def run_example(
    name: str, module: str, *args: str, env: Mapping[str, str] | None = None
) -> ExampleRun:
    """Run ``python -W error -m <module> <args>`` on a fresh copy of example ``name``.

    A ``python -m aiounit`` run also writes a JSON report, which is read back.
    """
    with example(name) as path:
        if module != "aiounit":
            return ExampleRun(run(module, *args, cwd=path, env=env), None)
        process = run(module, *args, "--json", "report.json", cwd=path, env=env)
        report_path = path / "report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        return ExampleRun(process, report)
