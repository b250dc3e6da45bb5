"""Choosing the event loop of a test class with loop_factory, and running tests on two loops."""

import asyncio
import unittest

import aiounit

try:
    import uvloop
except ImportError:  # installed by the aiounit[uvloop] extra
    uvloop = None


class QueueTests(aiounit.AsyncTestCase):
    """No loop_factory: the loop that AIOUNIT_LOOP names, else asyncio's own."""

    async def test_items_arrive_in_order(self):
        queue = asyncio.Queue()

        async def produce():
            for number in range(3):
                await queue.put(number)

        async with asyncio.TaskGroup() as group:
            group.create_task(produce())
            received = [await queue.get() for _ in range(3)]
        self.assertEqual(received, [0, 1, 2])


class QueueTestsOnSelectorLoop(QueueTests):
    """The same tests again, on the loop this class names (AIOUNIT_LOOP does not change it)."""

    loop_factory = asyncio.SelectorEventLoop

    async def test_runs_on_the_chosen_loop(self):
        self.assertIsInstance(asyncio.get_running_loop(), asyncio.SelectorEventLoop)


@unittest.skipIf(uvloop is None, "uvloop is not installed")
class QueueTestsOnUvloop(QueueTests):
    """The same tests again, on uvloop."""

    loop_factory = None if uvloop is None else uvloop.new_event_loop

    async def test_runs_on_uvloop(self):
        self.assertIsInstance(asyncio.get_running_loop(), uvloop.Loop)
