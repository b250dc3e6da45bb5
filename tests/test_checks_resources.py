"""Post-test checks for what a test leaves open and for steps that hold its loop too long."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import tracemalloc
import unittest
import warnings
import weakref
from typing import Any, ClassVar
from unittest import mock

import aiounit
from aiounit.loops import resolve_loop_factory
from tests.cli_support import run_example
from tests.support import Recorded, messages, outcomes, run_suite

# Loop state (transports, servers, readers) and step timing are read from asyncio's
# selector loop: classes that test them run on it whatever AIOUNIT_LOOP says.
SELECTOR_LOOP = asyncio.SelectorEventLoop
# A child that runs until its standard input closes: it cannot outlive this process.
WAIT_FOR_STDIN = (sys.executable, "-c", "import sys; sys.stdin.read()")


class LeakTestCase(unittest.TestCase):
    """Inner tests leak on purpose; what they leak is freed quietly once the outer test ends."""

    def setUp(self) -> None:
        self.kept: list[Any] = []
        self.addCleanup(self.free_leftovers)

    def free_leftovers(self) -> None:
        pids = [item.pid for item in self.kept if isinstance(item, asyncio.subprocess.Process)]
        # On 3.11 asyncio's child watcher is a thread that reaps the child and then logs
        # that its loop is closed; from 3.12 the watcher lived on the closed loop.
        watchers = [t for t in threading.enumerate() if "waitpid" in t.name] if pids else []
        logged = self.assertLogs("asyncio", "WARNING") if watchers else contextlib.nullcontext()
        with logged:
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            for thread in watchers:
                thread.join(10)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):  # reaped by the watcher
                os.waitpid(pid, 0)
        # Transports of a closed loop warn when freed, and asyncio's subprocess transport
        # raises in __del__ then (a CPython issue): neither is this suite's business.
        with warnings.catch_warnings(record=True), mock.patch.object(sys, "unraisablehook"):
            warnings.simplefilter("always")
            self.kept.clear()
            gc.collect()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


def _nap() -> None:
    time.sleep(0.2)


class ResourceWarningTests(LeakTestCase):
    """Objects freed unclosed during a test warn, on any loop; the test gets the finding."""

    def test_a_socket_dropped_open_is_its_tests_finding_and_not_the_next(self) -> None:
        seen: dict[str, Any] = {}

        class Case(aiounit.AsyncTestCase):
            async def test_1_drops_a_socket(self) -> None:
                sock = socket.socket()
                sock.bind(("127.0.0.1", 0))
                seen["address"] = sock.getsockname()

            async def test_2_clean(self) -> None:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", 0))

        run = Recorded(Case)
        self.assertEqual(
            run.outcomes, {"test_1_drops_a_socket": "passed", "test_2_clean": "passed"}
        )
        self.assertEqual(run.checks("test_1_drops_a_socket"), ["unclosed-resource"])
        self.assertEqual(run.findings["test_1_drops_a_socket"][0]["level"], "warn")
        self.assertEqual(run.findings["test_2_clean"], [])
        text = run.message("test_1_drops_a_socket", "unclosed-resource")
        self.assertIn(".Case.test_1_drops_a_socket: unclosed <socket.socket fd=", text)
        self.assertIn(f"laddr={seen['address']!r}", text)
        self.assertIn("PYTHONTRACEMALLOC=20", text)
        self.assertIn("self.addCleanup(sock.close)", text)

    def test_under_a_plain_result_it_is_a_check_warning(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_drops_a_socket(self) -> None:
                socket.socket()

        with self.assertWarns(aiounit.CheckWarning) as caught:
            result = run_suite(Case("test_drops_a_socket"))
        self.assertTrue(result.wasSuccessful())
        self.assertIn("test_drops_a_socket: unclosed <socket.socket", str(caught.warning))
        self.assertTrue(str(caught.warning).endswith("[unclosed-resource]"))

    def test_a_file_left_open_is_named(self) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
            path = file.name
        self.addCleanup(os.unlink, path)

        class Case(aiounit.AsyncTestCase):
            async def test_reads_a_file(self) -> None:
                handle = open(path)  # noqa: SIM115 - left open on purpose
                handle.read()

        run = Recorded(Case)
        text = run.message("test_reads_a_file", "unclosed-resource")
        self.assertIn(f"unclosed file <_io.TextIOWrapper name={path!r}", text)
        self.assertIn("open it in a `with` block", text)

    def test_with_tracemalloc_on_the_finding_shows_where_it_was_made(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_drops_a_socket(self) -> None:
                made_here = socket.socket()
                del made_here

        if not tracemalloc.is_tracing():
            tracemalloc.start(10)
            self.addCleanup(tracemalloc.stop)
        text = Recorded(Case).message("test_drops_a_socket", "unclosed-resource")
        self.assertIn("Created at (most recent call last):", text)
        self.assertIn("made_here = socket.socket()", text)
        self.assertIn(f'File "{__file__}"', text)
        self.assertNotIn("PYTHONTRACEMALLOC", text)

    def test_error_level_fails_the_test_and_off_leaves_warnings_to_the_user(self) -> None:
        class Case(aiounit.AsyncTestCase):
            checks = {"unclosed-resource": "error"}

            async def test_strict(self) -> None:
                socket.socket()

            @aiounit.checks(unclosed_resource="off")
            async def test_unchecked(self) -> None:
                socket.socket()

        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")
            result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_strict": "error"})
        self.assertIn("CheckError: 1 check failed", messages(result.errors))
        self.assertIn("[unclosed-resource]", messages(result.errors))
        # With the check off, the warning reaches the user's filters and hooks as before.
        self.assertEqual(
            [w.category for w in shown if "unclosed <socket.socket" in str(w.message)],
            [ResourceWarning],
        )

    def test_a_test_that_expects_a_resource_warning_still_gets_it(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_expects_it(self) -> None:
                with self.assertWarnsRegex(ResourceWarning, r"unclosed <socket\.socket"):
                    socket.socket()

        run = Recorded(Case)
        self.assertEqual(run.outcomes, {"test_expects_it": "passed"})
        self.assertEqual(run.findings["test_expects_it"], [])

    def test_other_warnings_and_the_warning_machinery_are_left_as_they_were(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_warns(self) -> None:
                warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)

        def machinery() -> tuple[object, ...]:
            return (
                warnings.filters,
                list(warnings.filters),
                warnings.showwarning,
                warnings._showwarnmsg,  # type: ignore[attr-defined]
                list(gc.callbacks),
            )

        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            before = machinery()
            result = run_suite(Case("test_warns"))
            after = machinery()
        # The user's filter still turns other warnings into errors inside the test.
        self.assertEqual(outcomes(result), {"test_warns": "error"})
        self.assertIn("DeprecationWarning: deprecated thing", messages(result.errors))
        self.assertIs(after[0], before[0])
        self.assertEqual(after, before)

    def test_on_a_class_loop_fixtures_and_pools_are_not_the_tests(self) -> None:
        # A class loop stays open after each test: only ResourceWarnings count there.
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP
            pool: list[asyncio.StreamWriter]
            port: int

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                server = await asyncio.start_server(_hang_up, "127.0.0.1", 0)
                await cls.enterAsyncClassContext(server)
                cls.port = server.sockets[0].getsockname()[1]
                cls.pool = []
                cls.addAsyncClassCleanup(cls.close_pool)

            @classmethod
            async def close_pool(cls) -> None:
                for writer in cls.pool:
                    writer.close()
                    await writer.wait_closed()

            async def test_1_grows_the_pool(self) -> None:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.pool.append(writer)  # the class's pool keeps it for the next tests

            async def test_2_drops_a_socket(self) -> None:
                socket.socket()

        run = Recorded(Case)
        self.assertEqual(
            run.outcomes, {"test_1_grows_the_pool": "passed", "test_2_drops_a_socket": "passed"}
        )
        # The class's server and its pooled connection are open on the loop after test_1
        # (the class closes them): neither is the test's.
        self.assertEqual(run.findings["test_1_grows_the_pool"], [])
        self.assertEqual(run.checks("test_2_drops_a_socket"), ["unclosed-resource"])
        self.assertIn(
            "test_2_drops_a_socket: unclosed <socket.socket",
            run.message("test_2_drops_a_socket", "unclosed-resource"),
        )


class LoopStateTests(LeakTestCase):
    """What is still open on a test's loop once it is closed: transports, servers,
    subprocesses and readers, found deterministically from the selector loop's state."""

    def listening_port(self) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        port: int = listener.getsockname()[1]
        return port

    def test_a_connection_left_open_names_both_ends(self) -> None:
        port = self.listening_port()
        kept = self.kept
        seen: dict[str, Any] = {}

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_1_connects(self) -> None:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                seen["local"] = writer.get_extra_info("sockname")
                kept.append(writer)  # never closed

            async def test_2_clean(self) -> None:
                await asyncio.sleep(0)

        run = Recorded(Case)
        self.assertEqual(run.checks("test_1_connects"), ["unclosed-resource"])
        self.assertEqual(run.findings["test_2_clean"], [])
        text = run.message("test_1_connects", "unclosed-resource")
        host, local_port = seen["local"]
        self.assertIn(".Case.test_1_connects left a transport <_SelectorSocketTransport", text)
        self.assertIn(f"on {host}:{local_port} connected to 127.0.0.1:{port}", text)
        self.assertIn("with protocol StreamReaderProtocol open when it ended", text)
        self.assertIn("writer.close() then await writer.wait_closed()", text)

    def test_freed_later_by_the_collector_it_is_not_the_next_tests_finding(self) -> None:
        port = self.listening_port()
        kept = self.kept
        seen: dict[str, Any] = {}

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_1_connects(self) -> None:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                kept.append(writer)
                seen["transport"] = weakref.ref(writer.transport)

            async def test_2_collects(self) -> None:
                kept.clear()
                # The transport and its protocol refer to each other: only the collector
                # frees them, and their ResourceWarnings come now, during this test.
                self.assertIsNotNone(seen["transport"]())
                gc.collect()
                self.assertIsNone(seen["transport"]())

        run = Recorded(Case)
        self.assertEqual(run.checks("test_1_connects"), ["unclosed-resource"])
        self.assertEqual(run.outcomes["test_2_collects"], "passed")
        self.assertEqual(run.findings["test_2_collects"], [])

    def test_a_server_left_listening_names_its_address(self) -> None:
        seen: dict[str, Any] = {}

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_1_serves(self) -> None:
                server = await asyncio.start_server(_hang_up, "127.0.0.1", 0)
                seen["port"] = server.sockets[0].getsockname()[1]

            async def test_2_serves_and_closes(self) -> None:
                async with await asyncio.start_server(_hang_up, "127.0.0.1", 0):
                    pass

        run = Recorded(Case)
        self.assertEqual(run.checks("test_1_serves"), ["unclosed-resource"])
        self.assertEqual(run.findings["test_2_serves_and_closes"], [])
        text = run.message("test_1_serves", "unclosed-resource")
        self.assertIn(f"left a server listening on 127.0.0.1:{seen['port']} (<Server", text)
        self.assertIn("self.addAsyncCleanup(server.wait_closed)", text)

    def test_a_subprocess_not_waited_for_names_its_pid_and_command(self) -> None:
        kept = self.kept

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_1_starts_a_child(self) -> None:
                proc = await asyncio.create_subprocess_exec(
                    *WAIT_FOR_STDIN, stdin=asyncio.subprocess.PIPE
                )
                kept.append(proc)  # never waited for

            async def test_2_waits_for_its_child(self) -> None:
                proc = await asyncio.create_subprocess_exec(
                    *WAIT_FOR_STDIN, stdin=asyncio.subprocess.PIPE
                )
                await proc.communicate(b"")

        run = Recorded(Case)
        self.assertEqual(run.checks("test_1_starts_a_child"), ["unclosed-resource"])
        self.assertEqual(run.findings["test_2_waits_for_its_child"], [])
        text = run.message("test_1_starts_a_child", "unclosed-resource")
        self.assertIn(f"left subprocess {kept[0].pid} ({sys.executable} -c ", text)
        self.assertIn("still running (<_UnixSubprocessTransport", text)
        self.assertIn("await proc.wait()", text)

    def test_a_reader_left_on_the_loop_is_named(self) -> None:
        kept = self.kept

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_watches(self) -> None:
                mine, theirs = socket.socketpair()
                kept.extend([mine, theirs])
                asyncio.get_running_loop().add_reader(mine.fileno(), _nap)

        text = Recorded(Case).message("test_watches", "unclosed-resource")
        self.assertIn(f"left a reader on fd {kept[0].fileno()} registered with ", text)
        self.assertIn("loop.add_reader(): <Handle _nap()", text)
        self.assertIn("loop.remove_reader(fd)", text)
        for sock in kept:
            sock.close()

    def test_what_the_loops_shutdown_closes_is_not_reported(self) -> None:
        port = self.listening_port()

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_leaves_a_task_that_owns_a_connection(self) -> None:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                asyncio.create_task(self.hold(writer), name="holder")
                await asyncio.sleep(0)

            async def hold(self, writer: asyncio.StreamWriter) -> None:
                try:
                    await asyncio.sleep(3600)
                finally:
                    writer.close()  # runs when the leftover task is cancelled

        run = Recorded(Case)
        self.assertEqual(run.checks("test_leaves_a_task_that_owns_a_connection"), ["leaked-task"])


