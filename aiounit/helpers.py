"""Ports for tests of network code: free port numbers, or sockets already bound to one.

Two kinds of helper, with different guarantees:

* ``unused_tcp_port``, ``unused_udp_port`` and their ``*_factory`` forms return a port
  *number* that was free a moment ago: the helper binds a socket to port 0, reads the port
  the kernel chose and closes the socket. They can race with other processes: between that
  close and the caller's own bind, any other program on the machine may take the port, and
  the caller's bind then fails with "address already in use". Within this process they
  never race: every port any helper hands out is remembered (per protocol, thread-safe)
  and never handed out again.
* ``bind_unused_tcp_port`` and ``bind_unused_udp_port`` return the socket itself, still
  bound (the TCP one also listening), so the port is never released and nothing can take
  it. They cannot race. Prefer them whenever the code under test accepts a socket, as
  ``asyncio.start_server(sock=...)``, ``loop.create_server(sock=...)`` and
  ``loop.create_datagram_endpoint(sock=...)`` do.

No helper sets ``SO_REUSEADDR``. With that option, Linux may answer a bind to port 0 with
a port that is still held, by connections in TIME_WAIT or by other sockets that set the
option too (for UDP, or for TCP when free ports run short), which is the opposite of
"unused"; without it, the kernel picks a port nobody holds. A probe socket is never
connected, so closing it leaves nothing in TIME_WAIT and the caller can bind the port at
once, with or without the option.
On Linux and macOS a socket from a ``bind_*`` helper is exclusive: no other socket, even
one that sets the option, can bind its port while it is open.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import NamedTuple

from aiounit.errors import ConfigurationError, IPv6UnavailableError, PortError

__all__ = [
    "BoundSocket",
    "IPv6UnavailableError",
    "PortError",
    "bind_unused_tcp_port",
    "bind_unused_udp_port",
    "unused_tcp_port",
    "unused_tcp_port_factory",
    "unused_udp_port",
    "unused_udp_port_factory",
]

_DEFAULT_HOST = "127.0.0.1"

# The same default as asyncio's create_server, so a socket handed to it behaves the same.
_DEFAULT_BACKLOG = 100

# Each rejected socket stays open until the search ends, so the kernel cannot offer its
# port again and every attempt sees a new port; the bound keeps file descriptors in check.
_MAX_ATTEMPTS = 100

_PROTOCOL_NAMES = {socket.SOCK_STREAM: "TCP", socket.SOCK_DGRAM: "UDP"}

_handed_out_lock = threading.Lock()
# TCP and UDP have separate port spaces, so a port is only taken within its own protocol.
_handed_out: dict[int, set[int]] = {socket.SOCK_STREAM: set(), socket.SOCK_DGRAM: set()}


class BoundSocket(NamedTuple):
    """A socket already bound to a port no one else can take, and that port.

    The caller owns the socket and must close it, or hand it to something that will
    (``asyncio.start_server(sock=...)`` closes it with the server). Unpacks as
    ``sock, port = ...`` and closes the socket when used as a context manager.
    """

    sock: socket.socket
    port: int

    def close(self) -> None:
        """Close the socket; closing it again does nothing."""
        self.sock.close()

    def __enter__(self) -> BoundSocket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.sock.close()


def unused_tcp_port(host: str = _DEFAULT_HOST) -> int:
    """Return a TCP port on ``host`` that was free a moment ago, for the caller to bind.

    ``host`` is an IP address, IPv4 or IPv6 (``"::1"``); the address family follows from
    it. This can race with another process, which may take the port before the caller
    binds it; prefer ``bind_unused_tcp_port`` where the code under test accepts a socket.
    The port is never handed out again by any helper in this process.
    """
    what = f"unused_tcp_port(host={host!r})"
    return _probe(socket.SOCK_STREAM, _parse_host(host, what), what)


def unused_udp_port(host: str = _DEFAULT_HOST) -> int:
    """Return a UDP port on ``host`` that was free a moment ago, for the caller to bind.

    ``host`` is an IP address, IPv4 or IPv6 (``"::1"``); the address family follows from
    it. This can race with another process, which may take the port before the caller
    binds it; prefer ``bind_unused_udp_port`` where the code under test accepts a socket.
    The port is never handed out again by any helper in this process.
    """
    what = f"unused_udp_port(host={host!r})"
    return _probe(socket.SOCK_DGRAM, _parse_host(host, what), what)


def unused_tcp_port_factory(host: str = _DEFAULT_HOST) -> Callable[[], int]:
    """Return a function that gives a different free TCP port on ``host`` at each call.

    No port it returns has been returned before by any helper in this process, so several
    factories (and ``unused_tcp_port``) never collide. Each port can still race with
    another process, as ``unused_tcp_port`` explains. ``host`` is checked now, not at the
    first call.
    """
    what = f"unused_tcp_port_factory(host={host!r})"
    return _factory(socket.SOCK_STREAM, _parse_host(host, what), what)


def unused_udp_port_factory(host: str = _DEFAULT_HOST) -> Callable[[], int]:
    """Return a function that gives a different free UDP port on ``host`` at each call.

    No port it returns has been returned before by any helper in this process, so several
    factories (and ``unused_udp_port``) never collide. Each port can still race with
    another process, as ``unused_udp_port`` explains. ``host`` is checked now, not at the
    first call.
    """
    what = f"unused_udp_port_factory(host={host!r})"
    return _factory(socket.SOCK_DGRAM, _parse_host(host, what), what)


def bind_unused_tcp_port(
    host: str = _DEFAULT_HOST, *, backlog: int = _DEFAULT_BACKLOG
) -> BoundSocket:
    """Return a TCP socket bound to a fresh port on ``host`` and listening, with the port.

    This cannot race: the port stays held by the socket. Clients can connect as soon as it
    returns (connections wait in the ``backlog`` queue until accepted), and it can be given
    to ``asyncio.start_server(sock=...)`` or ``loop.create_server(sock=...)``, which make
    it non-blocking themselves. The socket is left in blocking mode for plain threaded use.
    The caller owns the socket and must close it (or use the result in a ``with``
    statement) unless it hands it to a server that closes it.
    """
    what = f"bind_unused_tcp_port(host={host!r})"
    sock, port = _claim(socket.SOCK_STREAM, _parse_host(host, what), what)
    try:
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return BoundSocket(sock, port)


def bind_unused_udp_port(host: str = _DEFAULT_HOST) -> BoundSocket:
    """Return a UDP socket bound to a fresh port on ``host``, with the port.

    This cannot race: the port stays held by the socket. It can be given to
    ``loop.create_datagram_endpoint(sock=...)``, which makes it non-blocking itself. The
    caller owns the socket and must close it (or use the result in a ``with`` statement)
    unless it hands it to a transport that closes it.
    """
    what = f"bind_unused_udp_port(host={host!r})"
    sock, port = _claim(socket.SOCK_DGRAM, _parse_host(host, what), what)
    return BoundSocket(sock, port)


def _factory(
    kind: socket.SocketKind, address: ipaddress.IPv4Address | ipaddress.IPv6Address, what: str
) -> Callable[[], int]:
    protocol = _PROTOCOL_NAMES[kind]

    def next_port() -> int:
        return _probe(kind, address, what)

    next_port.__doc__ = f"Return a {protocol} port on {address} that no helper handed out before."
    return next_port


def _parse_host(host: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        # A name such as "localhost" may resolve to 127.0.0.1 or ::1 depending on the
        # machine, so the port would be checked on one address and used on the other.
        raise ConfigurationError(
            f"{what}: host {host!r} is not an IP address. Port helpers need the exact "
            f"address the code under test will bind, because a host name may resolve to "
            f"IPv4 on one machine and IPv6 on another. Pass an address such as "
            f"'127.0.0.1' or '::1'.",
            slug="bad-port-host",
        ) from None


def _probe(
    kind: socket.SocketKind, address: ipaddress.IPv4Address | ipaddress.IPv6Address, what: str
) -> int:
    sock, port = _claim(kind, address, what)
    sock.close()
    return port


def _claim(
    kind: socket.SocketKind, address: ipaddress.IPv4Address | ipaddress.IPv6Address, what: str
) -> tuple[socket.socket, int]:
    """Bind a socket to a port no helper has handed out, record the port, return both."""
    taken = _handed_out[kind]
    rejected: list[socket.socket] = []
    try:
        for _ in range(_MAX_ATTEMPTS):
            sock = _open_bound(kind, address, what)
            port: int = sock.getsockname()[1]
            # Checking and recording under one lock is what keeps two threads from both
            # claiming a port that the kernel offered to each after the other closed it.
            with _handed_out_lock:
                fresh = port not in taken
                if fresh:
                    taken.add(port)
            if fresh:
                return sock, port
            rejected.append(sock)
    finally:
        for sock in rejected:
            sock.close()
    protocol = _PROTOCOL_NAMES[kind]
    raise PortError(
        f"{what}: the system offered {_MAX_ATTEMPTS} {protocol} ports on {address} in a row "
        f"that this process had already handed out ({len(taken)} so far), so the free "
        f"ports on this machine are nearly used up. Close sockets the tests no longer "
        f"need, prefer bind_unused_{protocol.lower()}_port (its port is held, not just "
        f"promised), or widen the system's ephemeral port range.",
        slug="no-unused-port",
    )


def _open_bound(
    kind: socket.SocketKind, address: ipaddress.IPv4Address | ipaddress.IPv6Address, what: str
) -> socket.socket:
    """Open a socket of ``kind`` bound to port 0 on ``address``, with errors that teach."""
    ipv6 = address.version == 6
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    protocol = _PROTOCOL_NAMES[kind]
    if ipv6 and not socket.has_ipv6:
        raise _ipv6_unavailable(what, protocol, "this Python was built without IPv6 support")
    try:
        sock = socket.socket(family, kind)
    except OSError as exc:
        if ipv6 and exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
            raise _ipv6_unavailable(
                what, protocol, f"the system refused to open an IPv6 socket ({exc.strerror})"
            ) from exc
        raise
    try:
        sock.bind((str(address), 0))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRNOTAVAIL:
            if ipv6 and address.is_loopback:
                raise _ipv6_unavailable(
                    what,
                    protocol,
                    "the loopback interface has no ::1 address, as when IPv6 is disabled "
                    "on the machine or in the container",
                ) from exc
            raise PortError(
                f"{what}: cannot bind a {protocol} socket to {address}, because no network "
                f"interface of this machine has that address ({exc.strerror}). Pass a "
                f"local address: '127.0.0.1' or '::1' for loopback, '0.0.0.0' or '::' for "
                f"every interface.",
                slug="port-host-not-local",
            ) from exc
        if ipv6 and exc.errno == errno.EAFNOSUPPORT:
            raise _ipv6_unavailable(
                what, protocol, f"the system refused an IPv6 address ({exc.strerror})"
            ) from exc
        raise
    except BaseException:
        sock.close()
        raise
    return sock


def _ipv6_unavailable(what: str, protocol: str, cause: str) -> IPv6UnavailableError:
    return IPv6UnavailableError(
        f"{what}: cannot open a {protocol} socket on IPv6, because {cause}. Use an IPv4 "
        f"address such as '127.0.0.1', or skip the test where IPv6 is missing: catch "
        f"aiounit.helpers.IPv6UnavailableError and call self.skipTest(str(exc))."
    )
