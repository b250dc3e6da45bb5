"""python -m aiounit, side by side with python -m unittest, and what it adds."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from aiounit.loader import TestLoader
from aiounit.main import TestProgram
from tests.cli_support import (
    REPO,
    aiounit,
    example,
    run_python,
    split_summary,
    unittest_,
    without_times,
)

PY312 = sys.version_info >= (3, 12)
SUMMARY_LINE = re.compile(
    r"^(\d+) passed, (\d+) failed(?:, (\d+) errors?)?(?:, (\d+) skipped)?"
    r"(?:, (\d+) expected failures?)?(?:, (\d+) unexpected success(?:es)?)? in \d+\.\d\ds$"
)
UNITTEST_STATUS = re.compile(r"^(OK|FAILED|NO TESTS RAN)(?: \((.*)\))?$", re.MULTILINE)


def unittest_counts(stderr: str) -> dict[str, int]:
    """The counts of unittest's status line (``FAILED (failures=1, errors=2)``)."""
    match = UNITTEST_STATUS.search(stderr)
    assert match is not None, stderr
    counts = {}
    for part in filter(None, (match.group(2) or "").split(", ")):
        name, _, value = part.partition("=")
        counts[name] = int(value)
    return counts


class SideBySide(unittest.TestCase):
    """Every unittest flag gives the same output and exit status under aiounit."""

    def assert_same(self, project: str, *args: str) -> str:
        """Run both; compare status, stdout, stderr (times aside); return aiounit's last line."""
        with example(project) as path:
            stock = unittest_(*args, cwd=path)
            ours = aiounit(*args, cwd=path)
        self.assertEqual(ours.returncode, stock.returncode, ours.stderr)
        self.assertEqual(ours.stdout, stock.stdout)
        body, last = split_summary(ours.stderr)
        self.assertEqual(without_times(body), without_times(stock.stderr))
        self.assertRegex(last, SUMMARY_LINE)
        counts = unittest_counts(stock.stderr)
        match = SUMMARY_LINE.match(last)
        assert match is not None
        _, failed, errors, skipped, xfail, xpass = (int(g or 0) for g in match.groups())
        self.assertEqual(failed, counts.get("failures", 0))
        self.assertEqual(errors, counts.get("errors", 0))
        self.assertEqual(skipped, counts.get("skipped", 0))
        self.assertEqual(xfail, counts.get("expected failures", 0))
        self.assertEqual(xpass, counts.get("unexpected successes", 0))
        return last

    def test_unittest_options_on_a_project_with_every_outcome(self) -> None:
        for args in (
            (),
            ("-v",),
            ("-q",),
            ("-b",),
            ("-b", "-v"),
            ("--locals",),
            ("-f",),
            ("--failfast", "-v"),
            ("-k", "sub"),
            ("-k", "*fail*", "-k", "test_two"),
            ("--verbose", "--buffer", "--catch"),
        ):
            with self.subTest(args=args):
                self.assert_same("mixed", *args)

    def test_what_to_run(self) -> None:
        for args in (
            ("test_alpha",),
            ("test_alpha.Outcomes",),
            ("test_alpha.Outcomes.test_fails",),
            ("test_alpha.py", "-v"),
            ("test_beta.Fine.test_one", "test_alpha.Outcomes.test_passes", "-v"),
            ("no_such_module",),
            ("test_alpha.NoSuchClass",),
            ("discover",),
            ("discover", "-v", "-p", "test_b*.py"),
            ("discover", "-s", ".", "-t", ".", "-p", "test_a*.py"),
            ("discover", ".", "test_be*.py"),
            ("discover", ".", "test_be*.py", "."),
            ("discover", "--start-directory", ".", "--pattern", "test_alpha.py"),
        ):
            with self.subTest(args=args):
                self.assert_same("mixed", *args)

    def test_a_passing_project(self) -> None:
        for args in ((), ("-v",), ("-q",)):
            with self.subTest(args=args):
                last = self.assert_same("passing", *args)
                self.assertRegex(last, r"^3 passed, 0 failed, 1 skipped in \d+\.\d\ds$")

    def test_import_errors_name_the_module_and_the_run_goes_on(self) -> None:
        with example("mixed") as path:
            ours = aiounit("-v", cwd=path)
        self.assertEqual(ours.returncode, 1)
        self.assertIn("ERROR: test_broken (unittest.loader._FailedTest.test_broken)", ours.stderr)
        self.assertIn("Failed to import test module: test_broken", ours.stderr)
        self.assertIn("test_one (test_beta.Fine.test_one) ... ok", ours.stderr)

    def test_catch_reports_the_tests_run_before_ctrl_c(self) -> None:
        last = self.assert_same("interrupt", "-c", "-v")
        self.assertRegex(last, r"^2 passed, 0 failed in ")

    @unittest.skipUnless(PY312, "python -m unittest has --durations from 3.12")
    def test_durations_as_unittest_prints_them(self) -> None:
        # Under -v no row is hidden: which rows fall under 1ms differs from run to run.
        for args in (("--durations", "0", "-v"), ("--durations", "2", "-v", "-b")):
            with self.subTest(args=args), example("passing") as path:
                stock = unittest_(*args, cwd=path)
                ours = aiounit(*args, cwd=path)
                self.assertEqual(ours.returncode, stock.returncode)
                body, _ = split_summary(ours.stderr)
                # Rows are sorted by time, which differs between two runs: compare the rest.
                self.assertEqual(
                    without_times(_without_rows(body)), without_times(_without_rows(stock.stderr))
                )
                self.assertIn("Slowest test durations", body)

    @unittest.skipUnless(PY312, "python -m unittest has exit status 5 from 3.12")
    def test_no_tests_as_unittest_reports_it(self) -> None:
        for args in (("discover", "-p", "nothing*.py"), ("-k", "no_test_has_this_name")):
            with self.subTest(args=args):
                self.assert_same("passing", *args)


