"""Work units, shards and durations files: every test exactly once, the same split everywhere."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import unittest
from collections.abc import Iterator
from pathlib import Path

from aiounit import config
from aiounit.loader import TestLoader
from aiounit.order import random_order, test_ids
from aiounit.result import TestRecord
from aiounit.shards import (
    Unit,
    durations_of,
    read_durations,
    split,
    units_of,
    weigh,
    write_durations,
)
from tests.cli_support import aiounit, example

EXAMPLE_MODULES = ("test_par_alpha", "test_par_beta", "test_par_gamma", "test_par_delta", "helpers")


@contextlib.contextmanager
def loaded(name: str, *modules: str) -> Iterator[unittest.TestSuite]:
    """Discover a copy of an example project in this process; forget its modules after."""
    with example(name) as path:
        sys.path.insert(0, str(path))
        try:
            yield TestLoader().discover(str(path), top_level_dir=str(path))
        finally:
            sys.path.remove(str(path))
            for module in modules:
                sys.modules.pop(module, None)


def all_ids(units: list[Unit]) -> list[str]:
    return [test_id for unit in units for test_id in unit.ids]


class UnitTests(unittest.TestCase):
    def test_a_class_is_a_unit_and_a_module_with_module_fixtures_is_one(self) -> None:
        with loaded("parallel", *EXAMPLE_MODULES) as suite:
            units = units_of(suite)
            ids = test_ids(suite)
        keys = [unit.key for unit in units]
        self.assertEqual(all_ids(units), ids, "units keep the serial order")
        self.assertIn("test_par_alpha.Served", keys)
        self.assertIn("test_par_alpha.Second", keys)
        # test_par_beta has setUpModule: its two classes are one unit, loaded by class.
        beta = units[keys.index("test_par_beta")]
        self.assertEqual(beta.classes, ["test_par_beta.First", "test_par_beta.Second"])
        self.assertFalse(beta.local)
        # The module that failed to import is reported here, not in a worker.
        delta = [unit for unit in units if "test_par_delta" in unit.key]
        self.assertEqual(len(delta), 1)
        self.assertTrue(delta[0].local)
        # The strict-mode stand-in for async tests on a plain TestCase loads by class.
        gamma_async = units[keys.index("test_par_gamma.Async")]
        self.assertEqual(gamma_async.classes, ["test_par_gamma.Async"])
        self.assertEqual(len(gamma_async.ids), 2)

    def test_classes_defined_in_a_function_run_in_this_process(self) -> None:
        class Local(unittest.TestCase):
            def test_x(self) -> None:
                pass

        units = units_of(unittest.defaultTestLoader.loadTestsFromTestCase(Local))
        self.assertEqual(len(units), 1)
        self.assertTrue(units[0].local)
        self.assertEqual(units[0].ids, [Local("test_x").id()])


class SplitTests(unittest.TestCase):
    def setUp(self) -> None:
        with loaded("ordering", "test_mod1", "test_mod2", "test_mod3") as ordering:
            self.ordering = units_of(ordering)
        with loaded("parallel", *EXAMPLE_MODULES) as parallel:
            self.parallel = units_of(parallel)

    def check_union(self, units: list[Unit], total: int) -> list[list[Unit]]:
        shards = [split(units, k, total) for k in range(1, total + 1)]
        ids = [test_id for shard in shards for test_id in all_ids(shard)]
        self.assertEqual(sorted(ids), sorted(all_ids(units)), "every test exactly once")
        self.assertEqual(len(ids), len(set(ids)))
        for shard in shards:
            self.assertEqual([u.index for u in shard], sorted(u.index for u in shard))
        return shards

    def test_the_shards_hold_every_test_exactly_once(self) -> None:
        for units in (self.ordering, self.parallel):
            for total in range(1, 8):
                with self.subTest(units=len(units), total=total):
                    self.check_union(units, total)

    def test_with_durations_too(self) -> None:
        durations = {
            test_id: 0.01 * (i % 7 + 1) for i, test_id in enumerate(all_ids(self.parallel))
        }
        self.assertTrue(weigh(self.parallel, durations))
        for total in (2, 3, 5):
            with self.subTest(total=total):
                self.check_union(self.parallel, total)

    def test_the_split_does_not_depend_on_the_order_of_loading(self) -> None:
        with loaded("ordering", "test_mod1", "test_mod2", "test_mod3") as suite:
            shuffled = units_of(random_order(suite, 12345))
        self.assertNotEqual(all_ids(shuffled), all_ids(self.ordering))
        for k in (1, 2, 3):
            self.assertEqual(
                sorted(all_ids(split(shuffled, k, 3))), sorted(all_ids(split(self.ordering, k, 3)))
            )

    def test_durations_balance_the_shards(self) -> None:
        units = self.parallel
        # One class is as slow as all the others together: it gets a shard of its own.
        durations = {test_id: 0.01 for test_id in all_ids(units)}
        heavy = next(unit for unit in units if unit.key == "test_par_alpha.Second")
        for test_id in heavy.ids:
            durations[test_id] = 1.0
        weigh(units, durations)
        first, second = split(units, 1, 2), split(units, 2, 2)
        with_heavy = first if heavy in first else second
        self.assertEqual([unit.key for unit in with_heavy], [heavy.key])
        # Without durations, the 20 tests in units of 8, 3, 3, 2, 2, 1 and 1 split evenly.
        fresh = [Unit(u.index, u.key, u.items, u.classes) for u in units]
        counts = [len(all_ids(split(fresh, k, 2))) for k in (1, 2)]
        self.assertEqual(counts, [10, 10])

    def test_unknown_tests_weigh_as_much_as_the_average(self) -> None:
        units = self.ordering[:2]
        weigh(units, {units[0].ids[0]: 1.0, units[0].ids[1]: 3.0})
        self.assertEqual(units[0].weight, 1.0 + 3.0 + 2.0 * (len(units[0].ids) - 2))
        self.assertEqual(units[1].weight, 2.0 * len(units[1].ids))


class ParseTests(unittest.TestCase):
    def test_shard_values(self) -> None:
        self.assertEqual(config.parse_shard("2/3"), (2, 3))
        self.assertEqual(config.parse_shard(" 1/1 "), (1, 1))
        for bad in ("0/3", "4/3", "1/0", "a/b", "1", "1/2/3", "-1/2", ""):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                config.parse_shard(bad)

    def test_jobs_values(self) -> None:
        self.assertEqual(config.parse_jobs("3"), 3)
        self.assertEqual(config.parse_jobs(2), 2)
        self.assertEqual(config.parse_jobs("auto"), 0)
        for bad in ("0", "-1", "many", True, ""):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                config.parse_jobs(bad)


class DurationsFileTests(unittest.TestCase):
    def setUp(self) -> None:
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.path = os.path.join(directory.name, "sub", "durations.json")

    def test_written_merged_and_read_back(self) -> None:
        records = [
            TestRecord(id="m.C.test_a", outcome="passed", duration=0.5),
            TestRecord(id="m.C.test_b", outcome="skipped", duration=0.0),
            TestRecord(id="m.C.test_c (i=1)", target="m.C.test_c", kind="subtest",
                       outcome="failed", duration=0.25),
            TestRecord(id="setUpClass (m.D)", kind="fixture", outcome="error"),
        ]  # fmt: skip
        write_durations(self.path, records)
        with open(self.path, encoding="utf-8") as file:
            document = json.load(file)
        self.assertEqual(
            document, {"version": 1, "durations": {"m.C.test_a": 0.5, "m.C.test_c": 0.25}}
        )
        # A later run of a subset refines the file; tests it did not run keep their time.
        write_durations(self.path, [TestRecord(id="m.C.test_a", outcome="passed", duration=0.75)])
        self.assertEqual(read_durations(self.path), {"m.C.test_a": 0.75, "m.C.test_c": 0.25})
        self.assertEqual(durations_of(records), {"m.C.test_a": 0.5, "m.C.test_c": 0.25})

    def test_a_missing_file_holds_no_durations_and_a_bad_one_is_an_error(self) -> None:
        self.assertEqual(read_durations(self.path), {})
        os.makedirs(os.path.dirname(self.path))
        for text in ("not json", '{"durations": {}}', '{"version": 1, "durations": []}'):
            Path(self.path).write_text(text, encoding="utf-8")
            with self.subTest(text=text), self.assertRaises(ValueError):
                read_durations(self.path)


class ShardCommandLineTests(unittest.TestCase):
    def listed(self, path: Path, *args: str) -> list[str]:
        run = aiounit("--list", *args, cwd=path)
        self.assertEqual(run.returncode, 0, run.stderr)
        return run.stdout.split()

    def test_the_union_of_the_shards_is_the_whole_run(self) -> None:
        with example("ordering") as path:
            everything = self.listed(path)
            shards = [self.listed(path, "--shard", f"{k}/3") for k in (1, 2, 3)]
            self.assertEqual(sorted(i for shard in shards for i in shard), sorted(everything))
            self.assertEqual([len(shard) for shard in shards], [12, 12, 12])
            # A durations file written by an earlier run balances the split instead.
            run = aiounit("--save-durations", "durations.json", cwd=path)
            self.assertEqual(run.returncode, 0, run.stderr)
            saved = json.loads((path / "durations.json").read_text(encoding="utf-8"))
            self.assertEqual(sorted(saved["durations"]), sorted(everything))
            timed = [
                self.listed(path, "--durations-file", "durations.json", "--shard", f"{k}/2")
                for k in (1, 2)
            ]
            self.assertEqual(sorted(i for shard in timed for i in shard), sorted(everything))

    def test_a_shard_runs_with_workers_and_writes_its_own_report(self) -> None:
        with example("ordering") as path:
            run = aiounit("-j", "2", "--shard", "2/2", "--junit-xml", "shard-2.xml", cwd=path)
            self.assertEqual(run.returncode, 0, run.stderr)
            # Each of the three modules has module fixtures: three units of twelve tests.
            self.assertIn(
                "Shard 2/2: 12 of 36 tests in 1 of 3 work units (balanced by test count)",
                run.stderr,
            )
            self.assertIn("Ran 12 tests", run.stderr)
            report = (path / "shard-2.xml").read_text(encoding="utf-8")
            self.assertIn('tests="12"', report)
            self.assertEqual(report.count("<testcase "), 12)

    def test_bad_values_are_usage_errors(self) -> None:
        with example("passing") as path:
            for args, expected in (
                (("--shard", "3/2"), "argument --shard: invalid value '3/2'"),
                (("--shard", "x"), "expected K/N"),
                (("-j", "0"), "argument -j/--jobs: invalid value '0'"),
                (("--jobs", "lots"), "or 'auto'"),
            ):
                with self.subTest(args=args):
                    run = aiounit(*args, cwd=path)
                    self.assertEqual(run.returncode, 2, run.stderr)
                    self.assertIn(expected, run.stderr)
                    self.assertNotIn("Ran ", run.stderr)
            (path / "bad.json").write_text("[]", encoding="utf-8")
            run = aiounit("--shard", "1/2", "--durations-file", "bad.json", cwd=path)
            self.assertEqual(run.returncode, 2, run.stderr)
            self.assertIn("[bad-durations-file]", run.stderr)
