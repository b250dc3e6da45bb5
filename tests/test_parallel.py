"""-j: worker processes report exactly what a serial run reports, survive crashes and Ctrl-C."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import signal
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

from aiounit.loader import TestLoader
from aiounit.pool import exit_status as _exit_status
from aiounit.pool import fork_is_safe
from aiounit.result import TestResult
from aiounit.shards import units_of
from aiounit.worker_main import load_unit
from aiounit.workers import ParallelSuite
from tests.cli_support import aiounit, default_sigint, example, run_python, start_python
from tests.test_shards import EXAMPLE_MODULES, loaded

TASK_NAMES = re.compile(r"Task-\d+")
TIMES = re.compile(r"\d+\.\d+s\b")


def normal_text(text: str) -> str:
    """Output without what differs between any two runs: times and task numbers.

    asyncio numbers tasks per process, so a test that names its task shows another
    number when fewer tests ran before it in the same process.
    """
    return TASK_NAMES.sub("Task-N", TIMES.sub("X.XXXs", text))


def normal_junit(path: Path) -> str:
    root = ET.parse(path).getroot()
    for element in root.iter():
        for name in ("time", "timestamp"):
            element.attrib.pop(name, None)
    return normal_text(ET.tostring(root, encoding="unicode"))


def normal_json(path: Path) -> dict[str, object]:
    document = json.loads(normal_text(path.read_text(encoding="utf-8")))
    for key in ("created", "duration"):
        document.pop(key)
    for test in document["tests"]:
        test.pop("duration")
    return document


def worker_pids(path: Path) -> set[int]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {int(line.split()[0]) for line in lines}


_STARTS_A_PROCESS = """
import multiprocessing
import unittest

import aiounit


class StartsProcesses(aiounit.AsyncTestCase):
    async def test_a_child_process_of_its_own(self):
        child = multiprocessing.get_context("spawn").Process(target=abs, args=(-1,))
        child.start()
        child.join(60)
        self.assertEqual(child.exitcode, 0)


class Sync(unittest.TestCase):
    def test_next(self):
        pass
"""


class ProcessesOfTheirOwnTests(unittest.TestCase):
    def test_a_test_in_a_worker_can_start_processes_as_it_can_serially(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "test_procs.py").write_text(_STARTS_A_PROCESS, encoding="utf-8")
            done = aiounit("discover", "-v", "-j", "2", cwd=Path(tmp))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("test_a_child_process_of_its_own", done.stderr)
        self.assertIn("2 passed, 0 failed", done.stderr)


_NOTES_WHERE_IT_RUNS = """
import _thread
import multiprocessing
import os
import signal
import threading
import time
import unittest

IMPORTED_IN = os.getpid()
# A thread of the main process that lives for the whole run, as a library may start one;
# "hidden": one that the threading module does not know of, as a C extension's.
if os.environ.get("MAIN_THREAD") == "python":
    threading.Thread(target=threading.Event().wait, daemon=True).start()
elif os.environ.get("MAIN_THREAD") == "hidden":
    _thread.start_new_thread(time.sleep, (3600,))


class Notes(unittest.TestCase):
    def test_note(self):
        parent = multiprocessing.parent_process()
        handler = signal.getsignal(signal.SIGINT)
        fields = [os.getpid(), IMPORTED_IN, parent.pid, handler is signal.default_int_handler]
        with open(os.environ["NOTES"], "a", encoding="utf-8") as file:
            file.write(" ".join(map(str, fields)) + "\\n")


class MoreNotes(Notes):
    pass
