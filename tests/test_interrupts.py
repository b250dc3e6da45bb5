"""Ctrl-C and interrupting exceptions: the right test fails, teardown runs, results are kept."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.cli_support import aiounit, example, start_python, unittest_


def verbose_line(module: str, cls: str, name: str, outcome: str) -> str:
    """The line unittest's -v prints for a test."""
    return f"{name} ({module}.{cls}.{name}) ... {outcome}"


class RaisedByTestCodeTests(unittest.TestCase):
    def check(self, stderr: str) -> None:
        self.assertIn(
            verbose_line("test_raising", "Raising", "test_1_keyboard_interrupt_async", "ERROR"),
            stderr,
        )
        self.assertIn(
            verbose_line("test_raising", "Raising", "test_2_keyboard_interrupt_sync", "ERROR"),
            stderr,
        )
        self.assertIn(
            "test_3_system_exit (test_raising.Raising.test_3_system_exit) ... ERROR", stderr
        )
        self.assertIn(verbose_line("test_raising", "Raising", "test_4_passes", "ok"), stderr)
        self.assertEqual(stderr.count("[keyboard-interrupt-in-test]"), 2)
        self.assertIn("but no Ctrl-C was pressed", stderr)
        self.assertIn("SystemExit: 3", stderr)

    def test_under_aiounit(self) -> None:
        with example("interrupts") as path:
            run = aiounit("-v", "test_raising.py", cwd=path)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.check(run.stderr)
        self.assertTrue(run.stderr.rstrip().endswith(run.stderr.rstrip().splitlines()[-1]))
        self.assertRegex(run.stderr.rstrip().splitlines()[-1], r"^1 passed, 0 failed, 3 errors in ")

    def test_under_unittest(self) -> None:
        with example("interrupts") as path:
            run = unittest_("-v", "test_raising", cwd=path)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.check(run.stderr)
        self.assertIn("FAILED (errors=3)", run.stderr)


class CtrlCTests(unittest.TestCase):
    def start(
        self, module: str, path: Path, run_dir: str, *args: str, **env: str
    ) -> subprocess.Popen[str]:
        target = "test_ctrl_c.py" if module == "aiounit" else "test_ctrl_c"
        return start_python(
            "-W", "error", "-m", module, "-v", *args, target,
            cwd=path,
            env={"RUN_DIR": run_dir, **env},
        )  # fmt: skip

    def wait_for(self, marker: Path, child: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                child.kill()
                self.fail(f"{marker.name} never appeared: {child.communicate()}")
            time.sleep(0.02)

    def test_first_ctrl_c_ends_the_test_runs_its_cleanup_and_reports(self) -> None:
        with example("interrupts") as path, tempfile.TemporaryDirectory() as run_dir:
            marks = Path(run_dir)
            child = self.start("aiounit", path, run_dir, "--junit-xml", "report.xml")
            self.wait_for(marks / "ready", child)
            child.send_signal(signal.SIGINT)
            _, stderr = child.communicate(timeout=60)
            self.assertEqual(child.returncode, 130, stderr)
            self.assertTrue((marks / "cleanup-ran").exists())
            self.assertFalse((marks / "test-3-ran").exists())
            self.assertIn(
                verbose_line("test_ctrl_c", "WaitsForCtrlC", "test_1_passes", "ok"), stderr
            )
            self.assertIn(
                verbose_line("test_ctrl_c", "WaitsForCtrlC", "test_2_hangs_until_ctrl_c", "ERROR"),
                stderr,
            )
            self.assertIn("was interrupted by Ctrl-C", stderr)
            self.assertIn("[interrupted]", stderr)
            self.assertIn("Interrupted by Ctrl-C: the run stopped early", stderr)
            self.assertRegex(stderr.rstrip().splitlines()[-1], r"^1 passed, 0 failed, 1 error in ")
            suite = ET.parse(path / "report.xml").getroot().find("testsuite")
            assert suite is not None
            self.assertEqual((suite.get("tests"), suite.get("errors")), ("2", "1"))

    def test_under_unittest_the_cleanup_still_runs(self) -> None:
        with example("interrupts") as path, tempfile.TemporaryDirectory() as run_dir:
            marks = Path(run_dir)
            child = self.start("unittest", path, run_dir)
            self.wait_for(marks / "ready", child)
            child.send_signal(signal.SIGINT)
            _, stderr = child.communicate(timeout=60)
            self.assertNotEqual(child.returncode, 0)
            self.assertTrue((marks / "cleanup-ran").exists())
            self.assertFalse((marks / "test-3-ran").exists())
            self.assertIn("KeyboardInterrupt", stderr)

    def test_second_ctrl_c_stops_at_once(self) -> None:
        with example("interrupts") as path, tempfile.TemporaryDirectory() as run_dir:
            marks = Path(run_dir)
            child = self.start("aiounit", path, run_dir, HANG_IN_CLEANUP="1")
            self.wait_for(marks / "ready", child)
            child.send_signal(signal.SIGINT)
            self.wait_for(marks / "cleanup-hangs", child)
            child.send_signal(signal.SIGINT)
            _, stderr = child.communicate(timeout=60)
            self.assertEqual(child.returncode, 130, stderr)
            self.assertIn("Interrupted by Ctrl-C", stderr)
            self.assertRegex(stderr.rstrip().splitlines()[-1], r"^1 passed, 0 failed")
