"""aiounit: a unittest-compatible framework for testing asyncio code."""

from aiounit import helpers
from aiounit.case import AsyncTestCase
from aiounit.errors import AiounitError, ConfigurationError, LoopFactoryError, LoopScopeError

__all__ = [
    "AiounitError",
    "AsyncTestCase",
    "ConfigurationError",
    "LoopFactoryError",
    "LoopScopeError",
    "helpers",
]

__version__ = "0.1.0"