def _without_rows(text: str) -> str:
    return re.sub(r"(?m)^\d+\.\d{3}s +.*\n", "", text)


_SYNC_ONLY = """
import sys
import unittest


class Sync(unittest.TestCase):
    def test_nothing_async_was_imported(self):
        self.assertNotIn("asyncio", sys.modules)
        self.assertNotIn("multiprocessing", sys.modules)
"""


class ExitStatus(unittest.TestCase):
    def test_no_tests_is_5_on_every_python_version(self) -> None:
        with example("passing") as path:
            for args in (("discover", "-p", "nothing*.py"), ("-k", "no_test_has_this_name")):
                with self.subTest(args=args):
                    ours = aiounit(*args, cwd=path)
                    self.assertEqual(ours.returncode, 5)
                    self.assertIn("\nNO TESTS RAN\n", ours.stderr)
                    self.assertRegex(ours.stderr.splitlines()[-1], r"^0 passed, 0 failed in ")

    def test_durations_work_on_every_python_version(self) -> None:
        with example("passing") as path:
            ours = aiounit("--durations", "0", "-v", cwd=path)
        self.assertEqual(ours.returncode, 0)
        self.assertIn("Slowest test durations\n" + "-" * 70 + "\n", ours.stderr)
        self.assertRegex(ours.stderr, r"\n\d+\.\d{3}s +test_c \(test_ok\.Second\.test_c\)\n")

    def test_usage_errors_are_2_and_name_the_argument(self) -> None:
        cases = [
            (("--no-such-flag",), "--no-such-flag"),
            (("--durations", "many"), "--durations"),
            (("--loop", "not a loop"), "argument --loop: invalid value 'not a loop'"),
            (("--loop", "pkg.mod"), "'asyncio', 'uvloop' or 'package.module:callable'"),
            (("--asyncio-mode", "sometimes"), "argument --asyncio-mode"),
            (("--color", "pink"), "argument --color"),
            (("--seed", "-1"), "argument --seed"),
            (("--timeout", "soon"), "argument --timeout"),
            (("discover", "-x"), "-x"),
        ]
        with example("passing") as path:
            for args, expected in cases:
                with self.subTest(args=args):
                    ours = aiounit(*args, cwd=path)
                    self.assertEqual(ours.returncode, 2, ours.stderr)
                    self.assertIn(expected, ours.stderr)
                    self.assertNotIn("Ran ", ours.stderr)

    def test_help_documents_every_option_with_its_default(self) -> None:
        with example("passing") as path:
            ours = aiounit("--help", cwd=path)
            discover = aiounit("discover", "--help", cwd=path)
        self.assertEqual(ours.returncode, 0)
        self.assertEqual(discover.returncode, 0)
        entries = _help_entries(ours.stdout)
        flags = {
            flag for entry in entries for flag in re.findall(r"(?<![\w-])--?[\w-]+", entry[:30])
        }
        for flag in (
            "-v", "-q", "--locals", "--durations", "-f", "-c", "-b", "-k", "--asyncio-mode",
            "--loop", "--loop-debug", "--timeout", "--junit-xml", "--json", "--color",
            "--random-order", "--seed", "--last-failed", "--failed-first", "--list",
            "-s", "-p", "-t",
        ):  # fmt: skip
            self.assertIn(flag, flags)
        for entry in entries:
            if entry.startswith(("-h", "--help")):
                continue
            with self.subTest(entry=entry.split()[0]):
                self.assertIn("(default:", entry)
        self.assertIn("python -m aiounit discover", ours.stdout)
        self.assertIn("--start-directory", discover.stdout)

    def test_the_reference_gives_every_option_as_help_does(self) -> None:
        with example("passing") as path:
            ours = aiounit("--help", cwd=path)
        reference = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
        flat = _unwrapped(reference)
        for flags, text in _help_options(ours.stdout):
            with self.subTest(flags=flags):
                self.assertIn(_unwrapped(text), flat)
                for flag in re.findall(r"(?<![\w-])--?[a-z][\w-]*", flags):
                    if flag != "-h" and flag != "--help":
                        self.assertIn(f"`{flag}", reference)


