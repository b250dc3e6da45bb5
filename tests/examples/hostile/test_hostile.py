"""Tests that misuse their loop or the process: each gets an accurate outcome, the next runs."""

import asyncio
import sys

import aiounit


async def nothing():
    pass


class Hostile(aiounit.AsyncTestCase):
    def test_01_closes_its_loop(self):
        asyncio.get_event_loop().close()

    async def test_02_fine(self):
        await asyncio.sleep(0)

    async def test_03_stops_its_loop(self):
        asyncio.get_running_loop().stop()
        await asyncio.sleep(3600)

    async def test_04_fine(self):
        await asyncio.sleep(0)

    async def test_05_calls_asyncio_run(self):
        asyncio.run(nothing())

    async def test_06_cancels_itself(self):
        asyncio.current_task().cancel()
        await asyncio.sleep(0)

    async def test_07_prints_megabytes(self):
        sys.stdout.write("x" * 4_000_000)
        await asyncio.sleep(0)

    async def test_08_fine(self):
        await asyncio.sleep(0)
