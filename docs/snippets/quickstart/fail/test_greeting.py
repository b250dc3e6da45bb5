import asyncio

import aiounit


async def greet(name):
    await asyncio.sleep(0.01)  # stands in for real I/O: a query, a request
    return f"Hello, {name}!"


class GreetingTests(aiounit.AsyncTestCase):
    async def test_greets_by_name(self):
        self.assertEqual(await greet("Ada"), "Hello, Ada!")

    async def test_shouts(self):
        # Fails on purpose: greet() does not shout.
        self.assertEqual(await greet("Ada"), "HELLO, ADA!")
