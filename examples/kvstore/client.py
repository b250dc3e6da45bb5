"""The client: a pool of connections to the server, with retries, timeouts and channels."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Self

from kvstore.protocol import ServerError, encode, parse_reply

#: What ``open_connection`` returns: the two ends of a TCP connection.
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Connection:
    """One TCP connection to the server, carrying one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def request(self, line: bytes) -> tuple[str, str]:
        """Send one encoded request and return the kind and text of its reply."""
        self._writer.write(line)
        await self._writer.drain()
        return await self.read()

    async def read(self) -> tuple[str, str]:
        """Wait for the next line from the server; return its kind and text."""
        line = await self._reader.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        return parse_reply(line)

    def abort(self) -> None:
        """Close at once, dropping anything unread: for a connection in an unknown state."""
        self._writer.transport.abort()

    async def close(self) -> None:
        """Close the connection and wait until it is closed."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


class Client:
    """A client of the key-value server that any number of tasks can share.

    Each request borrows a connection from a pool of at most ``max_connections``, opened
    when needed. Opening one makes up to ``connect_attempts`` tries, waiting
    ``retry_delay`` seconds after the first failure and twice as long after each next one.
    A request with no reply after ``timeout`` seconds raises TimeoutError. Use the client
    as an async context manager, or call :meth:`connect` and :meth:`close` yourself.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_connections: int = 4,
        timeout: float = 5.0,
        connect_attempts: int = 3,
        retry_delay: float = 0.1,
        open_connection: Callable[[str, int], Awaitable[Streams]] = asyncio.open_connection,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_attempts = connect_attempts
        self.retry_delay = retry_delay
        self._open_connection = open_connection
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[Connection] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def connect(self) -> None:
        """Open the first connection now, so that a wrong address fails here and not later."""
        async with self._slots:
            if not self._idle:
                self._idle.append(await self.open())

    async def close(self) -> None:
        """Close the idle connections; a request still running closes its own when done."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(connection.close() for connection in idle))

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> Connection:
        """Open a new connection outside the pool, retrying as the class describes."""
        for attempt in range(1, self.connect_attempts):
            try:
                return Connection(*await self._open_connection(self.host, self.port))
            except OSError:
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
        # The last attempt: its error, if any, is the caller's.
        return Connection(*await self._open_connection(self.host, self.port))

    async def execute(self, *words: str) -> tuple[str, str]:
        """Send one request; return the kind and text of its reply.

        Raises ServerError if the server answers ``ERR``.
        """
        if self._closed:
            raise ConnectionError("this Client is closed; create a new one to send requests")
        line = encode(*words)
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self.open()
            try:
                async with asyncio.timeout(self.timeout):
                    kind, text = await connection.request(line)
            except BaseException as exc:
                # Cut short (timed out, cancelled, disconnected), the request may still get
                # its reply later on this connection, where the next request would read it
                # as its own. So the connection goes, instead of back to the pool.
                connection.abort()
                if isinstance(exc, TimeoutError):
                    raise TimeoutError(f"{words[0]} got no reply in {self.timeout} s") from None
                raise
            await self._release(connection)
        if kind == "ERR":
            raise ServerError(text)
        return kind, text

    async def get(self, key: str) -> str | None:
        """Return the value of ``key``, or None if it is not set."""
        kind, text = await self.execute("GET", key)
        return text if kind == "VALUE" else None

    async def set(self, key: str, value: str) -> None:
        """Set ``key`` to ``value``, clearing any time to live it had."""
        await self.execute("SET", key, value)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was set."""
        return await self._integer("DEL", key) == 1

    async def incr(self, key: str) -> int:
        """Add one to the counter at ``key`` and return its new value."""
        return await self._integer("INCR", key)

    async def expire(self, key: str, seconds: float) -> bool:
        """Delete ``key`` after ``seconds``; return False if it is not set."""
        return await self._integer("EXPIRE", key, str(seconds)) == 1

    async def keys(self, pattern: str = "*") -> list[str]:
        """Return the keys that match the shell-style ``pattern``, sorted."""
        _, text = await self.execute("KEYS", pattern)
        return text.split()

    async def flush(self) -> None:
        """Remove every key."""
        await self.execute("FLUSH")

    async def publish(self, channel: str, message: str) -> int:
        """Send ``message`` to the subscribers of ``channel``; return how many got it."""
        return await self._integer("PUBLISH", channel, message)

    def subscribe(self, channel: str) -> "Subscription":
        """Return a subscription to ``channel``, to use with ``async with``."""
        return Subscription(self, channel)

    async def _release(self, connection: Connection) -> None:
        """Put a connection back in the pool, or close it if the client closed meanwhile."""
        if self._closed:
            await connection.close()
        else:
            self._idle.append(connection)

    async def _integer(self, *words: str) -> int:
        _, text = await self.execute(*words)
        return int(text)


class Subscription:
    """The messages published to one channel, on a connection of their own.

    The subscription starts when the ``async with`` block is entered, so every message
    published after that is received::

        async with client.subscribe("news") as subscription:
            async for message in subscription.messages():
                print(message)
    """

    def __init__(self, client: Client, channel: str) -> None:
        self.channel = channel
        self._client = client
        self._connection: Connection | None = None

    async def __aenter__(self) -> Self:
        # Not a pooled connection: the server may push a message on it at any moment,
        # so no other request could tell its reply from a message.
        connection = await self._client.open()
        try:
            await connection.request(encode("SUBSCRIBE", self.channel))
        except BaseException:
            connection.abort()
            raise
        self._connection = connection
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        connection, self._connection = self._connection, None
        assert connection is not None
        if exc_type is not None:
            connection.abort()
            return
        # Unsubscribe and wait for the answer, skipping messages still on their way: once
        # this returns, the server sends nothing more to this subscriber.
        kind, _ = await connection.request(encode("UNSUBSCRIBE"))
        while kind == "MESSAGE":
            kind, _ = await connection.read()
        await connection.close()

    async def receive(self) -> str:
        """Wait for the next message and return it."""
        if self._connection is None:
            raise RuntimeError("receive() outside the subscription's 'async with' block")
        _, text = await self._connection.read()
        _channel, _, message = text.partition(" ")
        return message

    async def messages(self) -> AsyncIterator[str]:
        """Yield the messages as they arrive, for as long as the subscription lasts."""
        while True:
            yield await self.receive()
