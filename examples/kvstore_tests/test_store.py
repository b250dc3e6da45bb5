"""Tests of Store, the server's data, with a fresh event loop for every test."""

import asyncio

import aiounit

from kvstore import Store


class StoreTests(aiounit.AsyncTestCase):
    """Each test gets its own loop: the default, as with IsolatedAsyncioTestCase."""

    def setUp(self) -> None:
        # Plain setUp and plain test methods work too, for code that needs no loop.
        self.store = Store()

    def test_incr_counts_from_zero(self) -> None:
        self.assertEqual(self.store.incr("visits"), 1)
        self.assertEqual(self.store.incr("visits"), 2)
        self.assertEqual(self.store.get("visits"), "2")

    def test_incr_refuses_a_value_that_is_not_an_integer(self) -> None:
        self.store.set("name", "ada")
        with self.assertRaisesRegex(ValueError, "'name' is not an integer"):
            self.store.incr("name")

    async def test_key_expires_after_its_time_to_live(self) -> None:
        self.store.set("session", "abc")
        self.assertTrue(self.store.expire("session", 0.01))
        # Nothing has run on the loop since expire(): the key must still be there.
        self.assertEqual(self.store.get("session"), "abc")
        await asyncio.sleep(0.02)  # test_backoff.py shows the same with no real wait.
        self.assertIsNone(self.store.get("session"))
        self.assertEqual(self.store.keys(), [])

    async def test_setting_a_key_again_clears_its_time_to_live(self) -> None:
        self.store.set("session", "abc")
        self.store.expire("session", 0.01)
        self.store.set("session", "def")
        await asyncio.sleep(0.02)  # test_backoff.py shows the same with no real wait.
        self.assertEqual(self.store.get("session"), "def")

    def test_expire_on_a_missing_key_does_nothing(self) -> None:
        self.assertFalse(self.store.expire("nothing", 10))
        self.assertEqual(self.store.keys(), [])

    def test_keys_match_a_pattern(self) -> None:
        for key in ["user:2", "user:1", "order:1"]:
            self.store.set(key, "x")
        self.assertEqual(self.store.keys("user:*"), ["user:1", "user:2"])
        self.assertEqual(self.store.keys(), ["order:1", "user:1", "user:2"])
