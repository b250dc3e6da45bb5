"""The README's example is a real test suite: run it, so the README cannot drift from the code."""

from __future__ import annotations

import re
import types
import unittest
from pathlib import Path

from tests.support import messages, run_suite

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    """The ```python code blocks of a markdown text."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


class ReadmeTests(unittest.TestCase):
    def test_first_lines_are_the_two_setup_commands(self) -> None:
        text = README.read_text(encoding="utf-8")
        first_block = re.search(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
        assert first_block is not None
        commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
        self.assertEqual(commands, ["make demo", "make test"])

    def test_example_passes(self) -> None:
        blocks = python_blocks(README.read_text(encoding="utf-8"))
        self.assertEqual(len(blocks), 1, "the README should show exactly one example")
        module = types.ModuleType("readme_example")
        exec(compile(blocks[0], str(README), "exec"), module.__dict__)
        cases = [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, unittest.TestCase)
        ]
        self.assertEqual([case.__name__ for case in cases], ["ServerTests"])
        result = run_suite(*cases)
        self.assertEqual(result.testsRun, 1)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
