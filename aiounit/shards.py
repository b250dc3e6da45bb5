"""Work units of a run (a class, or a module with module fixtures), shards and durations files."""

from __future__ import annotations

import json
import os
import sys
import unittest

from aiounit.config import parse_shard
from aiounit.order import flatten

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from aiounit.result import TestRecord

__all__ = [
    "DURATIONS_VERSION",
    "Unit",
    "class_path",
    "parse_shard",
    "read_durations",
    "split",
    "units_of",
    "write_durations",
]

#: Bumped when the durations file changes in a way older readers would misread.
DURATIONS_VERSION = 1


class Unit:
    """Tests that must run together in one process, in this order.

    A unit is the tests of one class, or of one module when that module defines
    ``setUpModule`` or ``tearDownModule`` (so class and module fixtures run once per
    unit, as in a serial run). ``classes`` are the dotted names a worker loads the tests
    from; a unit whose tests cannot be loaded by name in another process (a module that
    failed to import, tests defined in ``__main__`` or inside a function, suites with
    behaviour of their own) has none and runs in the main process (``local``).
    """

    __slots__ = ("classes", "index", "items", "key", "weight")

    def __init__(self, index: int, key: str, items: list[Any], classes: list[str]) -> None:
        #: Position in the serial order of the run.
        self.index = index
        #: The class or module name the unit stands for; what shards split on.
        self.key = key
        #: The tests (or kept-whole suites) of the unit, as loaded in this process.
        self.items = items
        #: Dotted class names a worker loads; empty for a local unit.
        self.classes = classes
        #: The estimated cost: seconds from a durations file, else the number of tests.
        self.weight = float(len(self.ids))

    @property
    def ids(self) -> list[str]:
        """The ids of the unit's tests, in running order."""
        return [test.id() for item in self.items for test in _leaves(item)]

    @property
    def local(self) -> bool:
        """Whether the unit runs in the main process rather than in a worker."""
        return not self.classes

    def __repr__(self) -> str:
        return f"<Unit {self.index} {self.key!r} tests={len(self.ids)}>"


def _leaves(item: Any) -> list[unittest.TestCase]:
    if isinstance(item, unittest.TestSuite):
        return [test for child in item for test in _leaves(child)]
    return [item]


def class_path(item: object) -> str | None:
    """The dotted name a worker loads ``item`` from, or None if it cannot be loaded by name.

    The name is the test's class, reached from its module through module attributes,
    with the test id being ``<class>.<method>``: that is what makes loading the class in
    another process and picking the test by id give the same test.
    """
    if not isinstance(item, unittest.TestCase):
        return None
    if type(item).__name__ == "_FailedTest" and type(item).__module__ == "unittest.loader":
        return None  # a module that failed to import: its error is already in hand
    target = getattr(item, "_aiounit_target", None)
    if target is not None:  # the strict-mode stand-in of a class with async tests
        cls_name, module_name = target, getattr(item, "_aiounit_module", "")
        qualname = cls_name[len(module_name) + 1 :]
        found = _resolve(module_name, qualname)
        return cls_name if isinstance(found, type) else None
    cls = type(item)
    module_name, qualname = cls.__module__, cls.__qualname__
    if module_name in ("__main__", "__mp_main__") or "<" in qualname:
        return None
    found = _resolve(module_name, qualname)
    if found is not cls and found is not getattr(cls, "_aiounit_plain_class", None):
        return None
    path = f"{module_name}.{qualname}"
    if item.id() != f"{path}.{getattr(item, '_testMethodName', '')}":
        return None
    return path


def _resolve(module_name: str, qualname: str) -> object:
    obj: object = sys.modules.get(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _has_module_fixtures(module_name: str) -> bool:
    module = sys.modules.get(module_name)
    return any(hasattr(module, name) for name in ("setUpModule", "tearDownModule"))


def units_of(suite: Any) -> list[Unit]:
    """Group the tests of ``suite`` into units, in running order.

    Consecutive tests of one class form a unit; consecutive tests of a module with
    module fixtures form one unit for the whole module.
    """
    units: list[Unit] = []
    last_key: str | None = None
    for item in flatten(suite):
        path = class_path(item)
        if path is None:
            leaves = _leaves(item)
            key = leaves[0].id() if leaves else repr(item)
        else:
            module = getattr(item, "_aiounit_module", None) or type(item).__module__
            key = module if _has_module_fixtures(module) else path
        if units and key == last_key and (path is None) == units[-1].local:
            units[-1].items.append(item)
            if path is not None and path not in units[-1].classes:
                units[-1].classes.append(path)
        else:
            units.append(Unit(len(units), key, [item], [] if path is None else [path]))
        last_key = key
    for unit in units:
        unit.weight = float(len(unit.ids))
    return units


# -- shards --------------------------------------------------------------------------------


def weigh(units: Iterable[Unit], durations: Mapping[str, float]) -> bool:
    """Set each unit's weight from ``durations`` (seconds by test id); True if any was known.

    Tests missing from ``durations`` count as the mean of the known ones, so a new test
    weighs what an average test does.
    """
    units = list(units)
    known = [durations[i] for unit in units for i in unit.ids if i in durations]
    if not known:
        return False
    mean = sum(known) / len(known)
    for unit in units:
        unit.weight = sum(durations.get(i, mean) for i in unit.ids)
    return True


def split(units: list[Unit], shard: int, total: int) -> list[Unit]:
    """The units of shard ``shard`` of ``total`` (1-based), in running order.

    Heaviest unit first, each goes to the shard with the least weight so far (the lowest
    shard on a tie); ties between units are broken by their key, so the split does not
    depend on the order the tests were loaded in and every shard computes the same one.
    """
    loads = [0.0] * total
    chosen: list[Unit] = []
    for unit in sorted(units, key=lambda u: (-u.weight, u.key, u.index)):
        target = min(range(total), key=lambda i: (loads[i], i))
        loads[target] += unit.weight
        if target == shard - 1:
            chosen.append(unit)
    return sorted(chosen, key=lambda u: u.index)


# -- the durations file ----------------------------------------------------------------------


def read_durations(path: str) -> dict[str, float]:
    """The durations in the file at ``path``, by test id; empty if there is no file.

    Raises ``ValueError`` with the reason when the file exists but is not a durations
    file.
    """
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from None
    tests = data.get("durations") if isinstance(data, dict) else None
    if not isinstance(tests, dict) or data.get("version") != DURATIONS_VERSION:
        raise ValueError(
            f'expected a JSON object with "version": {DURATIONS_VERSION} and "durations"'
        )
    return {
        str(name): float(value)
        for name, value in tests.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    }


def durations_of(records: Iterable[TestRecord]) -> dict[str, float]:
    """Seconds by test id of the tests in ``records`` that ran (skipped tests did not)."""
    found: dict[str, float] = {}
    for record in records:
        if record.kind in ("test", "subtest") and record.outcome != "skipped":
            found[record.target] = round(record.duration, 6)
    return found


def write_durations(path: str, records: Iterable[TestRecord]) -> None:
    """Merge the durations of this run's tests into the file at ``path`` (made if needed).

    Tests that did not run this time keep their old durations, so a shard or a ``-k`` run
    refines the file instead of shrinking it. An unreadable old file is replaced.
    """
    try:
        merged = read_durations(path)
    except ValueError:
        merged = {}
    merged.update(durations_of(records))
    document = {"version": DURATIONS_VERSION, "durations": dict(sorted(merged.items()))}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=1)
        file.write("\n")
    os.replace(temporary, path)
