"""The documentation cannot drift: every message has its section and every example runs.

These tests read docs/ and aiounit/ and run the examples the pages include; they do not
need Sphinx (`make docs` builds the site itself).
"""

from __future__ import annotations

import ast
import concurrent.futures
import difflib
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from collections.abc import Iterator
from pathlib import Path

from tests.cli_support import REPO, child_env, without_times

DOCS = REPO / "docs"
SNIPPETS = DOCS / "snippets"
PACKAGE = REPO / "aiounit"
MESSAGES = DOCS / "messages.md"
README = REPO / "README.md"

# Pages that other parts of the project generate or own; the rules for code examples below
# apply to every other page.
OTHER_PAGES = {"cli.md", "configuration.md", "benchmarks.md"}

# Snippet directories whose tests pass; each is run under `python -m aiounit`, and the
# migration ones under `python -m unittest` too, since the page says both work.
PASSING = {
    "quickstart/pass": ("aiounit", "unittest"),
    "lifecycle": ("aiounit",),
    "loops": ("aiounit",),
    "timeouts": ("aiounit",),
    "ports": ("aiounit",),
    "mocking": ("aiounit",),
    "checks": ("aiounit", "unittest"),
    "concurrent": ("aiounit", "unittest"),
    "migration/before": ("aiounit", "unittest"),
    "migration/after": ("aiounit", "unittest"),
    "migration/class_fixture": ("aiounit", "unittest"),
}
# Snippet directories that fail on purpose: the pages show their output, checked below.
FAILING = {"quickstart/fail", "timeouts/hang"}

# A slug is lower-case words joined by dashes; one written into a message by hand ends the
# message, in square brackets.
_SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)+"
_SLUG_AT_END = re.compile(rf"\[({_SLUG})\]\s*$")
_SECTION = re.compile(r"^\(([a-z0-9-]+)\)=\n#+ `([a-z0-9-]+)`\n", re.MULTILINE)


# -- where aiounit's slugs come from ----------------------------------------------------------


def modules() -> dict[str, ast.Module]:
    """Every module of aiounit, parsed."""
    return {
        path.stem: ast.parse(path.read_text(encoding="utf-8"), str(path))
        for path in sorted(PACKAGE.glob("*.py"))
    }


def _strings(node: ast.AST) -> Iterator[str]:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value


def emitted_slugs() -> dict[str, dict[str, set[str]]]:
    """Every slug aiounit can emit, by kind of source, with the modules it appears in.

    Kinds: ``message`` (a string that ends with ``[slug]``), ``attribute`` (``slug =
    "..."`` on an error class, or a conditional assignment to ``slug``), ``argument``
    (``slug="..."`` given to an error) and ``check`` (the name of a post-test check, which
    findings print as their slug).
    """
    kinds: dict[str, dict[str, set[str]]] = {
        "message": {},
        "attribute": {},
        "argument": {},
        "check": {},
    }

    def add(kind: str, slug: str, module: str) -> None:
        kinds[kind].setdefault(slug, set()).add(module)

    for module, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = _SLUG_AT_END.search(node.value)
                if match:
                    add("message", match.group(1), module)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if node.value is not None and any(
                    isinstance(t, ast.Name) and t.id == "slug" for t in targets
                ):
                    for text in _strings(node.value):
                        add("attribute", text, module)
            elif isinstance(node, ast.keyword) and node.arg == "slug":
                for text in _strings(node.value):
                    add("argument", text, module)
    from aiounit import hygiene

    for check in hygiene.DEFAULT_LEVELS:
        add("check", check, "hygiene")
    return kinds


def all_emitted() -> dict[str, set[str]]:
    """Every emitted slug, with the modules it appears in."""
    merged: dict[str, set[str]] = {}
    for found in emitted_slugs().values():
        for slug, where in found.items():
            merged.setdefault(slug, set()).update(where)
    return merged


def documented_sections() -> dict[str, str]:
    """The sections of docs/messages.md, by slug, each with its text."""
    text = MESSAGES.read_text(encoding="utf-8")
    matches = list(_SECTION.finditer(text))
    sections: dict[str, str] = {}
    for number, match in enumerate(matches):
        end = matches[number + 1].start() if number + 1 < len(matches) else len(text)
        sections[match.group(1)] = text[match.end() : end]
    return sections