class UvloopTests(unittest.TestCase):
    """uvloop has neither the selector state nor the steps to time: those parts are
    skipped, and ResourceWarnings are still taken."""

    def test_a_blocking_test_passes_unchecked_and_a_dropped_socket_is_found(self) -> None:
        factory = resolve_loop_factory("uvloop")

        class Case(aiounit.AsyncTestCase):
            loop_factory = factory

            async def test_1_blocks(self) -> None:
                time.sleep(0.2)

            async def test_2_drops_a_socket(self) -> None:
                socket.socket()

        run = Recorded(Case)
        self.assertEqual(
            run.outcomes, {"test_1_blocks": "passed", "test_2_drops_a_socket": "passed"}
        )
        self.assertEqual(run.findings["test_1_blocks"], [])
        self.assertEqual(run.checks("test_2_drops_a_socket"), ["unclosed-resource"])


class WarningsAsErrorsTests(LeakTestCase):
    """Under -W error the first warn-level finding raises: none of the others may be lost."""

    def test_every_finding_reaches_the_one_error_and_the_next_test_runs(self) -> None:
        events: list[str] = []

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_1_leaves_three_things(self) -> None:
                socket.socket()
                await asyncio.start_server(_hang_up, "127.0.0.1", 0)
                asyncio.create_task(asyncio.sleep(3600), name="sleeper")

            async def test_2_clean(self) -> None:
                events.append("test_2 ran")

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_1_leaves_three_things": "error"})
        self.assertEqual(events, ["test_2 ran"])
        [(_, text)] = result.errors
        self.assertIn("CheckWarning: 3 checks found something:", text)
        self.assertIn("test_1_leaves_three_things left a task running", text)
        self.assertIn("test_1_leaves_three_things left a server listening on 127.0.0.1:", text)
        self.assertIn("test_1_leaves_three_things: unclosed <socket.socket", text)
        self.assertEqual(text.count("[unclosed-resource]"), 2)
        self.assertEqual(text.count("[leaked-task]"), 1)

    def test_with_an_error_level_finding_one_check_error_names_them_all(self) -> None:
        class Case(aiounit.AsyncTestCase):
            checks = {"loop-exception": "error"}

            async def test_leaves_a_socket_and_a_crash(self) -> None:
                socket.socket()
                asyncio.get_running_loop().call_soon(_raise)
                await asyncio.sleep(0)

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = run_suite(Case)
        [(_, text)] = result.errors
        self.assertIn("CheckError: 2 checks failed:", text)
        self.assertIn("[loop-exception]", text)
        self.assertIn("[unclosed-resource]", text)
        self.assertIn("RuntimeError: from a callback", text)

    def test_without_w_error_each_finding_is_its_own_warning(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_drops_two_sockets(self) -> None:
                socket.socket()
                socket.socket()

        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")
            result = run_suite(Case)
        self.assertTrue(result.wasSuccessful())
        texts = [str(w.message) for w in shown if w.category is aiounit.CheckWarning]
        self.assertEqual(len(texts), 2)
        self.assertTrue(all("[unclosed-resource]" in text for text in texts))


def _raise() -> None:
    raise RuntimeError("from a callback")


class SettingsTests(unittest.TestCase):
    def test_both_checks_are_known_with_their_default_levels(self) -> None:
        self.assertEqual(aiounit.hygiene.DEFAULT_LEVELS["unclosed-resource"], "warn")
        self.assertEqual(aiounit.hygiene.DEFAULT_LEVELS["blocked-loop"], "warn")
        with mock.patch.dict(
            os.environ, {"AIOUNIT_CHECKS": "unclosed-resource=error,blocked-loop=off"}
        ):
            levels = aiounit.hygiene.levels_for(None, {}, "Case")
        self.assertEqual((levels["unclosed-resource"], levels["blocked-loop"]), ("error", "off"))


class CommandLineTests(unittest.TestCase):
    """The example project's findings, each on its own test, under both command lines."""

    EXPECTED: ClassVar[dict[str, list[str]]] = {
        "Leftovers.test_1_drops_a_socket": ["unclosed-resource"],
        "Leftovers.test_2_leaves_a_server": ["unclosed-resource"],
        "Leftovers.test_3_blocks_the_loop": ["blocked-loop"],
        "Leftovers.test_4_clean": [],
        "Several.test_1_leaves_two_things": ["unclosed-resource", "unclosed-resource"],
        "Several.test_2_clean": [],
        "TimedOut.test_1_blocks_past_its_limit": [],
        "TimedOut.test_2_clean": [],
    }

    def test_under_python_m_aiounit(self) -> None:
        run = run_example("resources", "aiounit", "discover", "-v", env={"PYTHONTRACEMALLOC": "20"})
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertEqual(run.findings(), self.EXPECTED)
        assert run.report is not None
        outcomes = {r["id"].split(".", 1)[1]: r["outcome"] for r in run.report["tests"]}
        self.assertEqual(outcomes.pop("TimedOut.test_1_blocks_past_its_limit"), "error")
        self.assertEqual(set(outcomes.values()), {"passed"})
        stderr = run.stderr
        self.assertRegex(stderr.rstrip().splitlines()[-1], r"^7 passed, 0 failed, 1 error in ")
        for name in ("Leftovers.test_4_clean", "Several.test_2_clean", "TimedOut.test_2_clean"):
            self.assertIn(f"{name.split('.')[1]} (test_resources.{name}) ... ok", stderr)
        self.assertIn("WARNING: test_1_drops_a_socket", stderr)
        self.assertIn("test_1_drops_a_socket: unclosed <socket.socket fd=", stderr)
        self.assertIn("test_2_leaves_a_server left a server listening on 127.0.0.1:", stderr)
        # Where each was created (tracemalloc is on) and where the loop was blocked.
        self.assertIn("Created at (most recent call last):", stderr)
        self.assertIn("    sock = socket.socket()\n", stderr)
        self.assertIn('server = await asyncio.start_server(_ignore, "127.0.0.1", 0)', stderr)
        self.assertIn("It was a step of the coroutine test_3_blocks_the_loop()", stderr)
        self.assertIn("time.sleep(0.3)  # the bug: a blocking call in async code", stderr)
        self.assertIn("timed out after 0.3 s", stderr)
        self.assertIn("while True:  # the bug: the loop never gets control back", stderr)
        self.assertNotIn("WARNING: test_4_clean", stderr)
        self.assertNotIn("test_1_blocks_past_its_limit: one step", stderr)

    def test_under_python_m_unittest_every_warning_is_an_error_and_none_is_lost(self) -> None:
        run = run_example(
            "resources", "unittest", "-v", env={"PYTHONTRACEMALLOC": "20"}
        )  # fmt: skip
        self.assertEqual(run.returncode, 1)
        stderr = run.stderr
        for name in (
            "Leftovers.test_1_drops_a_socket",
            "Leftovers.test_2_leaves_a_server",
            "Leftovers.test_3_blocks_the_loop",
            "Several.test_1_leaves_two_things",
            "TimedOut.test_1_blocks_past_its_limit",
        ):
            self.assertIn(f"{name.split('.')[1]} (test_resources.{name}) ... ERROR", stderr)
        for name in ("Leftovers.test_4_clean", "Several.test_2_clean", "TimedOut.test_2_clean"):
            self.assertIn(f"{name.split('.')[1]} (test_resources.{name}) ... ok", stderr)
        self.assertIn("FAILED (errors=5)", stderr)
        # Each object is named with the line that created it (tracemalloc is on).
        self.assertIn(
            "CheckWarning: test_resources.Leftovers.test_1_drops_a_socket: unclosed <socket",
            stderr,
        )
        self.assertIn("Created at (most recent call last):", stderr)
        self.assertIn("    sock = socket.socket()\n", stderr)
        self.assertIn("test_2_leaves_a_server left a server listening on", stderr)
        self.assertIn('server = await asyncio.start_server(_ignore, "127.0.0.1", 0)', stderr)
        self.assertRegex(stderr, r"one step of the event loop ran for 0\.\d\d s")
        # Both findings of one test reach its one error, though -W error raised the first.
        two = stderr[stderr.index("ERROR: test_1_leaves_two_things") :]
        two = two[: two.index("\n======")]
        self.assertIn("CheckWarning: 2 checks found something:", two)
        self.assertIn("test_1_leaves_two_things: unclosed <socket.socket", two)
        self.assertIn("test_1_leaves_two_things left a server listening on", two)
        # The time limit's report, and no blocked-loop finding besides it.
        timed_out = stderr[stderr.index("ERROR: test_1_blocks_past_its_limit") :]
        self.assertIn("TestTimeoutError: test_resources.TimedOut.test_1_blocks", timed_out)
        self.assertNotIn("[blocked-loop]", timed_out)

    def test_levels_and_threshold_from_the_command_line_and_environment(self) -> None:
        strict = run_example("resources", "aiounit", "discover", "--strict", "-k", "Leftovers")
        off = run_example(
            "resources", "aiounit", "discover", "-k", "Leftovers", "-k", "Several",
            "--checks", "unclosed-resource=off,blocked-loop=off",
        )  # fmt: skip
        patient = run_example(
            "resources", "aiounit", "discover", "-k", "Leftovers", "--blocked-loop-threshold", "5"
        )
        from_env = run_example(
            "resources", "unittest", "test_resources.Leftovers.test_3_blocks_the_loop",
            env={"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "5"},
        )  # fmt: skip
        bad_env = run_example(
            "resources", "unittest", "test_resources.Leftovers.test_4_clean",
            env={"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "x"},
        )  # fmt: skip
        bad_option = run_example("resources", "aiounit", "--blocked-loop-threshold", "0")
        self.assertEqual(strict.returncode, 1)
        self.assertRegex(
            strict.stderr.rstrip().splitlines()[-1], r"^1 passed, 0 failed, 3 errors in "
        )
        self.assertEqual(off.returncode, 0, off.stderr)
        self.assertNotIn("WARNING:", off.stderr)
        self.assertEqual(
            off.findings(), {name: [] for name in self.EXPECTED if "TimedOut" not in name}
        )
        self.assertEqual(patient.returncode, 0, patient.stderr)
        self.assertEqual(patient.findings()["Leftovers.test_3_blocks_the_loop"], [])
        self.assertEqual(from_env.returncode, 0, from_env.stderr)
        self.assertEqual(bad_env.returncode, 1)
        self.assertIn("AIOUNIT_BLOCKED_LOOP_THRESHOLD='x' is not a number", bad_env.stderr)
        self.assertIn("[bad-blocked-loop-threshold]", bad_env.stderr)
        self.assertEqual(bad_option.returncode, 2)
        self.assertIn("--blocked-loop-threshold", bad_option.stderr)
