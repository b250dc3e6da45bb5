"""AsyncTestCase under other runners and stdlib contracts: unittest, pytest, pickling, loops."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import aiounit
from aiounit.case import as_async_case
from tests.support import run_suite

EXAMPLE_DIR = Path(__file__).resolve().parent / "examples" / "compat"
# The directory that holds the aiounit package being tested, so that subprocesses import
# this copy of aiounit whatever is installed.
SOURCE_ROOT = Path(aiounit.__file__).resolve().parent.parent
EVENT_LOG_ENV = "COMPAT_EVENT_LOG"
# Generous: these runs take well under a second; the limit only stops a hang.
SUBPROCESS_TIMEOUT = 120.0

# Variables a subprocess keeps from our environment. AIOUNIT_LOOP is kept on purpose: the
# example runs then use the loop our own suite is being run on (AIOUNIT_LOOP=uvloop).
_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT", "AIOUNIT_LOOP")


def clean_env(**extra: str) -> dict[str, str]:
    """An environment for subprocesses: none of our settings leak in except the loop choice."""
    env = {name: os.environ[name] for name in _KEPT_ENV if name in os.environ}
    env.update(
        PYTHONPATH=str(SOURCE_ROOT),
        PYTHONDONTWRITEBYTECODE="1",  # Keeps __pycache__ out of the example directory.
        PYTHONIOENCODING="utf-8",
        # Plugins installed next to pytest (pytest-asyncio...) must not change the runs.
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    env.update(extra)
    return env


def run_python(
    case: unittest.TestCase, args: list[str], **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -W error ARGS`` in the example directory and return what it did."""
    command = [sys.executable, "-W", "error", *args]
    try:
        return subprocess.run(
            command,
            cwd=EXAMPLE_DIR,
            env=clean_env(**env),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        case.fail(
            f"{command} did not finish within {SUBPROCESS_TIMEOUT:.0f}s (it normally takes "
            f"about a second), so something in it hangs.\n--- stdout\n{_text(exc.stdout)}\n"
            f"--- stderr\n{_text(exc.stderr)}"
        )


def _text(output: str | bytes | None) -> str:
    # TimeoutExpired carries bytes even for a text-mode run.
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""


# -- reading what a run did -------------------------------------------------------------

# Outcomes in one vocabulary for both runners. A test "failed" when it raised
# AssertionError (unittest's failureException) and is in "error" for any other exception.
PASSED, FAILED, ERROR, SKIPPED, XFAIL = "passed", "failed", "error", "skipped", "xfail"

_VERBOSE_LINE = re.compile(
    r"^ *(?P<name>\w+) \((?P<where>[\w.]+)\)(?: \(.*\))? \.\.\. (?P<status>.*)$", re.MULTILINE
)
_VERBOSE_STATUS = {
    "ok": PASSED,
    "FAIL": FAILED,
    "ERROR": ERROR,
    "expected failure": XFAIL,
    "unexpected success": "unexpected-success",
}


def _combine(statuses: list[str]) -> str:
    # A test with failing subtests gets one line per failing subtest and none of its own.
    for worst in (ERROR, FAILED):
        if worst in statuses:
            return worst
    final = [status for status in statuses if status != "pending"]
    return final[-1] if final else "pending"


def unittest_outcomes(stderr: str) -> dict[str, str]:
    """Per-test outcomes from the ``-v`` lines of ``python -m unittest``.

    Keys are ``module.Class.test``; a class fixture error is ``module.Class.setUpClass``.
    """
    found: dict[str, list[str]] = {}
    for match in _VERBOSE_LINE.finditer(stderr):
        name, where, status = match["name"], match["where"], match["status"].strip()
        key = where if where.endswith(f".{name}") else f"{where}.{name}"
        if status.startswith("skipped"):
            outcome = SKIPPED
        else:
            outcome = _VERBOSE_STATUS.get(status, status or "pending")
        found.setdefault(key, []).append(outcome)
    return {key: _combine(statuses) for key, statuses in found.items()}


def pytest_outcomes(junit_path: Path) -> dict[str, str]:
    """Per-test outcomes from pytest's JUnit XML, keyed as :func:`unittest_outcomes` does."""
    found: dict[str, str] = {}
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        key = f"{classname}.{name}"
        children = {child.tag: child for child in case}
        error = children.get("error")
        if error is not None and error.get("message", "").startswith("failed on setup"):
            # pytest runs setUpClass in a class fixture, whose error it reports at the
            # setup of every test of the class; unittest reports it once, as setUpClass.
            found[f"{classname}.setUpClass"] = ERROR
            continue
        if error is not None:
            found[key] = f"error ({error.get('message')})"
        elif "failure" in children:
            message = children["failure"].get("message", "")
            found[key] = FAILED if message.startswith("AssertionError") else ERROR
        elif "skipped" in children:
            kind = children["skipped"].get("type")
            found[key] = XFAIL if kind == "pytest.xfail" else SKIPPED
        else:
            found[key] = PASSED
    return found


def read_events(path: Path) -> list[tuple[str, str, str]]:
    """The event log as (event, loop, open loops), loops renamed L1, L2... as first seen.

    ``loop`` is the loop the hook ran on (``-`` outside any loop) and ``open`` the loops
    seen so far that were not closed yet.
    """
    labels: dict[str, str] = {}

    def label(raw: str) -> str:
        return "-" if raw == "-" else labels.setdefault(raw, f"L{len(labels) + 1}")

    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event, loop, still_open = line.split(" ")
        loop_label = label(loop.removeprefix("loop="))
        open_labels = ",".join(label(raw) for raw in still_open.removeprefix("open=").split(","))
        events.append((event, loop_label, open_labels))
    return events


def summary(stderr: str) -> tuple[int, str]:
    """The test count of unittest's "Ran N tests" line and the verdict line after it."""
    match = re.search(r"^Ran (\d+) tests? in [\d.]+s\n\n(?P<verdict>.+)$", stderr, re.MULTILINE)
    if match is None:
        raise AssertionError(f"no 'Ran N tests' summary in:\n{stderr}")
    return int(match[1]), match["verdict"]


# -- what the example project must do -----------------------------------------------------

SERVER = "test_server.ServerTests"
BACKUP = "test_store.BackupTests"
STORE = "test_store.StoreTests"

ALL_OUTCOMES = {
    f"{SERVER}.test_count_tracks_writes": PASSED,
    f"{SERVER}.test_delete_rejects_missing_key": FAILED,
    f"{SERVER}.test_roundtrip_many": PASSED,
    f"{SERVER}.test_server_is_shared": PASSED,
    f"{BACKUP}.setUpClass": ERROR,
    f"{STORE}.test_get_missing_key_is_none": PASSED,
    f"{STORE}.test_key_expiry": SKIPPED,
    f"{STORE}.test_roundtrip_key_with_space": XFAIL,
    f"{STORE}.test_set_accepts_only_valid_keys": FAILED,
    f"{STORE}.test_snapshot_needs_persistence": SKIPPED,
    f"{STORE}.test_stats_command": ERROR,
}
ROUNDTRIP_OUTCOMES = {
    f"{SERVER}.test_roundtrip_many": PASSED,
    f"{STORE}.test_roundtrip_key_with_space": XFAIL,
}
FAILFAST_OUTCOMES = {
    f"{SERVER}.test_count_tracks_writes": PASSED,
    f"{SERVER}.test_delete_rejects_missing_key": FAILED,
}


def server_events(loop: str, tests: list[str]) -> list[tuple[str, str, str]]:
    """ServerTests: class fixtures once, every test on the class loop, teardown in order."""
    events = [("ServerTests.setUpClass", "-", "-"), ("ServerTests.asyncSetUpClass", loop, loop)]
    for test in tests:
        for hook in ("setUp", "asyncSetUp", "test", "asyncTearDown", "tearDown", "cleanup"):
            events.append((f"ServerTests.{test}.{hook}", loop, loop))
    return [
        *events,
        ("ServerTests.asyncTearDownClass", loop, loop),
        # The class loop stays open through the sync tearDownClass, for the cleanups.
        ("ServerTests.tearDownClass", "-", loop),
        # Class cleanups run last-in first-out: the server was entered first.
        ("ServerTests.class-cleanup", loop, loop),
        ("ServerTests.server-exit", loop, loop),
        # Every loop is closed by the end of the module.
        ("test_server.tearDownModule", "-", "-"),
    ]


def backup_events(loop: str) -> list[tuple[str, str, str]]:
    """BackupTests: asyncSetUpClass fails, its class cleanups still run, on its loop."""
    return [
        ("BackupTests.asyncSetUpClass", loop, loop),
        ("BackupTests.server-exit", loop, loop),
        ("BackupTests.class-cleanup", loop, loop),
    ]


def store_events(first_loop: int, tests: list[str]) -> list[tuple[str, str, str]]:
    """StoreTests: a new loop per test (the only open one), then the module's end."""
    events = []
    for number, test in enumerate(tests, start=first_loop):
        loop = f"L{number}"
        for hook in ("setUp", "test", "tearDown", "server-exit", "sync-cleanup"):
            events.append((f"StoreTests.{test}.{hook}", loop, loop))
    return [*events, ("test_store.tearDownModule", "-", "-")]


SERVER_TESTS = [
    "test_count_tracks_writes",
    "test_delete_rejects_missing_key",
    "test_roundtrip_many",
    "test_server_is_shared",
]
# test_key_expiry is skipped by a decorator: it never gets a loop, so it logs nothing.
STORE_TESTS_RUN = [
    "test_get_missing_key_is_none",
    "test_roundtrip_key_with_space",
    "test_set_accepts_only_valid_keys",
    "test_snapshot_needs_persistence",
    "test_stats_command",
]
ALL_EVENTS = [
    *server_events("L1", SERVER_TESTS),
    *backup_events("L2"),
    *store_events(3, STORE_TESTS_RUN),
]
ROUNDTRIP_EVENTS = [
    *server_events("L1", ["test_roundtrip_many"]),
    *store_events(2, ["test_roundtrip_key_with_space"]),
]
FAILFAST_EVENTS = server_events("L1", SERVER_TESTS[:2])


def full_run_count() -> int:
    """What "Ran N tests" says for the whole example project: 10, or 9 on Python 3.12.1."""

    # Python 3.12.1 alone leaves tests skipped by a decorator out of testsRun, so out of
    # "Ran N tests" (cpython gh-106584, reverted in 3.12.2 by gh-113267). Ask this
    # interpreter's unittest, which is the one the subprocesses use.
    class Probe(unittest.TestCase):
        @unittest.skip("probe")
        def test_skipped(self) -> None:
            pass

    result = unittest.TestResult()
    Probe("test_skipped").run(result)
    return 9 + result.testsRun


class ExampleRun:
    """One run of the example project: exit code, output, outcomes and event log."""

    def __init__(
        self, process: subprocess.CompletedProcess[str], events: list[tuple[str, str, str]]
    ) -> None:
        self.returncode = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr
        self.events = events
        self.outcomes: dict[str, str] = {}

    def describe(self) -> str:
        """Everything the run printed, for failure messages."""
        return f"exit code {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class RunnerParityTests(unittest.TestCase):
    """The example project gives the same outcomes and hook order under unittest and pytest."""

    maxDiff = None

    def setUp(self) -> None:
        self.workdir = Path(self.enterContext(tempfile.TemporaryDirectory()))
        self.runs = 0

    def run_unittest(self, *options: str) -> ExampleRun:
        """``python -m unittest -v OPTIONS`` (discovery) in the example directory."""
        log = self._new_path("events.log")
        process = run_python(self, ["-m", "unittest", "-v", *options], **{EVENT_LOG_ENV: str(log)})
        run = ExampleRun(process, read_events(log) if log.exists() else [])
        run.outcomes = unittest_outcomes(run.stderr)
        return run

    def run_pytest(self, *options: str) -> ExampleRun:
        """``python -m pytest --junitxml OPTIONS`` in the example directory."""
        if importlib.util.find_spec("pytest") is None:
            self.fail(
                f"pytest is not installed for {sys.executable}, and aiounit's own tests run "
                "the example project under pytest to check it behaves as under unittest. "
                "Install the test extra: pip install -e '.[test]'"
            )
        log = self._new_path("events.log")
        junit = self._new_path("junit.xml")
        args = ["-m", "pytest", "-p", "no:cacheprovider", "-W", "error", f"--junitxml={junit}"]
        process = run_python(self, [*args, *options], **{EVENT_LOG_ENV: str(log)})
        run = ExampleRun(process, read_events(log) if log.exists() else [])
        self.assertTrue(junit.exists(), f"pytest wrote no JUnit XML\n{run.describe()}")
        run.outcomes = pytest_outcomes(junit)
        return run

    def _new_path(self, name: str) -> Path:
        self.runs += 1
        return self.workdir / f"{self.runs}-{name}"

    def assert_unittest_run(
        self, run: ExampleRun, *, code: int, ran: int, verdict: str, outcomes: dict[str, str]
    ) -> None:
        """Exit code, "Ran N tests", the verdict line and the per-test outcomes."""
        self.assertEqual(run.returncode, code, run.describe())
        self.assertEqual(summary(run.stderr), (ran, verdict), run.describe())
        self.assertEqual(run.outcomes, outcomes, run.describe())

    def test_full_run_matches(self) -> None:
        plain = self.run_unittest()
        self.assert_unittest_run(
            plain,
            code=1,
            ran=full_run_count(),
            verdict="FAILED (failures=2, errors=2, skipped=2, expected failures=1)",
            outcomes=ALL_OUTCOMES,
        )
        self.assertEqual(plain.events, ALL_EVENTS, plain.describe())
        self.assertRegex(
            plain.stderr,
            r"ERROR: setUpClass \(test_store\.BackupTests\)\n-+\nTraceback[^=]*"
            r"OSError: backup volume /mnt/kv-backup is not mounted",
        )
        # Without -b, output of passing tests reaches the terminal.
        self.assertIn("count-progress: wrote one key", plain.stdout)

        pytest_run = self.run_pytest()
        self.assertEqual(pytest_run.returncode, 1, pytest_run.describe())
        self.assertEqual(pytest_run.outcomes, plain.outcomes, pytest_run.describe())
        self.assertEqual(pytest_run.events, plain.events, pytest_run.describe())
        self.assertIn("OSError: backup volume /mnt/kv-backup is not mounted", pytest_run.stdout)
        # pytest captures output and shows it for failing tests only.
        self.assertIn("delete-diagnostic: the server holds", pytest_run.stdout)
        self.assertNotIn("count-progress", pytest_run.stdout)

    def test_keyword_selection_matches(self) -> None:
        selected = self.run_unittest("-k", "roundtrip")
        self.assert_unittest_run(
            selected, code=0, ran=2, verdict="OK (expected failures=1)", outcomes=ROUNDTRIP_OUTCOMES
        )
        self.assertEqual(selected.events, ROUNDTRIP_EVENTS, selected.describe())

        pytest_run = self.run_pytest("-k", "roundtrip")
        self.assertEqual(pytest_run.returncode, 0, pytest_run.describe())
        self.assertEqual(pytest_run.outcomes, selected.outcomes, pytest_run.describe())
        self.assertEqual(pytest_run.events, selected.events, pytest_run.describe())

    def test_stop_at_first_failure_matches(self) -> None:
        failfast = self.run_unittest("-f")
        self.assert_unittest_run(
            failfast, code=1, ran=2, verdict="FAILED (failures=1)", outcomes=FAILFAST_OUTCOMES
        )
        # The run stops, yet the class fixtures and the class loop are still torn down.
        self.assertEqual(failfast.events, FAILFAST_EVENTS, failfast.describe())

        pytest_run = self.run_pytest("-x")
        self.assertEqual(pytest_run.returncode, 1, pytest_run.describe())
        self.assertEqual(pytest_run.outcomes, failfast.outcomes, pytest_run.describe())
        self.assertEqual(pytest_run.events, failfast.events, pytest_run.describe())

    def test_buffered_output_is_shown_for_failures_only(self) -> None:
        buffered = self.run_unittest("-b")
        self.assert_unittest_run(
            buffered,
            code=1,
            ran=full_run_count(),
            verdict="FAILED (failures=2, errors=2, skipped=2, expected failures=1)",
            outcomes=ALL_OUTCOMES,
        )
        self.assertEqual(buffered.events, ALL_EVENTS, buffered.describe())
        report = buffered.stderr.split("FAIL: test_delete_rejects_missing_key", 1)[-1]
        report = report.split("=" * 70, 1)[0]
        self.assertIn("Stdout:\ndelete-diagnostic: the server holds", report, buffered.describe())
        everything = buffered.stdout + buffered.stderr
        self.assertNotIn("count-progress", everything)
        self.assertNotIn("lookup-progress", everything)


class ReportParsingTests(unittest.TestCase):
    """The readers above understand what the runners print."""

    def test_unittest_verbose_lines(self) -> None:
        stderr = (
            "test_a (m.C.test_a) ... ok\n"
            "test_b (m.C.test_b) ... \n"
            "  test_b (m.C.test_b) (key='') ... FAIL\n"
            "setUpClass (m.D) ... ERROR\n"
            "test_c (m.C.test_c) ... skipped 'no'\n"
            "test_d (m.C.test_d) ... expected failure\n"
        )
        self.assertEqual(
            unittest_outcomes(stderr),
            {
                "m.C.test_a": PASSED,
                "m.C.test_b": FAILED,
                "m.D.setUpClass": ERROR,
                "m.C.test_c": SKIPPED,
                "m.C.test_d": XFAIL,
            },
        )

    def test_events_are_relabelled_in_order_of_appearance(self) -> None:
        with tempfile.TemporaryDirectory() as workdir:
            log = Path(workdir, "events.log")
            log.write_text("a loop=- open=-\nb loop=99 open=99\nc loop=7 open=99,7\n")
            self.assertEqual(
                read_events(log), [("a", "-", "-"), ("b", "L1", "L1"), ("c", "L2", "L1,L2")]
            )


class StdlibHookCanaryTests(unittest.TestCase):
    """unittest.TestCase still offers what AsyncTestCase builds on."""

    HOOKS = ("_callSetUp", "_callTestMethod", "_callTearDown", "_callCleanup")

    def test_testcase_has_the_four_hooks(self) -> None:
        missing = [
            name for name in self.HOOKS if not callable(getattr(unittest.TestCase, name, None))
        ]
        self.assertEqual(
            missing,
            [],
            f"unittest.TestCase of Python {sys.version.split()[0]} no longer has {missing}. "
            "AsyncTestCase overrides exactly these hooks to await setUp, the test, tearDown "
            "and cleanups on its loop; without them TestCase.run() calls an async test "
            "without awaiting it, so async tests would pass without running. aiounit/case.py "
            "must follow the new TestCase.run() of this Python version.",
        )

    def test_testcase_run_calls_the_four_hooks(self) -> None:
        calls: list[str] = []

        class Recording(unittest.TestCase):
            def _callSetUp(self) -> None:
                calls.append("_callSetUp")

            def _callTestMethod(self, method: Any) -> None:
                calls.append("_callTestMethod")

            def _callTearDown(self) -> None:
                calls.append("_callTearDown")

            def _callCleanup(self, function: Any, /, *args: Any, **kwargs: Any) -> None:
                calls.append("_callCleanup")

            def test_it(self) -> None:
                pass

        case = Recording("test_it")
        case.addCleanup(lambda: None)
        result = run_suite(case)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(
            calls,
            list(self.HOOKS),
            "unittest.TestCase.run() no longer calls its hooks in this order; AsyncTestCase "
            "relies on it to run the phases of a test on its loop (aiounit/case.py).",
        )

    def test_class_fixture_api_exists(self) -> None:
        missing = [
            name
            for name in ("doClassCleanups", "addClassCleanup", "enterClassContext")
            if not callable(getattr(unittest.TestCase, name, None))
        ]
        self.assertEqual(
            missing,
            [],
            f"unittest.TestCase of Python {sys.version.split()[0]} lacks {missing}. "
            "addAsyncClassCleanup and enterAsyncClassContext store async cleanups with the "
            "class cleanups, and AsyncTestCase awaits them from doClassCleanups(), which "
            "unittest and pytest call after tearDownClass; without these, async class "
            "cleanups would never run.",
        )


PICKLABLE_MODULE = "tests.examples.compat.picklable_cases"


class PicklingTests(unittest.TestCase):
    """Tests can be pickled before they run (parallel runners send them to workers)."""

    def setUp(self) -> None:
        self.cases = importlib.import_module(PICKLABLE_MODULE)

    def roundtrip(self, case: unittest.TestCase) -> unittest.TestCase:
        """Pickle ``case`` with every protocol from 2 on; return the last copy."""
        copy = case
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            copy = pickle.loads(pickle.dumps(case, protocol=protocol))
            self.assertIs(type(copy), type(case))
            self.assertEqual(copy.id(), case.id())
        self.assertIsNot(copy, case)
        return copy

    def test_unpickled_tests_run_and_pass(self) -> None:
        cases = self.cases
        tests = [
            cases.TestScopeCases("test_runs_on_its_own_loop"),
            cases.ClassScopeCases("test_first_uses_class_loop"),
            cases.ClassScopeCases("test_second_uses_class_loop"),
            cases.LoopFactoryCases("test_runs_on_factory_loop"),
        ]
        copies = [self.roundtrip(test) for test in tests]
        result = run_suite(*copies)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(result.testsRun, len(tests))
        self.assertEqual(result.skipped, [])
        # The class fixture ran for the unpickled tests, which shared its queue.
        self.assertEqual(cases.ClassScopeCases.queue.qsize(), 2)

    def test_as_async_case_instances_pickle(self) -> None:
        # The converted class shares the plain class's qualified name, so it must pickle
        # through the plain class (as the auto asyncio mode's tests do for parallel runs).
        converted = as_async_case(self.cases.PlainCases)
        self.assertIs(as_async_case(self.cases.PlainCases), converted)
        copy = self.roundtrip(converted("test_runs_on_a_loop"))
        result = run_suite(copy)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(result.testsRun, 1)


class CurrentLoopStateTests(unittest.TestCase):
    """A test leaves sync asyncio.get_event_loop() doing what it did before the test.

    Each probe is a fresh interpreter that sets up a current-loop state, runs one test
    (or none, for the baseline) and reports what get_event_loop() does afterwards.
    """

    maxDiff = None
    SCENARIOS = ("fresh", "loop-set", "none-set", "implicit")
    KINDS = ("test-scope", "class-scope", "loop-factory")

    def probe(self, scenario: str, kind: str) -> dict[str, Any]:
        """Run probe_current_loop.py for one scenario and test kind; return its report."""
        process = run_python(self, ["probe_current_loop.py", scenario, kind])
        self.assertEqual(
            (process.returncode, process.stderr), (0, ""), f"{scenario} {kind}: {process.stdout}"
        )
        report: dict[str, Any] = json.loads(process.stdout)
        if kind != "none":
            self.assertEqual(report["test problems"], [], f"{scenario} {kind}")
            self.assertEqual(report["tests run"], 1, f"{scenario} {kind}")
            self.assertTrue(report["sync setUp saw the test's loop"], f"{scenario} {kind}")
        return report

    def test_get_event_loop_behaves_as_before_the_test(self) -> None:
        for scenario in self.SCENARIOS:
            baseline = self.probe(scenario, "none")
            for kind in self.KINDS:
                with self.subTest(scenario=scenario, kind=kind):
                    report = self.probe(scenario, kind)
                    self.assertEqual(report["after"], baseline["after"])
                    self.assertEqual(
                        report["policy exists after the test"],
                        baseline["policy exists after the test"],
                    )
                    self.assertEqual(report.get("first probe"), baseline.get("first probe"))

    def test_stdlib_test_case_changes_it(self) -> None:
        # The contrast the probe must be able to see: after an IsolatedAsyncioTestCase
        # test, the loop the program had set is gone and get_event_loop() raises.
        baseline = self.probe("loop-set", "none")
        stdlib = self.probe("loop-set", "stdlib")
        self.assertEqual(baseline["after"]["result"], "returns the loop set before")
        self.assertEqual(stdlib["after"]["result"], "raises RuntimeError")

    def test_loop_factory_class_leaves_no_policy(self) -> None:
        report = self.probe("fresh", "loop-factory")
        self.assertEqual(report["test loop type"], "FactoryLoop")
        self.assertFalse(
            report["policy exists after the test"],
            "an event loop policy was left behind by a test whose class sets loop_factory",
        )
        self.assertEqual(self.probe("fresh", "none")["policy exists after the test"], False)
