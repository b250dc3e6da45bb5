"""Tests of the benchmark harness: how it validates runs, and a smoke run of the whole of it."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from types import ModuleType
from unittest import mock

from aiounit.hygiene import CHECKS_ENV, DEFAULT_LEVELS
from benchmarks.frameworks import (
    BOUND_LOOP_PER_CLASS,
    BOUND_LOOP_PER_TEST,
    BOUND_UVLOOP_PER_TEST,
    FLOOR,
    FRAMEWORKS,
    ISOLATED,
    SLEEPING_FLOOR,
    all_checks_off,
)
from benchmarks.harness import _enough, child_env, frameworks_for
from benchmarks.measure import (
    Count,
    Run,
    Series,
    count_pytest,
    count_unittest,
    run_process,
    validate,
)
from benchmarks.report import SuiteOutcome, render
from benchmarks.suites import BARE_LOOP_ENV, SUITES, Shape, generate
from benchmarks.targets import TARGETS, Target, Verdict, bounds_of, judge

REPO = Path(__file__).resolve().parent.parent

_BOUNDS = (BOUND_LOOP_PER_TEST, BOUND_LOOP_PER_CLASS, BOUND_UVLOOP_PER_TEST)

_OK = "...\n----------------------------------------------------------------------\n"


def _run(
    trace: str = "",
    stderr: str = "",
    stdout: str = "",
    exit_code: int = 0,
    timed_out: bool = False,
    wall: float = 0.1,
) -> Run:
    """A finished run as the harness would record it, with made-up output and trace."""
    return Run(exit_code, wall, 20_000, 0.1, stdout, stderr, trace, timed_out)


def _series(*walls: float) -> Series:
    """A valid series of made-up runs with these wall times."""
    return Series([_run(wall=wall) for wall in walls])


def _unittest_output(ran: int, status: str = "OK") -> str:
    """What unittest prints on stderr after running ran tests."""
    return f"{_OK}Ran {ran} tests in 0.012s\n\n{status}\n"


class ValidateTest(unittest.TestCase):
    """A run counts only if the exit status, the runner's count and the trace all agree."""

    ids = ["c00.t0000", "c00.t0001", "c01.t0000"]

    def reasons(self, run: Run) -> list[str]:
        return validate(run, count_unittest, self.ids)

    def test_a_run_where_every_test_ran_once_is_valid(self) -> None:
        run = _run("c00.t0001\nc00.t0000\nc01.t0000\n", _unittest_output(3))
        self.assertEqual(self.reasons(run), [])

    def test_a_test_that_ran_twice_makes_the_run_invalid(self) -> None:
        run = _run("c00.t0000\nc00.t0001\nc00.t0001\nc01.t0000\n", _unittest_output(3))
        self.assertEqual(
            self.reasons(run), ["1 test(s) ran more than once (first: c00.t0001, 2 times)"]
        )

    def test_a_test_that_never_ran_makes_the_run_invalid(self) -> None:
        run = _run("c00.t0000\nc01.t0000\n", _unittest_output(3))
        self.assertEqual(self.reasons(run), ["1 test(s) never ran (first: c00.t0001)"])

    def test_an_empty_trace_names_every_missing_test(self) -> None:
        run = _run("", _unittest_output(3))
        self.assertEqual(self.reasons(run), ["3 test(s) never ran (first: c00.t0000)"])

    def test_an_id_nobody_expected_makes_the_run_invalid(self) -> None:
        run = _run("c00.t0000\nc00.t0001\nc01.t0000\nc09.t0009\n", _unittest_output(3))
        self.assertEqual(self.reasons(run), ["1 unexpected id(s) in the trace (first: c09.t0009)"])

    def test_the_runner_must_count_the_expected_number_of_tests(self) -> None:
        run = _run("c00.t0000\nc00.t0001\nc01.t0000\n", _unittest_output(4))
        self.assertEqual(self.reasons(run), ["the runner counted 4 tests, expected 3"])

    def test_a_runner_that_printed_no_count_makes_the_run_invalid(self) -> None:
        run = _run("c00.t0000\nc00.t0001\nc01.t0000\n", "")
        self.assertEqual(self.reasons(run), ["the runner printed no count of tests"])

    def test_a_failing_status_line_makes_the_run_invalid(self) -> None:
        run = _run(
            "c00.t0000\nc00.t0001\nc01.t0000\n",
            _unittest_output(3, "FAILED (failures=1)"),
            exit_code=1,
        )
        self.assertEqual(
            self.reasons(run),
            ["exit status 1: FAILED (failures=1)", "the runner reported 'FAILED (failures=1)'"],
        )

    def test_skipped_tests_are_not_a_pass(self) -> None:
        run = _run("c00.t0000\nc00.t0001\n", _unittest_output(3, "OK (skipped=1)"))
        self.assertEqual(
            self.reasons(run),
            ["the runner reported 'OK (skipped=1)'", "1 test(s) never ran (first: c01.t0000)"],
        )

    def test_a_timed_out_run_is_invalid_whatever_else_it_shows(self) -> None:
        run = _run("c00.t0000\nc00.t0001\nc01.t0000\n", _unittest_output(3), timed_out=True)
        self.assertEqual(self.reasons(run), ["timed out after 0 s"])


