"""Three classes of four tests; fixtures fail if they run twice."""

import unittest

SET_UP = []


def setUpModule():
    if SET_UP:
        raise RuntimeError("setUpModule ran twice")
    SET_UP.append(True)


class Fixtured:
    calls = 0

    @classmethod
    def setUpClass(cls):
        cls.calls += 1
        if cls.calls > 1:
            raise RuntimeError(f"setUpClass of {cls.__name__} ran twice")

    def test_1(self):
        pass

    def test_2(self):
        pass

    def test_3(self):
        pass

    def test_4(self):
        pass


class Alpha3(Fixtured, unittest.TestCase):
    calls = 0


class Beta3(Fixtured, unittest.TestCase):
    calls = 0


class Gamma3(Fixtured, unittest.TestCase):
    calls = 0