class MessagesPageTests(unittest.TestCase):
    """docs/messages.md has one section per slug aiounit emits, and no other."""

    def test_each_kind_of_source_is_found(self) -> None:
        # If the search stopped finding a kind of slug, the tests below would pass vacuously.
        for kind, found in emitted_slugs().items():
            with self.subTest(kind=kind):
                self.assertTrue(found, f"no slug found in aiounit/ as a {kind}")

    def test_every_emitted_slug_has_a_section(self) -> None:
        sections = documented_sections()
        missing = {
            slug: sorted(modules) for slug, modules in all_emitted().items() if slug not in sections
        }
        self.assertEqual(missing, {}, "add a section to docs/messages.md for each of these")

    def test_every_section_is_an_emitted_slug(self) -> None:
        unused = sorted(set(documented_sections()) - set(all_emitted()))
        self.assertEqual(unused, [], "docs/messages.md documents slugs aiounit never emits")

    def test_sections_are_well_formed(self) -> None:
        text = MESSAGES.read_text(encoding="utf-8")
        labels = [match.group(1) for match in _SECTION.finditer(text)]
        self.assertEqual(len(labels), len(set(labels)), "a slug has two sections")
        for match in _SECTION.finditer(text):
            with self.subTest(slug=match.group(1)):
                self.assertEqual(match.group(1), match.group(2), "anchor and title differ")
        for slug, body in documented_sections().items():
            with self.subTest(slug=slug):
                self.assertIn("**Cause:**", body)
                self.assertIn("**Fix:**", body)


# -- code examples -------------------------------------------------------------------------


def own_pages() -> list[Path]:
    return sorted(
        path
        for path in DOCS.rglob("*.md")
        if "_build" not in path.parts
        and "snippets" not in path.relative_to(DOCS).parts
        and path.relative_to(DOCS).as_posix() not in OTHER_PAGES
    )


_FENCE = re.compile(r"^(`{3,}|:{3,})[ \t]*(\{[\w-]+\})?[ \t]*([\w+-]*)", re.MULTILINE)
_INCLUDE = re.compile(r"^```\{literalinclude\}\s+(\S+)", re.MULTILINE)
_PYTHON = {"python", "py", "python3", "pycon", "ipython"}


class CodeExampleTests(unittest.TestCase):
    """Code on the pages is included from files that run, never typed into the page."""

    def test_no_python_is_written_into_a_page(self) -> None:
        for page in own_pages():
            text = page.read_text(encoding="utf-8")
            for match in _FENCE.finditer(text):
                directive, language = match.group(2), match.group(3)
                with self.subTest(page=page.name, line=text.count("\n", 0, match.start()) + 1):
                    self.assertFalse(
                        language in _PYTHON and directive in (None, "{code-block}", "{code}"),
                        "include Python from examples/ or docs/snippets/ with literalinclude",
                    )

    def test_includes_name_files_that_run(self) -> None:
        allowed = (REPO / "examples", SNIPPETS)
        for page in own_pages():
            for target in _INCLUDE.findall(page.read_text(encoding="utf-8")):
                path = (page.parent / target).resolve()
                with self.subTest(page=page.name, target=target):
                    self.assertTrue(path.is_file())
                    self.assertTrue(
                        any(path.is_relative_to(root) for root in allowed),
                        "only examples/ and docs/snippets/ are run by the test suite",
                    )
                    if path.is_relative_to(SNIPPETS):
                        directory = path.parent.relative_to(SNIPPETS).as_posix()
                        self.assertIn(directory, set(PASSING) | FAILING)

    def test_every_snippet_directory_is_run(self) -> None:
        directories = {
            path.parent.relative_to(SNIPPETS).as_posix() for path in SNIPPETS.rglob("test*.py")
        }
        self.assertEqual(directories, set(PASSING) | FAILING)

    def test_index_includes_the_readme_opening_and_example(self) -> None:
        # The index includes the README from a line number up to a heading; if the README
        # grows a line at the top, the include must move with it.
        index = (DOCS / "index.md").read_text(encoding="utf-8")
        start_line = re.search(r"^:start-line: (\d+)$", index, re.MULTILINE)
        end_line = re.search(r'^:end-before: "(.*)"$', index, re.MULTILINE)
        assert start_line is not None and end_line is not None
        start, end_before = int(start_line.group(1)), end_line.group(1)
        readme = README.read_text(encoding="utf-8")
        included = "".join(readme.splitlines(keepends=True)[start:]).partition(end_before)[0]
        # What should be there: everything between the set-up commands and "## Install".
        after_commands = readme.partition("```sh\n")[2].partition("```\n")[2]
        self.assertEqual(included.strip(), after_commands.partition(end_before)[0].strip())
        self.assertIn("```python\n", included)


