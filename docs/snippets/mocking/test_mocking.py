"""Mocking coroutines, async context managers and async iterators with unittest.mock."""

import asyncio
from unittest import mock

import aiounit


class Mailer:
    """Sends mail over the network (the tests never let it)."""

    async def send(self, to, text):
        raise NotImplementedError("talks to a real mail server")


async def notify(mailer, users):
    """Send every user the news at once; return how many sends failed."""
    results = await asyncio.gather(
        *(mailer.send(user, "news") for user in users), return_exceptions=True
    )
    return sum(isinstance(result, Exception) for result in results)


async def count_rows(pool):
    """Count the rows of a query, on a connection borrowed from the pool."""
    async with pool.acquire() as connection:
        return len([row async for row in connection.cursor("SELECT *")])


class NotifyTests(aiounit.AsyncTestCase):
    async def test_every_user_is_sent_the_news(self):
        mailer = mock.AsyncMock(spec=Mailer)
        self.assertEqual(await notify(mailer, ["ada", "bob"]), 0)
        mailer.send.assert_has_awaits(
            [mock.call("ada", "news"), mock.call("bob", "news")], any_order=True
        )

    async def test_failed_sends_are_counted(self):
        mailer = mock.AsyncMock(spec=Mailer)
        # One result per call: None for the first, the exception raised by the second.
        mailer.send.side_effect = [None, ConnectionError("mail server down")]
        self.assertEqual(await notify(mailer, ["ada", "bob"]), 1)

    async def test_patch_makes_an_AsyncMock_for_an_async_def(self):
        with mock.patch.object(Mailer, "send") as send:
            self.assertIsInstance(send, mock.AsyncMock)
            await notify(Mailer(), ["ada"])
        send.assert_awaited_once_with("ada", "news")


class CountRowsTests(aiounit.AsyncTestCase):
    async def test_rows_of_an_async_cursor(self):
        connection = mock.MagicMock()
        connection.cursor.return_value.__aiter__.return_value = ["row 1", "row 2"]
        pool = mock.MagicMock()
        # MagicMock supports `async with`: __aenter__ and __aexit__ are AsyncMocks.
        pool.acquire.return_value.__aenter__.return_value = connection
        self.assertEqual(await count_rows(pool), 2)
        connection.cursor.assert_called_once_with("SELECT *")
        pool.acquire.return_value.__aexit__.assert_awaited_once()
