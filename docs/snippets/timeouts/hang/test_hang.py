"""Two tests that never finish on their own, to show what aiounit reports (they fail on purpose)."""

import asyncio
import time

import aiounit


class HangingTests(aiounit.AsyncTestCase):
    timeout = 0.5  # seconds: short, so that the example fails fast

    async def test_waits_for_a_reply_that_never_comes(self):
        reply = asyncio.get_running_loop().create_future()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.poll(reply), name="poller")
            await reply

    async def poll(self, reply):
        await asyncio.Event().wait()  # the bug: nothing ever sets this event

    async def test_blocks_the_loop(self):
        time.sleep(60)  # the bug: a blocking call in async code stops the loop
