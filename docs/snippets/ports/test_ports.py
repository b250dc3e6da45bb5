"""Ports for network tests: a socket already bound, or a port number for code that binds itself."""

import asyncio
import subprocess
import sys

import aiounit
from aiounit.helpers import (
    IPv6UnavailableError,
    bind_unused_tcp_port,
    bind_unused_udp_port,
    unused_tcp_port,
)


class Echo(asyncio.DatagramProtocol):
    """A UDP server that sends every datagram back."""

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


class Replies(asyncio.DatagramProtocol):
    """A UDP client that queues what it receives."""

    def __init__(self):
        self.received = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.received.put_nowait(data)


class UdpEchoTests(aiounit.AsyncTestCase):
    async def test_echo(self):
        loop = asyncio.get_running_loop()
        # The socket is bound, and stays bound: no other process can take its port.
        sock, port = bind_unused_udp_port()
        server, _ = await loop.create_datagram_endpoint(Echo, sock=sock)
        self.addCleanup(server.close)
        client, replies = await loop.create_datagram_endpoint(
            Replies, remote_addr=("127.0.0.1", port)
        )
        self.addCleanup(client.close)
        client.sendto(b"ping")
        async with asyncio.timeout(5):
            self.assertEqual(await replies.received.get(), b"ping")


class HttpServerProcessTests(aiounit.AsyncTestCase):
    async def test_serves_the_directory(self):
        # Another process binds the port itself: only a port number can be handed to it.
        port = unused_tcp_port()
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.addAsyncCleanup(server.wait)
        self.addCleanup(server.terminate)  # cleanups run last in, first out: this one first
        reader, writer = await self.connect(port)
        self.addCleanup(writer.close)
        writer.write(b"HEAD / HTTP/1.0\r\n\r\n")
        self.assertTrue((await reader.readline()).startswith(b"HTTP/1.0 200"))

    async def connect(self, port):
        """Connect as soon as the server listens."""
        async with asyncio.timeout(10):
            while True:
                try:
                    return await asyncio.open_connection("127.0.0.1", port)
                except ConnectionRefusedError:
                    await asyncio.sleep(0.05)


class Ipv6Tests(aiounit.AsyncTestCase):
    async def test_server_on_the_ipv6_loopback(self):
        try:
            sock, port = bind_unused_tcp_port("::1")
        except IPv6UnavailableError as exc:  # this machine or container has no IPv6
            self.skipTest(str(exc))
        server = await asyncio.start_server(self.hang_up, sock=sock)
        self.addAsyncCleanup(server.wait_closed)
        self.addCleanup(server.close)
        reader, writer = await asyncio.open_connection("::1", port)
        self.addCleanup(writer.close)
        self.assertEqual(await reader.read(), b"")  # the server hung up at once

    @staticmethod
    async def hang_up(reader, writer):
        writer.close()
