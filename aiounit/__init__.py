"""aiounit: a unittest-compatible framework for testing asyncio code."""

from aiounit import helpers
from aiounit.case import AsyncTestCase
from aiounit.errors import AiounitError, ConfigurationError, LoopFactoryError, LoopScopeError
from aiounit.timeouts import TestTimeoutError, timeout

__all__ = [
    "AiounitError",
    "AsyncTestCase",
    "ConfigurationError",
    "LoopFactoryError",
    "LoopScopeError",
    "TestTimeoutError",
    "helpers",
    "timeout",
]

__version__ = "0.1.0"
