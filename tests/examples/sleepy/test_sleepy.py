"""Sleeps an hour of loop time: only virtual time can finish it before the time limit."""

import asyncio

import aiounit


class Sleepy(aiounit.AsyncTestCase):
    timeout = 30

    async def test_sleeps_an_hour(self):
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        self.assertEqual(loop.time() - start, 3600)
