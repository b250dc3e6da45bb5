"""The frameworks the benchmark compares: how each writes its tests and how it is run."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from benchmarks.measure import Counter, count_pytest, count_unittest
from benchmarks.suites import BARE_LOOP_ENV

#: The framework every ratio is measured against: plain synchronous unittest.
FLOOR = "unittest-sync"

#: The framework aiounit replaces, the second reference of every ratio.
ISOLATED = "isolated"
#: The floor of sleepy as the issues define the floor, the same tests done synchronously:
#: each test really sleeps (time.sleep). The floor itself leaves those sleeps out.
SLEEPING_FLOOR = "unittest-sync-sleeps"

#: The bounds: not contenders but the least any asyncio test case can cost, run as the
#: benchmark's own hand-written base classes (the "bare" flavour). A target names the bound
#: of its framework, and a limit below the bound's ratio cannot be met by any framework.
BOUND_LOOP_PER_TEST = "bound-loop-per-test"
BOUND_LOOP_PER_CLASS = "bound-loop-per-class"
BOUND_UVLOOP_PER_TEST = "bound-uvloop-per-test"


@dataclasses.dataclass(frozen=True)
class Runner:
    """A command that runs a generated suite from its directory, and how to read its count."""

    label: str
    args: tuple[str, ...]
    count: Counter
    #: Commands run once before measuring, so no measured run pays for compiling tests.
    prepare: tuple[tuple[str, ...], ...] = ()


# The plugins every peer venv installs, by the names pytest registers them under. A run
# blocks those it does not use, as if they were not installed: each loaded plugin costs
# import time and hooks, and looptime would patch every loop pytest-asyncio makes.
_PYTEST_PLUGINS = (
    "asyncio",
    "asyncio-cooperative",
    "looptime_plugin",
    "looptime_chronometers",
    "looptime_timeproxies",
    "xdist",
    "xdist.looponfail",
)


def _pytest(*used: str, options: tuple[str, ...] = ()) -> Runner:
    """pytest with only the used plugins of the venv, and options; the others are blocked."""
    blocked = [arg for name in _PYTEST_PLUGINS if name not in used for arg in ("-p", f"no:{name}")]
    args = ("-m", "pytest", *blocked, *options)
    label = " ".join(("python -m pytest", *options))
    return Runner(label, args, count_pytest, prepare=((*args, "--collect-only", "-q"),))


UNITTEST = Runner("python -m unittest", ("-m", "unittest"), count_unittest)
AIOUNIT_MAIN = Runner("python -m aiounit discover", ("-m", "aiounit", "discover"), count_unittest)
AIOUNIT_J2 = Runner(
    "python -m aiounit discover -j 2", ("-m", "aiounit", "discover", "-j", "2"), count_unittest
)
PYTEST_ASYNCIO = _pytest("asyncio")
PYTEST_COOPERATIVE = _pytest("asyncio-cooperative")
# --dist loadscope sends a class at a time, as aiounit's -j does, so class fixtures run once.
PYTEST_XDIST = _pytest("asyncio", "xdist", options=("-n", "2", "--dist", "loadscope"))
# --looptime is the plugin's switch for every test of the run, as a suite that moves to
# a fake clock as a whole would set it (in addopts); @pytest.mark.looptime is per test.
PYTEST_LOOPTIME = _pytest(
    "asyncio",
    "looptime_plugin",
    "looptime_chronometers",
    "looptime_timeproxies",
    options=("--looptime",),
)

#: The suites that take every framework; a framework entry narrows or widens its own set.
GENERAL = ("trivial", "class-fixture", "sleepy", "startup")
# The bounds run where a target needs them (trivial) and where the cost of starting is
# compared (startup); they have no class setup, so class-fixture is not theirs.
_BOUND_SUITES = ("trivial", "startup")
# Variants that only repeat another framework's real-time sleeping are left out of sleepy,
# where each run waits 10 s: they would add minutes and show nothing new.
_NOT_SLEEPY = ("trivial", "class-fixture", "startup")


def all_checks_off() -> dict[str, str]:
    """The environment that turns off every check aiounit has (AIOUNIT_CHECKS=...=off,...).

    Read from aiounit when the run starts, so a check added later is turned off too.
    """
    from aiounit.hygiene import CHECKS_ENV, DEFAULT_LEVELS

    return {CHECKS_ENV: ",".join(f"{check}=off" for check in DEFAULT_LEVELS)}


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
    #: The suites it runs (the floor and isolated run every suite whatever this says).
    suites: tuple[str, ...] = GENERAL
    #: Generated classes set ``virtual_time = True`` (aiounit's flavour only).
    virtual_time: bool = False
    #: Generated classes set ``concurrent = True`` (aiounit's flavour only).
    concurrent: bool = False
    #: More environment, computed when the run starts rather than when this module loads.
    env_factory: Callable[[], Mapping[str, str]] | None = None
    #: The sync flavour does the tests' sleeps even where the suite's floor leaves them out.
    floor_sleeps: bool = False

    def environment(self) -> dict[str, str]:
        """The settings this framework adds to a measured process's environment."""
        env = dict(self.env)
        if self.env_factory is not None:
            env.update(self.env_factory())
        return env


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
            notes={
                "class-fixture": "setUpClass sleeps and binds synchronously",
                "sleepy": "the floor: the same tests without their sleeps",
            },
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
            SLEEPING_FLOOR,
            "Plain synchronous unittest.TestCase whose tests do their sleeps (time.sleep): "
            "the same tests done synchronously, sleeps included.",
            "sync",
            UNITTEST,
            "import unittest",
            suites=("sleepy",),
            floor_sleeps=True,
            notes={"sleepy": "the floor with its sleeps, as the issues define the floor"},
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
            suites=_NOT_SLEEPY,
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
            "looptime",
            "pytest + pytest-asyncio + looptime, run with --looptime: a loop per test "
            "function whose clock is faked while the test runs.",
            "pytest-asyncio",
            PYTEST_LOOPTIME,
            "import pytest, pytest_asyncio, looptime",
            loop_scope="function",
            peer=True,
            suites=("sleepy",),
        ),
        Framework(
            "aiounit",
            "aiounit.AsyncTestCase with its defaults: a fresh loop per test "
            "(class scope where the class has asyncSetUpClass).",
            "aiounit",
            UNITTEST,
            _AIOUNIT_PROBE,
            suites=(*GENERAL, "checks"),
            notes={"checks": "default checks on"},
        ),
        Framework(
            "aiounit-class",
            "aiounit.AsyncTestCase with loop_scope = 'class': one loop per class.",
            "aiounit",
            UNITTEST,
            _AIOUNIT_PROBE,
            loop_scope="class",
            suites=(*_NOT_SLEEPY, "checks"),
            notes={"checks": "default checks on"},
        ),
        Framework(
            "aiounit-uvloop",
            "aiounit.AsyncTestCase with its defaults, on uvloop (AIOUNIT_LOOP=uvloop).",
            "aiounit",
            UNITTEST,
            _AIOUNIT_PROBE + "; import uvloop",
            env={"AIOUNIT_LOOP": "uvloop"},
            suites=_NOT_SLEEPY,
        ),
        Framework(
            "aiounit-main",
            "aiounit.AsyncTestCase with its defaults, run by aiounit's own runner.",
            "aiounit",
            AIOUNIT_MAIN,
            "import aiounit.main",
            suites=(*_NOT_SLEEPY, "cpu"),
        ),
        Framework(
            "aiounit-j2",
            "aiounit.AsyncTestCase with its defaults, run by aiounit's own runner in two "
            "worker processes (-j 2).",
            "aiounit",
            AIOUNIT_J2,
            "import aiounit.workers",
            suites=("trivial", "class-fixture", "cpu"),
            notes={"cpu": "two workers on two cores"},
        ),
        Framework(
            "pytest-xdist",
            "pytest + pytest-asyncio (one loop per class) + pytest-xdist with two workers "
            "(-n 2 --dist loadscope: a class at a time).",
            "pytest-asyncio",
            PYTEST_XDIST,
            "import pytest, pytest_asyncio, xdist",
            loop_scope="class",
            peer=True,
            suites=("class-fixture",),
        ),
        Framework(
            "aiounit-virtual",
            "aiounit.AsyncTestCase with its defaults and virtual_time = True: sleeps and "
            "timeouts jump a virtual clock instead of waiting.",
            "aiounit",
            UNITTEST,
            _AIOUNIT_PROBE + "; aiounit.virtual_time",
            virtual_time=True,
            suites=("trivial", "class-fixture", "sleepy"),
            notes={
                "trivial": "no timers: what virtual time costs when it saves nothing",
                "class-fixture": "class scope (the class has asyncSetUpClass)",
            },
        ),
        Framework(
            "aiounit-class-virtual",
            "aiounit.AsyncTestCase with loop_scope = 'class' and virtual_time = True: one "
            "virtual-time loop per class.",
            "aiounit",
            UNITTEST,
            _AIOUNIT_PROBE + "; aiounit.virtual_time",
            loop_scope="class",
            virtual_time=True,
            # On class-fixture, aiounit-virtual already has the class scope.
            suites=("trivial", "sleepy"),
        ),
        Framework(
            "aiounit-concurrent",
            "aiounit.AsyncTestCase with concurrent = True, run by aiounit's own runner (its "
            "loader runs such classes concurrently): the tests of a class sleep side by side "
            "on the class loop, in real time.",
            "aiounit",
            AIOUNIT_MAIN,
            "import aiounit.concurrent_run",
            concurrent=True,
            suites=("sleepy",),
            notes={"sleepy": "the 20 tests of each class sleep at the same time"},
        ),
        Framework(
            "aiounit-nochecks",
            "aiounit.AsyncTestCase with its defaults but every post-test check off "
            "(AIOUNIT_CHECKS=<check>=off,... for each check aiounit has).",
            "aiounit",
            UNITTEST,
            _AIOUNIT_PROBE,
            env_factory=all_checks_off,
            suites=("checks",),
        ),
        Framework(
            "aiounit-class-nochecks",
            "aiounit.AsyncTestCase with loop_scope = 'class' and every post-test check off.",
            "aiounit",
            UNITTEST,
            _AIOUNIT_PROBE,
            loop_scope="class",
            env_factory=all_checks_off,
            suites=("checks",),
        ),
        Framework(
            BOUND_LOOP_PER_TEST,
            "A bound, not a framework: the least an asyncio test case can cost with a loop "
            "per test, so the lower bound of any framework with that loop scope. A bare "
            "unittest.TestCase whose _callTestMethod makes a loop the cheapest known way "
            "(aiounit's asyncio loop factory, which reuses the last closed loop's selector "
            "and self-pipe), runs the test as one task on it and closes it: no checks, no "
            "time limits, no cleanup of leftovers.",
            "bare",
            UNITTEST,
            "import asyncio, aiounit.loops",
            loop_scope="test",
            suites=_BOUND_SUITES,
            notes={"trivial": "bound: the least a loop per test costs"},
        ),
        Framework(
            BOUND_LOOP_PER_CLASS,
            "A bound, not a framework: the least an asyncio test case can cost with a loop "
            "per class, so the lower bound of any framework with that loop scope. A bare "
            "unittest.TestCase whose setUpClass makes an asyncio loop and tearDownClass "
            "closes it; each test runs as one task on it, with nothing else.",
            "bare",
            UNITTEST,
            "import asyncio",
            loop_scope="class",
            suites=_BOUND_SUITES,
            notes={"trivial": "bound: the least a loop per class costs"},
        ),
        Framework(
            BOUND_UVLOOP_PER_TEST,
            f"A bound, not a framework: {BOUND_LOOP_PER_TEST} on uvloop's loops "
            f"({BARE_LOOP_ENV}=uvloop): the least an asyncio test case can cost with a "
            "uvloop loop per test.",
            "bare",
            UNITTEST,
            "import uvloop",
            loop_scope="test",
            env={BARE_LOOP_ENV: "uvloop"},
            suites=_BOUND_SUITES,
            notes={"trivial": "bound: the least a uvloop loop per test costs"},
        ),
    )
}
