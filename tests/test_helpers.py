"""Tests for aiounit.helpers: ports that really bind, connect and carry data."""

from __future__ import annotations

import asyncio
import errno
import gc
import socket
import sys
import threading
import unittest
import warnings
from collections.abc import Callable
from typing import Any, cast
from unittest import mock

from aiounit import helpers
from aiounit.errors import AiounitError, ConfigurationError
from aiounit.helpers import (
    BoundSocket,
    IPv6UnavailableError,
    PortError,
    bind_unused_tcp_port,
    bind_unused_udp_port,
    unused_tcp_port,
    unused_tcp_port_factory,
    unused_udp_port,
    unused_udp_port_factory,
)

V4 = "127.0.0.1"
V6 = "::1"
# How long a socket operation may block before the test fails instead of hanging.
GUARD_SECONDS = 10


def _ipv6_loopback_available() -> bool:
    """Whether this machine can really bind a socket to ::1."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind((V6, 0))
    except OSError:
        return False
    return True


IPV6 = _ipv6_loopback_available()
NEEDS_IPV6 = unittest.skipUnless(IPV6, "this machine cannot bind to ::1")

# Every public helper, called once with a host, returning what the caller then owns.
ALL_HELPERS: dict[str, Callable[[str], Any]] = {
    "unused_tcp_port": unused_tcp_port,
    "unused_udp_port": unused_udp_port,
    "unused_tcp_port_factory": lambda host: unused_tcp_port_factory(host)(),
    "unused_udp_port_factory": lambda host: unused_udp_port_factory(host)(),
    "bind_unused_tcp_port": bind_unused_tcp_port,
    "bind_unused_udp_port": bind_unused_udp_port,
}


def _release(obtained: Any) -> int:
    """Close what a helper returned if it is a socket, and return its port."""
    if isinstance(obtained, BoundSocket):
        obtained.close()
        return obtained.port
    assert isinstance(obtained, int)
    return obtained


class NoLeakTestCase(unittest.TestCase):
    """Fails a test that leaves a socket or transport unclosed (a ResourceWarning)."""

    def setUp(self) -> None:
        catcher = warnings.catch_warnings(record=True)
        self._resource_warnings = catcher.__enter__()
        warnings.simplefilter("always", ResourceWarning)
        self.addCleanup(self._check_no_resource_warnings, catcher)

    def _check_no_resource_warnings(self, catcher: warnings.catch_warnings[Any]) -> None:
        gc.collect()
        catcher.__exit__(None, None, None)
        leaks = [str(w.message) for w in self._resource_warnings]
        self.assertEqual(leaks, [], "the test left resources open")


def _tcp_exchange(family: socket.AddressFamily, host: str, port: int) -> bytes:
    """Serve on (host, port), connect a client, send a line and return what arrived."""
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((host, port))
        server.listen()
        with socket.create_connection((host, port), timeout=GUARD_SECONDS) as client:
            conn, _ = server.accept()
            with conn:
                client.sendall(b"ping")
                return conn.recv(16)


def _udp_round_trip(family: socket.AddressFamily, host: str, port: int) -> tuple[bytes, bytes]:
    """Bind (host, port), send it a datagram, answer it; return what each side received."""
    with (
        socket.socket(family, socket.SOCK_DGRAM) as server,
        socket.socket(family, socket.SOCK_DGRAM) as client,
    ):
        server.bind((host, port))
        server.settimeout(GUARD_SECONDS)
        client.settimeout(GUARD_SECONDS)
        client.sendto(b"ping", (host, port))
        request, sender = server.recvfrom(16)
        server.sendto(b"pong", sender)
        reply, _ = client.recvfrom(16)
        return request, reply


async def _echo_over_start_server(bound: BoundSocket, host: str) -> bytes:
    """Serve ``bound`` with asyncio.start_server and echo one line through it."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    # The timeout turns a broken exchange into a failure instead of a hung suite.
    async with asyncio.timeout(GUARD_SECONDS):
        server = await asyncio.start_server(echo, sock=bound.sock)
        async with server:
            reader, writer = await asyncio.open_connection(host, bound.port)
            writer.write(b"ping\n")
            line = await reader.readline()
            writer.close()
            await writer.wait_closed()
        await server.wait_closed()
    return line


