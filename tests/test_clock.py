"""Virtual time: jumps, true timer order, work outside the loop, manual steps, deadlocks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import sys
import threading
import time
import unittest
import warnings
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiounit
from aiounit.clock import (
    IO_GRACE,
    DeadlockError,
    VirtualClock,
    VirtualTimeUnsupportedError,
    get_virtual_clock,
    install_virtual_time,
)
from tests.support import messages, outcomes, run_suite

T = TypeVar("T")

# A bound no virtual-time test comes near: "the test did not take hours".
NOT_HOURS = 600.0


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Close ``loop`` the way a loop scope does: cancel tasks, shut down, close."""
    if loop.is_closed():
        return
    try:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


class VirtualLoopTest(unittest.TestCase):
    """Each test gets a fresh asyncio loop on a virtual clock, closed afterwards."""

    mode: Any = "auto"

    def setUp(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.addCleanup(close_loop, self.loop)
        self.clock = install_virtual_time(self.loop, mode=self.mode)

    def run_loop(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(awaitable)


def virtual_loop() -> asyncio.AbstractEventLoop:
    """A loop factory for test classes, as the case will wire virtual time."""
    loop = asyncio.new_event_loop()
    install_virtual_time(loop)
    return loop


def manual_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    install_virtual_time(loop, mode="manual")
    return loop


def running_clock() -> VirtualClock:
    clock = get_virtual_clock(asyncio.get_running_loop())
    assert clock is not None, "the running loop has no virtual clock"
    return clock


class JumpTests(VirtualLoopTest):
    def test_an_hour_of_sleep_returns_at_once_with_exact_loop_time(self) -> None:
        async def main() -> tuple[float, float]:
            start = self.loop.time()
            await asyncio.sleep(3600)
            return start, self.loop.time()

        real_start = time.monotonic()
        start, end = self.run_loop(main())
        self.assertEqual(end, start + 3600)
        self.assertEqual(end - start, 3600.0)
        self.assertEqual(self.clock.time(), end)
        # The real clocks are left alone.
        self.assertLess(time.monotonic() - real_start, NOT_HOURS)

    def test_timers_fire_in_their_true_order(self) -> None:
        log: list[tuple[str, float]] = []

        async def main() -> None:
            start = self.loop.time()

            def note(name: str) -> None:
                log.append((name, self.loop.time() - start))

            async def sleeper(delay: float, name: str) -> None:
                await asyncio.sleep(delay)
                note(name)

            self.loop.call_later(5, note, "call_later 5")
            self.loop.call_at(start + 2, note, "call_at 2")
            self.loop.call_later(2, note, "call_later 2, scheduled after call_at 2")
            asyncio.create_task(sleeper(3, "sleep 3"))
            asyncio.create_task(sleeper(1, "sleep 1"))
            self.loop.call_later(0.5, lambda: self.loop.call_later(4, note, "nested 4.5"))
            await asyncio.sleep(6)
            note("main after sleep 6")

        self.run_loop(main())
        self.assertEqual(
            log,
            [
                ("sleep 1", 1.0),
                ("call_at 2", 2.0),
                ("call_later 2, scheduled after call_at 2", 2.0),
                ("sleep 3", 3.0),
                ("nested 4.5", 4.5),
                ("call_later 5", 5.0),
                ("main after sleep 6", 6.0),
            ],
        )

    def test_timers_due_at_the_same_instant_run_in_scheduling_order(self) -> None:
        # The timer heap alone would wake these in a scrambled order.
        order: list[int] = []

        async def worker(number: int) -> None:
            await asyncio.sleep(1)
            order.append(number)

        async def main() -> None:
            await asyncio.gather(*(worker(n) for n in range(16)))

        self.run_loop(main())
        self.assertEqual(order, list(range(16)))

    def test_timeout_and_wait_for_follow_the_virtual_clock(self) -> None:
        async def value_after(delay: float) -> str:
            await asyncio.sleep(delay)
            return "value"

        async def main() -> None:
            start = self.loop.time()
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(30):
                    await asyncio.sleep(60)
            self.assertEqual(self.loop.time(), start + 30)
            with self.assertRaises(TimeoutError):
                await asyncio.wait_for(asyncio.sleep(60), timeout=10)
            self.assertEqual(self.loop.time(), start + 40)
            self.assertEqual(await asyncio.wait_for(value_after(5), timeout=10), "value")
            self.assertEqual(self.loop.time(), start + 45)
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout_at(self.loop.time() + 1):
                    await asyncio.Event().wait()
            self.assertEqual(self.loop.time(), start + 46)

        self.run_loop(main())

    def test_a_sleepy_retry_loop_takes_its_virtual_time(self) -> None:
        attempts: list[float] = []

        async def flaky() -> str:
            attempts.append(self.loop.time())
            if len(attempts) < 5:
                raise ConnectionError("not yet")
            return "connected"

        async def with_backoff() -> str:
            delay = 1.0
            while True:
                try:
                    return await flaky()
                except ConnectionError:
                    await asyncio.sleep(delay)
                    delay *= 2

        self.assertEqual(self.run_loop(with_backoff()), "connected")
        self.assertEqual([t - attempts[0] for t in attempts], [0, 1, 3, 7, 15])


class OutsideWorkTests(VirtualLoopTest):
    def test_thread_results_arrive_before_the_clock_jumps(self) -> None:
        log: list[str] = []

        def work() -> str:
            time.sleep(0.2)
            return "thread result"

        async def timer() -> None:
            await asyncio.sleep(3600)
            log.append("timer")

        async def main() -> float:
            start = self.loop.time()
            timer_task = asyncio.create_task(timer())
            log.append(await asyncio.wait_for(asyncio.to_thread(work), timeout=5))
            with concurrent.futures.ThreadPoolExecutor(1) as executor:
                log.append(await asyncio.wait_for(self.loop.run_in_executor(executor, work), 5))
            await timer_task
            return self.loop.time() - start

        elapsed = self.run_loop(main())
        self.assertEqual(log, ["thread result", "thread result", "timer"])
        self.assertEqual(elapsed, 3600)

    def test_a_timeout_shorter_than_a_blocked_thread_fires_in_real_time(self) -> None:
        # The clock follows real time while the thread runs, so the 0.05 s timeout fires
        # after 0.05 real seconds, as it would without virtual time. Had the clock stopped
        # for the thread, this would wait for the safety net and get the thread's result.
        release = threading.Event()
        safety_net = threading.Timer(30, release.set)
        safety_net.start()
        self.addCleanup(safety_net.join)
        self.addCleanup(safety_net.cancel)
        self.addCleanup(release.set)

        async def main() -> None:
            start = self.loop.time()
            with self.assertRaises(TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(release.wait), timeout=0.05)
            self.assertEqual(self.loop.time(), start + 0.05)
            release.set()
            # With the job no longer awaited, the clock jumps again.
            await asyncio.sleep(3600)
            self.assertEqual(self.loop.time(), start + 0.05 + 3600)

        self.run_loop(main())

    def test_loopback_echo_with_a_virtual_timeout(self) -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        async def main() -> None:
            server = await asyncio.start_server(echo, "127.0.0.1", 0)
            async with server:
                port = server.sockets[0].getsockname()[1]
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                start = self.loop.time()
                writer.write(b"ping\n")
                line = await asyncio.wait_for(reader.readline(), timeout=5)
                self.assertEqual(line, b"ping\n")
                self.assertLess(self.loop.time() - start, 5)
                # With sockets registered, the clock still jumps, after the grace period.
                before = self.loop.time()
                await asyncio.sleep(3600)
                self.assertEqual(self.loop.time(), before + 3600)
                writer.close()
                await writer.wait_closed()

        self.run_loop(main())

    def test_real_time_block_waits_for_a_peer_the_loop_cannot_see(self) -> None:
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        may_answer = threading.Event()
        self.addCleanup(may_answer.set)

        def peer() -> None:
            # A server in a thread the loop knows nothing of, which answers late.
            conn, _ = listener.accept()
            with conn:
                conn.recv(100)
                may_answer.wait(30)
                conn.sendall(b"late answer\n")

        thread = threading.Thread(target=peer)
        thread.start()
        self.addCleanup(thread.join)

        async def main() -> None:
            reader, writer = await asyncio.open_connection(*listener.getsockname())
            writer.write(b"question\n")
            start = self.loop.time()
            # Without the block, a silent peer looks idle: the timeout is jumped to.
            with self.assertRaises(TimeoutError):
                await asyncio.wait_for(reader.readline(), timeout=30)
            self.assertEqual(self.loop.time(), start + 30)
            answer = threading.Timer(0.05, may_answer.set)
            answer.start()
            self.addCleanup(answer.join)
            with self.clock.real_time():
                line = await asyncio.wait_for(reader.readline(), timeout=30)
            self.assertEqual(line, b"late answer\n")
            writer.close()
            await writer.wait_closed()

        self.run_loop(main())

    def test_registered_sockets_get_a_grace_period_before_the_clock_jumps(self) -> None:
        # A generous grace period lets a peer in a thread answer a little late: its
        # answer arrives while the loop waits for it, before the timeout is jumped to.
        self.clock.uninstall()
        self.clock = install_virtual_time(self.loop, io_grace=10)
        left, right = socket.socketpair()
        self.addCleanup(right.close)
        answer = threading.Timer(0.05, right.sendall, (b"late but within grace\n",))

        async def main() -> bytes:
            reader, writer = await asyncio.open_connection(sock=left)
            answer.start()
            try:
                return await asyncio.wait_for(reader.readline(), timeout=3600)
            finally:
                answer.join()
                writer.close()
                await writer.wait_closed()

        self.assertEqual(self.run_loop(main()), b"late but within grace\n")

    def test_a_subprocess_completes_before_a_timer_jumps_past_it(self) -> None:
        log: list[str] = []

        async def timer() -> None:
            await asyncio.sleep(30)
            log.append("timer")

        async def main() -> float:
            start = self.loop.time()
            timer_task = asyncio.create_task(timer())
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import time; time.sleep(0.2)"
            )
            log.append(f"exec exit {await asyncio.wait_for(proc.wait(), timeout=60)}")
            proc = await asyncio.create_subprocess_shell(
                f'"{sys.executable}" -c "import time; time.sleep(0.2); print(42)"',
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
            log.append(f"shell exit {proc.returncode} {out.strip().decode()}")
            await timer_task
            return self.loop.time() - start

        elapsed = self.run_loop(main())
        self.assertEqual(log, ["exec exit 0", "shell exit 0 42", "timer"])
        self.assertEqual(elapsed, 30)

    def test_the_default_executor_shutdown_is_waited_for(self) -> None:
        # From 3.12 a 300 s timer bounds the executor's shutdown; jumping to it would
        # abandon the join with a RuntimeWarning.
        async def main() -> float:
            await asyncio.to_thread(time.sleep, 0.01)
            start = self.loop.time()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                await self.loop.shutdown_default_executor()
            self.assertEqual([str(w.message) for w in caught], [])
            return self.loop.time() - start

        self.assertLess(self.run_loop(main()), 300)


class ManualTests(VirtualLoopTest):
    mode = "manual"

    def test_only_advance_moves_the_clock(self) -> None:
        async def main() -> None:
            start = self.loop.time()
            sleeper = asyncio.create_task(asyncio.sleep(10, result="woke"))
            for _ in range(50):
                await asyncio.sleep(0)
            self.assertFalse(sleeper.done())
            self.assertEqual(self.loop.time(), start)
            await self.clock.advance(4)
            self.assertFalse(sleeper.done())
            self.assertEqual(self.loop.time(), start + 4)
            await self.clock.advance(6)
            self.assertTrue(sleeper.done())
            self.assertEqual(sleeper.result(), "woke")
            self.assertEqual(self.loop.time(), start + 10)

        self.run_loop(main())

    def test_advance_runs_everything_that_falls_due_in_order(self) -> None:
        log: list[tuple[str, float]] = []

        async def main() -> None:
            start = self.loop.time()

            def note(name: str) -> None:
                log.append((name, self.loop.time() - start))

            def chain() -> None:
                note("timer 1")
                self.loop.call_later(1, note, "scheduled by timer 1, due at 2")
                self.loop.call_soon(note, "call_soon from timer 1")

            async def task() -> None:
                await asyncio.sleep(1.5)
                note("task at 1.5")
                await asyncio.sleep(0.5)
                note("task at 2")

            self.loop.call_later(1, chain)
            asyncio.create_task(task())
            self.loop.call_later(2.5, note, "beyond the window")
            await self.clock.advance(2)
            note("advance(2) returned")
            await self.clock.advance(0.5)
            note("advance(0.5) returned")

        self.run_loop(main())
        self.assertEqual(
            log,
            [
                ("timer 1", 1.0),
                ("call_soon from timer 1", 1.0),
                ("task at 1.5", 1.5),
                ("scheduled by timer 1, due at 2", 2.0),
                ("task at 2", 2.0),
                ("advance(2) returned", 2.0),
                ("beyond the window", 2.5),
                ("advance(0.5) returned", 2.5),
            ],
        )

    def test_concurrent_advances_each_end_at_their_own_time(self) -> None:
        ends: list[tuple[str, float]] = []

        async def advancer(name: str, seconds: float) -> None:
            await self.clock.advance(seconds)
            ends.append((name, self.loop.time() - start))

        async def main() -> None:
            await asyncio.gather(advancer("long", 10), advancer("short", 3))

        start = self.loop.time()
        self.run_loop(main())
        self.assertEqual(ends, [("short", 3.0), ("long", 10.0)])

    def test_waiting_on_a_timer_without_advancing_is_a_deadlock(self) -> None:
        async def main() -> None:
            await asyncio.sleep(10)

        with self.assertRaises(DeadlockError) as caught:
            self.run_loop(main())
        message = str(caught.exception)
        self.assertIn("manual virtual clock", message)
        self.assertIn("next timer is due in 10 s", message)
        self.assertIn("no timer is due until you advance the clock", message)
        self.assertIn("await clock.advance(", message)
        self.assertRegex(message, r'test_clock\.py", line \d+, in main\n')
        self.assertTrue(message.endswith("[deadlock]"), message)
        close_loop(self.loop)
        self.assertTrue(self.loop.is_closed())

    def test_manual_clock_waits_for_real_events(self) -> None:
        # Timers wait for an advance, but a socket can still wake the loop: no deadlock.
        left, right = socket.socketpair()
        self.addCleanup(left.close)
        self.addCleanup(right.close)
        timer = threading.Timer(0.05, right.sendall, (b"hello\n",))
        timer.start()
        self.addCleanup(timer.join)

        async def main() -> bytes:
            self.loop.call_later(5, lambda: None)
            reader, writer = await asyncio.open_connection(sock=left)
            line = await reader.readline()
            writer.close()
            await writer.wait_closed()
            return line

        self.assertEqual(self.run_loop(main()), b"hello\n")

    def test_advance_checks_its_arguments(self) -> None:
        async def main() -> None:
            with self.assertRaises(aiounit.ConfigurationError) as caught:
                await self.clock.advance(-1)
            self.assertIn("[bad-advance]", str(caught.exception))
            with self.assertRaises(ValueError):
                await self.clock.advance(float("nan"))

        self.run_loop(main())

        other = asyncio.new_event_loop()
        self.addCleanup(other.close)
        with self.assertRaises(aiounit.AiounitError) as caught:
            other.run_until_complete(self.clock.advance(1))
        self.assertIn("[clock-misuse]", str(caught.exception))


class AutoAdvanceTests(VirtualLoopTest):
    def test_advance_in_auto_mode_stops_at_its_target(self) -> None:
        async def main() -> None:
            start = self.loop.time()
            sleeper = asyncio.create_task(asyncio.sleep(10))
            await self.clock.advance(2.5)
            self.assertEqual(self.loop.time(), start + 2.5)
            self.assertFalse(sleeper.done())
            await sleeper
            self.assertEqual(self.loop.time(), start + 10)

        self.run_loop(main())


class DeadlockTests(VirtualLoopTest):
    def test_a_deadlock_fails_at_once_with_every_await_chain(self) -> None:
        async def wait_for_reply(future: asyncio.Future[None]) -> None:
            await future

        async def background(event: asyncio.Event) -> None:
            await event.wait()

        # Held here: a task only reachable through what it awaits could be collected.
        keep: list[asyncio.Task[None]] = []

        async def main() -> None:
            keep.append(asyncio.create_task(background(asyncio.Event()), name="background-worker"))
            await wait_for_reply(self.loop.create_future())

        real_start = time.monotonic()
        with self.assertRaises(DeadlockError) as caught:
            self.run_loop(main())
        self.assertLess(time.monotonic() - real_start, NOT_HOURS)
        message = str(caught.exception)
        self.assertIn("can never be woken", message)
        self.assertIn("Likely cause:", message)
        self.assertIn("Fix:", message)
        self.assertTrue(message.endswith("[deadlock]"), message)
        chains = message.split("first:\n", 1)[1]
        main_task, other = chains.split("\n\n")
        self.assertIn("Task 'Task-", main_task.splitlines()[0])
        self.assertRegex(main_task, r'test_clock\.py", line \d+, in main\n')
        self.assertRegex(main_task, r'test_clock\.py", line \d+, in wait_for_reply\n')
        self.assertIn("'background-worker'", other.splitlines()[0])
        self.assertRegex(other, r'test_clock\.py", line \d+, in background\n')
        self.assertRegex(other, r'locks\.py", line \d+, in wait\n')

        # The loop is left as run_until_complete leaves it after any error: usable.
        tasks = asyncio.all_tasks(self.loop)
        self.assertEqual(len(tasks), 2)
        with warnings.catch_warnings(record=True) as caught_warnings:
            warnings.simplefilter("always")
            close_loop(self.loop)
        self.assertEqual([str(w.message) for w in caught_warnings], [])
        self.assertTrue(all(task.cancelled() for task in tasks))
        self.assertTrue(self.loop.is_closed())

    def test_the_loop_runs_again_after_a_deadlock(self) -> None:
        future: asyncio.Future[str] = self.loop.create_future()

        with self.assertRaises(DeadlockError):
            self.run_loop(future)
        self.loop.call_soon(future.set_result, "set later")
        self.assertEqual(self.run_loop(future), "set later")

    def test_run_forever_with_nothing_to_run_is_a_deadlock(self) -> None:
        with self.assertRaises(DeadlockError) as caught:
            self.loop.run_forever()
        self.assertIn("(none: the loop was run with nothing left to run)", str(caught.exception))
        self.assertFalse(self.loop.is_running())

    def test_no_deadlock_while_a_thread_job_is_running(self) -> None:
        async def main() -> str:
            future: asyncio.Future[str] = self.loop.create_future()

            def job() -> None:
                time.sleep(0.05)
                self.loop.call_soon_threadsafe(future.set_result, "from the job")

            await asyncio.gather(asyncio.to_thread(job), future)
            return future.result()

        self.assertEqual(self.run_loop(main()), "from the job")

    @unittest.skipUnless(hasattr(signal, "SIGUSR1"), "needs SIGUSR1")
    def test_no_deadlock_while_a_signal_handler_is_registered(self) -> None:
        async def main() -> str:
            received: asyncio.Future[str] = self.loop.create_future()
            self.loop.add_signal_handler(signal.SIGUSR1, received.set_result, "signalled")
            try:
                timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1))
                timer.start()
                try:
                    return await received
                finally:
                    timer.join()
            finally:
                self.loop.remove_signal_handler(signal.SIGUSR1)

        self.assertEqual(self.run_loop(main()), "signalled")


