"""CRASH_MODES (exit, segv, kill, block; comma-separated) decide which classes take down
their worker in test_2; the others pass."""

import faulthandler
import os
import signal
import time
import unittest

import aiounit

MODES = os.environ.get("CRASH_MODES", "").split(",")


class Crashing:
    mode = ""

    async def test_1_passes(self):
        pass

    @aiounit.timeout(0.5)
    async def test_2_takes_the_worker_down(self):
        if self.mode not in MODES:
            return
        if self.mode == "exit":
            os._exit(3)
        elif self.mode == "segv":
            faulthandler._sigsegv()
        elif self.mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.mode == "block":
            # As code stuck inside C would: the signal that interrupts a blocked test
            # stays pending, so the worker cannot answer until the sleep ends.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)

    async def test_3_runs_in_a_new_worker(self):
        pass


class Exits(Crashing, aiounit.AsyncTestCase):
    mode = "exit"


class Segfaults(Crashing, aiounit.AsyncTestCase):
    mode = "segv"


class Killed(Crashing, aiounit.AsyncTestCase):
    mode = "kill"


class Blocks(Crashing, aiounit.AsyncTestCase):
    mode = "block"


class Neighbours(unittest.TestCase):
    def test_a(self):
        pass

    def test_b(self):
        pass
