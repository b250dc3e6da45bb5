"""async def tests on a plain TestCase, next to classes that run them properly."""

import asyncio
import unittest

import aiounit


class PlainWithAsync(unittest.TestCase):
    def test_sync(self):
        pass

    async def test_async_passes(self):
        await asyncio.sleep(0)
        print("async test ran to its end")

    async def test_async_fails(self):
        await asyncio.sleep(0)
        self.assertEqual("awaited", "not awaited")


class PlainSyncOnly(unittest.TestCase):
    def test_sync_only(self):
        pass


class Proper(aiounit.AsyncTestCase):
    async def test_proper(self):
        await asyncio.sleep(0)


class Stdlib(unittest.IsolatedAsyncioTestCase):
    async def test_stdlib(self):
        await asyncio.sleep(0)
