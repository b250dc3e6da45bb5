"""A concurrent class: its tests meet at a barrier, log their hooks, fail, time out, print.

LOG names a file each hook appends a line to. BARRIER_WAIT is how long a test waits for
the others at the barrier (default 0.05 s): run one by one (plain unittest), each test
gives up quickly and logs that it was alone; run concurrently, all meet and log "met".
The outcomes are the same either way.
"""

import asyncio
import os
import sys
import time

import aiounit

LOG = os.environ.get("LOG", os.devnull)
WAIT = float(os.environ.get("BARRIER_WAIT", "0.05"))
MEETING = ("test_1_meets", "test_2_meets", "test_3_meets")


def log(line):
    with open(LOG, "a", encoding="utf-8") as file:
        file.write(line + "\n")


class Together(aiounit.AsyncTestCase):
    concurrent = True

    @classmethod
    async def asyncSetUpClass(cls):
        cls.barrier = asyncio.Barrier(len(MEETING))
        # test_8 holds the loop only once test_4 is in its body: held earlier, on a busy
        # machine, it could use up test_4's short limit before test_4's asyncSetUp ran.
        cls.test_4_started = asyncio.Event()

    def setUp(self):
        log(f"{self._testMethodName} setUp")
        self.addCleanup(log, f"{self._testMethodName} cleanup 1")
        self.addAsyncCleanup(self.async_cleanup)

    async def asyncSetUp(self):
        log(f"{self._testMethodName} asyncSetUp")

    async def async_cleanup(self):
        await asyncio.sleep(0)
        log(f"{self._testMethodName} cleanup 2")

    async def asyncTearDown(self):
        log(f"{self._testMethodName} asyncTearDown")

    def tearDown(self):
        log(f"{self._testMethodName} tearDown")

    async def meet(self):
        print(f"out of {self._testMethodName}")
        print(f"err of {self._testMethodName}", file=sys.stderr)
        try:
            await asyncio.wait_for(self.barrier.wait(), WAIT)
        except TimeoutError:
            log(f"{self._testMethodName} alone")
        else:
            log(f"{self._testMethodName} met")
        print(f"more out of {self._testMethodName}")

    async def test_1_meets(self):
        await self.meet()

    async def test_2_meets(self):
        await self.meet()
        self.assertEqual(1, 2, "test_2 fails after the meeting")

    async def test_3_meets(self):
        await self.meet()
        raise RuntimeError("test_3 errors after the meeting")

    @aiounit.timeout(0.3)
    async def test_4_times_out(self):
        self.test_4_started.set()
        await asyncio.sleep(30)

    @aiounit.checks(leaked_task="error")  # a warning would be an error under -W error only
    async def test_5_leaks_a_task(self):
        asyncio.ensure_future(asyncio.sleep(30))

    async def test_6_drops_a_coroutine(self):
        asyncio.sleep(0)

    def test_7_sync(self):
        log("test_7_sync runs")

    @aiounit.timeout(0.3)
    async def test_8_blocks_the_loop(self):
        await self.test_4_started.wait()  # set already when the tests run one by one
        time.sleep(30)  # holds the loop: interrupted when its own limit passes


class After(aiounit.AsyncTestCase):
    async def test_after(self):
        log("After.test_after runs")
