"""A module with module fixtures: its classes run together, after setUpModule ran once."""

import unittest

from helpers import note_process

EVENTS = []


def setUpModule():
    if EVENTS:
        raise RuntimeError("setUpModule ran twice")
    EVENTS.append("setUpModule")


def tearDownModule():
    EVENTS.append("tearDownModule")


class First(unittest.TestCase):
    def test_module_set_up(self):
        note_process(self)
        self.assertEqual(EVENTS, ["setUpModule"])

    def test_fails(self):
        self.fail("first fails")


class Second(unittest.TestCase):
    def test_same_process_as_first(self):
        self.assertEqual(EVENTS, ["setUpModule"])
