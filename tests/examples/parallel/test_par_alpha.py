"""Async classes with class fixtures and every kind of outcome, run serially and with -j."""

import asyncio
import os
import sys
import unittest

from helpers import note_process

import aiounit


class Served(aiounit.AsyncTestCase):
    """A class fixture that must run once per class, in the process that runs its tests."""

    setups = 0

    @classmethod
    async def asyncSetUpClass(cls):
        cls.setups += 1
        if cls.setups > 1:
            raise RuntimeError("asyncSetUpClass ran twice")
        cls.queue = asyncio.Queue()

    async def test_1_passes(self):
        note_process(self)
        await self.queue.put(1)
        self.assertEqual(self.queue.qsize(), 1)

    async def test_2_fails(self):
        print("output of test_2_fails")
        print("error output of test_2_fails", file=sys.stderr)
        self.assertEqual(1, 2)

    async def test_3_skips(self):
        self.skipTest("not today")

    async def test_4_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertNotEqual(i, 1)

    @unittest.expectedFailure
    async def test_5_expected_failure(self):
        self.assertTrue(False)

    async def test_6_errors(self):
        raise ValueError("broken on purpose")

    async def test_7_leaks_a_task(self):
        """A leaked task is a warning finding by default."""
        asyncio.get_running_loop().create_task(asyncio.sleep(3600))

    async def test_8_prints_and_passes(self):
        print("output of a passing test")
        self.assertEqual(os.environ.get("AIOUNIT_TIMEOUT"), os.environ.get("EXPECT_TIMEOUT"))


class Second(aiounit.AsyncTestCase):
    async def test_a(self):
        note_process(self)
        await asyncio.sleep(0)

    async def test_b(self):
        await asyncio.sleep(0)
