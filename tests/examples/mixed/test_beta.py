"""Class fixtures: one class whose setUpClass fails, one that is fine."""

import unittest


class BrokenFixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("class fixture broken on purpose")

    def test_never_runs(self):
        pass


class Fine(unittest.TestCase):
    def test_one(self):
        pass

    def test_two(self):
        pass
