"""Generate the benchmark suites: the same tests, written in each framework's own idiom."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

#: Environment variable naming the file each test body appends its id to.
TRACE_ENV = "BENCH_TRACE"

#: Seconds the expensive class-level setup of the class-fixture suite sleeps.
FIXTURE_SLEEP = 0.05

#: Seconds each test of the sleepy suite sleeps.
SLEEPY_SLEEP = 0.05

#: CPU seconds each test of the cpu suite spends computing.
CPU_WORK = 0.01

#: Environment variable choosing the loop of the bare flavour: "uvloop", or asyncio's.
BARE_LOOP_ENV = "BENCH_BARE_LOOP"

#: The flavours of generated code; a framework entry names one of them.
FLAVORS = (
    "sync",
    "isolated",
    "aiounit",
    "aiounittest",
    "pytest-asyncio",
    "cooperative",
    "bare",
)

_TRACE_MODULE = '''\
"""Record which benchmark tests ran: each test appends its id to the file named by {env}."""

import os

# Opened once per process so recording a test costs one write() call, not an open().
_FD = os.open(os.environ["{env}"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def mark(test_id):
    """Append test_id and a newline to the trace file."""
    os.write(_FD, (test_id + "\\n").encode())
'''

_BARE_MODULE = '''\
"""The least an asyncio test case must do under unittest: run each test on an event loop.

