# Everything installs itself: a fresh clone needs only `make demo` and `make test`.
# One virtual environment per supported Python, inside the repo:
#   .venv       Python 3.11, with the dev tools (ruff, mypy, coverage) and docs tools
#   .venv-3.12  Python 3.12, with what the tests need
#   .venv-3.13  Python 3.13, with what the tests need

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Find pythonX.Y on PATH, else in pyenv's versions folder.
find_python = $(firstword $(foreach c,python$(1) $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)),$(shell $(c) -c 'import sys' >/dev/null 2>&1 && echo $(c))))
PY311 ?= $(call find_python,3.11)
PY312 ?= $(call find_python,3.12)
PY313 ?= $(call find_python,3.13)

VENV := .venv
PY := $(VENV)/bin/python
VERSIONS := 3.11 3.12 3.13
venv_of = $(if $(filter 3.11,$(1)),.venv,.venv-$(1))

# Our own suite runs with warnings as errors, as users' suites should be able to, and in
# two worker processes: many of its tests wait on subprocesses and time limits.
TEST_CMD = -W error -m aiounit discover -s tests -t . -j 2
# The same suite under stock unittest: it must pass there too.
TEST_CMD_UNITTEST = -W error -m unittest discover -s tests -t .
UVLOOP_TESTS = tests.test_lifecycle tests.test_class_scope tests.test_timeouts tests.test_checks tests.test_compat tests.test_concurrent

.PHONY: help install demo test test-3.11 test-3.12 test-3.13 lint docs bench ci clean

help:
	@echo "make demo   run the example project's tests (examples/)"
	@echo "make test   run aiounit's tests on Python 3.11, 3.12 and 3.13"
	@echo "make lint   ruff and mypy"
	@echo "make docs   build the documentation site into docs/_build/html (docs/)"
	@echo "make bench  benchmarks against the sync floor and peers (benchmarks/)"
	@echo "make ci     what CI runs: lint, the demo, the docs, then tests"

.venv/.installed: setup.cfg setup.py pyproject.toml
	@test -n "$(PY311)" || { echo "Python 3.11 not found (on PATH or in pyenv)"; exit 1; }
	$(PY311) -m venv --clear .venv
	.venv/bin/python -m pip install --quiet --upgrade pip
	.venv/bin/python -m pip install --quiet -e '.[dev]'
	@touch $@

.venv-3.12/.installed: setup.cfg setup.py pyproject.toml
	@test -n "$(PY312)" || { echo "Python 3.12 not found (on PATH or in pyenv)"; exit 1; }
	$(PY312) -m venv --clear .venv-3.12
	.venv-3.12/bin/python -m pip install --quiet -e '.[test]'
	@touch $@

.venv-3.13/.installed: setup.cfg setup.py pyproject.toml
	@test -n "$(PY313)" || { echo "Python 3.13 not found (on PATH or in pyenv)"; exit 1; }
	$(PY313) -m venv --clear .venv-3.13
	.venv-3.13/bin/python -m pip install --quiet -e '.[test]'
	@touch $@

install: .venv/.installed

demo: .venv/.installed
	$(PY) -W error -m aiounit discover -s examples -t examples -v

test: test-3.11 test-3.12 test-3.13

.SECONDEXPANSION:
$(addprefix test-,$(VERSIONS)): test-%: $$(call venv_of,%)/.installed
	@echo "== Python $*, python -m aiounit =="
	AIOUNIT_REQUIRE_CPYTHON_TESTS=1 $(call venv_of,$*)/bin/python $(TEST_CMD)
	@echo "== Python $*, python -m unittest =="
	AIOUNIT_REQUIRE_CPYTHON_TESTS=1 $(call venv_of,$*)/bin/python $(TEST_CMD_UNITTEST)
	@echo "== Python $*, lifecycle on uvloop =="
	AIOUNIT_LOOP=uvloop $(call venv_of,$*)/bin/python -W error -m unittest $(UVLOOP_TESTS)

lint: .venv/.installed
	$(VENV)/bin/ruff check aiounit tests examples benchmarks
	$(VENV)/bin/ruff format --check aiounit
	$(VENV)/bin/mypy

# Sphinx and its theme, pinned by the docs extra, go into the 3.11 environment once.
.venv/.docs-installed: .venv/.installed setup.cfg
	.venv/bin/python -m pip install --quiet -e '.[docs]'
	@touch $@

docs: .venv/.installed .venv/.docs-installed
	.venv/bin/sphinx-build -n -W --keep-going -b html docs docs/_build/html

bench: .venv/.installed
	$(PY) benchmarks/run.py

ci: lint demo docs test

clean:
	rm -rf .venv .venv-3.12 .venv-3.13 build *.egg-info .mypy_cache .ruff_cache docs/_build
