"""Test classes that test_compat pickles before running, as parallel runners do.

Not collected by the runs of this example project: the file name does not start with
``test``.
"""

from __future__ import annotations

import asyncio
import unittest

import aiounit


class TestScopeCases(aiounit.AsyncTestCase):
    """A fresh loop per test, set up by asyncSetUp."""

    async def asyncSetUp(self) -> None:
        self.setup_loop = asyncio.get_running_loop()

    async def test_runs_on_its_own_loop(self) -> None:
        self.assertIs(asyncio.get_running_loop(), self.setup_loop)


class ClassScopeCases(aiounit.AsyncTestCase):
    """One loop for the class, opened for asyncSetUpClass."""

    class_loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str]

    @classmethod
    async def asyncSetUpClass(cls) -> None:
        cls.class_loop = asyncio.get_running_loop()
        cls.queue = asyncio.Queue()

    async def test_first_uses_class_loop(self) -> None:
        self.assertIs(asyncio.get_running_loop(), self.class_loop)
        await self.queue.put("first")

    async def test_second_uses_class_loop(self) -> None:
        self.assertIs(asyncio.get_running_loop(), self.class_loop)
        await self.queue.put("second")


class LoopFactoryCases(aiounit.AsyncTestCase):
    """A class that names its loop factory."""

    loop_factory = asyncio.SelectorEventLoop

    async def test_runs_on_factory_loop(self) -> None:
        self.assertIs(type(asyncio.get_running_loop()), asyncio.SelectorEventLoop)


class PlainCases(unittest.TestCase):
    """A plain TestCase with an async test, as the loader's auto mode converts it."""

    async def test_runs_on_a_loop(self) -> None:
        self.assertIsNotNone(asyncio.get_running_loop())