No checks, no time limits, no cleanup of leftover tasks: what is left is the cost of any
framework that runs asyncio tests with a loop per test (LoopPerTest) or per class
(LoopPerClass). {env}=uvloop makes uvloop's loops instead of asyncio's.
"""

import asyncio
import os
import unittest

if os.environ.get("{env}") == "uvloop":
    import uvloop

    _new_loop = uvloop.new_event_loop
else:
    # The cheapest fresh asyncio loop known: aiounit's, a new loop object on the epoll
    # instance and self-pipe of the last closed one. new_event_loop() makes both anew.
    from aiounit.loops import resolve_loop_factory

    _new_loop = resolve_loop_factory("asyncio")


class LoopPerTest(unittest.TestCase):
    """Each test on a loop of its own, made before it and closed after it."""

    def _callTestMethod(self, method):
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(loop.create_task(method()))
        finally:
            loop.close()
            asyncio.set_event_loop(None)


class LoopPerClass(unittest.TestCase):
    """The tests of a class on one loop, made in setUpClass and closed in tearDownClass."""

    @classmethod
    def setUpClass(cls):
        cls.loop = _new_loop()
        asyncio.set_event_loop(cls.loop)

    @classmethod
    def tearDownClass(cls):
        cls.loop.close()
        asyncio.set_event_loop(None)

    def _callTestMethod(self, method):
        self.loop.run_until_complete(self.loop.create_task(method()))
'''

#: The base class of the bare flavour's tests, by loop scope.
_BARE_BASES = {"test": "benchbare.LoopPerTest", "class": "benchbare.LoopPerClass"}


@dataclasses.dataclass(frozen=True)
class Shape:
    """How many test classes a generated suite has, and how many tests each."""

    classes: int
    per_class: int

    @property
    def total(self) -> int:
        """The number of tests in the suite."""
        return self.classes * self.per_class

    def class_ids(self, class_index: int) -> list[str]:
        """The trace ids of the tests of one class, in definition order."""
        return [f"c{class_index:02d}.t{i:04d}" for i in range(self.per_class)]

    def ids(self) -> list[str]:
        """The trace ids of every test of the suite."""
        return [tid for c in range(self.classes) for tid in self.class_ids(c)]


@dataclasses.dataclass(frozen=True)
class Suite:
    """One benchmark suite: its shape at scale 1 and what each test and class does."""

    name: str
    description: str
    classes: int
    per_class: int
    rounds: int
    test_sleep: float = 0.0
    class_fixture: bool = False
    scalable: bool = True
    #: False when the floor's version of the suite leaves its test sleeps out: the floor is
    #: then the cost of the tests without the waiting, which is what a fake clock removes.
    floor_sleeps: bool = True
    #: Rounds for a framework whose first run took over half the sleeps the suite demands
    #: (it really waited): a few runs of seconds each vary little, and the full count would
    #: cost minutes. None gives every framework the same rounds.
    slow_rounds: int | None = None
    #: Pairs of frameworks (with, without) whose difference the report gives per test: what
    #: a feature such as the checks costs.
    differences: tuple[tuple[str, str], ...] = ()
    #: CPU seconds each test computes for (measured with time.process_time, so the same
    #: work on any machine), for suites that show what worker processes gain.
    cpu_work: float = 0.0

    def shape(self, scale: float = 1.0, smoke: bool = False) -> Shape:
        """The shape to generate: smoke runs use a tiny one, --scale multiplies tests per class."""
        if not self.scalable:
            return Shape(self.classes, self.per_class)
        if smoke:
            return Shape(2, 3)
        return Shape(self.classes, max(1, math.ceil(self.per_class * scale)))

    def required_sleep(self, shape: Shape) -> float:
        """Seconds of sleeping the suite demands of a framework that runs tests one by one."""
        fixture = FIXTURE_SLEEP * shape.classes if self.class_fixture else 0.0
        return fixture + self.test_sleep * shape.total

    def slow_run(self, shape: Shape) -> float | None:
        """Wall seconds past which a first run counts as slow (see slow_rounds), or None."""
        if self.slow_rounds is None:
            return None
        return self.required_sleep(shape) / 2


SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            "trivial",
            "2000 tests, each `await asyncio.sleep(0)` and an assert (20 classes of 100).",
            classes=20,
            per_class=100,
            rounds=5,
            differences=(
                ("aiounit-virtual", "aiounit"),
                ("aiounit-class-virtual", "aiounit-class"),
            ),
        ),
        Suite(
            "checks",
            "trivial's 2000 tests, run by aiounit with its default post-test checks on and "
            "with every check off, side by side: what the checks cost.",
            classes=20,
            per_class=100,
            rounds=5,
            differences=(
                ("aiounit", "aiounit-nochecks"),
                ("aiounit-class", "aiounit-class-nochecks"),
            ),
        ),
        Suite(
            "class-fixture",
            f"10 classes of 10 tests sharing an expensive async class setup: a "
            f"{FIXTURE_SLEEP} s sleep and a server on an unused port, closed at class teardown.",
            classes=10,
            per_class=10,
            rounds=5,
            class_fixture=True,
        ),
        Suite(
            "sleepy",
            f"200 tests each sleeping {SLEEPY_SLEEP} s, like timeouts, retries and backoff "
            "(10 classes of 20). The floor runs the same tests without the sleeps, which "
            "are what a fake clock removes.",
            classes=10,
            per_class=20,
            rounds=5,
            test_sleep=SLEEPY_SLEEP,
            floor_sleeps=False,
            slow_rounds=2,
        ),
        Suite(
            "cpu",
            f"200 CPU-bound tests, each computing for {CPU_WORK} s of CPU time (10 classes "
            "of 20): what worker processes (-j) gain on several cores.",
            classes=10,
            per_class=20,
            rounds=5,
            cpu_work=CPU_WORK,
        ),
        Suite(
            "startup",
            "One test: the cost of starting the interpreter, importing the framework and "
            "running it.",
            classes=1,
            per_class=1,
            rounds=10,
            scalable=False,
        ),
    )
}


def generate(
    directory: Path,
    suite: Suite,
    shape: Shape,
    flavor: str,
    loop_scope: str | None,
    virtual_time: bool = False,
    concurrent: bool = False,
    floor_sleeps: bool = False,
) -> list[str]:
    """Write the suite into directory in the given flavour; return the expected trace ids.

    virtual_time sets ``virtual_time = True`` on every class, and concurrent sets
    ``concurrent = True``; only aiounit has them. floor_sleeps makes the sync flavour do
    the tests' sleeps even where the suite's floor leaves them out.
    """
    if flavor not in FLAVORS:
        raise ValueError(f"unknown flavour {flavor!r}; expected one of {', '.join(FLAVORS)}")
    if virtual_time and flavor != "aiounit":
        raise ValueError(f"virtual time is an aiounit setting; the {flavor!r} flavour has none")
    if concurrent and flavor != "aiounit":
        raise ValueError(f"concurrent is an aiounit setting; the {flavor!r} flavour has none")
    if flavor == "bare":
        if loop_scope not in _BARE_BASES:
            raise ValueError(
                f"the bare flavour needs a loop scope of {' or '.join(map(repr, _BARE_BASES))}, "
                f"not {loop_scope!r}"
            )
        if suite.class_fixture:
            raise ValueError(f"the bare flavour has no class setup, which {suite.name} needs")
    if floor_sleeps:
        if flavor != "sync":
            raise ValueError(f"floor_sleeps is for the sync flavour, not {flavor!r}")
        suite = dataclasses.replace(suite, floor_sleeps=True)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "benchtrace.py").write_text(_TRACE_MODULE.format(env=TRACE_ENV))
    if flavor == "bare":
        (directory / "benchbare.py").write_text(_BARE_MODULE.format(env=BARE_LOOP_ENV))
    if flavor in ("pytest-asyncio", "cooperative"):
        # An ini file pins pytest's rootdir here, so no config above the temp dir leaks in.
        ini = ["[pytest]"]
        if flavor == "pytest-asyncio":
            ini.append("asyncio_default_fixture_loop_scope = function")
        (directory / "pytest.ini").write_text("\n".join(ini) + "\n")
    for c in range(shape.classes):
        source = _module(suite, flavor, loop_scope, virtual_time, c, shape.class_ids(c), concurrent)
        (directory / f"test_c{c:02d}.py").write_text(source)
    return shape.ids()


def _module(
    suite: Suite,
    flavor: str,
    loop_scope: str | None,
    virtual_time: bool,
    class_index: int,
    ids: list[str],
    concurrent: bool = False,
) -> str:
    """The source of one test module holding one class (or, for cooperative, one module)."""
    lines = _header(flavor, suite)
    if flavor == "cooperative":
        # pytest-asyncio-cooperative supports no class-scoped fixtures and marks functions,
        # so its idiom is module-level test functions with a module-scoped fixture.
        if suite.class_fixture:
            lines += ["", "", *_pytest_fixture('pytest.fixture(scope="module")')]
        for tid in ids:
            lines += ["", "", "@pytest.mark.asyncio_cooperative"]
            lines += _test_function(suite, flavor, f"test_{tid.replace('.', '_')}", tid)
        return "\n".join(lines) + "\n"
    lines += ["", ""]
    if flavor == "pytest-asyncio":
        if suite.class_fixture:
            lines += _pytest_fixture('pytest_asyncio.fixture(scope="class", loop_scope="class")')
            lines += ["", ""]
        lines.append(f'@pytest.mark.asyncio(loop_scope="{loop_scope or "function"}")')
    base_name = _BARE_BASES[loop_scope or "test"] if flavor == "bare" else _BASES[flavor]
    base = f"({base_name})" if base_name else ""
    lines.append(f"class TestC{class_index:02d}{base}:")
    settings = []
    if flavor == "aiounit" and loop_scope is not None:
        settings.append(f'    loop_scope = "{loop_scope}"')
    if virtual_time:
        settings.append("    virtual_time = True")
    if concurrent:
        settings.append("    concurrent = True")
    if settings:
        lines += [*settings, ""]
    if suite.class_fixture:
        lines += _class_fixture(flavor)
    for tid in ids:
        name = "test_" + tid.split(".")[1]
        lines += _indent(_test_function(suite, flavor, name, tid, method=True))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_BASES = {
    "sync": "unittest.TestCase",
    "isolated": "unittest.IsolatedAsyncioTestCase",
    "aiounit": "aiounit.AsyncTestCase",
    "aiounittest": "aiounittest.AsyncTestCase",
    "pytest-asyncio": "",
}


def _header(flavor: str, suite: Suite) -> list[str]:
    """Imports, plus the server's connection handler where the suite has a class fixture."""
    fixture = suite.class_fixture
    imports = {
        "sync": [
            *(["socket"] if fixture else []),
            *(["time"] if fixture or (suite.test_sleep and suite.floor_sleeps) else []),
            "unittest",
        ],
        "isolated": ["asyncio", "unittest"],
        "aiounit": ["asyncio", "", "aiounit"],
        "aiounittest": ["asyncio", "", "aiounittest"],
        "bare": ["asyncio", "", "benchbare"],
        "pytest-asyncio": ["asyncio", "", "pytest", *(["pytest_asyncio"] if fixture else [])],
        "cooperative": ["asyncio", "", "pytest"],
    }[flavor]
    if suite.cpu_work and "time" not in imports:
        imports = ["time", *imports]
    lines = [f'"""Generated benchmark tests: {suite.name} suite, {flavor} idiom."""', ""]
    lines += [f"import {name}" if name else "" for name in imports]
    lines += ["", "from benchtrace import mark"]
    if suite.cpu_work:
        lines += [
            "",
            "",
            "def _compute(seconds):",
            "    end = time.process_time() + seconds",
            "    while time.process_time() < end:",
            "        sum(i * i for i in range(100))",
        ]
    if suite.class_fixture and flavor != "sync":
        lines += [
            "",
            "",
            "async def _serve(reader, writer):",
            "    writer.close()",
        ]
    return lines


