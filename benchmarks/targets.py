"""The speed targets aiounit must reach, judged as ratios of medians from one run."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from benchmarks.frameworks import (
    BOUND_LOOP_PER_CLASS,
    BOUND_LOOP_PER_TEST,
    BOUND_UVLOOP_PER_TEST,
    FLOOR,
    ISOLATED,
    SLEEPING_FLOOR,
)
from benchmarks.measure import Series
from benchmarks.suites import SLEEPY_SLEEP, SUITES

#: Results of one run: suite name -> framework name -> series.
Results = Mapping[str, Mapping[str, Series]]


@dataclasses.dataclass(frozen=True)
class Target:
    """One target: the median of a metric for one framework over another's, at most limit."""

    suite: str
    framework: str
    reference: str
    limit: float
    metric: str = "wall"
    why: str = ""
    #: Take the sleeps the suite demands (Suite.required_sleep) off the reference's median
    #: wall time: the reference's cost without its waiting.
    less_sleeps: bool = False
    #: Seconds added to the reference's median wall time: sleeps the framework cannot
    #: avoid however it runs the tests (one test's sleep per class, for concurrent classes).
    plus_seconds: float = 0.0
    #: The bound framework of framework (see frameworks.BOUND_LOOP_PER_TEST): the least any
    #: implementation costs. Its ratio is reported beside the measured one, and a limit
    #: below it cannot be met.
    bound: str | None = None
    #: What the bound is divided by, when that is not reference: the bound of the reference,
    #: for a target that compares two ways of running the same tests (uvloop's least cost
    #: over asyncio's least cost). None divides the bound by reference, adjusted alike.
    bound_reference: str | None = None

    def __post_init__(self) -> None:
        if self.bound_reference is not None:
            if self.bound is None:
                raise ValueError(f"{self.describe()}: a bound_reference needs a bound")
            if self.less_sleeps or self.plus_seconds:
                raise ValueError(
                    f"{self.describe()}: a ratio of two bounds takes no sleeps off or on"
                )

    def describe_bound(self) -> str | None:
        """The bound, or the ratio of two bounds in words, as the report names it; or None.

        A bound alone is divided by the target's own reference: "bound-loop-per-test".
        Two bounds read "bound-uvloop-per-test ÷ bound-loop-per-test".
        """
        if self.bound is None or self.bound_reference is None:
            return self.bound
        return f"{self.bound} ÷ {self.bound_reference}"

    def _reference(self) -> str:
        """The reference with its adjustments, as the ratios write it."""
        reference = self.reference
        if self.less_sleeps:
            reference = f"({reference} \N{MINUS SIGN} sleeps)"
        if self.plus_seconds:
            reference = f"({reference} + {self.plus_seconds:.2f} s)"
        return reference

    def describe(self) -> str:
        """The target in words, e.g. "trivial: aiounit ÷ unittest-sync, wall time"."""
        metric = "wall time" if self.metric == "wall" else "peak RSS"
        return f"{self.suite}: {self.framework} ÷ {self._reference()}, {metric}"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """How a target fared: the measured ratio, or why there is none, and its bound's ratio."""

    target: Target
    ratio: float | None
    missing: str | None = None
    #: The same ratio for the target's bound (Target.bound), the least any implementation
    #: costs; None when the target has no bound or the run did not measure it.
    bound_ratio: float | None = None
    bound_missing: str | None = None

    @property
    def passed(self) -> bool | None:
        """True or False when measured, None when the run has no numbers for it."""
        return None if self.ratio is None else self.ratio <= self.target.limit

    @property
    def below_bound(self) -> bool:
        """True when the bound's measured ratio shows that no implementation meets the limit.

        A bound over the target's own reference: the limit is below the bound's ratio. A
        ratio of two bounds is no lower bound of a framework's ratio, as a framework adds
        its own cost to both runs and so brings its ratio closer to 1; its ratio lies
        between the bounds' ratio and 1. Only a limit below both is out of reach, or a
        limit of 1 when the bounds' ratio is above it (1 itself is never reached).
        """
        if self.bound_ratio is None:
            return False
        limit = self.target.limit
        if self.target.bound_reference is None:
            return limit < self.bound_ratio
        return limit < self.bound_ratio and limit <= 1.0


