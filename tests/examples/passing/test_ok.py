"""A small suite that passes."""

import unittest


class First(unittest.TestCase):
    def test_a(self):
        self.assertEqual(2 + 2, 4)

    def test_b(self):
        self.assertTrue(True)

    @unittest.skip("skipped on purpose")
    def test_skipped(self):
        pass


class Second(unittest.TestCase):
    def test_c(self):
        self.assertIn("a", "abc")
