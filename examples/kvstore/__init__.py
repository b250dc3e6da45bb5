"""kvstore: a small asyncio key-value server and its client, the example project of aiounit."""

from kvstore.client import Client, Subscription
from kvstore.protocol import ProtocolError, ServerError
from kvstore.server import Server
from kvstore.store import Store

__all__ = ["Client", "ProtocolError", "Server", "ServerError", "Store", "Subscription"]
