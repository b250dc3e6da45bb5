"""The TCP server: reads requests line by line and answers them from a Store."""

import asyncio
import contextlib
import socket
from typing import Self

from kvstore.protocol import ProtocolError, encode, parse_request
from kvstore.store import Store


class Server:
    """Serves a :class:`Store` over TCP, with publish/subscribe channels.

    Give it an already bound socket (``sock``) or a ``host`` and ``port`` to bind. Use it
    as an async context manager, or call :meth:`start` and :meth:`close` yourself::

        async with Server(port=7000):
            await asyncio.Event().wait()  # Serve until cancelled.
    """

    def __init__(
        self, *, sock: socket.socket | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.store = Store()
        self._sock = sock
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._closing = False
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self._channels: dict[str, set[asyncio.StreamWriter]] = {}

    async def start(self) -> None:
        """Start accepting connections."""
        if self._sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=self._sock)
        else:
            self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def close(self) -> None:
        """Stop accepting, close every connection and wait until each one is done."""
        if self._server is None:
            return
        self._closing = True
        self._server.close()
        for writer in self._connections:
            writer.close()
        # Before Python 3.12, Server.wait_closed() does not wait for the connections, so
        # wait for their tasks here: none may outlive the server (or the test that ran it).
        await asyncio.gather(*self._connections.values())
        await self._server.wait_closed()
        self.store.clear()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer the requests of one connection until the client hangs up."""
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = task
        try:
            # A connection accepted just as close() began finds _closing set and ends here.
            while not self._closing and (line := await reader.readline()):
                try:
                    reply = self._execute(*parse_request(line), writer)
                except (ProtocolError, ValueError) as exc:
                    reply = f"ERR {exc}"
                writer.write(encode(reply))
                await writer.drain()
        except ConnectionError:
            pass  # The client went away without waiting for its reply: nobody to tell.
        finally:
            self._unsubscribe(writer)
            del self._connections[writer]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _execute(self, name: str, args: list[str], writer: asyncio.StreamWriter) -> str:
        """Carry out one parsed request and return the reply line."""
        store = self.store
        match [name, *args]:
            case ["GET", key]:
                value = store.get(key)
                return "NIL" if value is None else f"VALUE {value}"
            case ["SET", key, value]:
                store.set(key, value)
                return "OK"
            case ["DEL", key]:
                return f"INT {int(store.delete(key))}"
            case ["INCR", key]:
                return f"INT {store.incr(key)}"
            case ["EXPIRE", key, seconds]:
                return f"INT {int(store.expire(key, _seconds(seconds)))}"
            case ["KEYS", pattern]:
                return " ".join(["KEYS", *store.keys(pattern)])
            case ["FLUSH"]:
                store.clear()
                return "OK"
            case ["PUBLISH", channel, message]:
                return f"INT {self._publish(channel, message)}"
            case ["SUBSCRIBE", channel]:
                self._channels.setdefault(channel, set()).add(writer)
                return "OK"
            case ["UNSUBSCRIBE"]:
                self._unsubscribe(writer)
                return "OK"
        raise AssertionError(f"parse_request() accepted {name} but nothing executes it")

    def _publish(self, channel: str, message: str) -> int:
        """Push ``message`` to the subscribers of ``channel``; return how many there are."""
        subscribers = self._channels.get(channel, set())
        for subscriber in subscribers:
            # No drain(): one slow subscriber must not hold up the publisher. Its
            # transport buffers the message.
            subscriber.write(encode("MESSAGE", channel, message))
        return len(subscribers)

    def _unsubscribe(self, writer: asyncio.StreamWriter) -> None:
        for subscribers in self._channels.values():
            subscribers.discard(writer)


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ProtocolError(f"EXPIRE takes a number of seconds, got {text!r}") from None