class InstallTests(unittest.TestCase):
    def test_uvloop_is_refused_with_the_reason_and_the_fix(self) -> None:
        try:
            import uvloop
        except ImportError:
            self.fail("uvloop is part of the test extra: pip install -e '.[test]'")
        loop = uvloop.new_event_loop()
        self.addCleanup(loop.close)
        with self.assertRaises(VirtualTimeUnsupportedError) as caught:
            install_virtual_time(loop)
        message = str(caught.exception)
        self.assertIn("uvloop", message)
        self.assertIn("lives in C", message)
        self.assertIn("cannot be replaced", message)
        self.assertIn("loop_factory = asyncio.new_event_loop", message)
        self.assertTrue(message.endswith("[virtual-time-unsupported]"), message)
        self.assertIsInstance(caught.exception, aiounit.ConfigurationError)
        self.assertIsNone(get_virtual_clock(loop))
        # The loop is untouched and keeps real time.
        self.assertEqual(loop.run_until_complete(asyncio.sleep(0.01, result="ok")), "ok")

    def test_other_loops_that_are_not_asyncio_loops_are_refused(self) -> None:
        class Foreign(asyncio.AbstractEventLoop):
            def is_closed(self) -> bool:
                return False

        with self.assertRaises(VirtualTimeUnsupportedError) as caught:
            install_virtual_time(Foreign())  # type: ignore[abstract]
        self.assertIn("asyncio.BaseEventLoop", str(caught.exception))

    def test_bad_mode_and_closed_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        with self.assertRaises(aiounit.ConfigurationError) as caught:
            install_virtual_time(loop, mode="fast")  # type: ignore[arg-type]
        self.assertIn("'auto'", str(caught.exception))
        self.assertIn("[bad-setting]", str(caught.exception))
        self.assertIsNone(get_virtual_clock(loop))
        loop.close()
        with self.assertRaises(aiounit.AiounitError) as misuse:
            install_virtual_time(loop)
        self.assertIn("[clock-misuse]", str(misuse.exception))

    def test_installing_twice_returns_the_clock_in_the_new_mode(self) -> None:
        loop = asyncio.new_event_loop()
        self.addCleanup(close_loop, loop)
        clock = install_virtual_time(loop)
        self.assertIs(install_virtual_time(loop, mode="manual"), clock)
        self.assertEqual(clock.mode, "manual")
        self.assertIs(get_virtual_clock(loop), clock)
        with self.assertRaises(aiounit.ConfigurationError):
            clock.mode = "sometimes"  # type: ignore[assignment]

    def test_uninstall_restores_the_real_clock(self) -> None:
        loop = asyncio.new_event_loop()
        self.addCleanup(close_loop, loop)
        selector = loop._selector  # type: ignore[attr-defined]
        patched = ("time", "call_at", "run_in_executor", "subprocess_exec")
        clock = install_virtual_time(loop)
        self.assertTrue(all(name in vars(loop) for name in patched))
        self.assertIn("select", vars(selector))

        async def main() -> asyncio.TimerHandle:
            await asyncio.sleep(3600)
            return loop.call_later(10, lambda: None)

        handle = loop.run_until_complete(main())
        clock.uninstall()
        clock.uninstall()
        self.assertFalse(clock.installed)
        self.assertIsNone(get_virtual_clock(loop))
        self.assertFalse(any(name in vars(loop) for name in patched))
        self.assertNotIn("select", vars(selector))
        real_now = time.monotonic()
        self.assertLess(abs(loop.time() - real_now), 1)
        # The pending timer keeps its remaining delay, now on the real clock.
        self.assertGreater(handle.when() - loop.time(), 9)
        self.assertLessEqual(handle.when() - loop.time(), 10)
        handle.cancel()
        self.assertEqual(loop.run_until_complete(asyncio.sleep(0.01, result="real")), "real")

    def test_grace_period_constant(self) -> None:
        self.assertGreater(IO_GRACE, 0)
        self.assertLess(IO_GRACE, 0.1)
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        with self.assertRaises(aiounit.ConfigurationError):
            install_virtual_time(loop, io_grace=-1)