def _unwrapped(text: str) -> str:
    """``text`` on one line; argparse also wraps after hyphens (``unawaited-`` ``coroutine``)."""
    return re.sub(r"(?<=\w-) (?=\w)", "", " ".join(text.split()))


def _help_options(text: str) -> list[tuple[str, str]]:
    """(flags, help text) of each option in an argparse help text."""
    options: list[tuple[str, str]] = []
    in_entry = False
    for line in text.splitlines():
        if line.startswith("  -"):
            flags, _, help_text = line.strip().partition("  ")
            options.append((flags, help_text.strip()))
            in_entry = True
        elif in_entry and line.startswith("    ") and line.strip():
            flags, help_text = options[-1]
            options[-1] = (flags, f"{help_text} {line.strip()}".strip())
        else:
            in_entry = False
    return options


def _help_entries(text: str) -> list[str]:
    """The option entries of an argparse help text, each joined onto one line."""
    entries: list[str] = []
    in_entry = False
    for line in text.splitlines():
        if line.startswith("  -"):
            entries.append(line.strip())
            in_entry = True
        elif in_entry and line.startswith("    ") and line.strip():
            entries[-1] += " " + line.strip()
        else:
            in_entry = False
    return entries


class AsyncioModes(unittest.TestCase):
    def test_strict_reports_async_tests_on_a_plain_case(self) -> None:
        with example("asyncmodes") as path:
            ours = aiounit("-v", cwd=path)
        self.assertEqual(ours.returncode, 1)
        self.assertIn(
            "PlainWithAsync (test_modes.PlainWithAsync) ... ERROR", ours.stderr.splitlines()
        )
        self.assertIn("ERROR: PlainWithAsync (test_modes.PlainWithAsync)", ours.stderr)
        self.assertIn(
            "test_modes.PlainWithAsync has async def tests (test_async_fails, test_async_passes)",
            ours.stderr,
        )
        self.assertIn("[async-test-in-sync-case]", ours.stderr)
        for ok in (
            "test_sync (test_modes.PlainWithAsync.test_sync) ... ok",
            "test_sync_only (test_modes.PlainSyncOnly.test_sync_only) ... ok",
            "test_proper (test_modes.Proper.test_proper) ... ok",
            "test_stdlib (test_modes.Stdlib.test_stdlib) ... ok",
        ):
            self.assertIn(ok, ours.stderr.splitlines())
        self.assertNotIn("async test ran to its end", ours.stdout)
        self.assertRegex(ours.stderr.splitlines()[-1], r"^4 passed, 0 failed, 1 error in ")

    def test_auto_runs_them(self) -> None:
        with example("asyncmodes") as path:
            ours = aiounit("-v", "--asyncio-mode", "auto", cwd=path)
            by_env = aiounit("-v", cwd=path, env={"AIOUNIT_ASYNCIO_MODE": "auto"})
        for run in (ours, by_env):
            self.assertEqual(run.returncode, 1)
            self.assertIn("async test ran to its end", run.stdout)
            self.assertIn(
                "test_async_fails (test_modes.PlainWithAsync.test_async_fails) ... FAIL",
                run.stderr.splitlines(),
            )
            self.assertIn("AssertionError: 'awaited' != 'not awaited'", run.stderr)
            self.assertRegex(run.stderr.splitlines()[-1], r"^5 passed, 1 failed in ")

    def test_a_method_named_on_the_command_line(self) -> None:
        name = "test_modes.PlainWithAsync.test_async_passes"
        with example("asyncmodes") as path:
            strict = aiounit(name, cwd=path)
            auto = aiounit(name, "--asyncio-mode", "auto", cwd=path)
        self.assertEqual(strict.returncode, 1)
        self.assertIn("[async-test-in-sync-case]", strict.stderr)
        self.assertEqual(auto.returncode, 0, auto.stderr)
        self.assertIn("async test ran to its end", auto.stdout)