def _pytest_fixture(decorator: str) -> list[str]:
    """A pytest async generator fixture doing the expensive setup and closing the server."""
    return [
        f"@{decorator}",
        "async def server():",
        f"    await asyncio.sleep({FIXTURE_SLEEP})",
        '    server = await asyncio.start_server(_serve, "127.0.0.1", 0)',
        "    yield server",
        "    server.close()",
        "    await server.wait_closed()",
    ]


def _class_fixture(flavor: str) -> list[str]:
    """The class-level setup and teardown of a unittest-style class, in the flavour's idiom."""
    open_server = 'await asyncio.start_server(_serve, "127.0.0.1", 0)'
    if flavor == "sync":
        body = [
            "@classmethod",
            "def setUpClass(cls):",
            f"    time.sleep({FIXTURE_SLEEP})",
            '    cls.server = socket.create_server(("127.0.0.1", 0))',
            "",
            "@classmethod",
            "def tearDownClass(cls):",
            "    cls.server.close()",
        ]
    elif flavor == "isolated":
        # IsolatedAsyncioTestCase has no async class setup: the idiom is per-test setup.
        body = [
            "async def asyncSetUp(self):",
            f"    await asyncio.sleep({FIXTURE_SLEEP})",
            f"    self.server = {open_server}",
            "",
            "async def asyncTearDown(self):",
            "    self.server.close()",
            "    await self.server.wait_closed()",
        ]
    elif flavor == "aiounit":
        body = [
            "@classmethod",
            "async def asyncSetUpClass(cls):",
            f"    await asyncio.sleep({FIXTURE_SLEEP})",
            f"    cls.server = {open_server}",
            "",
            "@classmethod",
            "async def asyncTearDownClass(cls):",
            "    cls.server.close()",
            "    await cls.server.wait_closed()",
        ]
    elif flavor == "aiounittest":
        # aiounittest's documented way to share a loop: override get_event_loop; the class
        # then owns that loop and runs its async setup on it from the sync class hooks.
        body = [
            "@classmethod",
            "def setUpClass(cls):",
            "    cls.loop = asyncio.new_event_loop()",
            "    cls.loop.run_until_complete(asyncio.sleep(" + str(FIXTURE_SLEEP) + "))",
            "    cls.server = cls.loop.run_until_complete(",
            '        asyncio.start_server(_serve, "127.0.0.1", 0)',
            "    )",
            "",
            "@classmethod",
            "def tearDownClass(cls):",
            "    cls.server.close()",
            "    cls.loop.run_until_complete(cls.server.wait_closed())",
            "    cls.loop.close()",
            "",
            "def get_event_loop(self):",
            "    # Called when the case is built too, before setUpClass has made the loop.",
            '    return getattr(self, "loop", None)',
        ]
    else:
        return []
    return [*_indent(body), ""]


