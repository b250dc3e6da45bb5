"""Tests of one class share a server and run at the same time, each with its own client."""

import asyncio

import aiounit


class SlowEchoTests(aiounit.AsyncTestCase):
    concurrent = True  # the tests below wait side by side: about 0.2 s in all, not 0.6 s

    @classmethod
    async def asyncSetUpClass(cls):
        cls.server = await asyncio.start_server(cls.echo, "127.0.0.1", 0)
        cls.addAsyncClassCleanup(cls.server.wait_closed)
        cls.addClassCleanup(cls.server.close)
        cls.port = cls.server.sockets[0].getsockname()[1]

    @staticmethod
    async def echo(reader, writer):
        line = await reader.readline()
        await asyncio.sleep(0.2)  # a slow server: what concurrent tests do not wait for in turn
        writer.write(line)
        await writer.drain()
        writer.close()

    async def asyncSetUp(self):
        # Each test has its own connection: state on self is the test's own.
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.addCleanup(self.writer.close)

    async def ask(self, text):
        self.writer.write(text.encode() + b"\n")
        return (await self.reader.readline()).decode().strip()

    async def test_ping(self):
        self.assertEqual(await self.ask("ping"), "ping")

    async def test_hello(self):
        self.assertEqual(await self.ask("hello"), "hello")

    async def test_empty(self):
        self.assertEqual(await self.ask(""), "")
