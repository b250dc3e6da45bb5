"""A tiny key-value server and its client, speaking a line protocol over loopback TCP."""

from __future__ import annotations

import asyncio
from typing import Any

# A test that waits longer than this for a reply fails instead of hanging its run.
REQUEST_TIMEOUT = 10.0


class ProtocolError(Exception):
    """The server answered a request with an ``ERR`` line."""


class KVServer:
    """Serves ``SET``, ``GET``, ``DEL`` and ``COUNT`` on 127.0.0.1, on a free port.

    Use it as an async context manager, or call :meth:`start` and :meth:`close`.
    """

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> KVServer:
        """Start listening; ``port`` tells where."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening and wait until the server is closed."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> KVServer:
        return await self.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = self._answer(line.decode().rstrip("\n"))
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    def _answer(self, request: str) -> str:
        command, _, rest = request.partition(" ")
        if command == "SET":
            # The first space ends the key: keys with spaces are a known limitation.
            key, _, value = rest.partition(" ")
            self.data[key] = value
            return "OK"
        if command == "GET":
            stored = self.data.get(rest)
            return "NONE" if stored is None else f"VALUE {stored}"
        if command == "DEL":
            return f"DELETED {int(self.data.pop(rest, None) is not None)}"
        if command == "COUNT":
            return f"COUNT {len(self.data)}"
        return f"ERR unknown command {command!r}"


class KVClient:
    """One connection to a :class:`KVServer`; use it as an async context manager."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> KVClient:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            await writer.wait_closed()

    async def request(self, line: str) -> str:
        """Send one request line and return the reply; ``ERR`` replies raise ProtocolError."""
        if self._reader is None or self._writer is None:
            raise RuntimeError("KVClient is not connected: use it in `async with`")
        async with asyncio.timeout(REQUEST_TIMEOUT):
            self._writer.write(line.encode() + b"\n")
            await self._writer.drain()
            reply = (await self._reader.readline()).decode().rstrip("\n")
        if reply.startswith("ERR"):
            raise ProtocolError(reply)
        return reply

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        await self.request(f"SET {key} {value}")

    async def get(self, key: str) -> str | None:
        """Return the value stored under ``key``, or None."""
        reply = await self.request(f"GET {key}")
        return None if reply == "NONE" else reply.removeprefix("VALUE ")

    async def delete(self, key: str) -> bool:
        """Delete ``key``; return whether it existed."""
        return await self.request(f"DEL {key}") == "DELETED 1"

    async def count(self) -> int:
        """Return how many keys the server holds."""
        return int((await self.request("COUNT")).removeprefix("COUNT "))

    async def stats(self) -> str:
        """Return the server's statistics line."""
        return await self.request("STATS")