class LoopSettings(unittest.TestCase):
    def report(
        self, *args: str, env: dict[str, str] | None = None, files: dict[str, str] | None = None
    ) -> dict[str, str]:
        with example("loopenv") as path:
            for name, text in (files or {}).items():
                (path / name).write_text(text, encoding="utf-8")
            ours = aiounit(*args, cwd=path, env=env)
        self.assertEqual(ours.returncode, 0, ours.stderr)
        return dict(line.split("=", 1) for line in ours.stdout.splitlines() if "=" in line)

    def test_defaults(self) -> None:
        seen = self.report()
        self.assertEqual(seen["AIOUNIT_LOOP"], "<unset>")
        self.assertEqual(seen["AIOUNIT_TIMEOUT"], "<unset>")
        self.assertEqual(seen["debug"], "False")
        self.assertEqual(seen["made_by"], "default")

    def test_command_line_reaches_the_test_case(self) -> None:
        seen = self.report("--loop", "custom_loops:make_loop", "--loop-debug", "--timeout", "2.5")
        self.assertEqual(seen["AIOUNIT_LOOP"], "custom_loops:make_loop")
        self.assertEqual(seen["AIOUNIT_LOOP_DEBUG"], "1")
        self.assertEqual(seen["AIOUNIT_TIMEOUT"], "2.5")
        self.assertEqual(seen["debug"], "True")
        self.assertEqual(seen["made_by"], "custom_loops.make_loop")

    def test_config_file_environment_and_command_line_in_order(self) -> None:
        files = {"setup.cfg": "[aiounit]\nloop = custom_loops:make_loop\nloop_debug = true\n"}
        self.assertEqual(self.report(files=files)["made_by"], "custom_loops.make_loop")
        from_env = self.report(files=files, env={"AIOUNIT_LOOP": "asyncio"})
        self.assertEqual(from_env["made_by"], "default")
        self.assertEqual(from_env["debug"], "True")
        from_cli = self.report("--no-loop-debug", files=files, env={"AIOUNIT_LOOP_DEBUG": "1"})
        self.assertEqual(from_cli["debug"], "False")
        self.assertEqual(from_cli["AIOUNIT_LOOP_DEBUG"], "0")

    def test_uvloop(self) -> None:
        with example("loopenv") as path:
            ours = aiounit("--loop", "uvloop", cwd=path)
        if importlib.util.find_spec("uvloop") is None:
            self.assertEqual(ours.returncode, 2)
            self.assertIn("uvloop was asked for (by --loop) but is not installed", ours.stderr)
            self.assertIn("[uvloop-missing]", ours.stderr)
        else:
            self.assertEqual(ours.returncode, 0, ours.stderr)
            self.assertIn("AIOUNIT_LOOP=uvloop", ours.stdout)


