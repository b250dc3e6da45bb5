"""The line protocol spoken between the key-value server and its clients.

A request is one line of words: the command name, then its arguments. The last argument
of ``SET`` and ``PUBLISH`` is the rest of the line, so values may contain spaces::

    SET greeting hello world

A reply is one line that starts with its kind: ``OK``, ``NIL``, ``VALUE <text>``,
``INT <number>``, ``KEYS <key> <key> ...`` or ``ERR <message>``. A connection that
subscribed to a channel also receives ``MESSAGE <channel> <text>`` lines, pushed by the
server whenever someone publishes to that channel.
"""

ENCODING = "utf-8"

# The number of arguments of each command.
ARITY = {
    "GET": 1,
    "SET": 2,
    "DEL": 1,
    "INCR": 1,
    "EXPIRE": 2,
    "KEYS": 1,
    "FLUSH": 0,
    "PUBLISH": 2,
    "SUBSCRIBE": 1,
    "UNSUBSCRIBE": 0,
}
# The commands whose last argument is the rest of the line, spaces included.
TAKES_TEXT = {"SET", "PUBLISH"}


class ProtocolError(Exception):
    """A request the server cannot carry out: unknown command or wrong arguments."""


class ServerError(Exception):
    """The server answered a request with an ``ERR`` reply."""


def encode(*words: str) -> bytes:
    """Join ``words`` into one protocol line, ready to be written to a stream."""
    line = " ".join(words)
    if "\n" in line or "\r" in line:
        raise ValueError(f"a protocol line cannot contain a line break: {line!r}")
    return (line + "\n").encode(ENCODING)


def parse_request(line: bytes) -> tuple[str, list[str]]:
    """Split a request line into its command name (upper case) and its arguments."""
    name, _, rest = line.decode(ENCODING).strip().partition(" ")
    name = name.upper()
    if name not in ARITY:
        raise ProtocolError(f"unknown command {name!r}")
    arity = ARITY[name]
    args = rest.split(maxsplit=arity - 1 if name in TAKES_TEXT else -1)
    if len(args) != arity:
        raise ProtocolError(f"{name} takes {arity} argument(s), got {len(args)}")
    return name, args


def parse_reply(line: bytes) -> tuple[str, str]:
    """Split a reply line into its kind and the text after it."""
    kind, _, text = line.decode(ENCODING).rstrip("\r\n").partition(" ")
    return kind, text