class CountTest(unittest.TestCase):
    """Each runner's own count of tests is read from the lines it prints."""

    def test_pytest_summary_with_only_passes(self) -> None:
        out = "....\n============ 2000 passed in 1.52s ============\n"
        self.assertEqual(count_pytest(out, ""), Count(2000))

    def test_pytest_summary_with_failures_and_warnings(self) -> None:
        out = "== 1 failed, 5 passed, 2 warnings, 1 error in 0.20s ==\n"
        self.assertEqual(count_pytest(out, ""), Count(5, "1 failed, 1 error"))

    def test_pytest_summary_with_a_duration_in_minutes(self) -> None:
        out = "=== 3 passed in 61.00s (0:01:01) ===\n"
        self.assertEqual(count_pytest(out, ""), Count(3))

    def test_pytest_without_a_summary_gives_no_count(self) -> None:
        self.assertIsNone(count_pytest("ImportError while loading conftest\n", ""))

    def test_unittest_count_and_status(self) -> None:
        self.assertEqual(count_unittest("", _unittest_output(1)), Count(1))
        self.assertEqual(
            count_unittest("", _unittest_output(2, "FAILED (errors=2)")),
            Count(2, "FAILED (errors=2)"),
        )


class RealRunTest(unittest.TestCase):
    """Generated suites run as real processes, and tampering with them is caught."""

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.directory = Path(tmp.name)
        self.ids = generate(self.directory, SUITES["trivial"], Shape(2, 2), "sync", None)
        self.framework = FRAMEWORKS[FLOOR]

    def measure(self, *args: str, timeout: float = 60) -> Run:
        """Run the interpreter with args in the suite's directory, as the harness would."""
        trace = self.directory / "trace.txt"
        return run_process(
            [sys.executable, *args],
            cwd=self.directory,
            env=child_env(self.framework, trace),
            trace_path=trace,
            output_dir=self.directory,
            timeout=timeout,
        )

    def run_suite(self) -> Run:
        """Run the generated suite with the floor's runner."""
        return self.measure(*self.framework.runner.args)

    def test_a_generated_suite_runs_valid_and_is_measured(self) -> None:
        run = self.run_suite()
        self.assertEqual(validate(run, count_unittest, self.ids), [], run.stderr)
        self.assertEqual(sorted(run.trace.split()), sorted(self.ids))
        self.assertGreater(run.max_rss_kib, 0)
        self.assertGreater(run.wall, 0)

    def test_peak_rss_is_the_childs_own_not_the_harnesses(self) -> None:
        ballast = bytearray(128 * 1024 * 1024)
        ballast[::4096] = b"x" * len(ballast[::4096])  # Touch every page: make it resident.
        run = self.measure("-I", "-S", "-c", "pass")
        del ballast
        self.assertEqual(run.exit_code, 0, run.stderr)
        self.assertGreater(run.max_rss_kib, 0)
        self.assertLess(run.max_rss_kib, 64 * 1024)

    def test_a_run_past_its_timeout_is_killed_and_invalid(self) -> None:
        run = self.measure("-c", "import time; time.sleep(60)", timeout=0.5)
        self.assertTrue(run.timed_out)
        self.assertEqual(run.exit_code, -9)
        [reason] = validate(run, count_unittest, self.ids)
        self.assertRegex(reason, r"^timed out after \d+ s$")

    def test_a_test_body_that_records_twice_is_caught(self) -> None:
        module = self.directory / "test_c01.py"
        source = module.read_text()
        line = '        mark("c01.t0001")\n'
        self.assertIn(line, source)
        module.write_text(source.replace(line, line * 2))
        run = self.run_suite()
        self.assertEqual(
            validate(run, count_unittest, self.ids),
            ["1 test(s) ran more than once (first: c01.t0001, 2 times)"],
        )

    def test_a_test_the_runner_never_found_is_caught(self) -> None:
        (self.directory / "test_c00.py").unlink()
        run = self.run_suite()
        self.assertEqual(
            validate(run, count_unittest, self.ids),
            ["the runner counted 2 tests, expected 4", "2 test(s) never ran (first: c00.t0000)"],
        )


