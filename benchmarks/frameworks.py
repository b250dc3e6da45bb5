"""The frameworks the benchmark compares: how each writes its tests and how it is run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from benchmarks.measure import Counter, count_pytest, count_unittest

#: The framework every ratio is measured against: plain synchronous unittest.
FLOOR = "unittest-sync"

#: The framework aiounit replaces, the second reference of every ratio.
ISOLATED = "isolated"


@dataclasses.dataclass(frozen=True)
class Runner:
    """A command that runs a generated suite from its directory, and how to read its count."""

    label: str
    args: tuple[str, ...]
    count: Counter
    #: Commands run once before measuring, so no measured run pays for compiling tests.
    prepare: tuple[tuple[str, ...], ...] = ()


def _pytest(*plugin_flags: str) -> Runner:
    """pytest with the given -p flags; the other async plugin is blocked, as if not installed."""
    args = ("-m", "pytest", *plugin_flags)
    return Runner(
        "python -m pytest", args, count_pytest, prepare=((*args, "--collect-only", "-q"),)
    )


UNITTEST = Runner("python -m unittest", ("-m", "unittest"), count_unittest)
AIOUNIT_MAIN = Runner("python -m aiounit discover", ("-m", "aiounit", "discover"), count_unittest)
PYTEST_ASYNCIO = _pytest("-p", "no:asyncio-cooperative")
PYTEST_COOPERATIVE = _pytest("-p", "no:asyncio")


@dataclasses.dataclass(frozen=True)
class Framework:
    """One contender: the idiom its tests are written in, its runner, and its requirements."""

    name: str
    description: str
    #: Which code generator writes its tests (see suites.FLAVORS).
    flavor: str
    runner: Runner
    #: Python code that must run without error for the framework to be available.
    probe: str
    loop_scope: str | None = None
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: A peer comes from the benchmark's own venv; --smoke runs only non-peers.
    peer: bool = False
    #: Per-suite remarks printed beside the numbers.
    notes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: The environment that turns every default check on; None means the framework has no
    #: checks to turn on, so the checks suite would only repeat trivial and is not run.
    checks_env: Mapping[str, str] | None = None


_AIOUNIT_PROBE = "import aiounit; aiounit.AsyncTestCase"

FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        Framework(
            FLOOR,
            "Plain synchronous unittest.TestCase (time.sleep, a blocking listening socket): "
            "the floor.",
            "sync",
            UNITTEST,
            "import unittest",
            notes={"class-fixture": "setUpClass sleeps and binds synchronously"},
        ),
        Framework(
            ISOLATED,
            "unittest.IsolatedAsyncioTestCase: a fresh loop per test, asyncio debug mode on.",
            "isolated",
            UNITTEST,
            "import unittest; unittest.IsolatedAsyncioTestCase",
            notes={
                "class-fixture": "no async class setup exists: setup runs per test (asyncSetUp)"
            },
        ),
        Framework(
            "pytest-asyncio",
            "pytest + pytest-asyncio, strict mode, a loop per test function.",
            "pytest-asyncio",
            PYTEST_ASYNCIO,
            "import pytest, pytest_asyncio",
            loop_scope="function",
            peer=True,
            notes={
                "class-fixture": "class-scoped fixture on a class loop; tests on their own loops"
            },
        ),
        Framework(
            "pytest-asyncio-class",
            "pytest + pytest-asyncio, one loop per class (mark.asyncio(loop_scope='class')).",
            "pytest-asyncio",
            PYTEST_ASYNCIO,
            "import pytest, pytest_asyncio",
            loop_scope="class",
            peer=True,
            notes={"class-fixture": "class-scoped fixture, tests on the same class loop"},
        ),
        Framework(
            "aiounittest",
            "aiounittest.AsyncTestCase: a bare new loop per test.",
            "aiounittest",
            UNITTEST,
            "import aiounittest",
            peer=True,
            notes={"class-fixture": "a class loop shared by overriding get_event_loop"},
        ),
        Framework(
            "pytest-asyncio-cooperative",
            "pytest + pytest-asyncio-cooperative: every test of the session runs concurrently "
            "on one loop (at most 100 at once).",
            "cooperative",
            PYTEST_COOPERATIVE,
            "import pytest, pytest_asyncio_cooperative",
            peer=True,
            notes={
                "class-fixture": "module-scoped fixture (class scope is unsupported)",
                "sleepy": "tests sleep concurrently",
            },
        ),
        Framework(
            "aiounit",
            "aiounit.AsyncTestCase with its defaults: a fresh loop per test "
            "(class scope where the class has asyncSetUpClass).",
            "aiounit",
            UNITTEST,
            _AIOUNIT_PROBE,
        ),
        Framework(
            "aiounit-class",
            "aiounit.AsyncTestCase with loop_scope = 'class': one loop per class.",
            "aiounit",
            UNITTEST,
            _AIOUNIT_PROBE,
            loop_scope="class",
        ),
        Framework(
            "aiounit-uvloop",
            "aiounit.AsyncTestCase with its defaults, on uvloop (AIOUNIT_LOOP=uvloop).",
            "aiounit",
            UNITTEST,
            _AIOUNIT_PROBE + "; import uvloop",
            env={"AIOUNIT_LOOP": "uvloop"},
        ),
        Framework(
            "aiounit-main",
            "aiounit.AsyncTestCase with its defaults, run by aiounit's own runner.",
            "aiounit",
            AIOUNIT_MAIN,
            "import aiounit.main",
        ),
        # A virtual-time variant of aiounit belongs here once aiounit has virtual time: a
        # new Framework field naming the opt-in, read by suites.generate for the aiounit
        # flavour, and one entry like the ones above.
    )
}
