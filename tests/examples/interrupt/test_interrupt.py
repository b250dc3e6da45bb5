"""The second test presses Ctrl-C: -c must stop the run and still report."""

import os
import signal
import unittest


class Interrupted(unittest.TestCase):
    def test_1_before(self):
        pass

    def test_2_presses_ctrl_c(self):
        os.kill(os.getpid(), signal.SIGINT)

    def test_3_after(self):
        pass