class CaseTests(unittest.TestCase):
    """Virtual time as the case wires it: through a loop factory."""

    def test_setup_test_teardown_and_cleanups_share_the_clock(self) -> None:
        times: list[tuple[str, float]] = []

        class Case(aiounit.AsyncTestCase):
            loop_factory = staticmethod(virtual_loop)

            def note(self, name: str) -> None:
                loop = asyncio.get_event_loop()
                times.append((name, loop.time() - self.start))

            def setUp(self) -> None:
                self.start = asyncio.get_event_loop().time()
                self.note("setUp")

            async def asyncSetUp(self) -> None:
                await asyncio.sleep(100)
                self.note("asyncSetUp")
                self.addAsyncCleanup(self.cleanup)

            async def cleanup(self) -> None:
                await asyncio.sleep(1)
                self.note("cleanup")

            async def test_it(self) -> None:
                real_start = time.monotonic()
                async with asyncio.timeout(7200):
                    await asyncio.sleep(3600)
                self.note("test")
                self.assertLess(time.monotonic() - real_start, NOT_HOURS)
                self.assertIsNotNone(get_virtual_clock(asyncio.get_running_loop()))

            async def asyncTearDown(self) -> None:
                await asyncio.sleep(10)
                self.note("asyncTearDown")

        result = run_suite(Case)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(
            times,
            [
                ("setUp", 0.0),
                ("asyncSetUp", 100.0),
                ("test", 3700.0),
                ("asyncTearDown", 3710.0),
                ("cleanup", 3711.0),
            ],
        )

    def test_class_fixtures_run_on_the_tests_clock(self) -> None:
        times: list[tuple[str, float]] = []

        class Case(aiounit.AsyncTestCase):
            loop_factory = staticmethod(virtual_loop)
            start = 0.0

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.start = asyncio.get_running_loop().time()
                await asyncio.sleep(600)  # An expensive fixture, for free.
                cls.note("asyncSetUpClass")

            @classmethod
            def note(cls, name: str) -> None:
                times.append((name, asyncio.get_event_loop().time() - cls.start))

            async def test_a(self) -> None:
                await asyncio.sleep(60)
                self.note("test_a")

            async def test_b(self) -> None:
                await asyncio.sleep(30)
                self.note("test_b")

            @classmethod
            async def asyncTearDownClass(cls) -> None:
                await asyncio.sleep(5)
                cls.note("asyncTearDownClass")

        result = run_suite(Case)
        self.assertTrue(result.wasSuccessful(), messages(result.errors + result.failures))
        self.assertEqual(
            times,
            [
                ("asyncSetUpClass", 600.0),
                ("test_a", 660.0),
                ("test_b", 690.0),
                ("asyncTearDownClass", 695.0),
            ],
        )

    def test_a_deadlocked_test_fails_and_the_class_loop_carries_on(self) -> None:
        ran: list[str] = []

        class Case(aiounit.AsyncTestCase):
            loop_factory = staticmethod(virtual_loop)
            loop_scope = "class"

            async def test_1_waits_forever(self) -> None:
                await asyncio.get_running_loop().create_future()

            async def test_2_still_runs(self) -> None:
                await asyncio.sleep(1)
                ran.append("test_2")

            async def asyncTearDown(self) -> None:
                ran.append(f"asyncTearDown {self._testMethodName}")

        result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_1_waits_forever": "error"})
        text = messages(result.errors)
        self.assertIn("DeadlockError", text)
        self.assertIn("can never be woken", text)
        self.assertRegex(text, r'test_clock\.py", line \d+, in test_1_waits_forever\n')
        self.assertIn("[deadlock]", text)
        self.assertEqual(
            ran,
            ["asyncTearDown test_1_waits_forever", "test_2", "asyncTearDown test_2_still_runs"],
        )

    def test_manual_clock_in_a_case(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = staticmethod(manual_loop)

            async def test_steps(self) -> None:
                clock = running_clock()
                self.assertEqual(clock.mode, "manual")
                ticks: list[float] = []
                start = clock.time()

                async def heartbeat() -> None:
                    while True:
                        await asyncio.sleep(15)
                        ticks.append(clock.time() - start)

                task = asyncio.create_task(heartbeat())
                await clock.advance(50)
                self.assertEqual(ticks, [15, 30, 45])
                task.cancel()

            async def test_forgets_to_advance(self) -> None:
                await asyncio.sleep(1)

        result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_forgets_to_advance": "error"})
        self.assertIn("no timer is due until you advance the clock", messages(result.errors))
