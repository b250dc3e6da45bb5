"""Tests of the client's own behaviour: connecting, retrying, timeouts and cancellation."""

import asyncio
from unittest.mock import DEFAULT, AsyncMock

import aiounit
from aiounit.helpers import bind_unused_tcp_port

from kvstore import Client, Server


class ClientTests(aiounit.AsyncTestCase):
    """A fresh loop and a fresh server for every test (the default loop scope)."""

    async def asyncSetUp(self) -> None:
        sock, self.port = bind_unused_tcp_port()
        self.server = Server(sock=sock)
        await self.server.start()

    async def asyncTearDown(self) -> None:
        # asyncTearDown runs only if asyncSetUp succeeded, so the server is there to close.
        await self.server.close()

    async def test_retries_a_refused_connection(self) -> None:
        # The first attempt is refused; the second calls the real open_connection.
        open_connection = AsyncMock(
            wraps=asyncio.open_connection, side_effect=[ConnectionRefusedError(), DEFAULT]
        )
        client = Client("127.0.0.1", self.port, open_connection=open_connection, retry_delay=0)
        async with client:
            await client.set("key", "value")
            self.assertEqual(await client.get("key"), "value")
        self.assertEqual(open_connection.await_count, 2)
        open_connection.assert_awaited_with("127.0.0.1", self.port)

    async def test_gives_up_after_its_connect_attempts(self) -> None:
        open_connection = AsyncMock(side_effect=ConnectionRefusedError())
        client = Client(
            "127.0.0.1",
            self.port,
            open_connection=open_connection,
            connect_attempts=3,
            retry_delay=0,
        )
        with self.assertRaises(ConnectionRefusedError):
            await client.connect()
        self.assertEqual(open_connection.await_count, 3)

    async def test_async_with_closes_the_client_even_on_error(self) -> None:
        with self.assertRaises(KeyError):
            async with Client("127.0.0.1", self.port) as client:
                await client.set("key", "value")
                raise KeyError("key")
        self.assertTrue(client.closed)
        with self.assertRaisesRegex(ConnectionError, "Client is closed"):
            await client.get("key")


class FakeServer:
    """A stand-in server that answers only when the test tells it to.

    Every request it reads goes into ``requests`` along with the writer of its
    connection, so the test decides when, and with what, each request is answered.
    """

    def __init__(self) -> None:
        self.requests: asyncio.Queue[tuple[bytes, asyncio.StreamWriter]] = asyncio.Queue()
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    async def __aenter__(self) -> "FakeServer":
        sock, self.port = bind_unused_tcp_port()
        self._server = await asyncio.start_server(self._serve, sock=sock)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        # Hang up on clients still waiting for a reply (a failed test may leave one), and
        # wait for every connection to end, so that none outlives the test.
        for writer in self._connections:
            writer.close()
        await asyncio.gather(*self._connections.values())
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = task
        while line := await reader.readline():
            await self.requests.put((line, writer))
        writer.close()


class CutShortTests(aiounit.AsyncTestCase):
    """What happens to a request abandoned before its reply arrives."""

    async def setUp(self) -> None:
        # setUp itself can be a coroutine: aiounit awaits it on the test's loop.
        self.server = await self.enterAsyncContext(FakeServer())
        # Entered after the server, so exited before it: the client hangs up first.
        self.client = await self.enterAsyncContext(Client("127.0.0.1", self.server.port))

    async def test_cancelled_request_does_not_leave_its_reply_to_the_next(self) -> None:
        request = asyncio.create_task(self.client.get("a"))
        line, writer = await self.server.requests.get()
        self.assertEqual(line, b"GET a\n")
        # The request has reached the server and waits for its reply: cancel it now.
        request.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await request
        # The reply to the cancelled request arrives late...
        writer.write(b"VALUE stale\n")
        # ... and must not be taken for the reply to the next request.
        request = asyncio.create_task(self.client.get("b"))
        line, writer = await self.server.requests.get()
        self.assertEqual(line, b"GET b\n")
        writer.write(b"VALUE fresh\n")
        self.assertEqual(await request, "fresh")

    async def test_request_times_out_without_a_reply(self) -> None:
        # The fake server never answers: after the client's timeout, the request fails.
        self.client.timeout = 0.01
        with self.assertRaisesRegex(TimeoutError, "GET got no reply in 0.01 s"):
            await self.client.get("a")

    async def test_deadline_of_the_caller_wins_over_the_client_timeout(self) -> None:
        self.client.timeout = 60
        with self.assertRaises(TimeoutError) as caught:
            async with asyncio.timeout(0.01):
                await self.client.get("a")
        # The bare TimeoutError of asyncio.timeout(), not the client's, which names the request.
        self.assertNotIn("GET", str(caught.exception))
