"""A project whose tests leave threads running: each must be reported against its own test."""

import asyncio
import threading

import aiounit

# Nothing ever sets these: the threads that wait on them never end.
never_set = threading.Event()
never_released = threading.Event()


def wait_forever():
    never_set.wait()  # stuck: nothing sets this event


def blocking_job():
    never_released.wait()  # stuck: the executor job never returns


class LeftThreads(aiounit.AsyncTestCase):
    # Closing the loop waits for its default executor; a stuck job holds it until then.
    timeout = 0.5

    async def test_1_stuck_thread(self):
        threading.Thread(target=wait_forever, name="stuck-waiter").start()

    async def test_2_stuck_executor_job(self):
        with self.assertRaises(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(blocking_job), 0.05)

    async def test_3_clean(self):
        await asyncio.sleep(0)
