"""Three concurrent tests wait for Ctrl-C, then a class that must not run (classes run in
alphabetical order). RUN_DIR names a directory for the handshake files."""

import asyncio
import os
from pathlib import Path

import aiounit

RUN_DIR = Path(os.environ.get("RUN_DIR", "."))


class Concurrent(aiounit.AsyncTestCase):
    concurrent = True

    async def asyncTearDown(self):
        (RUN_DIR / f"{self._testMethodName}-teardown").touch()
        if os.environ.get("HANG_IN_TEARDOWN"):
            await asyncio.Event().wait()  # only a second Ctrl-C ends this

    async def wait_for_ctrl_c(self):
        (RUN_DIR / f"{self._testMethodName}-inside").touch()
        await asyncio.Event().wait()

    async def test_1(self):
        await self.wait_for_ctrl_c()

    async def test_2(self):
        await self.wait_for_ctrl_c()

    async def test_3(self):
        await self.wait_for_ctrl_c()


class Later(aiounit.AsyncTestCase):
    async def test_never(self):
        (RUN_DIR / "never-ran").touch()
