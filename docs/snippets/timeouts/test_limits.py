"""Time limits: the class's limit for every test, and a method's own limit."""

import asyncio

import aiounit


class ReplicationTests(aiounit.AsyncTestCase):
    timeout = 30  # seconds, for each test of the class and each of its class hooks

    async def test_replica_catches_up(self):
        await asyncio.sleep(0.01)  # limited to 30 s, by the class

    @aiounit.timeout(5)
    async def test_quick_check(self):
        await asyncio.sleep(0)  # limited to 5 s: the method's own limit wins

    @aiounit.timeout(None)
    async def test_soak(self):
        await asyncio.sleep(0.01)  # no limit at all
