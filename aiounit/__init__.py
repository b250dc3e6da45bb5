"""aiounit: a unittest-compatible framework for testing asyncio code."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The runner's names are imported at once: they are cheap, and `aiounit.main` must be
# the function (unittest.main's twin), not the submodule of the same name.
from aiounit.errors import AiounitError, ConfigurationError, LoopFactoryError, LoopScopeError
from aiounit.loader import TestLoader
from aiounit.main import TestProgram, main
from aiounit.result import TestResult
from aiounit.runner import AsyncTestRunner, TestRunner

if TYPE_CHECKING:
    from aiounit import helpers
    from aiounit.case import AsyncTestCase
    from aiounit.clock import DeadlockError, VirtualClock, VirtualTimeUnsupportedError, virtual_time
    from aiounit.hygiene import CheckError, CheckWarning, checks
    from aiounit.timeouts import TestTimeoutError, timeout

__all__ = [
    "AiounitError",
    "AsyncTestCase",
    "AsyncTestRunner",
    "CheckError",
    "CheckWarning",
    "ConfigurationError",
    "DeadlockError",
    "LoopFactoryError",
    "LoopScopeError",
    "TestLoader",
    "TestProgram",
    "TestResult",
    "TestRunner",
    "TestTimeoutError",
    "VirtualClock",
    "VirtualTimeUnsupportedError",
    "checks",
    "helpers",
    "main",
    "timeout",
    "virtual_time",
]

__version__ = "0.1.0"

# Names that import asyncio are loaded on first use, as unittest does for
# IsolatedAsyncioTestCase: `python -m aiounit` starts as fast as `python -m unittest`.
_LAZY = {
    "AsyncTestCase": "aiounit.case",
    "CheckError": "aiounit.hygiene",
    "CheckWarning": "aiounit.hygiene",
    "checks": "aiounit.hygiene",
    "DeadlockError": "aiounit.clock",
    "VirtualClock": "aiounit.clock",
    "VirtualTimeUnsupportedError": "aiounit.clock",
    "virtual_time": "aiounit.clock",
    "TestTimeoutError": "aiounit.timeouts",
    "timeout": "aiounit.timeouts",
    "helpers": "aiounit.helpers",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'aiounit' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name == "helpers" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
