"""Concurrent tests that raise KeyboardInterrupt or SystemExit themselves: errors of those
tests; the tests beside them go on."""

import asyncio
import sys

import aiounit


class Raising(aiounit.AsyncTestCase):
    concurrent = True

    async def test_1_keyboard_interrupt(self):
        await asyncio.sleep(0.01)
        raise KeyboardInterrupt

    async def test_2_system_exit(self):
        await asyncio.sleep(0.02)
        sys.exit(3)

    async def test_3_waits_meanwhile(self):
        await asyncio.sleep(0.1)

    def test_4_sync_keyboard_interrupt(self):
        raise KeyboardInterrupt