def _test_function(
    suite: Suite, flavor: str, name: str, tid: str, method: bool = False
) -> list[str]:
    """One test: its sleep, the trace mark, and an assert in the flavour's style."""
    pytest_style = flavor in ("pytest-asyncio", "cooperative")
    params = ["self"] if method else []
    if suite.class_fixture and pytest_style:
        params.append("server")
    keyword = "def" if flavor == "sync" else "async def"
    lines = [f"{keyword} {name}({', '.join(params)}):"]
    if flavor == "sync":
        if suite.test_sleep and suite.floor_sleeps:
            lines.append(f"    time.sleep({suite.test_sleep})")
    else:
        lines.append(f"    await asyncio.sleep({suite.test_sleep or 0})")
    if suite.cpu_work:
        lines.append(f"    _compute({suite.cpu_work})")
    lines.append(f'    mark("{tid}")')
    if not suite.class_fixture:
        lines.append("    assert 1 + 1 == 2" if pytest_style else "    self.assertEqual(1 + 1, 2)")
    elif flavor == "sync":
        lines.append("    self.assertGreaterEqual(self.server.fileno(), 0)")
    elif pytest_style:
        lines.append("    assert server.is_serving()")
    else:
        lines.append("    self.assertTrue(self.server.is_serving())")
    return lines


def _indent(lines: list[str]) -> list[str]:
    """Indent source lines by one level, leaving blank lines blank."""
    return [f"    {line}" if line else "" for line in lines]