TARGETS = (
    Target("trivial", "aiounit", FLOOR, 2.5, bound=BOUND_LOOP_PER_TEST),
    Target("trivial", "aiounit", ISOLATED, 0.2),
    Target("trivial", "aiounit-class", FLOOR, 1.5, bound=BOUND_LOOP_PER_CLASS),
    Target(
        "class-fixture",
        "aiounit",
        FLOOR,
        1.25,
        why="the floor's setUpClass does the same sleeps (time.sleep) and binds a listening "
        "socket, so its time is the floor plus the sleeps the setup must do",
    ),
    Target("startup", "aiounit", ISOLATED, 1.3),
    Target("startup", "aiounit", ISOLATED, 1.15, metric="rss"),
    Target(
        "trivial",
        "aiounit-uvloop",
        "aiounit",
        1.0,
        why="uvloop must not be slower than the asyncio loop. Its bound is the least a "
        "uvloop loop per test costs over the least an asyncio loop per test costs",
        bound=BOUND_UVLOOP_PER_TEST,
        bound_reference=BOUND_LOOP_PER_TEST,
    ),
    Target(
        "sleepy",
        "aiounit-virtual",
        SLEEPING_FLOOR,
        1.5,
        why="issue 7's target: the sync floor of sleepy, its 200 tests done synchronously "
        "with their sleeps, as the floor of class-fixture does its setup's sleeps",
    ),
    Target(
        "sleepy",
        "aiounit-virtual",
        FLOOR,
        1.5,
        why="stricter than issue 7: the floor without its sleeps. Importing asyncio alone "
        "costs more than half of that floor (see docs/benchmarks.md)",
    ),
    Target(
        "sleepy",
        "aiounit-virtual",
        "looptime",
        1.0,
        why="faster than looptime, the pytest plugin that fakes the asyncio clock",
    ),
    Target(
        "sleepy",
        "aiounit-concurrent",
        SLEEPING_FLOOR,
        2.0,
        why="issue 8's target: the sync floor of sleepy, its tests done synchronously with "
        "their sleeps",
    ),
    Target(
        "sleepy",
        "aiounit-concurrent",
        FLOOR,
        2.0,
        why="stricter than issue 8: the floor without its sleeps, while concurrent classes "
        "still run one after another, each waiting for its tests' sleeps",
    ),
    Target(
        "sleepy",
        "aiounit-concurrent",
        FLOOR,
        2.0,
        plus_seconds=SLEEPY_SLEEP * SUITES["sleepy"].classes,
        why="the floor plus the sleeps no concurrent run of one class at a time can avoid: "
        "one test's sleep per class (10 classes of 0.05 s)",
    ),
    Target(
        "class-fixture",
        "aiounit-virtual",
        "aiounit",
        1.1,
        less_sleeps=True,
        why="virtual time no longer pays for the setup's sleeps: aiounit with virtual time "
        "costs at most 1.1 times what aiounit in real time costs once the sleeps the "
        "setup must do (10 classes of 0.05 s at scale 1) are taken off its median",
    ),
    Target(
        "cpu",
        "aiounit-j2",
        "aiounit-main",
        round(1 / 1.7, 3),
        why="two workers on two cores: at least 1.7 times as fast as the same runner serially",
    ),
    Target(
        "trivial",
        "aiounit-j2",
        "aiounit-main",
        1.0,
        why="starting the workers must not cost more than the second core saves",
    ),
    Target(
        "class-fixture",
        "aiounit-j2",
        "pytest-xdist",
        1.0,
        why="faster than pytest-xdist with two workers, a class at a time",
    ),
)


def judge(
    results: Results,
    sleeps: Mapping[str, float] | None = None,
    targets: Sequence[Target] = TARGETS,
) -> list[Verdict]:
    """A verdict for each of targets, from the medians of results.

    sleeps gives the seconds of sleeping each suite demands, for targets with less_sleeps.
    """
    verdicts = []
    for target in targets:
        ratio, missing = _ratio(results, target, target.framework, target.reference, sleeps)
        bound_ratio = bound_missing = None
        if target.bound is not None:
            # A ratio of two bounds takes no adjustment: __post_init__ allows it none.
            bottom = target.bound_reference or target.reference
            bound_ratio, bound_missing = _ratio(results, target, target.bound, bottom, sleeps)
        verdicts.append(Verdict(target, ratio, missing, bound_ratio, bound_missing))
    return verdicts


def bounds_of(frameworks: Iterable[str], targets: Sequence[Target] = TARGETS) -> set[str]:
    """The bounds (and the bounds they are divided by) of targets on any of frameworks."""
    names = set(frameworks)
    return {
        name
        for target in targets
        if target.framework in names
        for name in (target.bound, target.bound_reference)
        if name is not None
    }


def _ratio(
    results: Results,
    target: Target,
    top_name: str,
    bottom_name: str,
    sleeps: Mapping[str, float] | None,
) -> tuple[float | None, str | None]:
    """top_name's median over bottom_name's on the target's suite and metric, or why not.

    The target's plus_seconds and less_sleeps apply to bottom_name's median.
    """
    suite = results.get(target.suite, {})
    pair = [suite.get(top_name), suite.get(bottom_name)]
    lacking = [
        name
        for name, series in zip((top_name, bottom_name), pair, strict=True)
        if series is None or not series.measured
    ]
    if lacking:
        return None, f"no valid measurement of {', '.join(lacking)}"
    top, bottom = (_median(s, target.metric) for s in pair if s is not None)
    bottom += target.plus_seconds
    if target.less_sleeps:
        if sleeps is None or target.suite not in sleeps:
            return None, f"the sleeps of {target.suite} are unknown"
        bottom -= sleeps[target.suite]
        if bottom <= 0:
            return None, f"{bottom_name} took no longer than the sleeps of {target.suite}"
    return top / bottom, None


def _median(series: Series, metric: str) -> float:
    """The median of the metric ("wall" or "rss") over the series."""
    return series.wall().median if metric == "wall" else series.rss_mib().median
