"""Tests that talk to one server shared by the whole class, over real TCP connections."""

import asyncio

import aiounit
from aiounit.helpers import bind_unused_tcp_port

from kvstore import Client, Server, ServerError


class SharedServerTests(aiounit.AsyncTestCase):
    """One server for every test of the class: started once, on the loop they all share.

    Defining asyncSetUpClass gives the class one loop, from before asyncSetUpClass until
    after the class cleanups (loop_scope = "class"), so the server, its connections and
    the class's client stay usable from test to test.
    """

    server: Server
    client: Client
    port: int

    @classmethod
    async def asyncSetUpClass(cls) -> None:
        # The socket is bound before the server starts: no other process can take the port
        # in between, as it could with a port number chosen in advance.
        sock, cls.port = bind_unused_tcp_port()
        # Entered as a context: the server closes when the class is done, even if a later
        # step of this method fails.
        cls.server = await cls.enterAsyncClassContext(Server(sock=sock))
        cls.client = Client("127.0.0.1", cls.port)
        await cls.client.connect()
        # Class cleanups run last in, first out: the client closes before the server.
        cls.addAsyncClassCleanup(cls.client.close)

    async def asyncSetUp(self) -> None:
        # The server outlives each test, its data must not: every test starts empty.
        await self.client.flush()

    async def test_set_then_get(self) -> None:
        await self.client.set("greeting", "hello world")
        self.assertEqual(await self.client.get("greeting"), "hello world")
        self.assertIsNone(await self.client.get("missing"))

    async def test_starts_with_no_keys(self) -> None:
        # Passes in any order with test_set_then_get, thanks to the flush in asyncSetUp.
        self.assertEqual(await self.client.keys(), [])

    async def test_delete_says_whether_the_key_existed(self) -> None:
        await self.client.set("a", "1")
        self.assertTrue(await self.client.delete("a"))
        self.assertFalse(await self.client.delete("a"))

    async def test_expire_reaches_the_store(self) -> None:
        await self.client.set("session", "abc")
        self.assertTrue(await self.client.expire("session", 60))
        self.assertFalse(await self.client.expire("missing", 60))
        # The shared server is right there: tests can look inside it as well.
        self.assertEqual(self.server.store.get("session"), "abc")

    async def test_bad_requests_get_an_error_reply(self) -> None:
        await self.client.set("name", "ada")
        cases = [
            (["FROB"], "unknown command 'FROB'"),
            (["GET"], "GET takes 1 argument(s), got 0"),
            (["DEL", "a", "b"], "DEL takes 1 argument(s), got 2"),
            (["INCR", "name"], "the value of 'name' is not an integer"),
            (["EXPIRE", "name", "soon"], "EXPIRE takes a number of seconds, got 'soon'"),
        ]
        for words, message in cases:
            # Each case is reported on its own, and a failing case does not stop the others.
            with self.subTest(request=" ".join(words)):
                with self.assertRaises(ServerError) as caught:
                    await self.client.execute(*words)
                self.assertEqual(str(caught.exception), message)
        # An error reply leaves the connection usable.
        self.assertEqual(await self.client.get("name"), "ada")

    async def test_concurrent_increments_are_all_counted(self) -> None:
        # 20 requests at once on one client: they share its pool of 4 connections.
        counts = await asyncio.gather(*(self.client.incr("hits") for _ in range(20)))
        # gather() returns results in the order of its arguments, whatever order the
        # server handled them in; each count from 1 to 20 was seen by exactly one request.
        self.assertEqual(sorted(counts), list(range(1, 21)))
        self.assertEqual(await self.client.get("hits"), "20")

    async def test_many_clients_at_once(self) -> None:
        # enterAsyncContext() enters each client now and exits it when the test is done.
        clients = [await self.enterAsyncContext(Client("127.0.0.1", self.port)) for _ in range(3)]
        # A TaskGroup waits for all its tasks, and cancels the rest if one of them fails.
        async with asyncio.TaskGroup() as group:
            for number, client in enumerate(clients):
                group.create_task(client.set(f"client:{number}", "here"))
                group.create_task(client.incr("visits"))
        self.assertEqual(await self.client.keys("client:*"), ["client:0", "client:1", "client:2"])
        self.assertEqual(await self.client.get("visits"), "3")

    async def test_subscription_receives_messages_in_order(self) -> None:
        async with self.client.subscribe("news") as subscription:
            for text in ["one", "two", "three"]:
                self.assertEqual(await self.client.publish("news", text), 1)
            received = []
            # Fail, rather than hang, if a message never arrives.
            async with asyncio.timeout(1):
                async for message in subscription.messages():
                    received.append(message)
                    if len(received) == 3:
                        break
        self.assertEqual(received, ["one", "two", "three"])

    async def test_every_subscriber_gets_each_message(self) -> None:
        # A second client, closed by a cleanup when the test ends, pass or fail.
        other = Client("127.0.0.1", self.port)
        self.addAsyncCleanup(other.close)
        async with (
            self.client.subscribe("news") as first,
            other.subscribe("news") as second,
        ):
            self.assertEqual(await self.client.publish("news", "hello"), 2)
            async with asyncio.timeout(1):
                received = await asyncio.gather(first.receive(), second.receive())
            self.assertEqual(received, ["hello", "hello"])
        # Leaving the block unsubscribed both: nobody is listening any more.
        self.assertEqual(await self.client.publish("news", "anyone?"), 0)
