"""Imports fine in the main process; kills every worker process that imports it."""

import multiprocessing
import os
import unittest

if multiprocessing.parent_process() is not None:
    os._exit(7)


class First(unittest.TestCase):
    def test_a(self):
        pass


class Second(unittest.TestCase):
    def test_b(self):
        pass


class Third(unittest.TestCase):
    def test_c(self):
        pass


class Fourth(unittest.TestCase):
    def test_d(self):
        pass
