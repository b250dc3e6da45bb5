"""Tests that raise KeyboardInterrupt or SystemExit themselves: errors, and the run goes on."""

import asyncio
import sys

import aiounit


class Raising(aiounit.AsyncTestCase):
    async def test_1_keyboard_interrupt_async(self):
        await asyncio.sleep(0)
        raise KeyboardInterrupt

    def test_2_keyboard_interrupt_sync(self):
        raise KeyboardInterrupt

    async def test_3_system_exit(self):
        sys.exit(3)

    async def test_4_passes(self):
        await asyncio.sleep(0)