class Reports(unittest.TestCase):
    def test_junit_xml_matches_the_run(self) -> None:
        with example("mixed") as path:
            ours = aiounit("-b", "--junit-xml", "out/junit.xml", cwd=path)
            stock = unittest_("-b", cwd=path)
            root = ET.parse(path / "out" / "junit.xml").getroot()
        self.assertEqual(ours.returncode, 1)
        counts = unittest_counts(stock.stderr)
        [suite] = root.findall("testsuite")
        cases = suite.findall("testcase")
        self.assertEqual(int(suite.get("tests", "-1")), len(cases))
        self.assertEqual(
            int(suite.get("failures", "-1")),
            counts["failures"] + counts["unexpected successes"],
        )
        self.assertEqual(int(suite.get("errors", "-1")), counts["errors"])
        self.assertEqual(
            int(suite.get("skipped", "-1")), counts["skipped"] + counts["expected failures"]
        )
        self.assertEqual(
            len([c for c in cases if c.find("failure") is not None]), int(suite.get("failures", ""))
        )
        names = {(c.get("classname"), c.get("name")) for c in cases}
        self.assertIn(("test_beta.BrokenFixture", "setUpClass"), names)
        self.assertIn(("unittest.loader._FailedTest", "test_broken"), names)
        self.assertIn(("test_alpha.Outcomes", "test_subtests (i=2)"), names)
        by_name = {c.get("name"): c for c in cases}
        failing = by_name["test_fails"]
        self.assertEqual(failing.findtext("system-out"), "out of a failing test\n")
        self.assertEqual(failing.findtext("system-err"), "err of a failing test\n")
        failure = failing.find("failure")
        assert failure is not None
        self.assertEqual(failure.get("message"), "AssertionError: 1 != 2")
        self.assertIn("self.assertEqual(1, 2)", failure.text or "")
        self.assertEqual(
            by_name["test_passes"].findtext("system-out"), "noise from a passing test\n"
        )

    def test_json_report(self) -> None:
        with example("mixed") as path:
            ours = aiounit("-b", "--json", "report.json", "--seed", "7", cwd=path)
            document = json.loads((path / "report.json").read_text(encoding="utf-8"))
        self.assertEqual(ours.returncode, 1)
        self.assertEqual(document["version"], 1)
        self.assertEqual(document["seed"], 7)
        summary = document["summary"]
        self.assertEqual(
            (summary["passed"], summary["failed"], summary["errors"], summary["skipped"]),
            (3, 4, 3, 1),
        )
        self.assertEqual(summary["expected_failures"], 1)
        self.assertEqual(summary["unexpected_successes"], 1)
        self.assertEqual(summary["tests_run"], int(re.findall(r"Ran (\d+) tests", ours.stderr)[0]))
        tests = {t["id"]: t for t in document["tests"]}
        failing = tests["test_alpha.Outcomes.test_fails"]
        self.assertEqual(failing["outcome"], "failed")
        self.assertEqual(failing["message"], "AssertionError: 1 != 2")
        self.assertEqual(failing["stdout"], "out of a failing test\n")
        self.assertEqual(failing["stderr"], "err of a failing test\n")
        self.assertEqual(failing["findings"], [])
        self.assertIn("Traceback (most recent call last)", failing["traceback"])
        self.assertEqual(tests["setUpClass (test_beta.BrokenFixture)"]["kind"], "fixture")
        for record in document["tests"]:
            self.assertGreaterEqual(record["duration"], 0)

    def test_report_paths_from_the_config_file(self) -> None:
        with example("passing") as path:
            (path / "pyproject.toml").write_text(
                '[tool.aiounit]\njunit_xml = "reports/junit.xml"\njson = "reports/run.json"\n',
                encoding="utf-8",
            )
            (path / "sub").mkdir()
            ours = aiounit("discover", "-s", "..", cwd=path / "sub")
            self.assertEqual(ours.returncode, 0, ours.stderr)
            self.assertTrue((path / "reports" / "junit.xml").is_file())
            self.assertTrue((path / "reports" / "run.json").is_file())

    def test_an_unwritable_report_path_is_exit_2(self) -> None:
        with example("passing") as path:
            (path / "taken").mkdir()
            ours = aiounit("--junit-xml", "taken", cwd=path)
        self.assertEqual(ours.returncode, 2)
        self.assertIn("[report-not-written]", ours.stderr)

    def test_colour(self) -> None:
        with example("passing") as path:
            always = aiounit("-v", "--color", "always", cwd=path)
            by_env = aiounit("-v", cwd=path, env={"AIOUNIT_COLOR": "always"})
            never = aiounit("-v", "--color", "never", cwd=path, env={"AIOUNIT_COLOR": "always"})
            piped = aiounit("-v", cwd=path)
        self.assertIn("\x1b[32mok\x1b[0m", always.stderr)
        self.assertIn("\x1b[32mok\x1b[0m", by_env.stderr)
        self.assertNotIn("\x1b", never.stderr)
        self.assertNotIn("\x1b", piped.stderr)