"""


class StartMethodTests(unittest.TestCase):
    def notes(
        self, main_thread: str, *args: str, env: dict[str, str] | None = None
    ) -> list[list[str]]:
        """Run the tests that note where they run with -c -j 2; one row per test."""
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "test_where.py").write_text(_NOTES_WHERE_IT_RUNS, encoding="utf-8")
            notes = Path(tmp) / "notes"
            env = {"NOTES": str(notes), "MAIN_THREAD": main_thread, **(env or {})}
            done = aiounit("discover", "-c", "-j", "2", *args, cwd=Path(tmp), env=env)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn("2 passed, 0 failed", done.stderr)
            # Run under -W error: no warning about forking a process that has threads.
            self.assertNotIn("Warning", done.stderr)
            rows = [line.split() for line in notes.read_text(encoding="utf-8").splitlines()]
        self.assertEqual(len(rows), 2)
        self.assertEqual(len({pid for pid, *_ in rows}), 2, "two workers")
        return rows

    def test_workers_are_forked_from_a_main_process_without_threads(self) -> None:
        for pid, imported_in, parent, default_handler in self.notes(""):
            # The worker did not import the test module: it came with the main process.
            self.assertNotEqual(pid, imported_in)
            self.assertEqual(imported_in, parent)
            # -c's Ctrl-C handler stayed in the main process: the worker has Python's.
            self.assertEqual(default_handler, "True")

    def test_workers_are_spawned_when_the_main_process_has_a_thread(self) -> None:
        for main_thread in ("python", "hidden"):
            with self.subTest(main_thread=main_thread):
                for pid, imported_in, parent, default_handler in self.notes(main_thread):
                    # A fresh interpreter: the worker imported the test module itself.
                    self.assertEqual(pid, imported_in)
                    self.assertNotEqual(parent, pid)
                    self.assertEqual(default_handler, "True")

    def test_worker_start_spawn_starts_fresh_interpreters_even_without_threads(self) -> None:
        runs = {
            "--worker-start spawn": self.notes("", "--worker-start", "spawn"),
            "AIOUNIT_WORKER_START=spawn": self.notes("", env={"AIOUNIT_WORKER_START": "spawn"}),
        }
        for how, rows in runs.items():
            with self.subTest(how=how):
                for pid, imported_in, parent, default_handler in rows:
                    self.assertEqual(pid, imported_in)  # it imported the test module itself
                    self.assertNotEqual(parent, pid)
                    self.assertEqual(default_handler, "True")

    def test_a_bad_worker_start_is_a_usage_error(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            bad = aiounit("discover", "-j", "2", "--worker-start", "fork", cwd=Path(tmp))
            env = aiounit("discover", "-j", "2", cwd=Path(tmp), env={"AIOUNIT_WORKER_START": "x"})
        self.assertEqual(bad.returncode, 2, bad.stderr)
        self.assertIn("--worker-start: invalid choice: 'fork'", bad.stderr)
        self.assertEqual(env.returncode, 2, env.stderr)
        self.assertIn("AIOUNIT_WORKER_START", env.stderr)

    def test_forking_is_not_safe_while_another_thread_runs(self) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        try:
            self.assertFalse(fork_is_safe())
        finally:
            stop.set()
            thread.join()


class SameReportsTests(unittest.TestCase):
    def test_serial_and_two_workers_report_the_same(self) -> None:
        with example("parallel") as path:
            runs = {}
            for name, extra in (("serial", ()), ("parallel", ("-j", "2"))):
                env = {"EXPECT_TIMEOUT": "30", "PIDS_FILE": str(path / f"{name}.pids")}
                runs[name] = aiounit(
                    "discover", "-b", "--timeout", "30", "--junit-xml", f"{name}.xml",
                    "--json", f"{name}.json", *extra, cwd=path, env=env,
                )  # fmt: skip
            serial, parallel = runs["serial"], runs["parallel"]
            self.assertEqual(serial.returncode, 1, serial.stderr)
            self.assertEqual(parallel.returncode, 1, parallel.stderr)
            self.assertEqual(normal_text(parallel.stderr), normal_text(serial.stderr))
            # Output captured under -b is echoed for the failing test, in its place.
            self.assertEqual(parallel.stdout, serial.stdout)
            self.assertIn("output of test_2_fails", parallel.stdout)
            self.assertEqual(normal_junit(path / "parallel.xml"), normal_junit(path / "serial.xml"))
            parallel_json = normal_json(path / "parallel.json")
            self.assertEqual(parallel_json, normal_json(path / "serial.json"))
            serial_pids = worker_pids(path / "serial.pids")
            parallel_pids = worker_pids(path / "parallel.pids")
        # What the reports hold: every outcome, the fixture error, the load error.
        outcomes = {test["id"]: test["outcome"] for test in parallel_json["tests"]}  # type: ignore[index]
        self.assertEqual(outcomes["test_par_alpha.Served.test_2_fails"], "failed")
        self.assertEqual(outcomes["test_par_alpha.Served.test_4_subtests (i=1)"], "failed")
        self.assertEqual(
            outcomes["test_par_alpha.Served.test_5_expected_failure"], "expected-failure"
        )
        self.assertEqual(outcomes["setUpClass (test_par_gamma.BrokenFixture)"], "error")
        self.assertEqual(outcomes["unittest.loader._FailedTest.test_par_delta"], "error")
        self.assertEqual(outcomes["test_par_gamma.Async"], "error")
        self.assertEqual(outcomes["test_par_beta.Second.test_same_process_as_first"], "passed")
        self.assertIn("11 passed, 3 failed, 4 errors", parallel.stderr)
        # The serial run ran everything in one process; -j 2 in two others.
        self.assertEqual(len(serial_pids), 1)
        self.assertEqual(len(parallel_pids), 2)
        self.assertTrue(parallel_pids.isdisjoint(serial_pids))

    def test_in_process_the_records_come_back_in_serial_order(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            pids = Path(tmp) / "pids"
            os.environ["PIDS_FILE"] = str(pids)
            self.addCleanup(os.environ.pop, "PIDS_FILE")
            with loaded("parallel", *EXAMPLE_MODULES) as suite:
                units = units_of(suite)
                result = TestResult()
                result.buffer = True
                out, err = io.StringIO(), io.StringIO()
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    ParallelSuite(units, 2)(result)
                ids = [test_id for unit in units for test_id in unit.ids]
            self.assertNotIn(os.getpid(), worker_pids(pids))
        recorded = [record.id for record in result.records if record.kind != "fixture"]
        # Subtests and fixture errors aside, one record per test, in the order of the suite.
        tests = [i for i in recorded if "(i=" not in i]
        self.assertEqual(
            tests,
            [
                i
                for i in ids
                if i
                not in (
                    "test_par_gamma.BrokenFixture.test_never_runs",
                    "test_par_alpha.Served.test_4_subtests",
                )
            ],
        )
        self.assertEqual(result.testsRun, 19)
        self.assertEqual((len(result.failures), len(result.errors)), (3, 4))
        self.assertFalse(result.wasSuccessful())
        # Under -b, output stays with its test, and unittest's echo of a failing test's
        # output is printed here, in the test's place.
        passing = next(r for r in result.records if r.name == "test_8_prints_and_passes")
        self.assertEqual(passing.stdout, "output of a passing test\n")
        self.assertEqual(out.getvalue(), "\nStdout:\noutput of test_2_fails\n")
        self.assertEqual(err.getvalue(), "\nStderr:\nerror output of test_2_fails\n")
        leak = next(r for r in result.records if r.name == "test_7_leaks_a_task")
        self.assertEqual([f["check"] for f in leak.findings], ["leaked-task"])


class CrashTests(unittest.TestCase):
    def crash(self, modes: str, crashed: list[str]) -> str:
        with example("crashing") as path:
            run = aiounit(
                "-v", "-j", "2", "--junit-xml", "r.xml", cwd=path, env={"CRASH_MODES": modes}
            )
            self.assertEqual(run.returncode, 1, run.stderr)
            suite = ET.parse(path / "r.xml").getroot().find("testsuite")
        err = run.stderr
        for cls in ("Exits", "Segfaults", "Killed", "Blocks"):
            outcome = "ERROR" if cls in crashed else "ok"
            for name, expected in (
                ("test_1_passes", "ok"),
                ("test_2_takes_the_worker_down", outcome),
                # The rest of the dead worker's class ran in a new worker.
                ("test_3_runs_in_a_new_worker", "ok"),
            ):
                with self.subTest(cls=cls, name=name):
                    self.assertIn(f"{name} (test_crash.{cls}.{name}) ... {expected}", err)
        self.assertIn("test_b (test_crash.Neighbours.test_b) ... ok", err)
        errors = len(crashed)
        self.assertRegex(
            err.rstrip().splitlines()[-1],
            rf"^{14 - errors} passed, 0 failed, {errors} errors? in ",
        )
        assert suite is not None
        self.assertEqual((suite.get("tests"), suite.get("errors")), ("14", str(errors)))
        return err

    def test_a_worker_that_dies_costs_only_its_test(self) -> None:
        err = self.crash("exit,segv,kill", ["Exits", "Segfaults", "Killed"])
        for cls, status in (
            ("Exits", "(exit status 3)"),
            ("Segfaults", "(killed by signal 11, SIGSEGV: "),
            ("Killed", "(killed by signal 9, SIGKILL: "),
        ):
            with self.subTest(cls=cls):
                message = next(
                    line for line in err.splitlines()
                    if line.startswith(f"WorkerCrashedError: test_crash.{cls}.test_2")
                )  # fmt: skip
                self.assertRegex(message, r"was running in worker \d+ \(pid \d+\) when the")
                self.assertIn(status, message)
                self.assertTrue(message.endswith("[worker-crashed]"))

    def test_a_worker_blocked_in_c_code_is_killed_after_the_limit_and_grace(self) -> None:
        err = self.crash("block", ["Blocks"])
        self.assertIn(
            "WorkerBlockedError: test_crash.Blocks.test_2_takes_the_worker_down did not end "
            "within its time limit of 0.5s plus a grace of 2s",
            err,
        )
        self.assertIn("(killed by signal 9, SIGKILL", err)
        self.assertIn("[worker-blocked]", err)

    def test_workers_that_keep_dying_early_stop_the_run(self) -> None:
        with example("doomed") as path:
            run = aiounit("-j", "2", cwd=path)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn(
            "WorkerCrashedError: 3 worker processes in a row died before a test of theirs "
            "ended, the last one running test_doomed.",
            run.stderr,
        )
        self.assertIn("(exit status 7)", run.stderr)
        self.assertIn("Run without -j to see it happen [worker-crashed]", run.stderr)
        # Each worker died in a class fixture, before the class's first test: the error of
        # that test says the fixtures may have been what was running.
        self.assertRegex(
            run.stderr,
            r"WorkerCrashedError: test_doomed\.\w+\.test_\w \(or the class fixtures that run "
            r"before it\) was running in worker \d+",
        )

    def test_a_test_a_worker_cannot_load_is_an_error_not_lost(self) -> None:
        name = "tests.test_shards.ParseTests"
        suite = load_unit(TestLoader(), [name], [f"{name}.test_jobs_values", f"{name}.test_gone"])
        result = TestResult()
        suite(result)
        outcomes = {record.id: record.outcome for record in result.records}
        self.assertEqual(
            outcomes, {f"{name}.test_jobs_values": "passed", f"{name}.test_gone": "error"}
        )
        self.assertIn(f"could not load {name}.test_gone from {name}", result.errors[0][1])
        self.assertIn("[worker-load-failed]", result.errors[0][1])

    def test_exit_statuses_name_the_signal(self) -> None:
        self.assertEqual(_exit_status(3), "exit status 3")
        self.assertTrue(_exit_status(-signal.SIGSEGV).startswith("killed by signal 11, SIGSEGV: "))
        self.assertEqual(_exit_status(None), "exit status unknown")


class CtrlCTests(unittest.TestCase):
    def interrupt(self, whole_group: bool) -> None:
        with example("interrupts") as path, tempfile.TemporaryDirectory() as run_dir:
            marks = Path(run_dir)
            child = start_python(
                "-W", "error", "-m", "aiounit", "-v", "-j", "2",
                "--junit-xml", "report.xml", "test_ctrl_c.py",
                cwd=path, env={"RUN_DIR": run_dir}, preexec_fn=_new_group_default_sigint,
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while not (marks / "ready").exists():
                if child.poll() is not None or time.monotonic() > deadline:
                    child.kill()
                    self.fail(f"the test never started: {child.communicate()}")
                time.sleep(0.02)
            if whole_group:  # as a terminal delivers Ctrl-C
                os.killpg(child.pid, signal.SIGINT)
            else:
                child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=60)
            self.assertEqual(child.returncode, 130, err)
            # The worker's test ended with its cleanup, as in a serial run.
            self.assertTrue((marks / "cleanup-ran").exists())
            self.assertFalse((marks / "test-3-ran").exists())
            suite = ET.parse(path / "report.xml").getroot().find("testsuite")
        self.assertIn("test_1_passes (test_ctrl_c.WaitsForCtrlC.test_1_passes) ... ok", err)
        self.assertIn("was interrupted by Ctrl-C", err)
        self.assertIn("Interrupted by Ctrl-C: the run stopped early", err)
        self.assertRegex(err.rstrip().splitlines()[-1], r"^1 passed, 0 failed, 1 error in ")
        assert suite is not None
        self.assertEqual((suite.get("tests"), suite.get("errors")), ("2", "1"))

    def test_ctrl_c_to_the_main_process_only(self) -> None:
        self.interrupt(whole_group=False)

    def test_ctrl_c_to_the_whole_process_group(self) -> None:
        self.interrupt(whole_group=True)


def _new_group_default_sigint() -> None:
    os.setpgid(0, 0)
    default_sigint()


class OptionsReachTheWorkersTests(unittest.TestCase):
    def test_jobs_from_the_environment_with_k_and_failfast(self) -> None:
        with example("parallel") as path:
            pids = path / "pids"
            run = aiounit(
                "discover", "-p", "test_par_g*.py", "-k", "test_one",
                cwd=path, env={"AIOUNIT_JOBS": "2", "PIDS_FILE": str(pids)},
            )  # fmt: skip
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertIn("Ran 1 test ", run.stderr)
            self.assertEqual(len(worker_pids(pids)), 1)
            # -f: the first failure stops the run; no new unit starts after it.
            run = aiounit(
                "-f", "-j", "2", "test_par_alpha.py", cwd=path, env={"EXPECT_TIMEOUT": ""}
            )
            self.assertEqual(run.returncode, 1, run.stderr)
            self.assertIn("FAIL: test_2_fails", run.stderr)
            self.assertNotIn("test_6_errors", run.stderr)


class DurationsTests(unittest.TestCase):
    def test_the_longest_units_start_first_and_the_report_keeps_the_serial_order(self) -> None:
        with example("parallel") as path:
            # -b: output that tests print stays with them (else workers print it at once).
            first = aiounit("-b", "-j", "2", "--save-durations", "d.json", cwd=path)
            self.assertEqual(first.returncode, 1, first.stderr)
            saved = json.loads((path / "d.json").read_text(encoding="utf-8"))["durations"]
            self.assertIn("test_par_gamma.Plain.test_one", saved)
            self.assertIn("test_par_alpha.Served.test_4_subtests", saved)
            self.assertNotIn("test_par_alpha.Served.test_3_skips", saved)
            # Make the last class the longest: with one worker it must run first. The others
            # are given weights in their serial order, whatever the first run measured.
            for name in saved:
                if name.startswith("test_par_alpha.Served."):
                    saved[name] = 10.0
                elif name.startswith("test_par_alpha.Second."):
                    saved[name] = 1.0
                else:
                    saved[name] = 0.01
            for name in ("test_one", "test_two", "test_three"):
                saved[f"test_par_gamma.Plain.{name}"] = 100.0
            (path / "d.json").write_text(
                json.dumps({"version": 1, "durations": saved}), encoding="utf-8"
            )
            pids = path / "pids"
            second = aiounit(
                "-b",
                "-j",
                "1",
                "--durations-file",
                "d.json",
                cwd=path,
                env={"PIDS_FILE": str(pids)},
            )
            order = [line.split()[1] for line in pids.read_text(encoding="utf-8").splitlines()]
        self.assertEqual(second.returncode, 1, second.stderr)
        self.assertEqual(order[0], "test_par_gamma.Plain.test_one")
        self.assertEqual(order[1:], ["test_par_alpha.Served.test_1_passes",
                                     "test_par_alpha.Second.test_a",
                                     "test_par_beta.First.test_module_set_up"])  # fmt: skip
        self.assertEqual(normal_text(second.stderr), normal_text(first.stderr))


@unittest.skipIf(importlib.util.find_spec("coverage") is None, "coverage is not installed")
class CoverageTests(unittest.TestCase):
    def test_coverage_combines_the_data_of_every_worker(self) -> None:
        with example("parallel") as path:
            (path / ".coveragerc").write_text(
                "[run]\nparallel = True\nconcurrency = multiprocessing, thread\nsource = .\n",
                encoding="utf-8",
            )
            pids = path / "pids"
            run = run_python(
                "-m", "coverage", "run", "-m", "aiounit", "discover", "-j", "2",
                "-p", "test_par_g*.py", cwd=path, env={"PIDS_FILE": str(pids)},
            )  # fmt: skip
            self.assertEqual(run.returncode, 1, run.stderr)
            self.assertIn("Ran 5 tests", run.stderr)
            # One data file from the main process and one from each worker.
            self.assertEqual(len(list(path.glob(".coverage.*"))), 3)
            self.assertEqual(len(worker_pids(pids)), 1)
            combine = run_python("-m", "coverage", "combine", cwd=path)
            self.assertEqual(combine.returncode, 0, combine.stderr)
            report = run_python("-m", "coverage", "json", "-o", "cov.json", cwd=path)
            self.assertEqual(report.returncode, 0, report.stderr)
            files = json.loads((path / "cov.json").read_text(encoding="utf-8"))["files"]
        # Test code ran only in the workers: its lines are covered all the same.
        gamma = files["test_par_gamma.py"]
        self.assertEqual(gamma["summary"]["missing_lines"], 2, gamma["missing_lines"])
        helper = files["helpers.py"]
        self.assertEqual(helper["missing_lines"], [])
