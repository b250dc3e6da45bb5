"""The options of python -m aiounit: unittest's, then aiounit's, each with its default."""

from __future__ import annotations

import argparse

from aiounit import config
from aiounit.loader import ASYNCIO_MODES
from aiounit.report import COLOR_MODES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "MAIN_EXAMPLES",
    "MODULE_EXAMPLES",
    "SETTINGS_EPILOG",
    "add_discovery_options",
    "discovery_help",
    "parent_parser",
]

MAIN_EXAMPLES = """\
examples:
  %(prog)s                           - discover and run the tests under '.'
  %(prog)s test_module               - run tests from test_module
  %(prog)s module.TestClass          - run tests from module.TestClass
  %(prog)s module.Class.test_method  - run specified test method
  %(prog)s path/to/test_file.py      - run tests from test_file.py
  %(prog)s discover -s tests -t .    - discover tests in the tests package
"""

MODULE_EXAMPLES = """\
examples:
  %(prog)s                           - run default set of tests
  %(prog)s MyTestSuite               - run suite 'MyTestSuite'
  %(prog)s MyTestCase.testSomething  - run MyTestCase.testSomething
  %(prog)s MyTestCase                - run all 'test*' test methods in MyTestCase
"""

SETTINGS_EPILOG = (
    "Defaults for the aiounit options can also come from AIOUNIT_* environment variables "
    "and from [tool.aiounit] in pyproject.toml or [aiounit] in setup.cfg; the command line "
    "wins over the environment, which wins over the file (see docs/configuration.md)."
)


def select_pattern(pattern: str) -> str:
    """A ``-k`` value as a pattern: without a wildcard it matches as a substring (as unittest)."""
    return pattern if "*" in pattern else f"*{pattern}*"


def option_type(parse: Callable[[object], Any]) -> Callable[[str], Any]:
    """An argparse type that reports a bad value with the accepted values."""

    def convert(value: str) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"invalid value {value!r}: {exc}") from None

    return convert


