"""The speed targets aiounit must reach, judged as ratios of medians from one run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from benchmarks.frameworks import FLOOR, ISOLATED
from benchmarks.measure import Series

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

    def describe(self) -> str:
        """The target in words, e.g. "trivial: aiounit ÷ unittest-sync, wall time"."""
        metric = "wall time" if self.metric == "wall" else "peak RSS"
        return f"{self.suite}: {self.framework} ÷ {self.reference}, {metric}"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """How a target fared: the measured ratio, or why there is none."""

    target: Target
    ratio: float | None
    missing: str | None = None

    @property
    def passed(self) -> bool | None:
        """True or False when measured, None when the run has no numbers for it."""
        return None if self.ratio is None else self.ratio <= self.target.limit


TARGETS = (
    Target("trivial", "aiounit", FLOOR, 2.5),
    Target("trivial", "aiounit", ISOLATED, 0.2),
    Target("trivial", "aiounit-class", FLOOR, 1.5),
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
        why="uvloop must not be slower than the asyncio loop",
    ),
)


def judge(results: Results) -> list[Verdict]:
    """A verdict for every target, from the medians of results."""
    verdicts = []
    for target in TARGETS:
        suite = results.get(target.suite, {})
        pair = [suite.get(target.framework), suite.get(target.reference)]
        lacking = [
            name
            for name, series in zip((target.framework, target.reference), pair, strict=True)
            if series is None or not series.measured
        ]
        if lacking:
            verdicts.append(Verdict(target, None, f"no valid measurement of {', '.join(lacking)}"))
            continue
        top, bottom = (_median(s, target.metric) for s in pair if s is not None)
        verdicts.append(Verdict(target, top / bottom))
    return verdicts


def _median(series: Series, metric: str) -> float:
    """The median of the metric ("wall" or "rss") over the series."""
    return series.wall().median if metric == "wall" else series.rss_mib().median
