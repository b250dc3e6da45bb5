"""A test module that runs itself with aiounit.main(), as with unittest.main()."""

import asyncio
import unittest

import aiounit


class Sync(unittest.TestCase):
    def test_sync(self):
        pass


class Async(aiounit.AsyncTestCase):
    async def test_async(self):
        await asyncio.sleep(0)

    async def test_async_fails(self):
        await asyncio.sleep(0)
        self.assertEqual(1, 2)


if __name__ == "__main__":
    aiounit.main()
