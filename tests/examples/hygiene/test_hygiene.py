"""A project whose tests let things slip: each check must catch its own case."""

import asyncio

import aiounit


class Slips(aiounit.AsyncTestCase):
    async def test_1_forgets_an_await(self):
        asyncio.sleep(0)  # the await is missing

    async def test_2_leaks_a_task(self):
        asyncio.create_task(asyncio.sleep(3600), name="sleeper")
        await asyncio.sleep(0)

    async def test_3_clean(self):
        await asyncio.sleep(0)
