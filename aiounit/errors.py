"""The error types aiounit raises, each message ending with a slug from docs/messages."""

from __future__ import annotations

__all__ = [
    "AiounitError",
    "ConfigurationError",
    "IPv6UnavailableError",
    "LoopFactoryError",
    "LoopScopeError",
    "LoopTamperedError",
    "PortError",
]


class AiounitError(Exception):
    """Base of every error aiounit raises about how it was used.

    ``slug`` names the section of the messages reference that explains the error; the
    message ends with it in square brackets so it can be searched for.
    """

    slug: str = "aiounit-error"

    def __init__(self, message: str, *, slug: str | None = None) -> None:
        if slug is not None:
            self.slug = slug
        super().__init__(f"{message} [{self.slug}]")


class ConfigurationError(AiounitError, ValueError):
    """A setting (class attribute, environment variable, option) has a bad value."""

    slug = "bad-setting"


class LoopFactoryError(ConfigurationError):
    """A loop factory could not be found, imported or called."""

    slug = "bad-loop-factory"


class LoopScopeError(ConfigurationError, TypeError):
    """A test class combines loop settings and hooks that cannot work together."""

    slug = "bad-loop-scope"


class LoopTamperedError(AiounitError, RuntimeError):
    """The test closed or stopped the event loop that aiounit runs it on."""

    slug = "loop-closed-by-test"


class PortError(AiounitError, OSError):
    """No port could be had on the requested host.

    It is an ``OSError``, so code that already catches socket errors still catches it.
    """

    slug = "port-unavailable"


class IPv6UnavailableError(PortError):
    """An IPv6 host was asked for, but this machine cannot open IPv6 sockets there.

    Catch it to skip a test on machines without IPv6 (``self.skipTest(str(exc))``).
    """

    slug = "ipv6-unavailable"
