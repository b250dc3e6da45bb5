"""Tests that fail when their name is listed in EXAMPLE_FAIL (comma-separated)."""

import os
import unittest


def _check(name):
    if name in os.environ.get("EXAMPLE_FAIL", "").split(","):
        raise AssertionError(f"{name} told to fail")


class Flaky(unittest.TestCase):
    def test_a(self):
        _check("test_a")

    def test_b(self):
        _check("test_b")

    def test_c(self):
        _check("test_c")


class Steady(unittest.TestCase):
    def test_d(self):
        _check("test_d")

    def test_e(self):
        _check("test_e")
