"""Consecutive tests on loops of their own: each loop is new, whatever the last one kept.

aiounit hands the selector and self-pipe of a closed loop to the next one when nothing
else was registered on them. The tests run in name order; each odd test leaves state on
its loop, and the test after it checks that its own loop carries none of it.
"""

import asyncio
import socket
import time

import aiounit

SEEN = {}


def assert_fresh(case, loop):
    """Nothing of an earlier loop is on ``loop``: only its own self-pipe, no handlers."""
    case.assertIsNot(loop, SEEN["loop"])
    # The post-test checks' handler, of this test: not the one an earlier test set.
    case.assertIn(case.id(), loop.get_exception_handler().__self__.test_id)
    case.assertIsNone(loop.get_task_factory())
    case.assertFalse(loop.get_debug())
    case.assertEqual(loop._scheduled, [])
    case.assertEqual(loop._signal_handlers, {})
    # No virtual clock's hook; only this test's own blocked-loop timer, if any.
    hook = vars(loop._selector).get("select")
    if hook is not None:
        case.assertIs(hook.__self__.loop, loop)
    case.assertEqual(list(loop._selector.get_map()), [loop._ssock.fileno()])
    handler, writer = loop._selector.get_key(loop._ssock).data
    case.assertIs(handler._callback.__self__, loop)
    case.assertIsNone(writer)
    case.assertLess(abs(loop.time() - time.monotonic()), 60)  # real time again
    case.assertEqual(asyncio.all_tasks(loop), {asyncio.current_task()})
    case.assertIsNone(loop._default_executor)


class LoopReuse(aiounit.AsyncTestCase):
    """Runs as one class: its tests depend on the ones before them."""

    @aiounit.virtual_time
    async def test_1_leaves_handlers_timers_and_a_wakeup_byte(self):
        loop = asyncio.get_running_loop()
        SEEN["loop"] = loop
        SEEN["selector"] = loop._selector
        loop.set_exception_handler(lambda loop, context: None)
        loop.set_task_factory(lambda loop, coro, **kwargs: asyncio.Task(coro, loop=loop, **kwargs))
        loop.call_later(3600, SEEN.setdefault, "fired", True)
        # Written after the last step has run, so the loop closes with it unread.
        self.addCleanup(loop._write_to_self)
        await asyncio.sleep(1)  # on the virtual clock, which hooks the selector

    async def test_2_gets_a_new_loop_on_the_same_plumbing(self):
        loop = asyncio.get_running_loop()
        assert_fresh(self, loop)
        self.assertIs(loop._selector, SEEN["selector"])
        self.assertNotIn("fired", SEEN)
        with self.assertRaises(BlockingIOError):
            loop._ssock.recv(1)  # the byte left by the first test was drained
        SEEN["loop"] = loop

    # Left on purpose, for test 4 to check: not a finding of this example.
    @aiounit.checks(unclosed_resource="off")
    async def test_3_leaves_a_reader_registered(self):
        loop = asyncio.get_running_loop()
        SEEN["loop"] = loop
        SEEN["selector"] = loop._selector
        reading, writing = socket.socketpair()
        self.addCleanup(reading.close)
        self.addCleanup(writing.close)
        loop.add_reader(reading, SEEN.setdefault, "read", True)
        await loop.run_in_executor(None, int)

    async def test_4_gets_new_plumbing_too(self):
        loop = asyncio.get_running_loop()
        assert_fresh(self, loop)
        # The last loop still had a reader, so its selector was closed, not handed on.
        self.assertIsNot(loop._selector, SEEN["selector"])
        self.assertNotIn("read", SEEN)
