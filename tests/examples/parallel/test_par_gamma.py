"""Plain unittest classes, one with a class fixture that fails."""

import unittest

from helpers import note_process


class Plain(unittest.TestCase):
    def test_one(self):
        note_process(self)

    def test_two(self):
        pass

    def test_three(self):
        pass


class BrokenFixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("setUpClass failed on purpose")

    def test_never_runs(self):
        raise AssertionError("must not run")


class Async(unittest.TestCase):
    async def test_async_on_plain_case(self):
        pass

    def test_sync_neighbour(self):
        pass
