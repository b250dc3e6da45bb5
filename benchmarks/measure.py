"""Run one benchmark process, measure it, and decide whether the run is valid."""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Count:
    """The runner's own account of a run: tests it ran, and any outcome other than a pass."""

    ran: int
    problem: str | None = None


#: Reads a runner's count of tests from its stdout and stderr; None if it printed none.
Counter = Callable[[str, str], Count | None]

_LAUNCHER = Path(__file__).with_name("launcher.py")

_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ", re.MULTILINE)
_UNITTEST_STATUS = re.compile(r"^(OK|FAILED)\b.*$", re.MULTILINE)
_PYTEST_SUMMARY = re.compile(r"^=+ (.*?) in [\d.]+s(?: \([^)]*\))? =+$", re.MULTILINE)
_PYTEST_OUTCOME = re.compile(r"(\d+) (\w+)")


def count_unittest(stdout: str, stderr: str) -> Count | None:
    """Read unittest's "Ran N tests" line and the status line after it (stderr)."""
    ran = _UNITTEST_RAN.findall(stderr)
    if not ran:
        return None
    statuses = [m.group(0).strip() for m in _UNITTEST_STATUS.finditer(stderr)]
    final = statuses[-1] if statuses else "no status line"
    return Count(int(ran[-1]), None if final == "OK" else final)


def count_pytest(stdout: str, stderr: str) -> Count | None:
    """Read pytest's closing summary line, e.g. "=== 2000 passed in 1.52s ===" (stdout)."""
    summaries = _PYTEST_SUMMARY.findall(stdout)
    if not summaries:
        return None
    outcomes: dict[str, int] = {}
    for number, word in _PYTEST_OUTCOME.findall(summaries[-1]):
        outcomes[word] = outcomes.get(word, 0) + int(number)
    # Warnings do not make a test fail; every other outcome means a test did not pass.
    others = [
        f"{n} {word}"
        for word, n in outcomes.items()
        if word not in ("passed", "warning", "warnings")
    ]
    return Count(outcomes.get("passed", 0), ", ".join(others) or None)


@dataclasses.dataclass(frozen=True)
class Run:
    """What one benchmark process did: its exit, its cost, and everything it wrote."""

    exit_code: int
    wall: float
    max_rss_kib: int
    cpu: float
    stdout: str
    stderr: str
    trace: str
    timed_out: bool = False


def run_process(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    trace_path: Path,
    output_dir: Path,
    timeout: float,
) -> Run:
    """Run argv as a whole process and measure its wall time and its own peak RSS.

    The process is started by launcher.py, so its peak RSS is its own and not the
    harness's (see that module); argv[0] must be a path to the program.
    """
    trace_path.unlink(missing_ok=True)
    out_path, err_path = output_dir / "stdout.txt", output_dir / "stderr.txt"
    result_path = output_dir / "launcher.txt"
    result_path.unlink(missing_ok=True)
    launcher = [sys.executable, "-I", "-S", str(_LAUNCHER), str(result_path), str(timeout)]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        subprocess.run(
            [*launcher, *argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            check=True,
            timeout=timeout + 60,
        )
    status, wall, max_rss_kib, cpu, timed_out = result_path.read_text().split()
    return Run(
        exit_code=os.waitstatus_to_exitcode(int(status)),
        wall=float(wall),
        max_rss_kib=int(max_rss_kib),
        cpu=float(cpu),
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        trace=trace_path.read_text() if trace_path.exists() else "",
        timed_out=timed_out == "1",
    )


def validate(run: Run, counter: Counter, expected_ids: Sequence[str]) -> list[str]:
    """Every reason the run cannot be trusted as a measurement; an empty list means valid."""
    if run.timed_out:
        return [f"timed out after {run.wall:.0f} s"]
    reasons = []
    if run.exit_code != 0:
        reasons.append(f"exit status {run.exit_code}{_last_line(run.stderr, run.stdout)}")
    count = counter(run.stdout, run.stderr)
    if count is None:
        reasons.append("the runner printed no count of tests")
    else:
        if count.ran != len(expected_ids):
            reasons.append(f"the runner counted {count.ran} tests, expected {len(expected_ids)}")
        if count.problem:
            reasons.append(f"the runner reported {count.problem!r}")
    reasons += check_trace(run.trace, expected_ids)
    return reasons


def check_trace(trace: str, expected_ids: Sequence[str]) -> list[str]:
    """Problems with the trace: each expected test must appear exactly once, and nothing else."""
    seen = collections.Counter(line for line in trace.splitlines() if line)
    expected = set(expected_ids)
    reasons = []
    missing = [tid for tid in expected_ids if tid not in seen]
    if missing:
        reasons.append(f"{len(missing)} test(s) never ran (first: {missing[0]})")
    repeated = sorted(tid for tid, n in seen.items() if n > 1 and tid in expected)
    if repeated:
        reasons.append(
            f"{len(repeated)} test(s) ran more than once (first: {repeated[0]}, "
            f"{seen[repeated[0]]} times)"
        )
    unknown = sorted(tid for tid in seen if tid not in expected)
    if unknown:
        reasons.append(f"{len(unknown)} unexpected id(s) in the trace (first: {unknown[0]})")
    return reasons


def _last_line(*texts: str) -> str:
    """The last non-blank line of the first text that has one, as a ': ...' suffix."""
    for text in texts:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return f": {lines[-1][:160]}"
    return ""


@dataclasses.dataclass
class Series:
    """The valid runs of one framework on one suite, or why it has no measurement."""

    runs: list[Run] = dataclasses.field(default_factory=list)
    invalid: str | None = None
    skipped: str | None = None

    @property
    def measured(self) -> bool:
        """True when the series has at least one run and no invalid one."""
        return bool(self.runs) and self.invalid is None and self.skipped is None

    def wall(self) -> Spread:
        """Median, minimum and maximum wall time in seconds."""
        return Spread.of([r.wall for r in self.runs])

    def rss_mib(self) -> Spread:
        """Median, minimum and maximum peak resident set size in MiB."""
        return Spread.of([r.max_rss_kib / 1024 for r in self.runs])


@dataclasses.dataclass(frozen=True)
class Spread:
    """The median and range of a list of measurements."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """Summarise values, which must not be empty."""
        return cls(statistics.median(values), min(values), max(values))
