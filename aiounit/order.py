"""Which tests run and in what order: random order, last-failed selection and its cache."""

from __future__ import annotations

import os
import unittest

from aiounit.result import BAD_OUTCOMES, load_target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from aiounit.result import TestRecord

    Item = unittest.TestCase | unittest.TestSuite

__all__ = [
    "CACHE_DIR",
    "LastFailedCache",
    "failed_first",
    "flatten",
    "matches",
    "random_order",
    "select",
    "test_ids",
]

#: The cache directory, made in the project root.
CACHE_DIR = ".aiounit_cache"
_CACHE_FILE = "lastfailed"
_CACHE_HEADER = "# aiounit last-failed v1"


_PLAIN_SUITES = (unittest.TestSuite, unittest.suite.BaseTestSuite)


def flatten(suite: Item) -> list[Item]:
    """The tests of ``suite`` in running order, nested plain suites opened up.

    Suites of other types (subclasses of ``TestSuite`` with behaviour of their own) are
    kept whole, as single items, so what they add around their tests still happens.
    """
    items: list[Item] = []
    stack: list[Iterator[Item]] = [iter([suite])]
    while stack:
        for item in stack[-1]:
            if isinstance(item, unittest.TestSuite) and type(item) in _PLAIN_SUITES:
                stack.append(iter(item))
                break
            items.append(item)
        else:
            stack.pop()
    return items


def test_ids(suite: Item) -> list[str]:
    """The id of every test in ``suite``, in running order."""
    return [test.id() for test in _leaf_tests(suite)]


def _leaf_tests(item: Item) -> Iterator[unittest.TestCase]:
    if isinstance(item, unittest.TestSuite):
        for child in item:
            yield from _leaf_tests(child)
    else:
        yield item


def _keys(item: Item) -> tuple[str, str, list[str]]:
    """Module, class and the ids a test (or a whole suite) answers to."""
    tests = list(_leaf_tests(item))
    if not tests:
        return "", "", []
    first = tests[0]
    cls = type(first)
    module = cls.__module__
    target = load_target(first)
    ids = [test.id() for test in tests]
    if target is not None:
        ids.append(target)
        module = getattr(first, "_aiounit_module", target)
    return module, f"{module}.{cls.__qualname__}", ids


def _group(items: Iterable[Item]) -> dict[str, dict[str, list[Item]]]:
    """Items by module, then class, in first-seen order."""
    modules: dict[str, dict[str, list[Item]]] = {}
    for item in items:
        module, cls, _ = _keys(item)
        modules.setdefault(module, {}).setdefault(cls, []).append(item)
    return modules


def _rebuild(
    suite_class: type[unittest.TestSuite], groups: list[list[list[Item]]]
) -> unittest.TestSuite:
    return suite_class([item for module in groups for cls in module for item in cls])


def random_order(
    suite: Item, seed: int, suite_class: type[unittest.TestSuite] = unittest.TestSuite
) -> unittest.TestSuite:
    """``suite`` shuffled by ``seed``, keeping each class's and each module's tests together.

    Keeping them together means class and module fixtures still run once. The order of
    two tests depends only on the seed and their ids, so a subset of a suite (a failing
    pair, ``-k``) comes out in the same relative order as in the full run.
    """
    import hashlib

    def key(name: str) -> bytes:
        return hashlib.sha256(f"{seed}\0{name}".encode()).digest()

    def item_key(item: Item) -> bytes:
        ids = _keys(item)[2]
        return key(ids[0] if ids else "")

    modules = _group(flatten(suite))
    ordered = [
        [sorted(modules[m][c], key=item_key) for c in sorted(modules[m], key=key)]
        for m in sorted(modules, key=key)
    ]
    return _rebuild(suite_class, ordered)


def matches(selectors: Iterable[str], name: str) -> bool:
    """Whether the id ``name`` is one of ``selectors``, or inside one (a class, a module)."""
    return any(name == s or name.startswith(s + ".") for s in selectors)


