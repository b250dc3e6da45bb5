"""Sphinx configuration of aiounit's documentation site (built by `make docs`)."""

from __future__ import annotations

import os
import sys

# Document the aiounit of this checkout, installed or not.
sys.path.insert(0, os.path.abspath(".."))

import aiounit

project = "aiounit"
author = "The aiounit authors"
copyright = "The aiounit authors"
release = aiounit.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# Files under snippets/ are code that pages include; they are not pages themselves.
exclude_patterns = ["_build", "snippets"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -n: every cross-reference must resolve. The build must work offline, in a fresh clone, so
# no other project's inventory is fetched: names from the standard library stay plain text.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(asyncio|unittest|contextvars|socket|typing|collections\.abc|types)(\..*)?"),
    (r"py:class", r"(Any|Callable|TextIO|ModuleType|TracebackType|EllipsisType|NoReturn)"),
]
# Helper classes that docstrings of public classes name, but that are not public themselves.
# (Docstrings name them relative to their own module, where they live; the site documents
# the classes that name them under the ``aiounit`` package.)
nitpick_ignore = [
    ("py:class", "AsyncTestInSyncCase"),
    ("py:class", "TestRecord"),
    ("py:func", "install_virtual_time"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"

html_theme = "furo"
html_title = f"aiounit {release}"
html_static_path: list[str] = []
