"""Reports what sync asyncio.get_event_loop() does after one test ran, as JSON on stdout.

Usage: ``python probe_current_loop.py SCENARIO KIND``, in a fresh interpreter each time.

SCENARIO is the thread's current-loop state before the test: ``fresh`` (untouched),
``loop-set`` (a loop was set with set_event_loop), ``none-set`` (set_event_loop(None)) or
``implicit`` (get_event_loop() was called once and made a loop). KIND is the test class
run then: ``none`` (no test, the baseline), ``test-scope``, ``class-scope``,
``loop-factory`` or ``stdlib`` (unittest.IsolatedAsyncioTestCase).
"""

from __future__ import annotations

import asyncio
import json
import sys
import unittest
import warnings
from typing import Any

import aiounit

# What the test saw, by name: compared with what get_event_loop() returns afterwards.
seen: dict[str, Any] = {}


class _Recording:
    def setUp(self) -> None:
        seen["sync setUp"] = asyncio.get_event_loop()

    async def test_it(self) -> None:
        seen["test"] = asyncio.get_running_loop()


class TestScope(_Recording, aiounit.AsyncTestCase):
    """A fresh loop for the test."""


class ClassScope(_Recording, aiounit.AsyncTestCase):
    """The class loop, opened for asyncSetUpClass."""

    @classmethod
    async def asyncSetUpClass(cls) -> None:
        seen["asyncSetUpClass"] = asyncio.get_running_loop()


class FactoryLoop(asyncio.SelectorEventLoop):
    """A loop type of its own, so the report shows whether the factory made the loop."""


class LoopFactory(_Recording, aiounit.AsyncTestCase):
    """A loop from a factory that involves no event loop policy."""

    loop_factory = FactoryLoop


class Stdlib(_Recording, unittest.IsolatedAsyncioTestCase):
    """The stdlib's test case, for contrast."""


KINDS: dict[str, type[unittest.TestCase] | None] = {
    "none": None,
    "test-scope": TestScope,
    "class-scope": ClassScope,
    "loop-factory": LoopFactory,
    "stdlib": Stdlib,
}


def _policy_exists() -> bool:
    # The module global, read without creating a policy as get_event_loop_policy() would.
    return getattr(asyncio.events, "_event_loop_policy", None) is not None


def probe(known: dict[str, Any]) -> tuple[dict[str, Any], asyncio.AbstractEventLoop | None]:
    """Call get_event_loop() once; describe what it did, naming the loop it returned."""
    # Recording, not silencing: the warnings are part of the behaviour being compared
    # (3.12+ warns when get_event_loop() has to create a loop).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = None
    observed: dict[str, Any] = {
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    }
    if loop is None:
        observed["result"] = "raises RuntimeError"
        return observed, None
    names = [name for name, value in known.items() if value is loop]
    observed["result"] = f"returns {names[0] if names else 'a new loop'}"
    observed["closed"] = loop.is_closed()
    return observed, loop


def main(scenario: str, kind: str) -> dict[str, Any]:
    """Set up ``scenario``, run the ``kind`` test, probe, and return what happened."""
    known: dict[str, Any] = {}
    report: dict[str, Any] = {}
    if scenario == "loop-set":
        known["the loop set before"] = asyncio.new_event_loop()
        asyncio.set_event_loop(known["the loop set before"])
    elif scenario == "none-set":
        asyncio.set_event_loop(None)
    elif scenario == "implicit":
        report["first probe"], known["the first probe's loop"] = probe(known)
    elif scenario != "fresh":
        raise SystemExit(f"unknown scenario {scenario!r}")

    cls = KINDS[kind]
    if cls is not None:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
        result = unittest.TestResult()
        suite.run(result)
        report["test problems"] = [text for _, text in result.errors + result.failures]
        report["tests run"] = result.testsRun
        report["test loop type"] = type(seen["test"]).__name__
        report["sync setUp saw the test's loop"] = seen["sync setUp"] is seen["test"]
        known["the test's loop"] = seen["test"]
    report["policy exists after the test"] = _policy_exists()
    report["after"], last = probe(known)

    for loop in [*known.values(), last]:
        if loop is not None and not loop.is_closed():
            loop.close()
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), indent=1, sort_keys=True))
