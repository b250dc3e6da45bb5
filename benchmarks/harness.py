"""Run the chosen frameworks on one suite, interleaved round by round, and validate each run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchmarks.frameworks import FLOOR, ISOLATED, Framework
from benchmarks.measure import Series, run_process, validate
from benchmarks.report import SuiteOutcome
from benchmarks.suites import TRACE_ENV, Shape, Suite, generate

REPO = Path(__file__).resolve().parent.parent

#: Seconds after which a run is killed and reported invalid.
RUN_TIMEOUT = 300.0

#: The same for --smoke, whose runs take a second or less: a hang must not stall it.
SMOKE_TIMEOUT = 30.0

# Settings that would change how a child behaves or what it costs (asyncio debug mode,
# warnings, import tracing, the loop aiounit picks) are dropped from the parent's environment.
_SCRUBBED = ("PYTHON", "AIOUNIT_", "PYTEST_")


def child_env(framework: Framework, trace: Path) -> dict[str, str]:
    """The environment of a measured process: clean, with aiounit importable from the repo.

    Every framework gets the same PYTHONPATH, so none pays for a longer sys.path than another.
    """
    env = _clean_env()
    env[TRACE_ENV] = str(trace)
    env.update(framework.environment())
    return env


def _clean_env() -> dict[str, str]:
    """This process's environment without the scrubbed settings, and aiounit importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env["PYTHONPATH"] = str(REPO)
    return env


def probe(python: str, frameworks: Sequence[Framework]) -> dict[str, str]:
    """Why each unavailable framework cannot run on python (probes that fail), by name."""
    results: dict[str, str | None] = {}
    unavailable = {}
    env = _clean_env()
    for framework in frameworks:
        if framework.probe not in results:
            done = subprocess.run(
                [python, "-c", framework.probe], capture_output=True, text=True, env=env
            )
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            results[framework.probe] = (
                None if done.returncode == 0 else (lines[-1] if lines else "probe failed")
            )
        failure = results[framework.probe]
        if failure is not None:
            unavailable[framework.name] = f"not available: `{framework.probe}` gave {failure}"
    return unavailable


def run_suite(
    suite: Suite,
    shape: Shape,
    rounds: int,
    frameworks: Sequence[Framework],
    skipped: Mapping[str, str],
    python: str,
    workdir: Path,
    slow_rounds: int | None = None,
    timeout: float = RUN_TIMEOUT,
) -> SuiteOutcome:
    """Generate the suite for each framework and run them A B C A B C ... for rounds rounds.

    Interleaving spreads machine drift over every framework alike. A framework whose run
    is invalid is not run again: it has no measurement, only the reason. With slow_rounds,
    a framework whose first run is slow (Suite.slow_run) stops after slow_rounds runs.
    """
    series: dict[str, Series] = {}
    ready: list[tuple[Framework, Path, list[str], dict[str, str]]] = []
    for framework in frameworks:
        series[framework.name] = current = Series()
        if framework.name in skipped:
            current.skipped = skipped[framework.name]
            continue
        directory = workdir / suite.name / framework.name
        ids = generate(
            directory,
            suite,
            shape,
            framework.flavor,
            framework.loop_scope,
            virtual_time=framework.virtual_time,
            concurrent=framework.concurrent,
            floor_sleeps=framework.floor_sleeps,
        )
        try:
            env = child_env(framework, directory / "trace.txt")
        except Exception as error:  # An env_factory reads aiounit, which may be broken.
            current.invalid = f"its environment could not be computed: {error!r}"
            continue
        failure = _prepare(python, framework, directory, env)
        if failure:
            current.invalid = failure
            continue
        ready.append((framework, directory, ids, env))
    slow_run = suite.slow_run(shape) if slow_rounds is not None else None
    for round_number in range(1, rounds + 1):
        for framework, directory, ids, env in ready:
            current = series[framework.name]
            if current.invalid or _enough(current, slow_run, slow_rounds):
                continue
            run = run_process(
                [python, *framework.runner.args],
                cwd=directory,
                env=env,
                trace_path=directory / "trace.txt",
                output_dir=workdir,
                timeout=timeout,
            )
            reasons = validate(run, framework.runner.count, ids)
            if reasons:
                current.invalid = "; ".join(reasons)
                status = f"INVALID: {current.invalid}"
            else:
                current.runs.append(run)
                status = f"{run.wall:7.3f} s {run.max_rss_kib / 1024:6.1f} MiB"
            print(
                f"bench: {suite.name} {round_number}/{rounds} {framework.name:<27} {status}",
                file=sys.stderr,
                flush=True,
            )
    return SuiteOutcome(suite, shape, rounds, series, slow_rounds if slow_run else None, slow_run)


def _enough(series: Series, slow_run: float | None, slow_rounds: int | None) -> bool:
    """True when a slow framework (its first run over slow_run) has its slow_rounds runs."""
    if slow_run is None or slow_rounds is None or not series.runs:
        return False
    return series.runs[0].wall > slow_run and len(series.runs) >= slow_rounds


def frameworks_for(suite: Suite, frameworks: Sequence[Framework]) -> list[Framework]:
    """The frameworks that run suite: those that list it, and the two references.

    The references run every suite so that its ratios mean the same as elsewhere.
    """
    return [f for f in frameworks if suite.name in f.suites or f.name in (FLOOR, ISOLATED)]


def _prepare(python: str, framework: Framework, directory: Path, env: Mapping[str, str]) -> str:
    """Compile the generated tests before measuring; the reason it failed, or ''."""
    commands = [("-m", "compileall", "-q", "."), *framework.runner.prepare]
    for args in commands:
        done = subprocess.run(
            [python, *args], cwd=directory, env=dict(env), capture_output=True, text=True
        )
        if done.returncode != 0:
            lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
            tail = lines[-1] if lines else f"exit status {done.returncode}"
            return f"preparing with `python {' '.join(args)}` failed: {tail}"
    return ""
