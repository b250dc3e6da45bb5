"""Build shim: the metadata lives in setup.cfg, the build system in pyproject.toml."""

from setuptools import setup

setup()