class Ordering(unittest.TestCase):
    def listing(self, *args: str) -> list[str]:
        with example("ordering") as path:
            ours = aiounit("--list", *args, cwd=path)
        self.assertEqual(ours.returncode, 0, ours.stderr)
        return ours.stdout.splitlines()

    def assert_grouped(self, ids: list[str]) -> None:
        """Each class's tests, and each module's classes, are contiguous."""
        for level in (1, 2):
            groups = [test_id.rsplit(".", level)[0] for test_id in ids]
            seen: list[str] = []
            for group in groups:
                if not seen or seen[-1] != group:
                    self.assertNotIn(group, seen, f"{group} split in {ids}")
                    seen.append(group)

    def test_same_seed_same_order_other_seeds_other_orders(self) -> None:
        default = self.listing()
        orders = {seed: self.listing("--seed", str(seed)) for seed in (1, 2, 3)}
        self.assertEqual(self.listing("--seed", "1"), orders[1])
        self.assertEqual(len(default), 36)
        for seed, order in orders.items():
            with self.subTest(seed=seed):
                self.assertEqual(sorted(order), sorted(default))
                self.assertNotEqual(order, default)
                self.assert_grouped(order)
        self.assertEqual(len({tuple(order) for order in orders.values()}), 3)

    def test_a_random_run_prints_its_seed_and_can_be_replayed(self) -> None:
        with example("ordering") as path:
            first = aiounit("-v", "--random-order", cwd=path)
            seed = re.findall(r"Random order with --seed (\d+)", first.stderr)
            self.assertEqual(len(seed), 1, first.stderr)
            again = aiounit("-v", "--seed", seed[0], cwd=path)
        # Fixtures fail if they run twice: exit 0 shows classes and modules stayed whole.
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(again.returncode, 0, again.stderr)
        run_order = [line for line in first.stderr.splitlines() if line.endswith(" ... ok")]
        self.assertEqual(len(run_order), 36)
        self.assertEqual(
            run_order, [line for line in again.stderr.splitlines() if line.endswith(" ... ok")]
        )

    def test_random_order_from_the_config_file(self) -> None:
        with example("ordering") as path:
            (path / "setup.cfg").write_text(
                "[aiounit]\nrandom_order = true\nseed = 2\n", encoding="utf-8"
            )
            from_file = aiounit("--list", cwd=path).stdout.splitlines()
            off = aiounit("--list", "--no-random-order", cwd=path).stdout.splitlines()
        self.assertEqual(from_file, self.listing("--seed", "2"))
        self.assertEqual(off, self.listing())


