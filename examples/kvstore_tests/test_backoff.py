"""Retries, backoff and expiry tested on a virtual clock: minutes of waiting, no real time."""

import asyncio
import itertools

import aiounit

from kvstore import Client, Store


class BackoffTests(aiounit.AsyncTestCase):
    """``virtual_time = True``: the loop's clock jumps to the next timer whenever nothing
    else can happen, so the client's real retry delays (seconds, not milliseconds) are
    tested as they are, exactly, without making the suite slow or flaky.
    """

    virtual_time = True

    def refusing(self, refusals: int) -> tuple[list[float], object]:
        """An open_connection that refuses ``refusals`` times, noting when it was called."""
        attempts: list[float] = []
        loop = asyncio.get_running_loop()

        async def open_connection(host: str, port: int) -> object:
            attempts.append(loop.time())
            if len(attempts) <= refusals:
                raise ConnectionRefusedError(f"attempt {len(attempts)} refused")
            return (asyncio.StreamReader(), FakeWriter())

        return attempts, open_connection

    async def test_backoff_doubles_the_delay_after_each_failure(self) -> None:
        attempts, open_connection = self.refusing(refusals=4)
        client = Client(
            "127.0.0.1", 1, connect_attempts=5, retry_delay=1.0, open_connection=open_connection
        )
        await client.connect()
        self.addAsyncCleanup(client.close)
        # 1 s, then 2, 4 and 8: exact, because virtual time only moves from timer to timer.
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
        self.assertEqual(gaps, [1.0, 2.0, 4.0, 8.0])

    async def test_gives_up_after_the_last_attempt(self) -> None:
        attempts, open_connection = self.refusing(refusals=10)
        client = Client(
            "127.0.0.1", 1, connect_attempts=3, retry_delay=30.0, open_connection=open_connection
        )
        start = asyncio.get_running_loop().time()
        with self.assertRaisesRegex(ConnectionRefusedError, "attempt 3 refused"):
            await client.connect()
        # A minute and a half of backoff, done at once.
        self.assertEqual(self.clock.time() - start, 90.0)
        self.assertEqual(len(attempts), 3)

    async def test_a_key_lives_exactly_its_time_to_live(self) -> None:
        store = Store()
        store.set("session", "abc")
        store.expire("session", 60)
        await asyncio.sleep(59.999)
        self.assertEqual(store.get("session"), "abc")
        await asyncio.sleep(0.001)
        self.assertIsNone(store.get("session"))


class FakeWriter:
    """Enough of a StreamWriter for a connection the test never sends on."""

    def close(self) -> None:
        pass

    async def wait_closed(self) -> None:
        pass