# -- the output the pages show --------------------------------------------------------------

_CARETS = re.compile(r"^\s*[~^]+\s*$")


def normalized(text: str) -> list[str]:
    """Output lines with what differs between machines and runs masked.

    Durations, memory addresses and task numbers vary between runs; paths keep their last
    two parts; asyncio's line numbers, and the ^^^ marks under code, vary between Python
    versions.
    """
    text = without_times(text)
    text = re.sub(r"0x[0-9a-f]+", "0x...", text)
    text = re.sub(r"'Task-\d+'", "'Task-N'", text)
    text = re.sub(r'File "(?:[^"]*/)?([^/"]+/[^/"]+)"', r'File "\1"', text)
    text = re.sub(r'(File "asyncio/[^"]+", line )\d+', r"\g<1>N", text)
    lines = [line.rstrip() for line in text.splitlines() if not _CARETS.match(line)]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def console_block(page: Path, name: str) -> list[tuple[str, str]]:
    """The commands of a named console block of a page, each with the output shown."""
    text = page.read_text(encoding="utf-8")
    match = re.search(
        rf"^```{{code-block}} (?:console|text)\n:name: {re.escape(name)}\n\n(.*?)^```$",
        text,
        re.MULTILINE | re.DOTALL,
    )
    assert match is not None, f"no block named {name} in {page}"
    commands: list[tuple[str, str]] = []
    for line in match.group(1).splitlines(keepends=True):
        if line.startswith("$ "):
            commands.append((line[2:].strip(), ""))
        else:
            command, output = commands[-1]
            commands[-1] = (command, output + line)
    return commands