class LastFailed(unittest.TestCase):
    def test_last_failed_and_failed_first(self) -> None:
        with example("flaky") as path:
            first = aiounit(cwd=path, env={"EXAMPLE_FAIL": "test_b,test_d"})
            self.assertEqual(first.returncode, 1)
            cache = path / ".aiounit_cache" / "lastfailed"
            self.assertTrue(cache.is_file())
            self.assertEqual(
                (path / ".aiounit_cache" / ".gitignore").read_text().splitlines()[-1], "*"
            )
            self.assertEqual(
                aiounit("--lf", "--list", cwd=path).stdout.splitlines(),
                ["test_flaky.Flaky.test_b", "test_flaky.Steady.test_d"],
            )
            self.assertEqual(
                aiounit("--ff", "--list", cwd=path).stdout.splitlines(),
                [
                    "test_flaky.Flaky.test_b", "test_flaky.Flaky.test_a", "test_flaky.Flaky.test_c",
                    "test_flaky.Steady.test_d", "test_flaky.Steady.test_e",
                ],
            )  # fmt: skip
            # With a random order, failures still come first, the rest keeps the seed's order.
            seeded = aiounit("--seed", "3", "--list", cwd=path).stdout.splitlines()
            failed = {"test_flaky.Flaky.test_b", "test_flaky.Steady.test_d"}
            expected: list[str] = []
            for cls in dict.fromkeys(test_id.rsplit(".", 1)[0] for test_id in seeded):
                tests = [t for t in seeded if t.rsplit(".", 1)[0] == cls]
                expected += [t for t in tests if t in failed] + [
                    t for t in tests if t not in failed
                ]
            self.assertEqual(
                aiounit("--ff", "--seed", "3", "--list", cwd=path).stdout.splitlines(), expected
            )
            # Only the two failures run; one is fixed now, the other still fails.
            second = aiounit("--last-failed", "-v", cwd=path, env={"EXAMPLE_FAIL": "test_d"})
            self.assertEqual(second.returncode, 1)
            self.assertIn(
                "--last-failed: running the 2 of 5 tests that failed last run", second.stderr
            )
            self.assertIn("Ran 2 tests", second.stderr)
            self.assertEqual(
                aiounit("--lf", "--list", cwd=path).stdout.splitlines(),
                ["test_flaky.Steady.test_d"],
            )
            # A run of other tests does not forget test_d.
            aiounit("test_flaky.Flaky", cwd=path)
            self.assertEqual(
                aiounit("--lf", "--list", cwd=path).stdout.splitlines(),
                ["test_flaky.Steady.test_d"],
            )
            third = aiounit("--lf", cwd=path)
            self.assertEqual(third.returncode, 0, third.stderr)
            everything = aiounit("--lf", cwd=path)
            self.assertIn(
                "--last-failed: no failed tests recorded, running all 5", everything.stderr
            )
            self.assertIn("Ran 5 tests", everything.stderr)

    def test_a_failing_fixture_or_import_selects_its_class_or_module(self) -> None:
        with example("mixed") as path:
            aiounit(cwd=path)
            listed = aiounit("--lf", "--list", cwd=path).stdout.splitlines()
        self.assertIn("test_beta.BrokenFixture.test_never_runs", listed)
        self.assertIn("unittest.loader._FailedTest.test_broken", listed)
        self.assertNotIn("test_beta.Fine.test_one", listed)
        self.assertNotIn("test_alpha.Outcomes.test_passes", listed)
        self.assertIn("test_alpha.Outcomes.test_subtests", listed)

    def test_an_unreadable_cache_is_ignored_with_a_warning(self) -> None:
        with example("flaky") as path:
            (path / ".aiounit_cache").mkdir()
            (path / ".aiounit_cache" / "lastfailed").write_bytes(b"\xff\xfe garbage")
            ours = aiounit("--lf", cwd=path)
            self.assertEqual(ours.returncode, 0, ours.stderr)
            self.assertIn("[bad-cache]", ours.stderr)
            self.assertIn("Ran 5 tests", ours.stderr)
            self.assertEqual(
                (path / ".aiounit_cache" / "lastfailed").read_text().splitlines(),
                ["# aiounit last-failed v1"],
            )

    def test_a_passing_project_gets_no_cache(self) -> None:
        with example("passing") as path:
            self.assertEqual(aiounit(cwd=path).returncode, 0)
            self.assertFalse((path / ".aiounit_cache").exists())


class Listing(unittest.TestCase):
    def test_list_prints_ids_and_runs_nothing(self) -> None:
        with example("passing") as path:
            ours = aiounit("--list", cwd=path)
            none = aiounit("--list", "-k", "nothing_matches", cwd=path)
        self.assertEqual(ours.returncode, 0)
        self.assertEqual(
            ours.stdout.splitlines(),
            [
                "test_ok.First.test_a",
                "test_ok.First.test_b",
                "test_ok.First.test_skipped",
                "test_ok.Second.test_c",
            ],
        )
        self.assertEqual(ours.stderr, "")
        self.assertEqual(none.returncode, 5)
        self.assertEqual(none.stdout, "")

    def test_list_shows_load_errors(self) -> None:
        with example("mixed") as path:
            ours = aiounit("--list", cwd=path)
        self.assertEqual(ours.returncode, 1)
        self.assertIn("unittest.loader._FailedTest.test_broken", ours.stdout.splitlines())
        self.assertIn("Failed to import test module: test_broken", ours.stderr)


class Configuration(unittest.TestCase):
    def test_config_errors_are_usage_errors_naming_file_and_key(self) -> None:
        with example("passing") as path:
            pyproject = path / "pyproject.toml"
            pyproject.write_text('[tool.aiounit]\ncolour = "never"\n', encoding="utf-8")
            unknown = aiounit(cwd=path)
            pyproject.write_text('[tool.aiounit]\ncolor = "pink"\n', encoding="utf-8")
            bad = aiounit(cwd=path)
            pyproject.unlink()
            from_env = aiounit(cwd=path, env={"AIOUNIT_DURATIONS": "lots"})
        for run in (unknown, bad, from_env):
            self.assertEqual(run.returncode, 2, run.stderr)
            self.assertTrue(run.stderr.startswith("python -m aiounit: error: "), run.stderr)
            self.assertNotIn("Ran ", run.stderr)
        self.assertIn(f"{pyproject} [tool.aiounit]: unknown key 'colour'", unknown.stderr)
        self.assertIn("[unknown-config-key]", unknown.stderr)
        self.assertIn(f"{pyproject} [tool.aiounit]: color = 'pink'", bad.stderr)
        self.assertIn("expected one of auto, always, never", bad.stderr)
        self.assertIn("environment variable AIOUNIT_DURATIONS = 'lots'", from_env.stderr)