class _Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # 3.11's selector transport does not subclass DatagramTransport, though it is one.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data.upper(), addr)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.reply = loop.create_future()
        self.lost = loop.create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.reply.set_result(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def _echo_over_datagram_endpoint(bound: BoundSocket, host: str) -> bytes:
    """Serve ``bound`` with create_datagram_endpoint and bounce one datagram off it."""
    loop = asyncio.get_running_loop()
    server_transport, server = await loop.create_datagram_endpoint(_Echo, sock=bound.sock)
    client_transport, client = await loop.create_datagram_endpoint(
        _Client, remote_addr=(host, bound.port)
    )
    try:
        client_transport.sendto(b"ping")
        # The timeout turns a lost datagram into a failure instead of a hung suite.
        async with asyncio.timeout(GUARD_SECONDS):
            return await client.reply
    finally:
        client_transport.close()
        server_transport.close()
        await client.lost
        await server.lost


class UnusedPortTests(NoLeakTestCase):
    """unused_tcp_port and unused_udp_port give ports a real socket can use."""

    def test_tcp_port_accepts_a_connection(self) -> None:
        port = unused_tcp_port()
        self.assertIsInstance(port, int)
        self.assertTrue(0 < port < 65536, port)
        self.assertEqual(_tcp_exchange(socket.AF_INET, V4, port), b"ping")

    def test_udp_port_round_trips_a_datagram(self) -> None:
        port = unused_udp_port()
        self.assertTrue(0 < port < 65536, port)
        self.assertEqual(_udp_round_trip(socket.AF_INET, V4, port), (b"ping", b"pong"))

    def test_successive_calls_never_repeat(self) -> None:
        for name, helper in (("tcp", unused_tcp_port), ("udp", unused_udp_port)):
            with self.subTest(name):
                ports = [helper() for _ in range(50)]
                self.assertEqual(len(set(ports)), len(ports))

    @NEEDS_IPV6
    def test_ipv6_tcp_port_accepts_a_connection(self) -> None:
        port = unused_tcp_port(V6)
        self.assertEqual(_tcp_exchange(socket.AF_INET6, V6, port), b"ping")

    @NEEDS_IPV6
    def test_ipv6_udp_port_round_trips_a_datagram(self) -> None:
        port = unused_udp_port(host=V6)
        self.assertEqual(_udp_round_trip(socket.AF_INET6, V6, port), (b"ping", b"pong"))


class FactoryTests(NoLeakTestCase):
    """Factories never hand out a port twice, whoever else asks."""

    def test_factories_never_repeat_across_calls_and_factories(self) -> None:
        cases = [
            ("tcp", unused_tcp_port_factory, unused_tcp_port),
            ("udp", unused_udp_port_factory, unused_udp_port),
        ]
        for name, make_factory, single in cases:
            with self.subTest(name):
                first, second = make_factory(), make_factory()
                ports = []
                for _ in range(150):
                    ports += [first(), second(), single()]
                self.assertEqual(len(set(ports)), len(ports), "a port was handed out twice")

    def test_factory_ports_can_all_be_bound_at_once(self) -> None:
        for kind, make_factory in (
            (socket.SOCK_STREAM, unused_tcp_port_factory),
            (socket.SOCK_DGRAM, unused_udp_port_factory),
        ):
            with self.subTest(kind=kind.name):
                factory = make_factory()
                sockets = [socket.socket(socket.AF_INET, kind) for _ in range(20)]
                try:
                    for sock in sockets:
                        sock.bind((V4, factory()))
                finally:
                    for sock in sockets:
                        sock.close()

    def test_factory_is_safe_across_threads(self) -> None:
        factory = unused_tcp_port_factory()
        other = unused_tcp_port_factory()
        results: list[list[int]] = [[] for _ in range(6)]
        start = threading.Barrier(len(results))

        def work(index: int) -> None:
            start.wait()
            make = factory if index % 2 else other
            results[index].extend(make() for _ in range(40))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ports = [port for result in results for port in result]
        self.assertEqual(len(ports), 6 * 40)
        self.assertEqual(len(set(ports)), len(ports), "two threads got the same port")

    @NEEDS_IPV6
    def test_ipv6_factory_ports_accept_connections(self) -> None:
        factory = unused_tcp_port_factory(V6)
        for port in (factory(), factory()):
            self.assertEqual(_tcp_exchange(socket.AF_INET6, V6, port), b"ping")

    def test_host_is_checked_when_the_factory_is_made(self) -> None:
        for make_factory in (unused_tcp_port_factory, unused_udp_port_factory):
            with self.subTest(make_factory.__name__):
                with self.assertRaises(ConfigurationError) as caught:
                    make_factory("localhost")
                self.assertIn(f"{make_factory.__name__}(host='localhost')", str(caught.exception))


class HandedOutPortTests(NoLeakTestCase):
    """Every helper skips a port the kernel offers again after a helper handed it out."""

    def test_every_helper_skips_a_port_already_handed_out(self) -> None:
        for name, helper in ALL_HELPERS.items():
            with self.subTest(name):
                self.check_skips_handed_out_port(helper, "udp" in name)

    def check_skips_handed_out_port(self, helper: Callable[[str], Any], udp: bool) -> None:
        kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
        taken = unused_udp_port() if udp else unused_tcp_port()
        real_open = helpers._open_bound
        offered: list[tuple[socket.socket, int]] = []

        def offer_taken_port_first(*args: Any) -> socket.socket:
            if offered:
                sock = real_open(*args)
            else:
                # Stands in for the kernel offering the handed-out port again.
                sock = socket.socket(socket.AF_INET, kind)
                sock.bind((V4, taken))
            offered.append((sock, sock.getsockname()[1]))
            return sock

        with mock.patch.object(helpers, "_open_bound", offer_taken_port_first):
            port = _release(helper(V4))
        # The kernel itself may offer further handed-out ports, which are skipped too.
        self.assertGreaterEqual(len(offered), 2)
        self.assertEqual(offered[0][1], taken)
        self.assertNotEqual(port, taken)
        self.assertEqual(port, offered[-1][1])
        self.assertEqual(
            [sock.fileno() for sock, _ in offered], [-1] * len(offered), "a socket was left open"
        )

    def test_exhaustion_is_reported_and_every_socket_closed(self) -> None:
        taken = unused_tcp_port()
        offered: list[mock.Mock] = []

        def offer_taken_port(*args: Any) -> mock.Mock:
            sock = mock.Mock(spec=socket.socket)
            sock.getsockname.return_value = (V4, taken)
            offered.append(sock)
            return sock

        with mock.patch.object(helpers, "_open_bound", offer_taken_port):
            with self.assertRaises(PortError) as caught:
                unused_tcp_port()
        message = str(caught.exception)
        self.assertEqual(caught.exception.slug, "no-unused-port")
        self.assertTrue(message.endswith("[no-unused-port]"), message)
        self.assertIn("unused_tcp_port(host='127.0.0.1')", message)
        self.assertIn("bind_unused_tcp_port", message)
        self.assertEqual(len(offered), helpers._MAX_ATTEMPTS)
        for sock in offered:
            sock.close.assert_called_once_with()


class BoundSocketTests(NoLeakTestCase):
    """bind_unused_tcp_port and bind_unused_udp_port return sockets ready to serve."""

    def test_result_names_its_fields_and_unpacks(self) -> None:
        bound = bind_unused_udp_port()
        self.addCleanup(bound.close)
        self.assertEqual(BoundSocket._fields, ("sock", "port"))
        sock, port = bound
        self.assertIs(sock, bound.sock)
        self.assertEqual(port, bound.port)
        self.assertEqual(sock.getsockname(), (V4, port))

    def test_tcp_socket_is_listening_before_anyone_accepts(self) -> None:
        with bind_unused_tcp_port(backlog=5) as (sock, port):
            self.assertEqual(sock.family, socket.AF_INET)
            self.assertEqual(sock.type, socket.SOCK_STREAM)
            self.assertEqual(sock.getsockname(), (V4, port))
            # Connecting succeeds only because the socket already listens.
            with socket.create_connection((V4, port), timeout=GUARD_SECONDS) as client:
                conn, peer = sock.accept()
                with conn:
                    self.assertEqual(peer, client.getsockname())
        self.assertEqual(sock.fileno(), -1, "leaving the with block did not close the socket")

    def test_udp_socket_receives_datagrams(self) -> None:
        with (
            bind_unused_udp_port() as (sock, port),
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
        ):
            self.assertEqual(sock.type, socket.SOCK_DGRAM)
            sock.settimeout(GUARD_SECONDS)
            client.sendto(b"ping", (V4, port))
            self.assertEqual(sock.recvfrom(16)[0], b"ping")
        self.assertEqual(sock.fileno(), -1)

    def test_tcp_socket_serves_asyncio_start_server(self) -> None:
        bound = bind_unused_tcp_port()
        self.addCleanup(bound.close)
        self.assertEqual(asyncio.run(_echo_over_start_server(bound, V4)), b"ping\n")
        self.assertEqual(bound.sock.fileno(), -1, "closing the server should close the socket")

    def test_udp_socket_serves_create_datagram_endpoint(self) -> None:
        bound = bind_unused_udp_port()
        self.addCleanup(bound.close)
        self.assertEqual(asyncio.run(_echo_over_datagram_endpoint(bound, V4)), b"PING")
        self.assertEqual(bound.sock.fileno(), -1, "closing the transport should close the socket")

    @unittest.skipUnless(
        sys.platform.startswith(("linux", "darwin")), "SO_REUSEADDR shares ports on Windows"
    )
    def test_bound_port_cannot_be_taken_even_with_reuseaddr(self) -> None:
        for kind, bind in (
            (socket.SOCK_STREAM, bind_unused_tcp_port),
            (socket.SOCK_DGRAM, bind_unused_udp_port),
        ):
            with (
                self.subTest(kind=kind.name),
                bind() as (_, port),
                socket.socket(socket.AF_INET, kind) as intruder,
            ):
                intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                with self.assertRaises(OSError) as caught:
                    intruder.bind((V4, port))
                self.assertEqual(caught.exception.errno, errno.EADDRINUSE)

    def test_bound_ports_are_not_handed_out_again(self) -> None:
        bound = [bind_unused_tcp_port() for _ in range(10)]
        for item in bound:
            item.close()
        # The sockets are closed, so only the process-wide record keeps these ports back.
        factory = unused_tcp_port_factory()
        later = {factory() for _ in range(100)}
        self.assertEqual(later & {item.port for item in bound}, set())

    @NEEDS_IPV6
    def test_ipv6_tcp_socket_serves_asyncio_start_server(self) -> None:
        bound = bind_unused_tcp_port(V6)
        self.addCleanup(bound.close)
        self.assertEqual(bound.sock.family, socket.AF_INET6)
        self.assertEqual(asyncio.run(_echo_over_start_server(bound, V6)), b"ping\n")

    @NEEDS_IPV6
    def test_ipv6_udp_socket_serves_create_datagram_endpoint(self) -> None:
        bound = bind_unused_udp_port(V6)
        self.addCleanup(bound.close)
        self.assertEqual(bound.sock.family, socket.AF_INET6)
        self.assertEqual(asyncio.run(_echo_over_datagram_endpoint(bound, V6)), b"PING")


class ErrorTests(NoLeakTestCase):
    """Each way of failing says what happened, why, what to do, and its slug."""

    def assert_error(self, error: BaseException, slug: str, *fragments: str) -> None:
        message = str(error)
        self.assertIsInstance(error, AiounitError)
        assert isinstance(error, AiounitError)
        self.assertEqual(error.slug, slug)
        self.assertTrue(message.endswith(f"[{slug}]"), message)
        for fragment in fragments:
            self.assertIn(fragment, message)

    def test_python_without_ipv6_is_reported_by_every_helper(self) -> None:
        for name, helper in ALL_HELPERS.items():
            with self.subTest(name), mock.patch.object(socket, "has_ipv6", False):
                with self.assertRaises(IPv6UnavailableError) as caught:
                    helper(V6)
                self.assertIsInstance(caught.exception, PortError)
                self.assertIsInstance(caught.exception, OSError)
                self.assert_error(
                    caught.exception,
                    "ipv6-unavailable",
                    f"{name}(host='::1')",
                    "built without IPv6",
                    "'127.0.0.1'",
                    "skipTest",
                )

    def test_kernel_without_ipv6_is_reported(self) -> None:
        refusal = OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        with mock.patch.object(socket, "socket", side_effect=refusal):
            with self.assertRaises(IPv6UnavailableError) as caught:
                unused_udp_port(V6)
        self.assertIs(caught.exception.__cause__, refusal)
        self.assert_error(
            caught.exception,
            "ipv6-unavailable",
            "unused_udp_port(host='::1')",
            "UDP",
            "Address family not supported",
        )

    @NEEDS_IPV6
    def test_loopback_without_ipv6_address_is_reported(self) -> None:
        opened: list[socket.socket] = []
        refusal = OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")

        def refuse(sock: socket.socket, address: Any) -> None:
            opened.append(sock)
            raise refusal

        with mock.patch.object(socket.socket, "bind", refuse):
            with self.assertRaises(IPv6UnavailableError) as caught:
                bind_unused_tcp_port(V6)
        self.assertIs(caught.exception.__cause__, refusal)
        self.assert_error(
            caught.exception, "ipv6-unavailable", "bind_unused_tcp_port(host='::1')", "::1"
        )
        self.assertEqual([sock.fileno() for sock in opened], [-1])

    def test_address_of_another_machine_is_reported(self) -> None:
        # 192.0.2.1 is reserved for documentation, so no interface here carries it.
        with self.assertRaises(PortError) as caught:
            unused_tcp_port("192.0.2.1")
        self.assertNotIsInstance(caught.exception, IPv6UnavailableError)
        cause = caught.exception.__cause__
        self.assertIsInstance(cause, OSError)
        self.assertEqual(getattr(cause, "errno", None), errno.EADDRNOTAVAIL)
        self.assert_error(
            caught.exception, "port-host-not-local", "unused_tcp_port(host='192.0.2.1')"
        )

    @NEEDS_IPV6
    def test_ipv6_address_of_another_machine_is_not_blamed_on_ipv6(self) -> None:
        with self.assertRaises(PortError) as caught:
            bind_unused_udp_port("2001:db8::1")
        self.assertNotIsInstance(caught.exception, IPv6UnavailableError)
        self.assert_error(caught.exception, "port-host-not-local", "2001:db8::1")

    def test_other_errors_pass_through_unchanged_and_close_the_socket(self) -> None:
        refusals: list[BaseException] = [
            PermissionError(errno.EACCES, "Permission denied"),
            KeyboardInterrupt(),
        ]
        for refusal in refusals:
            with self.subTest(type(refusal).__name__):
                self.check_passes_through(refusal)

    def check_passes_through(self, refusal: BaseException) -> None:
        opened: list[socket.socket] = []

        def refuse(sock: socket.socket, address: Any) -> None:
            opened.append(sock)
            raise refusal

        with mock.patch.object(socket.socket, "bind", refuse):
            with self.assertRaises(type(refusal)) as caught:
                bind_unused_udp_port()
        self.assertIs(caught.exception, refusal)
        self.assertEqual([sock.fileno() for sock in opened], [-1])

    def test_host_that_is_not_an_address_is_rejected(self) -> None:
        for name, helper in ALL_HELPERS.items():
            for host in ("localhost", "", "127.0.0.1:8080"):
                with self.subTest(name, host=host):
                    with self.assertRaises(ConfigurationError) as caught:
                        helper(host)
                    self.assertIsInstance(caught.exception, ValueError)
                    self.assertIsNone(caught.exception.__cause__)
                    self.assert_error(
                        caught.exception,
                        "bad-port-host",
                        f"{name}(host={host!r})",
                        "not an IP address",
                        "'::1'",
                    )


class PublicNamesTests(unittest.TestCase):
    """The module exports its public names and the errors they raise, each documented."""

    def test_all_lists_documented_public_names(self) -> None:
        public = {
            name
            for name, value in vars(helpers).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == helpers.__name__
        }
        # The error types live in aiounit.errors and are re-exported here for callers.
        self.assertEqual(
            sorted(helpers.__all__), sorted(public | {"PortError", "IPv6UnavailableError"})
        )
        for name in helpers.__all__:
            with self.subTest(name):
                self.assertTrue(getattr(helpers, name).__doc__)


if __name__ == "__main__":
    unittest.main()
