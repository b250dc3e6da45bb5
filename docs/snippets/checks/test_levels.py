"""Choosing how strict each check is: for a class, for one test, or left to the run."""

import asyncio

import aiounit


class StrictAboutTasks(aiounit.AsyncTestCase):
    # Every test of this class must end with no task of its own still running.
    checks = {"leaked-task": "error"}

    async def test_awaits_what_it_starts(self):
        task = asyncio.create_task(asyncio.sleep(0.01))
        await task

    # This one starts a background task on purpose and lets aiounit cancel it at the end.
    @aiounit.checks(leaked_task="off")
    async def test_fire_and_forget(self):
        asyncio.create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)
