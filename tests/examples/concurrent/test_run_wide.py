"""A class that sets nothing: concurrent only when the run asks (--concurrent)."""

import asyncio
import os

import aiounit

LOG = os.environ.get("LOG", os.devnull)
WAIT = float(os.environ.get("BARRIER_WAIT", "0.05"))


class Anyway(aiounit.AsyncTestCase):
    @classmethod
    async def asyncSetUpClass(cls):
        cls.barrier = asyncio.Barrier(3)

    async def meet(self):
        try:
            await asyncio.wait_for(self.barrier.wait(), WAIT)
        except TimeoutError:
            outcome = "alone"
        else:
            outcome = "met"
        with open(LOG, "a", encoding="utf-8") as file:
            file.write(f"{self._testMethodName} {outcome}\n")

    async def test_1(self):
        await self.meet()

    async def test_2(self):
        await self.meet()

    async def test_3(self):
        await self.meet()