class ModuleMain(unittest.TestCase):
    def test_aiounit_main_at_the_bottom_of_a_test_module(self) -> None:
        with example("progmain") as path:
            everything = run_python("-W", "error", "test_prog.py", "-v", cwd=path)
            one_class = run_python("-W", "error", "test_prog.py", "Sync", cwd=path)
        self.assertEqual(everything.returncode, 1, everything.stderr)
        self.assertIn("test_async (__main__.Async.test_async) ... ok", everything.stderr)
        self.assertRegex(everything.stderr.splitlines()[-1], r"^2 passed, 1 failed in ")
        self.assertEqual(one_class.returncode, 0, one_class.stderr)
        self.assertIn("Ran 1 test in", one_class.stderr)

    def test_in_process_without_exit(self) -> None:
        names = ("AIOUNIT_LOOP_DEBUG", "AIOUNIT_TIMEOUT")
        before = {name: os.environ.get(name) for name in names}
        seen: dict[str, str | None] = {}

        class Spy(unittest.TestCase):
            def test_spy(self) -> None:
                seen.update((name, os.environ.get(name)) for name in names)

        with example("passing") as path:
            (path / "test_spy.py").write_text("", encoding="utf-8")
            err = io.StringIO()
            cwd, saved_path = os.getcwd(), list(sys.path)
            os.chdir(path)
            try:
                with contextlib.redirect_stderr(err):
                    program = TestProgram(
                        module=None,
                        argv=["aiounit", "-v", "--loop-debug", "--timeout", "3"],
                        exit=False,
                        testLoader=_LoaderAdding(Spy),
                    )
            finally:
                os.chdir(cwd)
                sys.path[:] = saved_path
                sys.modules.pop("test_ok", None)
                sys.modules.pop("test_spy", None)
        self.assertEqual(program.exit_code, 0, err.getvalue())
        self.assertTrue(program.result.wasSuccessful())
        self.assertIn("test_a (test_ok.First.test_a) ... ok", err.getvalue())
        # The settings reached the tests as environment variables, and were put back.
        self.assertEqual(seen, {"AIOUNIT_LOOP_DEBUG": "1", "AIOUNIT_TIMEOUT": "3"})
        self.assertEqual({name: os.environ.get(name) for name in names}, before)


class _LoaderAdding(TestLoader):
    """A loader that adds one extra class to what discovery finds."""

    def __init__(self, extra: type[unittest.TestCase]) -> None:
        super().__init__()
        self.extra = extra

    def discover(self, *args: Any, **kwargs: Any) -> unittest.TestSuite:
        suite = super().discover(*args, **kwargs)
        suite.addTests(self.loadTestsFromTestCase(self.extra))
        return suite


class StartUp(unittest.TestCase):
    HEAVY = (
        "json",
        "xml.etree.ElementTree",
        "hashlib",
        "random",
        "tomllib",
        "configparser",
        "socket",
        "typing",
    )

    def test_a_plain_run_imports_nothing_heavy(self) -> None:
        with example("one") as path:
            run = run_python("-X", "importtime", "-m", "aiounit", "discover", cwd=path)
            package = run_python("-X", "importtime", "-c", "import aiounit", cwd=path)
        self.assertEqual(run.returncode, 0, run.stderr)
        imported = _imported(run.stderr)
        # Whatever the package itself imports is its business; the runner adds none of these.
        added = imported - _imported(package.stderr)
        self.assertIn("aiounit.runner", imported)  # the measurement saw a real run
        self.assertEqual(sorted(added & set(self.HEAVY)), [])

    def test_a_run_of_sync_tests_imports_neither_asyncio_nor_multiprocessing(self) -> None:
        # What a run needs only for async tests, or only for -j, is imported when used.
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "test_sync.py").write_text(_SYNC_ONLY, encoding="utf-8")
            done = aiounit("discover", "-v", cwd=Path(tmp))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("test_nothing_async_was_imported", done.stderr)
        self.assertIn("1 passed, 0 failed", done.stderr)


def _imported(importtime_output: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime_output.splitlines()
        if line.startswith("import time:") and "|" in line
    }


if __name__ == "__main__":
    unittest.main()
