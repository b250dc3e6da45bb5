"""One passing test: the smallest suite, to measure start-up."""

import unittest


class One(unittest.TestCase):
    def test_one(self):
        self.assertTrue(True)