def _selected(item: Item, selectors: frozenset[str]) -> bool:
    return any(matches(selectors, name) for name in _keys(item)[2])


def select(
    suite: Item,
    selectors: Iterable[str],
    suite_class: type[unittest.TestSuite] = unittest.TestSuite,
) -> unittest.TestSuite:
    """Only the tests of ``suite`` that one of ``selectors`` names, in their order."""
    chosen = frozenset(selectors)
    return suite_class([item for item in flatten(suite) if _selected(item, chosen)])


def failed_first(
    suite: Item,
    selectors: Iterable[str],
    suite_class: type[unittest.TestSuite] = unittest.TestSuite,
) -> unittest.TestSuite:
    """``suite`` with the tests ``selectors`` name first, keeping classes and modules together.

    Modules with such tests come first, within them classes with such tests, within
    those the named tests; everything else keeps its order.
    """
    chosen = frozenset(selectors)

    def first(items: list[Item]) -> bool:
        return any(_selected(item, chosen) for item in items)

    modules = _group(flatten(suite))
    ordered = []
    for classes in sorted(
        modules.values(), key=lambda c: not first([i for v in c.values() for i in v])
    ):
        ordered.append(
            [
                sorted(items, key=lambda i: not _selected(i, chosen))
                for items in sorted(classes.values(), key=lambda items: not first(items))
            ]
        )
    return _rebuild(suite_class, ordered)


class LastFailedCache:
    """The tests that failed in earlier runs, kept in ``.aiounit_cache/lastfailed``.

    The file holds one selector per line: a test id, or the class or module whose
    fixture or import failed. Selectors stay until a run covers them again, so running a
    subset does not forget failures elsewhere.
    """

    def __init__(self, root: str) -> None:
        self.directory = os.path.join(root, CACHE_DIR)
        self.path = os.path.join(self.directory, _CACHE_FILE)
        #: A problem met reading or writing the file, as a message; ``None`` if all went well.
        self.warning: str | None = None

    def read(self) -> list[str]:
        """The selectors of the last run; empty (with :attr:`warning` set) if unreadable."""
        try:
            with open(self.path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            self.warning = self._unreadable(str(exc))
            return []
        if not lines or lines[0] != _CACHE_HEADER:
            self.warning = self._unreadable("it does not start with the expected header")
            return []
        return [line for line in lines[1:] if line and not line.startswith("#")]

    def _unreadable(self, why: str) -> str:
        return (
            f"the last-failed cache {self.path} cannot be read ({why}); it is ignored and "
            "rewritten after this run. Delete the file if this repeats [bad-cache]"
        )

    def update(self, records: Iterable[TestRecord]) -> None:
        """Replace what this run covered with what failed in it, and write the file.

        Nothing is written when nothing failed and there is no file yet, so a passing
        project gets no cache directory.
        """
        records = list(records)
        failed = {r.target for r in records if r.outcome in BAD_OUTCOMES}
        exists = os.path.exists(self.path)
        if not failed and not exists:
            return
        ran = {name for r in records for name in (r.id, r.target)}
        kept = [s for s in (self.read() if exists else []) if not any(matches([s], n) for n in ran)]
        selectors = sorted(set(kept) | failed)
        try:
            if not os.path.isdir(self.directory):
                os.makedirs(self.directory, exist_ok=True)
                # Keep the cache out of version control, wherever the project is.
                with open(os.path.join(self.directory, ".gitignore"), "w", encoding="utf-8") as f:
                    f.write("# Made by aiounit: this directory is a cache.\n*\n")
            with open(self.path, "w", encoding="utf-8") as file:
                file.write("\n".join([_CACHE_HEADER, *selectors]) + "\n")
        except OSError as exc:
            self.warning = (
                f"the last-failed cache {self.path} cannot be written ({exc}); "
                "--last-failed and --failed-first will not know this run's failures. "
                "Make the directory writable [cache-not-written]"
            )
