"""Reports what loop settings reach a test case, to check --loop, --loop-debug, --timeout."""

import asyncio
import os

import aiounit


class Settings(aiounit.AsyncTestCase):
    async def test_report(self):
        loop = asyncio.get_running_loop()
        print("AIOUNIT_LOOP=" + os.environ.get("AIOUNIT_LOOP", "<unset>"))
        print("AIOUNIT_LOOP_DEBUG=" + os.environ.get("AIOUNIT_LOOP_DEBUG", "<unset>"))
        print("AIOUNIT_TIMEOUT=" + os.environ.get("AIOUNIT_TIMEOUT", "<unset>"))
        print(f"debug={loop.get_debug()}")
        print("made_by=" + getattr(loop, "made_by", "default"))