class SmokeTest(unittest.TestCase):
    """`benchmarks/run.py --smoke` runs every suite end to end and every run is valid."""

    def test_smoke_run(self) -> None:
        done = subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / "run.py"), "--smoke"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        self.assertNotIn("INVALID", done.stdout)
        tables = _tables(done.stdout)
        self.assertEqual(sorted(tables), sorted(SUITES))
        for suite, rows in tables.items():
            with self.subTest(suite=suite):
                self.assertIn(FLOOR, rows)
                self.assertIn(ISOLATED, rows)
                for name, cells in rows.items():
                    self.assertRegex(cells[2], r"^\d+\.\d{3} s$", f"{suite}/{name}")
                    self.assertEqual(cells[4], "1", f"{suite}/{name}: one round")
        # Each variant of aiounit appears where it belongs, so its opt-in reached the run.
        self.assertIn("aiounit-nochecks", tables["checks"])
        self.assertNotIn("aiounit-nochecks", tables["trivial"])
        self.assertIn("aiounit-virtual", tables["sleepy"])
        self.assertIn("aiounit-class-virtual", tables["sleepy"])
        self.assertNotIn("aiounit-class", tables["sleepy"])
        checks = _section(done.stdout, "checks")
        self.assertRegex(checks, r"\n- aiounit \N{MINUS SIGN} aiounit-nochecks: [+-]\d+ ms in all")
        # The bounds run their bare base classes on trivial and startup only, and each of
        # their runs was valid: every generated test ran once, as its trace proves.
        for suite, rows in tables.items():
            with self.subTest(suite=suite):
                ran = [name for name in _BOUNDS if name in rows]
                self.assertEqual(ran, list(_BOUNDS) if suite in ("trivial", "startup") else [])
        # The targets table gives each bound's ratio beside the measured one, unjudged.
        targets = _targets(done.stdout)
        times = "\N{MULTIPLICATION SIGN}"
        for target, bound in (
            ("trivial: aiounit \N{DIVISION SIGN} unittest-sync", BOUND_LOOP_PER_TEST),
            ("trivial: aiounit-class \N{DIVISION SIGN} unittest-sync", BOUND_LOOP_PER_CLASS),
            (
                "trivial: aiounit-uvloop \N{DIVISION SIGN} aiounit",
                f"{BOUND_UVLOOP_PER_TEST} \N{DIVISION SIGN} {BOUND_LOOP_PER_TEST}",
            ),
        ):
            with self.subTest(target=target):
                row = targets[f"{target}, wall time"]
                self.assertRegex(row["bound"], rf"^\d+\.\d\d{times} \({re.escape(bound)}\)$")
                self.assertEqual(row["result"], "not judged (smoke run)")
        unbound = targets["trivial: aiounit \N{DIVISION SIGN} isolated, wall time"]
        self.assertEqual(unbound["bound"], "\N{EN DASH}")


