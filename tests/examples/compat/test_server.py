"""One server per class: class fixtures on the class loop, shared by every test of the class.

Classes and tests are defined in alphabetical order, the order unittest runs them in, so
that pytest (which keeps definition order) runs them in the same order. Each hook writes a
line to the event log (eventlog.py) that tests/test_compat.py compares across runners; test
methods have no docstrings, which `unittest -v` would print into the lines it reads.
"""

from __future__ import annotations

import asyncio

import eventlog
from kvstore import KVClient, KVServer, ProtocolError

import aiounit


def tearDownModule() -> None:
    eventlog.outside("test_server.tearDownModule")


class ServerTests(aiounit.AsyncTestCase):
    """Tests that share one server, started once in asyncSetUpClass."""

    server: KVServer
    class_loop: asyncio.AbstractEventLoop

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        eventlog.outside("ServerTests.setUpClass")

    @classmethod
    async def asyncSetUpClass(cls) -> None:
        cls.class_loop = asyncio.get_running_loop()
        cls.server = await cls.enterAsyncClassContext(
            eventlog.logged_exit("ServerTests.server-exit", KVServer())
        )
        cls.addAsyncClassCleanup(cls.log_cleanup, "ServerTests.class-cleanup")
        eventlog.running("ServerTests.asyncSetUpClass")

    @classmethod
    async def log_cleanup(cls, event: str) -> None:
        eventlog.running(event)

    @classmethod
    async def asyncTearDownClass(cls) -> None:
        eventlog.running("ServerTests.asyncTearDownClass")

    @classmethod
    def tearDownClass(cls) -> None:
        eventlog.outside("ServerTests.tearDownClass")
        super().tearDownClass()

    def setUp(self) -> None:
        eventlog.current(f"{self.name}.setUp")

    async def asyncSetUp(self) -> None:
        self.client = await self.enterAsyncContext(KVClient(self.server.port))
        self.addAsyncCleanup(self.log_cleanup, f"{self.name}.cleanup")
        eventlog.running(f"{self.name}.asyncSetUp")

    async def asyncTearDown(self) -> None:
        eventlog.running(f"{self.name}.asyncTearDown")

    def tearDown(self) -> None:
        eventlog.current(f"{self.name}.tearDown")

    @property
    def name(self) -> str:
        return f"ServerTests.{self._testMethodName}"

    async def test_count_tracks_writes(self) -> None:
        eventlog.running(f"{self.name}.test")
        before = await self.client.count()
        await self.client.set("counted", "1")
        print("count-progress: wrote one key")
        self.assertEqual(await self.client.count(), before + 1)

    async def test_delete_rejects_missing_key(self) -> None:
        eventlog.running(f"{self.name}.test")
        print("delete-diagnostic: the server holds", len(self.server.data), "keys")
        # The protocol answers "DELETED 0" instead of an error: this test fails on purpose.
        with self.assertRaises(ProtocolError):
            await self.client.delete("never-set")

    async def test_roundtrip_many(self) -> None:
        eventlog.running(f"{self.name}.test")
        for key, value in [("a", "1"), ("b", "two words"), ("unicode", "çødé")]:
            with self.subTest(key=key):
                await self.client.set(key, value)
                self.assertEqual(await self.client.get(key), value)

    async def test_server_is_shared(self) -> None:
        eventlog.running(f"{self.name}.test")
        self.assertIs(asyncio.get_running_loop(), self.class_loop)
        async with KVClient(self.server.port) as other:
            await other.set("shared", "yes")
        self.assertEqual(await self.client.get("shared"), "yes")
