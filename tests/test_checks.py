"""Post-test checks: lost exceptions, forgotten awaits and leaked tasks, on the right test."""

from __future__ import annotations

import asyncio
import json
import os
import unittest
import warnings
from unittest import mock

import aiounit
from aiounit.result import TestResult
from tests.cli_support import aiounit as aiounit_cli
from tests.cli_support import example, run
from tests.support import messages, outcomes, run_suite


def _crash() -> None:
    raise ValueError("callback broke")


async def _background_failure() -> None:
    raise KeyError("background task broke")


class LostExceptionTests(unittest.TestCase):
    def test_a_crashed_background_task_fails_its_test_and_not_the_next(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_1_crashes_in_background(self) -> None:
                asyncio.create_task(_background_failure(), name="doomed")
                await asyncio.sleep(0)
                await asyncio.sleep(0)

            async def test_2_clean(self) -> None:
                await asyncio.sleep(0)

        result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_1_crashes_in_background": "error"})
        text = messages(result.errors)
        self.assertIn("CheckError: 1 check failed", text)
        self.assertIn("Task exception was never retrieved", text)
        self.assertIn("Task 'doomed' running _background_failure()", text)
        self.assertIn("KeyError: 'background task broke'", text)
        self.assertIn('raise KeyError("background task broke")', text)  # the original traceback
        self.assertIn("[loop-exception]", text)

    def test_a_raising_callback_fails_its_test(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                asyncio.get_running_loop().call_soon(_crash)
                await asyncio.sleep(0)

        result = run_suite(Case("test_it"))
        self.assertEqual(len(result.errors), 1)
        self.assertIn("Exception in callback", result.errors[0][1])
        self.assertIn("ValueError: callback broke", result.errors[0][1])


class ForgottenAwaitTests(unittest.TestCase):
    def test_a_coroutine_never_awaited_fails_with_the_line_that_made_it(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_1_forgets(self) -> None:
                asyncio.sleep(0)  # type: ignore[unused-coroutine]  # the forgotten await

            async def test_2_clean(self) -> None:
                await asyncio.sleep(0)

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # stdlib's own "never awaited" warning must not appear
            result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_1_forgets": "error"})
        text = messages(result.errors)
        self.assertIn("coroutine sleep() was created but never awaited", text)
        self.assertIn("in test_1_forgets", text)
        self.assertIn("[unawaited-coroutine]", text)

    def test_outside_a_test_python_reports_it_as_usual(self) -> None:
        async def never() -> None:
            pass

        with self.assertWarnsRegex(RuntimeWarning, "was never awaited"):
            never()


class LeakedTaskTests(unittest.TestCase):
    def make_case(self) -> type[aiounit.AsyncTestCase]:
        class Case(aiounit.AsyncTestCase):
            async def test_leaks(self) -> None:
                asyncio.create_task(asyncio.sleep(3600), name="sleeper")
                await asyncio.sleep(0)

        return Case

    def test_leaked_task_warns_under_a_plain_result(self) -> None:
        case = self.make_case()
        with self.assertWarns(aiounit.CheckWarning) as caught:
            result = run_suite(case("test_leaks"))
        self.assertTrue(result.wasSuccessful())
        text = str(caught.warning)
        self.assertIn("left a task running", text)
        self.assertIn("Task 'sleeper' running sleep()", text)
        self.assertIn("Created at", text)
        self.assertIn("in test_leaks", text)
        self.assertTrue(text.endswith("[leaked-task]"))

    def test_aiounit_result_records_the_finding_with_the_test(self) -> None:
        case = self.make_case()
        result = TestResult()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # recorded, not warned
            unittest.TestSuite([case("test_leaks")]).run(result)
        self.assertTrue(result.wasSuccessful())
        [record] = result.records
        [finding] = record.findings
        self.assertEqual((finding["check"], finding["level"]), ("leaked-task", "warn"))
        self.assertIn("sleeper", finding["message"])

    def test_levels_from_class_decorator_environment_and_strict(self) -> None:
        class Case(aiounit.AsyncTestCase):
            checks = {"leaked-task": "error"}

            async def test_class_level(self) -> None:
                asyncio.create_task(asyncio.sleep(3600))

            @aiounit.checks(leaked_task="off")
            async def test_method_level(self) -> None:
                asyncio.create_task(asyncio.sleep(3600))

        result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_class_level": "error"})
        self.assertIn("[leaked-task]", messages(result.errors))

        plain = self.make_case()
        with mock.patch.dict(os.environ, {"AIOUNIT_CHECKS": "leaked-task=off"}):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                self.assertTrue(run_suite(plain("test_leaks")).wasSuccessful())
        with mock.patch.dict(
            os.environ, {"AIOUNIT_CHECKS": "leaked-task=off", "AIOUNIT_STRICT": "1"}
        ):
            self.assertEqual(outcomes(run_suite(plain("test_leaks"))), {"test_leaks": "error"})

    def test_tasks_the_test_awaited_or_cancelled_are_not_findings(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_tidy(self) -> None:
                task = asyncio.create_task(asyncio.sleep(3600))
                self.addAsyncCleanup(self.stop, task)
                async with asyncio.TaskGroup() as group:
                    group.create_task(asyncio.sleep(0))

            async def stop(self, task: asyncio.Task[None]) -> None:
                task.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await task

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = run_suite(Case("test_tidy"))
        self.assertTrue(result.wasSuccessful(), messages(result.errors))


class CheckSettingsTests(unittest.TestCase):
    def test_unknown_checks_and_levels_are_rejected(self) -> None:
        with self.assertRaisesRegex(
            aiounit.ConfigurationError, r"'leaky-task', which does not exist"
        ):
            type("Bad", (aiounit.AsyncTestCase,), {"checks": {"leaky-task": "warn"}})
        with self.assertRaisesRegex(aiounit.ConfigurationError, r"\[bad-check-level\]"):
            aiounit.checks({"leaked-task": "loud"})  # type: ignore[dict-item]

        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                pass

        with mock.patch.dict(os.environ, {"AIOUNIT_CHECKS": "leaked-task"}):
            result = run_suite(Case("test_it"))
        self.assertIn("is not of the form check=level", messages(result.errors))


class CommandLineTests(unittest.TestCase):
    def test_default_levels_strict_and_checks_options(self) -> None:
        with example("hygiene") as path:
            default = aiounit_cli("discover", "-v", "--json", "report.json", cwd=path)
            report = json.loads((path / "report.json").read_text())
            strict = aiounit_cli("discover", "--strict", cwd=path)
            relaxed = aiounit_cli(
                "discover", "--checks", "unawaited-coroutine=off,leaked-task=off", cwd=path
            )
            bad = aiounit_cli("discover", "--checks", "leaky-task=error", cwd=path)
        self.assertEqual(default.returncode, 1, default.stderr)
        self.assertIn(
            "test_1_forgets_an_await (test_hygiene.Slips.test_1_forgets_an_await) ... ERROR",
            default.stderr,
        )
        self.assertIn(
            "test_2_leaks_a_task (test_hygiene.Slips.test_2_leaks_a_task) ... ok", default.stderr
        )
        self.assertIn("test_3_clean (test_hygiene.Slips.test_3_clean) ... ok", default.stderr)
        self.assertIn("asyncio.sleep(0)  # the await is missing", default.stderr)
        self.assertIn("WARNING: test_2_leaks_a_task", default.stderr)
        self.assertIn("Task 'sleeper'", default.stderr)
        findings = {r["id"].rsplit(".", 1)[1]: r["findings"] for r in report["tests"]}
        self.assertEqual([f["check"] for f in findings["test_2_leaks_a_task"]], ["leaked-task"])
        self.assertEqual(findings["test_3_clean"], [])
        self.assertEqual(strict.returncode, 1)
        self.assertRegex(
            strict.stderr.rstrip().splitlines()[-1], r"^1 passed, 0 failed, 2 errors in "
        )
        self.assertEqual(relaxed.returncode, 0, relaxed.stderr)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("unknown check 'leaky-task'", bad.stderr)

    def test_under_python_m_unittest(self) -> None:
        with example("hygiene") as path:
            plain = run("unittest", "-v", cwd=path)
        self.assertEqual(plain.returncode, 1)
        self.assertIn(
            "test_1_forgets_an_await (test_hygiene.Slips.test_1_forgets_an_await) ... ERROR",
            plain.stderr,
        )
        self.assertIn("test_3_clean (test_hygiene.Slips.test_3_clean) ... ok", plain.stderr)
        self.assertIn(
            "CheckWarning: test_hygiene.Slips.test_2_leaks_a_task left a task running", plain.stderr
        )