def parent_parser(
    *, failfast: bool = True, catch: bool = True, buffer: bool = True, name_patterns: bool = True
) -> argparse.ArgumentParser:
    """The options shared by ``python -m aiounit`` and ``python -m aiounit discover``.

    As in ``unittest.main``, ``-f``, ``-c``, ``-b`` and ``-k`` are left out when the
    program was given their values in code (pass ``False`` for those).
    """
    parser = argparse.ArgumentParser(add_help=False)
    shared = parser.add_argument_group("options shared with python -m unittest")
    shared.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=2,
        help="Verbose output: a line per test (default: a dot per test)",
    )
    shared.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=0,
        help="Quiet output: only failures and the summary (default: a dot per test)",
    )
    shared.add_argument(
        "--locals",
        dest="tb_locals",
        action="store_true",
        help="Show local variables in tracebacks (default: off)",
    )
    shared.add_argument(
        "--durations",
        dest="durations",
        type=int,
        default=None,
        metavar="N",
        help="Show the N slowest test cases, N=0 for all (default: no table)",
    )
    if failfast:
        shared.add_argument(
            "-f",
            "--failfast",
            dest="failfast",
            action="store_true",
            help="Stop on first fail or error (default: off)",
        )
    if catch:
        shared.add_argument(
            "-c",
            "--catch",
            dest="catchbreak",
            action="store_true",
            help="Catch Ctrl-C and display results so far (default: off)",
        )
    if buffer:
        shared.add_argument(
            "-b",
            "--buffer",
            dest="buffer",
            action="store_true",
            help="Buffer stdout and stderr during tests (default: off)",
        )
    if name_patterns:
        shared.add_argument(
            "-k",
            dest="testNamePatterns",
            action="append",
            type=select_pattern,
            metavar="PATTERN",
            help="Only run tests which match the given substring or fnmatch pattern; "
            "repeat to allow several (default: all tests)",
        )

    running = parser.add_argument_group("asyncio")
    running.add_argument(
        "--asyncio-mode",
        choices=ASYNCIO_MODES,
        default=None,
        help="What to do with async def tests on a plain unittest.TestCase: 'strict' "
        "reports an error, 'auto' runs them on a fresh event loop (default: strict)",
    )
    running.add_argument(
        "--loop",
        type=option_type(config.parse_loop),
        default=None,
        metavar="LOOP",
        help="Event loop for test classes that set no loop_factory: 'asyncio', "
        "'uvloop' or 'package.module:callable' (default: asyncio)",
    )
    running.add_argument(
        "--loop-debug",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="asyncio debug mode for test classes that set no loop_debug (default: "
        "off, unless PYTHONASYNCIODEBUG is set or python runs with -X dev)",
    )
    running.add_argument(
        "--timeout",
        type=option_type(config.parse_timeout),
        default=None,
        metavar="SECONDS",
        help="Time limit of each test that sets none of its own, in seconds, or 'none' "
        "for no limit; tests see it as AIOUNIT_TIMEOUT (default: 120)",
    )
    running.add_argument(
        "--virtual-time",
        nargs="?",
        const="auto",
        type=option_type(config.parse_virtual_time),
        default=None,
        metavar="MODE",
        help="Run test classes that set no virtual_time on a virtual clock: 'auto' (the "
        "value when none is given) jumps to the next timer, 'manual' moves only with "
        "clock.advance(); tests see it as AIOUNIT_VIRTUAL_TIME (default: real time)",
    )
    running.add_argument(
        "--concurrent",
        nargs="?",
        const="true",
        type=option_type(config.parse_concurrent),
        default=None,
        metavar="N",
        help="Run the tests of each class at the same time on the class loop, at most N "
        "at once (64 when N is not given), for classes that set no concurrent and no "
        "loop_scope='test'; 'false' runs them one by one; tests see it as "
        "AIOUNIT_CONCURRENT (default: one by one)",
    )
    running.add_argument(
        "--checks",
        type=option_type(config.parse_checks),
        default=None,
        metavar="LEVELS",
        help="Levels of post-test checks for tests that set none, as check=level pairs "
        "(error, warn or off) separated by commas, e.g. leaked-task=error; tests see it "
        "as AIOUNIT_CHECKS (default: loop-exception=error, unawaited-coroutine=error, "
        "leaked-task=warn, unclosed-resource=warn, blocked-loop=warn, leaked-thread=warn)",
    )
    running.add_argument(
        "--blocked-loop-threshold",
        type=option_type(config.parse_seconds),
        default=None,
        metavar="SECONDS",
        help="How long one step of the event loop may run before the blocked-loop check "
        "reports it; tests see it as AIOUNIT_BLOCKED_LOOP_THRESHOLD (default: 0.1)",
    )
    running.add_argument(
        "--strict",
        action="store_const",
        const=True,
        default=None,
        help="Make every post-test check an error; tests see it as AIOUNIT_STRICT (default: off)",
    )

    reports = parser.add_argument_group("reports")
    reports.add_argument(
        "--junit-xml",
        type=option_type(config.parse_path),
        default=None,
        metavar="PATH",
        help="Write a JUnit XML report to PATH (default: none)",
    )
    reports.add_argument(
        "--json",
        dest="json_report",
        type=option_type(config.parse_path),
        default=None,
        metavar="PATH",
        help="Write a JSON report to PATH, one record per test (default: none)",
    )
    reports.add_argument(
        "--color",
        choices=COLOR_MODES,
        default=None,
        help="Colour the terminal output: 'auto' when it is a terminal and NO_COLOR "
        "is not set (default: auto)",
    )

    parallel = parser.add_argument_group("parallel runs and shards")
    parallel.add_argument(
        "-j",
        "--jobs",
        type=option_type(config.parse_jobs),
        default=None,
        metavar="N",
        help="Run the tests in N worker processes, a class at a time (a module at a time "
        "when it has module fixtures); 'auto' starts one per CPU (default: run in this "
        "process)",
    )
    parallel.add_argument(
        "--worker-start",
        choices=("auto", "spawn"),
        default=None,
        help="How -j starts its workers: 'auto' forks them once the tests are loaded when "
        "this process has no other thread, else starts fresh interpreters; 'spawn' always "
        "starts fresh interpreters, for test modules that open connections or files when "
        "imported (default: auto)",
    )
    parallel.add_argument(
        "--shard",
        type=option_type(config.parse_shard),
        default=None,
        metavar="K/N",
        help="Run only shard K of N (counted from 1): the classes are split into N parts "
        "of about equal duration, the same way on every machine (default: all tests)",
    )
    parallel.add_argument(
        "--durations-file",
        type=option_type(config.parse_path),
        default=None,
        metavar="PATH",
        help="Read test durations from PATH, written by --save-durations of an earlier run, "
        "to balance shards and start the longest classes first (default: none)",
    )
    parallel.add_argument(
        "--save-durations",
        type=option_type(config.parse_path),
        default=None,
        metavar="PATH",
        help="After the run, merge the durations of the tests that ran into PATH, a JSON "
        "file (default: none)",
    )

    order = parser.add_argument_group("selection and order")
    order.add_argument(
        "--random-order",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Run tests in a random order; the tests of a class, and the classes of a "
        "module, stay together (default: off)",
    )
    order.add_argument(
        "--seed",
        type=option_type(config.parse_count),
        default=None,
        metavar="N",
        help="Seed of the random order, to repeat one; implies --random-order "
        "(default: a new seed each run, printed)",
    )
    order.add_argument(
        "--last-failed",
        "--lf",
        dest="last_failed",
        action="store_true",
        default=None,
        help="Run only the tests that failed in the last run, or all tests if none "
        "did (default: off)",
    )
    order.add_argument(
        "--failed-first",
        "--ff",
        dest="failed_first",
        action="store_true",
        default=None,
        help="Run the tests that failed in the last run first, then the others (default: off)",
    )
    order.add_argument(
        "--list",
        dest="list_tests",
        action="store_true",
        default=None,
        help="Print the ids of the tests that would run, one per line, and exit (default: off)",
    )
    return parser


def add_discovery_options(parser: argparse.ArgumentParser) -> None:
    """Add ``discover``'s -s, -p and -t to ``parser``."""
    group = parser.add_argument_group("discovery")
    group.add_argument(
        "-s",
        "--start-directory",
        dest="start",
        help="Directory to start discovery (default: '.')",
    )
    group.add_argument(
        "-p",
        "--pattern",
        dest="pattern",
        help="Pattern to match test files (default: 'test*.py')",
    )
    group.add_argument(
        "-t",
        "--top-level-directory",
        dest="top",
        help="Top level directory of the project (default: the start directory)",
    )


def discovery_help(prog: str) -> str:
    """The help of the ``discover`` form, as printed under the main help."""
    parser = argparse.ArgumentParser(
        prog=f"{prog} discover",
        add_help=False,
        usage="%(prog)s [-s START] [-p PATTERN] [-t TOP] [options] [START [PATTERN [TOP]]]",
        description="Discover the test modules under START and run them; the options above "
        "apply too. All test modules must be importable from the top level directory of "
        "the project.",
    )
    add_discovery_options(parser)
    return parser.format_help()
