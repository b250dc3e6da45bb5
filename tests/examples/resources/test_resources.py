"""A project whose tests leave things open or block the loop: each is reported on its own test."""

import asyncio
import socket
import time

import aiounit


async def _ignore(reader, writer):
    writer.close()


class Leftovers(aiounit.AsyncTestCase):
    async def test_1_drops_a_socket(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))  # the bug: never closed

    async def test_2_leaves_a_server(self):
        server = await asyncio.start_server(_ignore, "127.0.0.1", 0)  # the bug: never closed
        self.assertTrue(server.is_serving())

    async def test_3_blocks_the_loop(self):
        time.sleep(0.3)  # the bug: a blocking call in async code

    async def test_4_clean(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
        async with await asyncio.start_server(_ignore, "127.0.0.1", 0) as server:
            self.assertTrue(server.is_serving())
        await asyncio.sleep(0.3)  # waiting is not blocking


class Several(aiounit.AsyncTestCase):
    async def test_1_leaves_two_things(self):
        socket.socket()  # the bug: dropped open
        await asyncio.start_server(_ignore, "127.0.0.1", 0)  # and never closed

    async def test_2_clean(self):
        await asyncio.sleep(0)


class TimedOut(aiounit.AsyncTestCase):
    timeout = 0.3

    async def test_1_blocks_past_its_limit(self):
        while True:  # the bug: the loop never gets control back
            pass

    async def test_2_clean(self):
        await asyncio.sleep(0)
