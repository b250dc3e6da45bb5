"""Imports fine in the main process; kills every worker process that runs (or imports) it.

A spawned worker dies importing the module; a forked one, which has it imported already,
dies in the first class fixture it runs.
"""

import multiprocessing
import os
import unittest

if multiprocessing.parent_process() is not None:
    os._exit(7)


class Doomed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if multiprocessing.parent_process() is not None:
            os._exit(7)


class First(Doomed):
    def test_a(self):
        pass


class Second(Doomed):
    def test_b(self):
        pass


class Third(Doomed):
    def test_c(self):
        pass


class Fourth(Doomed):
    def test_d(self):
        pass
