"""One server per test on a fresh loop per test, and a class whose async class fixture fails.

Classes and tests are defined in alphabetical order, the order unittest runs them in, so
that pytest (which keeps definition order) runs them in the same order. Each hook writes a
line to the event log (eventlog.py) that tests/test_compat.py compares across runners; test
methods have no docstrings, which `unittest -v` would print into the lines it reads.
"""

from __future__ import annotations

import unittest

import eventlog
from kvstore import KVClient, KVServer, ProtocolError

import aiounit


def tearDownModule() -> None:
    eventlog.outside("test_store.tearDownModule")


class BackupTests(aiounit.AsyncTestCase):
    """Needs a backup volume that is not there: asyncSetUpClass fails, no test runs."""

    server: KVServer

    @classmethod
    async def asyncSetUpClass(cls) -> None:
        eventlog.running("BackupTests.asyncSetUpClass")
        cls.addAsyncClassCleanup(cls.release_volume)
        cls.server = await cls.enterAsyncClassContext(
            eventlog.logged_exit("BackupTests.server-exit", KVServer())
        )
        raise OSError("backup volume /mnt/kv-backup is not mounted")

    @classmethod
    async def release_volume(cls) -> None:
        eventlog.running("BackupTests.class-cleanup")

    async def test_backup_copies_all_keys(self) -> None:
        eventlog.running("BackupTests.test_backup_copies_all_keys.test")

    async def test_restore_replaces_data(self) -> None:
        eventlog.running("BackupTests.test_restore_replaces_data.test")


class StoreTests(aiounit.AsyncTestCase):
    """Each test gets its own loop, server and client, set up by an ``async def setUp``."""

    async def setUp(self) -> None:
        self.addCleanup(eventlog.current, f"{self.name}.sync-cleanup")
        self.server = await self.enterAsyncContext(
            eventlog.logged_exit(f"{self.name}.server-exit", KVServer())
        )
        self.client = await self.enterAsyncContext(KVClient(self.server.port))
        eventlog.running(f"{self.name}.setUp")

    def tearDown(self) -> None:
        eventlog.current(f"{self.name}.tearDown")

    @property
    def name(self) -> str:
        return f"StoreTests.{self._testMethodName}"

    async def test_get_missing_key_is_none(self) -> None:
        eventlog.running(f"{self.name}.test")
        print("lookup-progress: asking for a key nobody set")
        self.assertIsNone(await self.client.get("nobody-set-this"))

    # Not the first test of the class on purpose: under `python -m unittest -b`, Python
    # 3.12.1 crashes on a decorator-skipped test that directly follows a failed setUpClass
    # (cpython gh-113267, fixed in 3.12.2), and BackupTests' setUpClass fails.
    @unittest.skip("key expiry is not implemented yet")
    async def test_key_expiry(self) -> None:
        eventlog.running(f"{self.name}.test")

    @unittest.expectedFailure
    async def test_roundtrip_key_with_space(self) -> None:
        eventlog.running(f"{self.name}.test")
        # Known limitation: the protocol ends a key at its first space.
        await self.client.set("two words", "value")
        self.assertEqual(await self.client.get("two words"), "value")

    async def test_set_accepts_only_valid_keys(self) -> None:
        eventlog.running(f"{self.name}.test")
        for key, valid in [("plain", True), ("dotted.key", True), ("", False)]:
            with self.subTest(key=key):
                if valid:
                    await self.client.set(key, "v")
                    self.assertEqual(await self.client.get(key), "v")
                else:
                    # The server accepts an empty key: this subtest fails on purpose.
                    with self.assertRaises(ProtocolError):
                        await self.client.set(key, "v")

    async def test_snapshot_needs_persistence(self) -> None:
        eventlog.running(f"{self.name}.test")
        self.skipTest("the server has no persistence to snapshot")

    async def test_stats_command(self) -> None:
        eventlog.running(f"{self.name}.test")
        # STATS is not implemented: the client raises ProtocolError, an error on purpose.
        self.assertTrue(await self.client.stats())
