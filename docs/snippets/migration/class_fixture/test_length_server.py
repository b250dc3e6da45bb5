"""Tests of a small line server, with one server for the whole class."""

import asyncio

import aiounit


async def answer_length(reader, writer):
    """Answer the line a client sends with the number of bytes in it, then hang up."""
    line = await reader.readline()
    writer.write(b"%d\n" % len(line.rstrip(b"\n")))
    writer.close()


class LengthServerTests(aiounit.AsyncTestCase):
    @classmethod
    async def asyncSetUpClass(cls):
        cls.server = await asyncio.start_server(answer_length, "127.0.0.1", 0)
        cls.addAsyncClassCleanup(cls.server.wait_closed)
        cls.addClassCleanup(cls.server.close)
        cls.port = cls.server.sockets[0].getsockname()[1]

    async def ask(self, line):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.addCleanup(writer.close)
        writer.write(line + b"\n")
        return await reader.readline()

    async def test_counts_bytes(self):
        self.assertEqual(await self.ask(b"hello"), b"5\n")

    async def test_empty_line(self):
        self.assertEqual(await self.ask(b""), b"0\n")