def run_in_copy(snippet: str, folder: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a fresh copy of a snippet directory named ``folder``."""
    with tempfile.TemporaryDirectory(prefix="aiounit-docs-") as tmp:
        target = Path(tmp) / folder
        shutil.copytree(SNIPPETS / snippet, target, ignore=shutil.ignore_patterns("__pycache__"))
        return subprocess.run(
            argv,
            cwd=target,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )


def python_command(command: str) -> list[str]:
    words = command.split()
    assert words[:2] == ["python", "-m"], f"cannot run {command!r} from the docs"
    return [sys.executable, *words[1:]]


class ShownOutputTests(unittest.TestCase):
    """The output a page shows is what aiounit prints for its example, today."""

    def assert_block(self, page: Path, name: str, snippet: str, folder: str) -> None:
        previous: subprocess.CompletedProcess[str] | None = None
        for command, shown in console_block(page, name):
            with self.subTest(block=name, command=command):
                if command == "echo $?":
                    assert previous is not None
                    self.assertEqual(shown.strip(), str(previous.returncode))
                    continue
                previous = run_in_copy(snippet, folder, python_command(command))
                expected = normalized(shown)
                if "..." in expected:
                    self.assert_chunks_in_order(expected, normalized(previous.stdout))
                else:
                    self.assertEqual(normalized(previous.stdout), expected)

    def assert_chunks_in_order(self, expected: list[str], actual: list[str]) -> None:
        """Each run of lines between ``...`` lines appears, whole and in order, in actual."""
        position = 0
        chunk: list[str] = []
        for line in [*expected, "..."]:
            if line != "...":
                chunk.append(line)
                continue
            for start in range(position, len(actual) - len(chunk) + 1):
                if actual[start : start + len(chunk)] == chunk:
                    position = start + len(chunk)
                    break
            else:
                self.fail("not in the output, in this order:\n" + "\n".join(chunk))
            chunk = []

    def test_quickstart(self) -> None:
        page = DOCS / "quickstart.md"
        self.assert_block(page, "quickstart-pass-aiounit", "quickstart/pass", "greeting")
        self.assert_block(page, "quickstart-pass-unittest", "quickstart/pass", "greeting")
        self.assert_block(page, "quickstart-fail-aiounit", "quickstart/fail", "greeting")

    def test_quickstart_failing_step_only_adds_a_test(self) -> None:
        # The page says "add this method": the second file must be the first plus it.
        first = (SNIPPETS / "quickstart/pass/test_greeting.py").read_text(encoding="utf-8")
        second = (SNIPPETS / "quickstart/fail/test_greeting.py").read_text(encoding="utf-8")
        self.assertTrue(second.startswith(first), "the failing step changes the first file")
        self.assertIn("    async def test_shouts(self):", second[len(first) :])

    def test_migration_highlights_every_changed_line(self) -> None:
        # The page shows the migrated file with the changed lines highlighted, and says
        # nothing else changes.
        text = (DOCS / "migration.md").read_text(encoding="utf-8")
        shown = re.search(
            r"snippets/migration/after/test_length_server.py\n:language: python\n"
            r":emphasize-lines: ([\d, ]+)\n",
            text,
        )
        assert shown is not None
        highlighted = {int(number) for number in shown.group(1).split(",")}
        folder = SNIPPETS / "migration"
        before = (folder / "before/test_length_server.py").read_text(encoding="utf-8")
        after = (folder / "after/test_length_server.py").read_text(encoding="utf-8")
        added: set[int] = set()
        removed: list[str] = []
        number = 0
        for line in difflib.ndiff(before.splitlines(), after.splitlines()):
            if line.startswith(("  ", "+ ")):
                number += 1
            if line.startswith("+ ") and line[2:].strip():
                added.add(number)
            elif line.startswith("- ") and line[2:].strip():
                removed.append(line[2:])
        self.assertEqual(added, highlighted)
        self.assertEqual(len(removed), len(added))
        self.assertIn("unittest.IsolatedAsyncioTestCase", before)
        self.assertNotIn("unittest", after)

    def test_hang_report(self) -> None:
        page = DOCS / "guides" / "timeouts.md"
        self.assert_block(page, "timeouts-hang-run", "timeouts/hang", "hang")

    def test_lifecycle_order(self) -> None:
        spec = importlib.util.spec_from_file_location(
            "docs_lifecycle_snippet", SNIPPETS / "lifecycle" / "test_hook_order.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(module.HookOrder)
        result = unittest.TestResult()
        suite.run(result)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        page = DOCS / "guides" / "lifecycle.md"
        text = page.read_text(encoding="utf-8")
        shown = re.search(r"^:name: lifecycle-order\n\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
        assert shown is not None
        self.assertEqual(module.EVENTS, shown.group(1).splitlines())
        # The tables name the hooks in the order they run.
        in_tables = [
            name
            for name in re.findall(r"^\| \d+ \| `(\w+)`", text, re.MULTILINE)
            if name in module.EVENTS
        ]
        self.assertEqual(len(in_tables), 8)
        self.assertEqual(
            in_tables[:4], sorted(in_tables[:4], key=module.EVENTS.index), "per-test table"
        )
        self.assertEqual(
            in_tables[4:], sorted(in_tables[4:], key=module.EVENTS.index), "per-class table"
        )


def run_examples(runner: str) -> subprocess.CompletedProcess[str]:
    """Run the example project's suite, which the guides quote, as `make demo` does."""
    with tempfile.TemporaryDirectory(prefix="aiounit-docs-") as tmp:
        # A copy: a failing run would write its last-failed cache into the project.
        target = Path(tmp) / "examples"
        shutil.copytree(REPO / "examples", target, ignore=shutil.ignore_patterns("__pycache__"))
        return subprocess.run(
            [sys.executable, "-W", "error", "-m", runner, "discover"],
            cwd=target,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )


class SnippetRunTests(unittest.TestCase):
    """Every snippet directory whose tests should pass does, under each runner it names;
    so does the example project."""

    def test_examples_pass(self) -> None:
        for runner in ("aiounit", "unittest"):
            with self.subTest(runner=runner):
                process = run_examples(runner)
                self.assertEqual(process.returncode, 0, process.stdout)
                self.assertRegex(process.stdout, r"\nOK")

    def test_snippets_pass(self) -> None:
        runs = [
            (snippet, runner) for snippet, runners in sorted(PASSING.items()) for runner in runners
        ]
        folder = "snippet"
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            done = pool.map(
                lambda run: run_in_copy(
                    run[0], folder, [sys.executable, "-W", "error", "-m", run[1]]
                ),
                runs,
            )
            results = list(zip(runs, done, strict=True))
        for (snippet, runner), process in results:
            with self.subTest(snippet=snippet, runner=runner):
                self.assertEqual(process.returncode, 0, process.stdout)
                self.assertRegex(process.stdout, r"\nOK")
                self.assertNotRegex(process.stdout, r"Ran 0 tests")
