"""Hostile tests: a test that closes or stops its loop, nests asyncio.run() or cancels itself."""

from __future__ import annotations

import unittest

from tests.cli_support import aiounit, example, unittest_


def verdicts(stderr: str) -> dict[str, str]:
    """Each test's verdict from unittest's -v lines: {'test_01_...': 'ERROR', ...}."""
    found: dict[str, str] = {}
    for line in stderr.splitlines():
        if line.startswith("test_") and " ... " in line:
            found[line.split(" ", 1)[0]] = line.rsplit(" ... ", 1)[1]
    return found


EXPECTED = {
    "test_01_closes_its_loop": "ERROR",
    "test_02_fine": "ok",
    "test_03_stops_its_loop": "ERROR",
    "test_04_fine": "ok",
    "test_05_calls_asyncio_run": "ERROR",
    "test_06_cancels_itself": "ERROR",
    "test_07_prints_megabytes": "ok",
    "test_08_fine": "ok",
}


class HostileTests(unittest.TestCase):
    def check(self, stderr: str) -> None:
        self.assertEqual(verdicts(stderr), EXPECTED)
        self.assertIn("closed by the test itself", stderr)
        self.assertIn("[loop-closed-by-test]", stderr)
        self.assertIn("stopped its event loop (loop.stop())", stderr)
        self.assertIn("[loop-stopped-by-test]", stderr)
        self.assertIn("asyncio.run() cannot be called from a running event loop", stderr)
        self.assertIn("CancelledError", stderr)
        self.assertNotIn("x" * 1000, stderr)  # the output was held back by -b, not lost in it
        # The coroutine asyncio.run() never got to run is reported against its own test,
        # even though the failure's traceback kept it alive past that test.
        finding = stderr.index("coroutine nothing() was created but never awaited")
        heading = stderr.rindex("ERROR: ", 0, finding)
        self.assertTrue(stderr.startswith("ERROR: test_05_calls_asyncio_run", heading))

    def test_under_aiounit(self) -> None:
        with example("hostile") as path:
            run = aiounit("-v", "-b", cwd=path)
        self.assertEqual(run.returncode, 1, run.stderr[-3000:])
        self.check(run.stderr)
        self.assertRegex(run.stderr.rstrip().splitlines()[-1], r"^4 passed, 0 failed, 5 errors in ")

    def test_under_unittest(self) -> None:
        with example("hostile") as path:
            run = unittest_("-v", "-b", cwd=path)
        self.assertEqual(run.returncode, 1, run.stderr[-3000:])
        self.check(run.stderr)
        self.assertIn("FAILED (errors=5)", run.stderr)
