"""The in-memory data of the server: string values, counters and keys that expire."""

import asyncio
import fnmatch


class Store:
    """A dictionary of strings whose keys can be given a time to live.

    Expiry runs on the clock of the running event loop (``loop.call_later``), so
    :meth:`expire` must be called from a coroutine or callback on that loop.
    """

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def get(self, key: str) -> str | None:
        """Return the value of ``key``, or None if it is not set."""
        return self._values.get(key)

    def set(self, key: str, value: str) -> None:
        """Set ``key`` to ``value``; a new value clears any time to live, as in Redis."""
        self._values[key] = value
        self._cancel_timer(key)

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was set."""
        self._cancel_timer(key)
        return self._values.pop(key, None) is not None

    def incr(self, key: str) -> int:
        """Add one to the integer stored at ``key`` (0 if unset) and return the result."""
        try:
            number = int(self._values.get(key, "0")) + 1
        except ValueError:
            raise ValueError(f"the value of {key!r} is not an integer") from None
        # Not set(): incrementing a counter keeps its time to live.
        self._values[key] = str(number)
        return number

    def expire(self, key: str, seconds: float) -> bool:
        """Delete ``key`` after ``seconds``; return False (and do nothing) if it is not set."""
        if key not in self._values:
            return False
        self._cancel_timer(key)
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(seconds, self.delete, key)
        return True

    def keys(self, pattern: str = "*") -> list[str]:
        """Return the keys that match the shell-style ``pattern``, sorted."""
        return sorted(key for key in self._values if fnmatch.fnmatchcase(key, pattern))

    def clear(self) -> None:
        """Remove every key and cancel every pending expiry."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._values.clear()

    def _cancel_timer(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
