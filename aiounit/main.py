"""The command line: unittest's TestProgram, with aiounit's options, settings and reports."""

from __future__ import annotations

import argparse
import os
import sys
import unittest
from unittest.signals import installHandler

from aiounit import config, exit_guard, options
from aiounit.errors import ConfigurationError
from aiounit.loader import TestLoader
from aiounit.result import TestResult
from aiounit.runner import TestRunner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import ModuleType
    from typing import Any, NoReturn

__all__ = ["EXIT_INTERRUPTED", "EXIT_NO_TESTS", "TestProgram", "main"]


#: Exit status when no test ran, as ``python -m unittest`` gives it from Python 3.12.
EXIT_NO_TESTS = 5
#: Ctrl-C stopped the run (128 + SIGINT, as shells report a process it ended).
EXIT_INTERRUPTED = 130
#: Exit status of a usage error: a bad option, setting or config file.
EXIT_USAGE = 2


class TestProgram(unittest.TestProgram):
    """``unittest.main`` with aiounit's loader, runner, options and settings.

    Used as ``python -m aiounit`` (``module=None``) or at the bottom of a test module as
    ``aiounit.main()``. It takes ``unittest.main``'s arguments and accepts all of its
    options, with the same meanings on every Python version (``--durations`` on 3.11
    too); see ``--help`` and docs/cli.md for aiounit's. The exit status is 0 when all
    tests passed, 1 on failures or errors, 5 when no test ran and 2 on a usage error;
    it is also kept in ``exit_code`` when ``exit=False``.
    """

    # What the command line did not give stays None, so the environment and the config
    # file can fill it in (argparse only sets attributes the namespace lacks).
    asyncio_mode: str | None = None
    loop: str | None = None
    loop_debug: bool | None = None
    timeout: float | None = None
    checks: str | None = None
    strict: bool | None = None
    blocked_loop_threshold: float | None = None
    virtual_time: str | None = None
    concurrent: int | None = None
    junit_xml: str | None = None
    json_report: str | None = None
    color: str | None = None
    random_order: bool | None = None
    seed: int | None = None
    last_failed: bool | None = None
    failed_first: bool | None = None
    list_tests: bool | None = None
    durations: int | None = None
    jobs: int | None = None
    worker_start: str | None = None
    shard: tuple[int, int] | None = None
    durations_file: str | None = None
    save_durations: str | None = None
    exit_code: int | None = None
    # Set by unittest.TestProgram's methods; declared for type checkers.
    test: unittest.TestSuite | unittest.TestCase
    _main_parser: argparse.ArgumentParser

    def __init__(
        self,
        module: str | ModuleType | None = "__main__",
        defaultTest: str | Iterable[str] | None = None,
        argv: list[str] | None = None,
        testRunner: Any = None,
        testLoader: unittest.TestLoader | None = None,
        exit: bool = True,
        verbosity: int = 1,
        failfast: bool | None = None,
        catchbreak: bool | None = None,
        buffer: bool | None = None,
        warnings: str | None = None,
        *,
        tb_locals: bool = False,
        durations: int | None = None,
    ) -> None:
        # unittest.TestProgram.__init__ is not called: its signature differs between
        # Python versions (durations came in 3.12) and it would start the run itself.
        if isinstance(module, str):
            self.module: Any = __import__(module)
            for part in module.split(".")[1:]:
                self.module = getattr(self.module, part)
        else:
            self.module = module
        if argv is None:
            argv = sys.argv
        self.exit = exit
        self.failfast = failfast
        self.catchbreak = catchbreak
        self.verbosity = verbosity
        self.buffer = buffer
        self.tb_locals = tb_locals
        self.durations = durations
        # As unittest.main: without -W options, show warnings (DeprecationWarning too).
        self.warnings = "default" if warnings is None and not sys.warnoptions else warnings
        self.defaultTest = defaultTest
        self.testRunner = testRunner
        self.testLoader = TestLoader() if testLoader is None else testLoader
        self.progName = os.path.basename(argv[0])
        self.settings: config.Settings | None = None
        self._aiounit_saved_env: dict[str, str | None] = {}
        self._aiounit_pool: Any = None
        self.parseArgs(argv)
        self.runTests()

    # -- the command line ----------------------------------------------------------------

    def _getParentArgParser(self) -> argparse.ArgumentParser:
        parser = options.parent_parser(
            failfast=self.failfast is None,
            catch=self.catchbreak is None,
            buffer=self.buffer is None,
            name_patterns=self.testNamePatterns is None,
        )
        # As unittest.main: what the command line may set starts off (what code set stays).
        self.failfast = bool(self.failfast)
        self.catchbreak = bool(self.catchbreak)
        self.buffer = bool(self.buffer)
        if self.testNamePatterns is None:
            self.testNamePatterns = []
        return parser

    def _getMainArgParser(self, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog=self.progName, parents=[parent], epilog=options.SETTINGS_EPILOG
        )
        parser.print_help = self._print_help  # type: ignore[method-assign]
        parser.add_argument(
            "tests",
            nargs="*",
            help="Test modules, classes, methods or file paths (default: discover the "
            "tests under '.')",
        )
        return parser

    def _getDiscoveryArgParser(self, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog=f"{self.progName} discover", parents=[parent], epilog=options.SETTINGS_EPILOG
        )
        options.add_discovery_options(parser)
        for name in ("start", "pattern", "top"):
            parser.add_argument(name, nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return parser

    def _print_help(self, *args: Any, **kwargs: Any) -> None:
        print(self._main_parser.format_help())
        if self.module is None:
            print(options.MAIN_EXAMPLES % {"prog": self.progName})
            print(options.discovery_help(str(self.progName)))
        else:
            print(options.MODULE_EXAMPLES % {"prog": self.progName})

    # -- settings and loading --------------------------------------------------------------

    def createTests(self, from_discovery: bool = False, Loader: Any = None) -> None:
        """Resolve the settings, then load the tests as ``unittest.main`` does."""
        self._aiounit_resolve_settings()
        settings = self.settings
        if settings is not None and settings.jobs is not None and not self.list_tests:
            from aiounit.pool import WorkerPool

            # Where workers cannot be forked once the tests are loaded, they are spawned
            # now and start up while the tests are being discovered.
            self._aiounit_pool = WorkerPool(settings.jobs, fork=settings.worker_start == "auto")
        try:
            super().createTests(from_discovery, Loader)
        except BaseException:
            self._aiounit_restore_environment()
            raise

    def _aiounit_resolve_settings(self) -> None:
        cli = {
            "asyncio_mode": self.asyncio_mode,
            "blocked_loop_threshold": self.blocked_loop_threshold,
            "checks": self.checks,
            "color": self.color,
            "concurrent": self.concurrent,
            "durations": self.durations,
            "durations_file": self.durations_file,
            "jobs": self.jobs,
            "worker_start": self.worker_start,
            "json": self.json_report,
            "junit_xml": self.junit_xml,
            "loop": self.loop,
            "loop_debug": self.loop_debug,
            "random_order": self.random_order,
            "save_durations": self.save_durations,
            "seed": self.seed,
            "strict": self.strict,
            "timeout": self.timeout,
            "virtual_time": self.virtual_time,
        }
        try:
            settings = config.resolve(cli, os.environ)
        except ConfigurationError as exc:
            self._aiounit_usage_error(str(exc))
        self.settings = settings
        self.durations = settings.durations
        if isinstance(self.testLoader, TestLoader):
            self.testLoader.asyncio_mode = settings.asyncio_mode
        for name, value in config.environment_for(settings).items():
            self._aiounit_saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _aiounit_restore_environment(self) -> None:
        for name, value in self._aiounit_saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._aiounit_saved_env = {}

    def _aiounit_usage_error(self, message: str) -> NoReturn:
        print(f"{self.progName}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)

    # -- running ---------------------------------------------------------------------------

    def runTests(self) -> None:
        """Order and select the tests, run them, write the reports and the cache, exit."""
        try:
            code = self._aiounit_run()
        finally:
            self._aiounit_restore_environment()
        self.exit_code = code
        if self.exit:
            # The reports are written by now. Threads that tests left running would keep
            # the process alive at exit: if some still run, end it here with this status.
            exit_guard.exit_if_abandoned(code)
            sys.exit(code)

    def _aiounit_run(self) -> int:
        settings = self.settings
        assert settings is not None
        suite: Any = self.test
        suite_class = getattr(self.testLoader, "suiteClass", unittest.TestSuite)
        header: list[str] = []
        seed = None
        if settings.random_order:
            from aiounit.order import random_order

            seed = settings.seed if settings.seed is not None else _new_seed()
            suite = random_order(suite, seed, suite_class)
            header.append(f"Random order with --seed {seed} (pass it again to repeat this order)")
        # After shuffling: --failed-first keeps the random order within each part.
        if self.last_failed or self.failed_first:
            suite = self._aiounit_use_cache(suite, suite_class, header)
        if self.shard is not None or settings.jobs is not None:
            suite = self._aiounit_parallel(suite, suite_class, header)
        if self.list_tests:
            for line in header:
                print(line, file=sys.stderr)
            return self._aiounit_list(suite)
        if self.catchbreak:
            installHandler()
        runner = self._aiounit_runner(header, seed)
        self.result = runner.run(suite)
        if isinstance(self.result, TestResult):
            from aiounit.order import LastFailedCache

            cache = LastFailedCache(settings.root)
            cache.update(self.result.records)
            self._aiounit_warn(cache.warning)
        if settings.save_durations and isinstance(self.result, TestResult):
            self._aiounit_save_durations(settings.save_durations, self.result)
        if getattr(runner, "report_errors", None):
            return EXIT_USAGE
        if getattr(self.result, "interrupted", False):
            return EXIT_INTERRUPTED
        if self.result.testsRun == 0 and not self.result.skipped:
            return EXIT_NO_TESTS
        return 0 if self.result.wasSuccessful() else 1

    def _aiounit_use_cache(
        self, suite: Any, suite_class: type[unittest.TestSuite], header: list[str]
    ) -> Any:
        from aiounit.order import LastFailedCache, failed_first, select, test_ids

        assert self.settings is not None
        cache = LastFailedCache(self.settings.root)
        selectors = cache.read()
        self._aiounit_warn(cache.warning)
        total = len(test_ids(suite))
        if self.last_failed:
            chosen = select(suite, selectors, suite_class) if selectors else None
            count = len(test_ids(chosen)) if chosen is not None else 0
            if chosen is None or count == 0:
                header.append(f"--last-failed: no failed tests recorded, running all {total}")
                return suite
            header.append(
                f"--last-failed: running the {count} of {total} tests that failed last run"
            )
            return chosen
        if not selectors:
            header.append("--failed-first: no failed tests recorded, running in the usual order")
            return suite
        header.append(f"--failed-first: the tests of {len(selectors)} recorded failures run first")
        return failed_first(suite, selectors, suite_class)

    def _aiounit_parallel(
        self, suite: Any, suite_class: type[unittest.TestSuite], header: list[str]
    ) -> Any:
        """The shard's tests, and a suite that runs them in worker processes under -j."""
        from aiounit import shards

        settings = self.settings
        assert settings is not None
        units = shards.units_of(suite)
        durations: dict[str, float] = {}
        path = settings.durations_file
        if path:
            try:
                durations = shards.read_durations(path)
            except ValueError as exc:
                self._aiounit_usage_error(
                    f"the durations file {path} cannot be read ({exc}). Pass a file written "
                    "by --save-durations, or delete it to start afresh [bad-durations-file]"
                )
            if not durations:
                self._aiounit_warn(
                    f"the durations file {path} does not exist or holds no durations; "
                    "classes are balanced by their number of tests"
                )
        known = shards.weigh(units, durations)
        if self.shard is not None:
            k, n = self.shard
            total = sum(len(unit.ids) for unit in units)
            chosen = shards.split(units, k, n)
            count = sum(len(unit.ids) for unit in chosen)
            header.append(
                f"Shard {k}/{n}: {count} of {total} tests in {len(chosen)} of {len(units)} "
                f"work units (balanced by {'durations' if known else 'test count'})"
            )
            units = chosen
        if settings.jobs is None or self.list_tests:
            return suite_class([item for unit in units for item in unit.items])
        from aiounit.workers import ParallelSuite

        return ParallelSuite(
            units,
            settings.jobs,
            asyncio_mode=settings.asyncio_mode,
            warnings=self.warnings,
            by_weight=known,
            pool=self._aiounit_pool,
        )

    def _aiounit_save_durations(self, path: str, result: TestResult) -> None:
        from aiounit.shards import write_durations

        try:
            write_durations(path, result.records)
        except OSError as exc:
            self._aiounit_warn(
                f"the durations file {path} cannot be written ({exc}). Check that its "
                "directory can be made and the path is not a directory [durations-not-saved]"
            )

    def _aiounit_list(self, suite: Any) -> int:
        from aiounit.order import test_ids

        ids = test_ids(suite)
        for test_id in ids:
            print(test_id)
        errors: Sequence[str] = getattr(self.testLoader, "errors", ())
        for error in errors:
            print(error, file=sys.stderr)
        if errors:
            return 1
        return 0 if ids else EXIT_NO_TESTS

    def _aiounit_runner(self, header: list[str], seed: int | None) -> Any:
        settings = self.settings
        assert settings is not None
        runner: Any = TestRunner if self.testRunner is None else self.testRunner
        if isinstance(runner, type) and issubclass(runner, TestRunner):
            return runner(
                verbosity=self.verbosity,
                failfast=bool(self.failfast),
                buffer=bool(self.buffer),
                warnings=self.warnings,
                tb_locals=self.tb_locals,
                durations=self.durations,
                color=settings.color,
                junit_xml=settings.junit_xml,
                json_report=settings.json,
                seed=seed,
                header=header,
            )
        if isinstance(runner, TestRunner):
            runner.header = [*header, *runner.header]
            runner.seed = seed
            return runner
        for line in header:
            print(line, file=sys.stderr)
        if not isinstance(runner, type):
            return runner
        # A runner class of another kind: try what it may accept, as unittest.main does.
        attempts: list[dict[str, Any]] = [
            {"tb_locals": self.tb_locals, "durations": self.durations},
            {"tb_locals": self.tb_locals},
            {},
        ]
        for extra in attempts:
            try:
                return runner(
                    verbosity=self.verbosity,
                    failfast=self.failfast,
                    buffer=self.buffer,
                    warnings=self.warnings,
                    **extra,
                )
            except TypeError:
                continue
        return runner()

    def _aiounit_warn(self, message: str | None) -> None:
        if message:
            print(f"{self.progName}: warning: {message}", file=sys.stderr)


def _new_seed() -> int:
    # A short number is easier to copy from a CI log; os.urandom avoids importing random.
    return int.from_bytes(os.urandom(4), "big") % 100_000_000


#: ``aiounit.main()`` runs the tests of the calling module, as ``unittest.main()`` does.
main = TestProgram
