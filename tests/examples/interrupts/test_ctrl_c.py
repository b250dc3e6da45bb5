"""Waits for Ctrl-C from the parent: RUN_DIR names a directory for the handshake files."""

import asyncio
import os
from pathlib import Path

import aiounit

RUN_DIR = Path(os.environ["RUN_DIR"])


class WaitsForCtrlC(aiounit.AsyncTestCase):
    async def test_1_passes(self):
        pass

    async def test_2_hangs_until_ctrl_c(self):
        self.addAsyncCleanup(self.cleanup)
        (RUN_DIR / "ready").touch()
        await asyncio.Event().wait()

    async def cleanup(self):
        (RUN_DIR / "cleanup-ran").touch()
        if os.environ.get("HANG_IN_CLEANUP"):
            (RUN_DIR / "cleanup-hangs").touch()
            await asyncio.Event().wait()

    async def test_3_never_runs(self):
        (RUN_DIR / "test-3-ran").touch()
