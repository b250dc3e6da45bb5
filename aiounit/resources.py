"""The ``unclosed-resource`` check: what a test leaves open, found and attributed to it."""

from __future__ import annotations

import contextlib
import gc
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, cast

from aiounit.origins import is_internal
from aiounit.resource_info import (
    created_at,
    describe,
    how_to_close,
    loop_resources,
    resource_parts,
    still_open,
)

if TYPE_CHECKING:
    from aiounit.monitor import TestMonitor

__all__ = ["ResourceWatch"]

# Two sources. The loop's state when the test ends (readers and writers it still
# watches, open transports, listening servers) is exact. ResourceWarning, which sockets,
# files, transports and subprocesses emit when they are freed unclosed, catches the rest:
# while a test runs, a filter in front of the user's lets ResourceWarnings (and nothing
# else) through to warnings._showwarnmsg, which the test's watch takes over.

_RESOURCE_FILTER: Final = ("always", None, ResourceWarning, None, 0)
# Objects already reported from a loop's state, by id, with a weak reference: when the
# garbage collector frees them later, perhaps during another test, their
# ResourceWarning is not that test's. The collector clears weak references before it
# runs finalizers, so a dead reference still matches its own object's warning.
_reported: dict[int, weakref.ref[Any]] = {}
_in_collection = False
_LOOP_CLOSED: Final = "loop is closed"


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _in_collection
    _in_collection = phase == "start"


def _filters_changed() -> None:
    """Tell the warnings machinery (its C part caches them) that its filters changed."""
    if _FILTERS_MUTATED is not None:
        _FILTERS_MUTATED()
    elif _FILTERS_MUTATED_LOCK_HELD is not None and _WARNINGS_LOCK is not None:
        with _WARNINGS_LOCK:
            _FILTERS_MUTATED_LOCK_HELD()


# Python 3.14 renamed the hook, and wants the module's lock held around it.
_FILTERS_MUTATED: Final[Callable[[], None] | None] = getattr(warnings, "_filters_mutated", None)
_FILTERS_MUTATED_LOCK_HELD: Final[Callable[[], None] | None] = getattr(
    warnings, "_filters_mutated_lock_held", None
)
_WARNINGS_LOCK: Final[Any] = getattr(warnings, "_lock", None)


def _remember(obj: object) -> None:
    for part in resource_parts(obj):
        # An object that takes no weak reference cannot be remembered without keeping
        # it alive: it warns again when freed.
        with contextlib.suppress(TypeError):
            _reported[id(part)] = weakref.ref(part)


def _reported_before(source: object) -> bool:
    """Whether ``source`` was reported from a loop's state already (and forget it)."""
    ref = _reported.pop(id(source), None)
    if ref is None:
        return False
    alive = ref()
    if alive is None or alive is source:
        return True
    _reported[id(source)] = ref  # a different object now has that id
    return False


def _prune_reported() -> None:
    for key, ref in list(_reported.items()):
        if ref() is None:
            del _reported[key]


class ResourceWatch:
    """One test's watch for what it leaves open: ResourceWarnings while it runs, and what
    is still open on its loop once that loop is closed.

    A loop that a class shares stays open after the test, and what the test opened on
    it may belong to a class fixture (a connection pool keeps connections from test to
    test), so on such a loop only ResourceWarnings count.
    """

    __slots__ = (
        "_filters",
        "_hook",
        "_impl",
        "_leftovers",
        "_monitor",
        "_previous",
        "_showwarning",
    )

    def __init__(self, monitor: TestMonitor) -> None:
        self._monitor = monitor
        self._leftovers: list[tuple[object, str]] = []
        self._hook: Callable[[Any], None] | None = None
        self._previous: Callable[[Any], None] | None = None
        self._impl: object = None
        self._showwarning: object = None
        self._filters: list[Any] | None = None

    def start(self) -> None:
        """Take ResourceWarnings from now on."""
        if _reported:
            _prune_reported()
        previous = getattr(warnings, "_showwarnmsg", None)
        if previous is None:
            return  # a warnings module without the hook: only the loop's state is read
        self._previous = previous
        # A test that opens its own catch_warnings(record=True) (assertWarns) replaces
        # these two: its ResourceWarnings then go where it asked, untouched.
        self._impl = getattr(warnings, "_showwarnmsg_impl", None)
        self._showwarning = warnings.showwarning
        self._hook = hook = self._show
        warnings._showwarnmsg = hook  # type: ignore[attr-defined]
        self._filters = filters = cast("list[Any]", warnings.filters)
        filters.insert(0, _RESOURCE_FILTER)
        _filters_changed()
        gc.callbacks.append(_on_gc)

    def check_loop(self) -> None:
        """Note what is open on the loop before it closes (described while it is open)."""
        loop = self._monitor.loop
        if not loop.is_closed():
            found = loop_resources(loop)
            if found:
                self._leftovers = [(obj, describe(obj, where)) for obj, where in found.values()]

    def stop(self) -> None:
        """Report what stayed open with the loop closed; give ResourceWarnings back."""
        # Reported first: what only the leftovers list kept alive is freed when it goes,
        # while the hook still takes (and drops) the warnings about it.
        self._report_leftovers()
        hook, self._hook = self._hook, None
        if hook is None:
            return
        if getattr(warnings, "_showwarnmsg", None) is hook:
            warnings._showwarnmsg = self._previous  # type: ignore[attr-defined]
        filters, self._filters = self._filters or [], None
        if filters and filters[0] is _RESOURCE_FILTER:
            del filters[0]
        else:  # the test added filters of its own in front
            for index, item in enumerate(filters):
                if item is _RESOURCE_FILTER:
                    del filters[index]
                    break
        _filters_changed()
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(_on_gc)

    def _report_leftovers(self) -> None:
        leftovers, self._leftovers = self._leftovers, []
        if not leftovers or not self._monitor.loop.is_closed():
            return
        for obj, description in leftovers:
            if still_open(obj):
                _remember(obj)
                self._monitor.add(
                    "unclosed-resource",
                    f"{self._monitor.test_id} left {description} open when it ended."
                    f"{created_at(obj)}\n{how_to_close(obj, '')}",
                )

    def _show(self, msg: Any) -> None:
        if (
            self._hook is not None
            and isinstance(msg.category, type)
            and issubclass(msg.category, ResourceWarning)
            and getattr(warnings, "_showwarnmsg_impl", None) is self._impl
            and warnings.showwarning is self._showwarning
        ):
            try:
                self._on_resource_warning(msg)
                return
            except Exception:
                pass  # a bug here must not lose the warning: it goes on as usual
        if self._previous is not None:
            self._previous(msg)

    def _on_resource_warning(self, msg: Any) -> None:
        source = msg.source
        text = str(msg.message)
        if source is None and (_in_collection or text == _LOOP_CLOSED):
            # Nothing names the object, so nothing says which test dropped it: freed by
            # the collector it may be an earlier test's, and a StreamWriter that warns
            # "loop is closed" outlived its loop, which an earlier test closed.
            return
        if source is not None and _reported_before(source):
            return
        if _in_collection:
            freed = (
                " The garbage collector freed it now: it may have been dropped earlier, "
                "by an earlier test."
            )
        elif not is_internal(msg.filename):
            freed = (
                f'\nThe last reference went away at:\n  File "{msg.filename}", line {msg.lineno}'
            )
        else:
            freed = ""
        created = created_at(source) if source is not None else ""
        self._monitor.add(
            "unclosed-resource",
            f"{self._monitor.test_id}: {text}. It was freed without being closed.{freed}"
            f"{created}\n{how_to_close(source, text)}",
        )