class GenerateTest(unittest.TestCase):
    """Each framework's opt-ins reach the code generated for it."""

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.directory = Path(tmp.name)

    def source(self, suite: str, flavor: str, **options: bool) -> str:
        """The first module of suite generated in flavor."""
        generate(self.directory, SUITES[suite], Shape(1, 2), flavor, None, **options)
        return (self.directory / "test_c00.py").read_text()

    def test_the_sleepy_floor_leaves_the_sleeps_out(self) -> None:
        floor = self.source("sleepy", "sync")
        self.assertNotIn("time.sleep", floor)
        self.assertNotIn("import time", floor)
        self.assertIn("await asyncio.sleep(0.05)", self.source("sleepy", "aiounit"))

    def test_the_sleeping_floor_of_sleepy_does_its_sleeps(self) -> None:
        floor = self.source("sleepy", "sync", floor_sleeps=True)
        self.assertIn("    time.sleep(0.05)\n", floor)
        self.assertIn("import time", floor)
        self.assertEqual(FRAMEWORKS[SLEEPING_FLOOR].suites, ("sleepy",))
        self.assertTrue(FRAMEWORKS[SLEEPING_FLOOR].floor_sleeps)
        with self.assertRaisesRegex(ValueError, "floor_sleeps is for the sync flavour"):
            self.source("sleepy", "aiounit", floor_sleeps=True)

    def test_the_class_fixture_floor_still_sleeps_in_its_class_setup(self) -> None:
        self.assertIn("time.sleep(0.05)", self.source("class-fixture", "sync"))

    def test_concurrent_is_an_aiounit_setting_of_the_class(self) -> None:
        self.assertIn("    concurrent = True\n", self.source("sleepy", "aiounit", concurrent=True))
        self.assertNotIn("concurrent", self.source("sleepy", "aiounit"))
        with self.assertRaisesRegex(ValueError, "concurrent is an aiounit setting"):
            self.source("sleepy", "sync", concurrent=True)

    def test_every_flavour_of_the_cpu_suite_computes_in_each_test(self) -> None:
        for flavor in ("sync", "isolated", "aiounit", "pytest-asyncio"):
            with self.subTest(flavor=flavor):
                source = self.source("cpu", flavor)
                self.assertEqual(source.count("_compute(0.01)"), 2)
                self.assertIn("import time", source)
                compile(source, "test_c00.py", "exec")

    def test_the_cpu_suite_takes_its_cpu_time_under_two_workers(self) -> None:
        framework = FRAMEWORKS["aiounit-j2"]
        ids = generate(self.directory, SUITES["cpu"], Shape(2, 3), framework.flavor, None)
        trace = self.directory / "trace.txt"
        done = subprocess.run(
            [sys.executable, *framework.runner.args],
            cwd=self.directory,
            env=child_env(framework, trace),
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Ran 6 tests", done.stderr)
        self.assertEqual(sorted(trace.read_text().split()), sorted(ids))

    def test_virtual_time_is_only_an_aiounit_setting(self) -> None:
        with self.assertRaisesRegex(ValueError, "virtual time is an aiounit setting"):
            self.source("sleepy", "isolated", virtual_time=True)

    def test_virtual_time_puts_every_test_on_a_virtual_clock(self) -> None:
        framework = FRAMEWORKS["aiounit-class-virtual"]
        generate(
            self.directory,
            SUITES["sleepy"],
            Shape(2, 2),
            framework.flavor,
            framework.loop_scope,
            virtual_time=framework.virtual_time,
        )
        # aiounit sets a test's clock only when it runs on virtual time; the trace proves
        # that each test body ran.
        script = (
            "import unittest\n"
            "tests = list(unittest.TestLoader().discover('.'))\n"
            "cases = [t for module in tests for cls in module for t in cls]\n"
            "result = unittest.TestResult()\n"
            "unittest.TestSuite(tests).run(result)\n"
            "print(result.wasSuccessful(), sorted(type(t).loop_scope for t in cases),\n"
            "      [hasattr(t, 'clock') for t in cases])\n"
        )
        trace = self.directory / "trace.txt"
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=self.directory,
            env=child_env(framework, trace),
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(
            done.stdout.strip(),
            "True ['class', 'class', 'class', 'class'] [True, True, True, True]",
        )
        self.assertEqual(sorted(trace.read_text().split()), Shape(2, 2).ids())


class BareFlavourTest(unittest.TestCase):
    """The bounds' bare base classes: a loop per test or per class, and nothing else."""

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.directory = Path(tmp.name)

    def generate(self, loop_scope: str | None, suite: str = "trivial") -> str:
        """The first module of suite in the bare flavour with loop_scope."""
        generate(self.directory, SUITES[suite], Shape(1, 2), "bare", loop_scope)
        return (self.directory / "test_c00.py").read_text()

    def helper(self, loop: str | None = None) -> ModuleType:
        """The generated benchbare module, imported with BENCH_BARE_LOOP set to loop."""
        generate(self.directory, SUITES["trivial"], Shape(1, 1), "bare", "test")
        path = self.directory / "benchbare.py"
        spec = importlib.util.spec_from_file_location(f"benchbare_{id(self)}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        with mock.patch.dict(os.environ):
            os.environ.pop(BARE_LOOP_ENV, None)
            if loop:
                os.environ[BARE_LOOP_ENV] = loop
            spec.loader.exec_module(module)
        return module

    def run_two_tests(self, base: type) -> tuple[list[asyncio.AbstractEventLoop], list[bool]]:
        """Run a class of two tests on base; the loops they ran on, and whether in a task."""
        loops: list[asyncio.AbstractEventLoop] = []
        in_task: list[bool] = []

        class Two(base):  # type: ignore[misc, valid-type]
            async def test_a(self) -> None:
                await asyncio.sleep(0)
                loops.append(asyncio.get_running_loop())
                in_task.append(asyncio.current_task() is not None)

            async def test_b(self) -> None:
                loops.append(asyncio.get_running_loop())
                in_task.append(asyncio.current_task() is not None)
                self.assertEqual(1 + 1, 2)

        result = unittest.TestResult()
        unittest.TestLoader().loadTestsFromTestCase(Two).run(result)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(result.testsRun, 2)
        return loops, in_task

    def test_each_scope_derives_from_its_base(self) -> None:
        self.assertIn("class TestC00(benchbare.LoopPerTest):", self.generate("test"))
        self.assertIn("class TestC00(benchbare.LoopPerClass):", self.generate("class"))
        self.assertTrue((self.directory / "benchbare.py").exists())

    def test_the_bare_flavour_needs_a_scope_and_has_no_class_setup(self) -> None:
        with self.assertRaisesRegex(ValueError, "the bare flavour needs a loop scope"):
            self.generate(None)
        with self.assertRaisesRegex(ValueError, "no class setup, which class-fixture needs"):
            self.generate("test", "class-fixture")

    def test_a_loop_per_test_is_made_for_each_test_and_closed(self) -> None:
        loops, in_task = self.run_two_tests(self.helper().LoopPerTest)
        self.assertEqual(in_task, [True, True])
        self.assertIsNot(loops[0], loops[1])
        self.assertEqual([loop.is_closed() for loop in loops], [True, True])
        # asyncio's selector loops, made by aiounit's factory (uvloop's are not these).
        self.assertTrue(all(isinstance(loop, asyncio.SelectorEventLoop) for loop in loops))

    def test_a_loop_per_class_is_shared_and_closed_after_the_class(self) -> None:
        loops, in_task = self.run_two_tests(self.helper().LoopPerClass)
        self.assertEqual(in_task, [True, True])
        self.assertIs(loops[0], loops[1])
        self.assertTrue(loops[0].is_closed())

    def test_the_uvloop_bound_runs_on_uvloop(self) -> None:
        self.assertEqual(FRAMEWORKS[BOUND_UVLOOP_PER_TEST].environment(), {BARE_LOOP_ENV: "uvloop"})
        loops, _ = self.run_two_tests(self.helper("uvloop").LoopPerTest)
        self.assertEqual([type(loop).__module__ for loop in loops], ["uvloop", "uvloop"])
        self.assertIsNot(loops[0], loops[1])


class ChecksOffTest(unittest.TestCase):
    """aiounit-nochecks turns off every check aiounit has, read from aiounit itself."""

    def test_the_environment_names_every_check(self) -> None:
        env = all_checks_off()
        self.assertEqual(list(env), [CHECKS_ENV])
        pairs = dict(item.split("=") for item in env[CHECKS_ENV].split(","))
        self.assertEqual(pairs, {check: "off" for check in DEFAULT_LEVELS})

    def test_a_test_that_fails_a_check_passes_with_every_check_off(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        directory = Path(tmp.name)
        ids = generate(directory, SUITES["checks"], Shape(1, 2), "aiounit", None)
        module = directory / "test_c00.py"
        line = '        mark("c00.t0001")\n'
        source = module.read_text()
        self.assertIn(line, source)
        # A coroutine never awaited fails the unawaited-coroutine check, an error by default.
        module.write_text(source.replace(line, line + "        asyncio.sleep(1)\n"))
        outcomes = {}
        for name in ("aiounit", "aiounit-nochecks"):
            framework = FRAMEWORKS[name]
            trace = directory / "trace.txt"
            run = run_process(
                [sys.executable, *framework.runner.args],
                cwd=directory,
                env=child_env(framework, trace),
                trace_path=trace,
                output_dir=directory,
                timeout=60,
            )
            outcomes[name] = validate(run, count_unittest, ids), run.stderr
        reasons, stderr = outcomes["aiounit"]
        self.assertIn("the runner reported 'FAILED (errors=1)'", reasons, stderr)
        self.assertIn("[unawaited-coroutine]", stderr)
        reasons, stderr = outcomes["aiounit-nochecks"]
        self.assertEqual(reasons, [], stderr)


class SelectionTest(unittest.TestCase):
    """Which frameworks run which suite, and how many rounds a slow one gets."""

    def runs(self, suite: str) -> list[str]:
        return [f.name for f in frameworks_for(SUITES[suite], list(FRAMEWORKS.values()))]

    def test_every_framework_names_only_known_suites(self) -> None:
        for framework in FRAMEWORKS.values():
            with self.subTest(framework=framework.name):
                self.assertLessEqual(set(framework.suites), set(SUITES))

    def test_the_checks_suite_compares_aiounit_with_and_without_checks(self) -> None:
        self.assertEqual(
            self.runs("checks"),
            [
                FLOOR,
                ISOLATED,
                "aiounit",
                "aiounit-class",
                "aiounit-nochecks",
                "aiounit-class-nochecks",
            ],
        )

    def test_workers_are_measured_against_the_same_runner_and_pytest_xdist(self) -> None:
        self.assertEqual(self.runs("cpu"), [FLOOR, ISOLATED, "aiounit-main", "aiounit-j2"])
        self.assertIn("aiounit-j2", self.runs("trivial"))
        fixture = self.runs("class-fixture")
        self.assertIn("aiounit-j2", fixture)
        self.assertIn("pytest-xdist", fixture)
        self.assertNotIn("pytest-xdist", self.runs("trivial"))
        # Other pytest runs block the plugin, as if it were not installed.
        self.assertIn("no:xdist", FRAMEWORKS["pytest-asyncio"].runner.args)
        self.assertNotIn("no:xdist", FRAMEWORKS["pytest-xdist"].runner.args)

    def test_sleepy_runs_the_fake_clocks_and_one_real_time_run_of_each_kind(self) -> None:
        self.assertEqual(
            self.runs("sleepy"),
            [
                FLOOR,
                ISOLATED,
                SLEEPING_FLOOR,
                "pytest-asyncio",
                "aiounittest",
                "pytest-asyncio-cooperative",
                "looptime",
                "aiounit",
                "aiounit-virtual",
                "aiounit-class-virtual",
                "aiounit-concurrent",
            ],
        )

    def test_the_bounds_run_trivial_and_startup(self) -> None:
        for suite in SUITES:
            with self.subTest(suite=suite):
                ran = [name for name in self.runs(suite) if name in _BOUNDS]
                self.assertEqual(ran, list(_BOUNDS) if suite in ("trivial", "startup") else [])
        for name in _BOUNDS:
            self.assertFalse(FRAMEWORKS[name].peer, name)

    def test_a_targets_bound_runs_with_its_framework(self) -> None:
        self.assertEqual(bounds_of(["aiounit-class"]), {BOUND_LOOP_PER_CLASS})
        self.assertEqual(
            bounds_of(["aiounit-uvloop"]), {BOUND_UVLOOP_PER_TEST, BOUND_LOOP_PER_TEST}
        )
        self.assertEqual(bounds_of(["aiounit-virtual", "pytest-asyncio"]), set())

    def test_references_run_every_suite(self) -> None:
        for suite in SUITES:
            with self.subTest(suite=suite):
                self.assertEqual(self.runs(suite)[:2], [FLOOR, ISOLATED])

    def test_a_slow_framework_stops_after_its_slow_rounds(self) -> None:
        self.assertFalse(_enough(_series(12.0), 5.0, 2))
        self.assertTrue(_enough(_series(12.0, 11.0), 5.0, 2))

    def test_a_fast_framework_runs_every_round(self) -> None:
        self.assertFalse(_enough(_series(0.2, 0.2, 0.2), 5.0, 2))

    def test_without_slow_rounds_nobody_stops_early(self) -> None:
        self.assertFalse(_enough(_series(12.0, 11.0, 11.0), None, None))


class TargetsTest(unittest.TestCase):
    """Targets are judged from medians; some take the suite's sleeps off the reference."""

    def test_a_plain_ratio_of_medians(self) -> None:
        [verdict] = [
            v
            for v in judge(
                {
                    "sleepy": {
                        "aiounit-virtual": _series(0.3, 0.1, 0.2),
                        FLOOR: _series(0.1, 0.2, 0.1),
                    }
                }
            )
            if v.target.describe() == "sleepy: aiounit-virtual \N{DIVISION SIGN} "
            f"{FLOOR}, wall time"
        ]
        self.assertAlmostEqual(verdict.ratio or 0, 2.0)
        self.assertIs(verdict.passed, False)

    def test_less_sleeps_takes_the_sleeps_off_the_reference(self) -> None:
        [target] = [t for t in TARGETS if t.less_sleeps]
        results = {target.suite: {target.framework: _series(0.12), target.reference: _series(0.6)}}
        [verdict] = [v for v in judge(results, {target.suite: 0.5}) if v.target is target]
        self.assertAlmostEqual(verdict.ratio or 0, 1.2)
        self.assertIs(verdict.passed, False)
        self.assertIn(f"({target.reference} \N{MINUS SIGN} sleeps)", target.describe())

    def test_plus_seconds_adds_the_unavoidable_sleeps_to_the_reference(self) -> None:
        [target] = [t for t in TARGETS if t.plus_seconds]
        self.assertAlmostEqual(target.plus_seconds, 0.5)  # 10 classes, one 0.05 s sleep each
        results = {target.suite: {target.framework: _series(1.2), target.reference: _series(0.1)}}
        [verdict] = [v for v in judge(results, {}) if v.target is target]
        self.assertAlmostEqual(verdict.ratio or 0, 2.0)
        self.assertIs(verdict.passed, True)
        self.assertIn(f"({target.reference} + 0.50 s)", target.describe())

    def test_a_reference_no_longer_than_its_sleeps_gives_no_ratio(self) -> None:
        target = Target("class-fixture", "aiounit-virtual", "aiounit", 1.1, less_sleeps=True)
        results = {"class-fixture": {"aiounit-virtual": _series(0.1), "aiounit": _series(0.4)}}
        [verdict] = judge(results, {"class-fixture": 0.5}, [target])
        self.assertIsNone(verdict.ratio)
        self.assertIsNone(verdict.passed)
        self.assertEqual(verdict.missing, "aiounit took no longer than the sleeps of class-fixture")

    def test_a_target_without_a_measurement_says_which_is_missing(self) -> None:
        [verdict] = [
            v
            for v in judge({})
            if v.target.framework == "aiounit-virtual" and v.target.reference == "looptime"
        ]
        self.assertEqual(verdict.missing, "no valid measurement of aiounit-virtual, looptime")


class BoundTest(unittest.TestCase):
    """A target's bound is judged beside it: a limit below the bound cannot be met."""

    def verdict(self, framework: str, results: dict[str, Series]) -> Verdict:
        """The verdict of the trivial target of framework over the floor, from results."""
        [verdict] = [
            v
            for v in judge({"trivial": results})
            if (v.target.suite, v.target.framework, v.target.reference)
            == ("trivial", framework, FLOOR)
        ]
        return verdict

    def test_a_limit_below_the_bounds_ratio_is_below_the_bound(self) -> None:
        verdict = self.verdict(
            "aiounit-class",
            {
                "aiounit-class": _series(0.30),
                FLOOR: _series(0.10),
                BOUND_LOOP_PER_CLASS: _series(0.18, 0.17, 0.19),
            },
        )
        self.assertEqual(verdict.target.limit, 1.5)
        self.assertAlmostEqual(verdict.ratio or 0, 3.0)
        self.assertAlmostEqual(verdict.bound_ratio or 0, 1.8)
        self.assertIs(verdict.passed, False)
        self.assertTrue(verdict.below_bound)

    def test_a_limit_above_the_bounds_ratio_is_not_below_it(self) -> None:
        verdict = self.verdict(
            "aiounit",
            {"aiounit": _series(0.30), FLOOR: _series(0.10), BOUND_LOOP_PER_TEST: _series(0.19)},
        )
        self.assertAlmostEqual(verdict.bound_ratio or 0, 1.9)
        self.assertIs(verdict.passed, False)
        self.assertFalse(verdict.below_bound)

    def test_an_unmeasured_bound_gives_no_ratio_and_no_mark(self) -> None:
        verdict = self.verdict("aiounit", {"aiounit": _series(0.2), FLOOR: _series(0.1)})
        self.assertAlmostEqual(verdict.ratio or 0, 2.0)
        self.assertIsNone(verdict.bound_ratio)
        self.assertEqual(verdict.bound_missing, f"no valid measurement of {BOUND_LOOP_PER_TEST}")
        self.assertFalse(verdict.below_bound)

    def test_uvloops_bound_is_a_ratio_of_two_bounds(self) -> None:
        [target] = [t for t in TARGETS if t.framework == "aiounit-uvloop"]
        results = {
            "trivial": {
                "aiounit-uvloop": _series(0.8),
                "aiounit": _series(0.4),
                BOUND_UVLOOP_PER_TEST: _series(0.33),
                BOUND_LOOP_PER_TEST: _series(0.2),
            }
        }
        [verdict] = judge(results, targets=[target])
        self.assertAlmostEqual(verdict.ratio or 0, 2.0)
        self.assertAlmostEqual(verdict.bound_ratio or 0, 1.65)
        self.assertTrue(verdict.below_bound)
        self.assertEqual(
            target.describe_bound(),
            f"{BOUND_UVLOOP_PER_TEST} \N{DIVISION SIGN} {BOUND_LOOP_PER_TEST}",
        )

    def test_a_ratio_of_two_bounds_rules_out_only_limits_up_to_one(self) -> None:
        # Adding the same cost to both runs brings a ratio of 1.65 towards 1: a limit of 1.5
        # is reachable by a framework that costs more, one of 1.0 or below is not.
        results = {"trivial": {"a": _series(0.8), "b": _series(0.4), "c": _series(0.33)}}
        results["trivial"]["d"] = _series(0.2)
        marks = {}
        for limit in (1.5, 1.0, 0.9):
            target = Target("trivial", "a", "b", limit, bound="c", bound_reference="d")
            [verdict] = judge(results, targets=[target])
            self.assertAlmostEqual(verdict.bound_ratio or 0, 1.65)
            marks[limit] = verdict.below_bound
        self.assertEqual(marks, {1.5: False, 1.0: True, 0.9: True})
        # Below 1 the bounds' ratio is the least a framework reaches, as for a single bound.
        results["trivial"]["c"] = _series(0.16)
        for limit, below in ((0.7, True), (0.8, False), (0.9, False)):
            target = Target("trivial", "a", "b", limit, bound="c", bound_reference="d")
            [verdict] = judge(results, targets=[target])
            self.assertEqual(verdict.below_bound, below, limit)

    def test_a_bound_over_the_same_reference_takes_its_adjustments(self) -> None:
        target = Target("sleepy", "a", "ref", 2.0, plus_seconds=0.5, bound="b")
        results = {"sleepy": {"a": _series(1.2), "ref": _series(0.1), "b": _series(0.9)}}
        [verdict] = judge(results, targets=[target])
        self.assertAlmostEqual(verdict.bound_ratio or 0, 1.5)
        self.assertFalse(verdict.below_bound)

    def test_a_bound_reference_needs_a_bound_and_no_adjustments(self) -> None:
        with self.assertRaisesRegex(ValueError, "a bound_reference needs a bound"):
            Target("trivial", "a", "ref", 1.0, bound_reference="c")
        with self.assertRaisesRegex(ValueError, "a ratio of two bounds takes no sleeps"):
            Target("trivial", "a", "ref", 1.0, plus_seconds=1.0, bound="b", bound_reference="c")

    def test_the_report_gives_the_bound_and_marks_a_limit_below_it(self) -> None:
        results = {
            "trivial": {
                "aiounit": _series(0.20),
                "aiounit-class": _series(0.30),
                FLOOR: _series(0.10),
                BOUND_LOOP_PER_TEST: _series(0.19),
                BOUND_LOOP_PER_CLASS: _series(0.177),
            }
        }
        verdicts = [v for v in judge(results) if v.target.reference == FLOOR]
        rows = _targets(render([], verdicts, {}, []))
        times = "\N{MULTIPLICATION SIGN}"
        row = rows[f"trivial: aiounit-class \N{DIVISION SIGN} {FLOOR}, wall time"]
        self.assertEqual(row["measured"], f"3.00{times}")
        self.assertEqual(row["limit"], f"≤ 1.5{times}")
        self.assertEqual(row["bound"], f"1.77{times} ({BOUND_LOOP_PER_CLASS})")
        self.assertEqual(row["result"], "**MISS** (limit below bound)")
        row = rows[f"trivial: aiounit \N{DIVISION SIGN} {FLOOR}, wall time"]
        self.assertEqual(row["bound"], f"1.90{times} ({BOUND_LOOP_PER_TEST})")
        self.assertEqual(row["result"], "PASS")
        row = rows[f"sleepy: aiounit-virtual \N{DIVISION SIGN} {FLOOR}, wall time"]
        self.assertEqual(row["bound"], "\N{EN DASH}")
        self.assertTrue(row["result"].startswith("NOT MEASURED: "), row)
        # A smoke run shows the same ratios but judges nothing, not even the bound.
        rows = _targets(render([], verdicts, {}, [], judged=False))
        row = rows[f"trivial: aiounit-class \N{DIVISION SIGN} {FLOOR}, wall time"]
        self.assertEqual(row["bound"], f"1.77{times} ({BOUND_LOOP_PER_CLASS})")
        self.assertEqual(row["result"], "not judged (smoke run)")


class ReportTest(unittest.TestCase):
    """The report gives the runs of each framework and the differences a suite asks for."""

    def test_differences_per_test_and_runs_per_framework(self) -> None:
        suite = SUITES["checks"]
        shape = Shape(2, 1000)
        series = {
            FLOOR: _series(0.1, 0.1, 0.1),
            ISOLATED: _series(1.0, 1.0),
            "aiounit": _series(0.33, 0.35, 0.30),
            "aiounit-nochecks": _series(0.25, 0.23, 0.24),
            "aiounit-class": Series(invalid="exit status 1"),
        }
        text = render([SuiteOutcome(suite, shape, 3, series)], [], {}, [])
        tables = _tables(text)
        self.assertEqual(tables["checks"]["aiounit"][4], "3")
        self.assertEqual(tables["checks"][ISOLATED][4], "2")
        self.assertIn(
            "- aiounit \N{MINUS SIGN} aiounit-nochecks: +90 ms in all, +45.0 \N{MICRO SIGN}s per "
            "test (1.38\N{MULTIPLICATION SIGN})",
            text,
        )
        # A pair with an invalid member is left out rather than shown without its numbers.
        self.assertNotIn("aiounit-class \N{MINUS SIGN}", text)

    def test_the_heading_says_how_many_rounds_a_slow_framework_got(self) -> None:
        suite = SUITES["sleepy"]
        outcome = SuiteOutcome(suite, Shape(10, 20), 5, {FLOOR: _series(0.1)}, 2, 5.0)
        text = render([outcome], [], {}, [])
        self.assertIn("5 rounds (2 for a framework whose first run took over 5.0 s)", text)
        self.assertIn("The floor (`unittest-sync`) leaves them out.", text)


def _section(report: str, suite: str) -> str:
    """The text of one suite's section of the report, from its heading to the next."""
    start = report.index(f"### {suite}: ")
    end = report.find("\n### ", start + 1)
    return report[start:] if end < 0 else report[start:end]


def _targets(report: str) -> dict[str, dict[str, str]]:
    """target (without its footnote mark) -> its row of the targets table, by column name."""
    lines = report[report.index("### Targets in this run") :].splitlines()
    header = next(line for line in lines if line.startswith("| target "))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    rows = {}
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("| "):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[re.sub(r" \(\d+\)$", "", cells[0])] = dict(zip(columns, cells, strict=True))
    return rows


def _tables(report: str) -> dict[str, dict[str, list[str]]]:
    """suite name -> framework name -> the cells of its row, from the report's tables."""
    tables: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in report.splitlines():
        heading = re.match(r"^### (\S+): ", line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
        elif line.startswith("### "):
            current = None
        elif current is not None and line.startswith("| ") and not line.startswith("| framework"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            current[cells[0]] = cells
    return tables


if __name__ == "__main__":
    unittest.main()
