"""Every outcome unittest knows, in one module."""

import sys
import unittest


class Outcomes(unittest.TestCase):
    def test_passes(self):
        print("noise from a passing test")

    def test_fails(self):
        print("out of a failing test")
        print("err of a failing test", file=sys.stderr)
        self.assertEqual(1, 2)

    def test_errors(self):
        raise ValueError("broken on purpose")

    @unittest.skip("not today")
    def test_skipped(self):
        raise AssertionError("never runs")

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertTrue(False)

    @unittest.expectedFailure
    def test_unexpected_success(self):
        pass

    def test_subtests(self):
        """Checks numbers below two."""
        for i in range(4):
            with self.subTest(i=i):
                self.assertLess(i, 2)

    def test_local_variables(self):
        secret_number = 42
        self.assertEqual(secret_number, 41)
