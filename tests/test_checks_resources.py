"""Post-test checks for what a test leaves open and for steps that hold its loop too long."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
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
from typing import Any
from unittest import mock

import aiounit
from aiounit.loops import resolve_loop_factory
from aiounit.result import TestResult
from tests.cli_support import aiounit as aiounit_cli
from tests.cli_support import example, run
from tests.support import messages, outcomes, run_suite

# Loop state (transports, servers, readers) and step timing are read from asyncio's
# selector loop: classes that test them run on it whatever AIOUNIT_LOOP says.
SELECTOR_LOOP = asyncio.SelectorEventLoop
# A child that runs until its standard input closes: it cannot outlive this process.
WAIT_FOR_STDIN = (sys.executable, "-c", "import sys; sys.stdin.read()")


class Recorded:
    """What an inner run recorded: each test's outcome and findings, by method name."""

    def __init__(self, *tests: unittest.TestCase | type[unittest.TestCase]) -> None:
        suite = unittest.TestSuite()
        for item in tests:
            if isinstance(item, type):
                suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(item))
            else:
                suite.addTest(item)
        self.result = TestResult()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # findings are recorded, never warned
            suite.run(self.result)
        records = {record.id.rsplit(".", 1)[1]: record for record in self.result.records}
        self.outcomes = {name: record.outcome for name, record in records.items()}
        self.findings = {name: record.findings for name, record in records.items()}

    def checks(self, name: str) -> list[str]:
        """The slugs of the findings of test ``name``, in order."""
        return [finding["check"] for finding in self.findings[name]]

    def message(self, name: str, check: str) -> str:
        """The message of the one finding of ``check`` on test ``name``."""
        [message] = [f["message"] for f in self.findings[name] if f["check"] == check]
        return str(message)


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
        class Case(aiounit.AsyncTestCase):
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
        self.assertEqual(run.findings["test_1_grows_the_pool"], [])
        self.assertEqual(run.checks("test_2_drops_a_socket"), ["unclosed-resource"])


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


class BlockedLoopTests(unittest.TestCase):
    """A step of the loop that runs past the threshold, with the line that held it."""

    def test_a_slow_callback_is_named_with_its_line_on_its_test_only(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_1_slow_callback(self) -> None:
                asyncio.get_running_loop().call_soon(_nap)
                await asyncio.sleep(0.01)

            async def test_2_clean(self) -> None:
                await asyncio.sleep(0.01)

        run = Recorded(Case)
        self.assertEqual(run.outcomes, {"test_1_slow_callback": "passed", "test_2_clean": "passed"})
        self.assertEqual(run.checks("test_1_slow_callback"), ["blocked-loop"])
        self.assertEqual(run.findings["test_2_clean"], [])
        text = run.message("test_1_slow_callback", "blocked-loop")
        self.assertRegex(
            text, r"one step of the event loop ran for 0\.\d\d s \(the limit is 0\.1 s\)"
        )
        self.assertIn("It was the callback _nap(), at (outermost first):", text)
        self.assertIn(f'File "{__file__}", line {_nap.__code__.co_firstlineno + 1}, in _nap', text)
        self.assertIn("time.sleep(0.2)", text)
        self.assertIn("await asyncio.sleep()", text)

    def test_a_callback_written_in_c_is_named_by_its_handle(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_sleeps_in_a_callback(self) -> None:
                asyncio.get_running_loop().call_soon(time.sleep, 0.2)
                await asyncio.sleep(0.01)

        text = Recorded(Case).message("test_sleeps_in_a_callback", "blocked-loop")
        self.assertIn("It was the callback <Handle sleep(", text)

    def test_a_busy_task_step_is_named_with_its_line(self) -> None:
        async def spin() -> None:
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                pass

        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_spins(self) -> None:
                await asyncio.create_task(spin())

        text = Recorded(Case).message("test_spins", "blocked-loop")
        self.assertIn("It was a step of the coroutine spin(), at (outermost first):", text)
        self.assertIn("in spin\n    while time.monotonic() < end:", text)

    def test_waiting_is_not_blocking(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_waits(self) -> None:
                await asyncio.sleep(0.2)
                await asyncio.to_thread(time.sleep, 0.2)

        run = Recorded(Case)
        self.assertEqual(run.outcomes, {"test_waits": "passed"})
        self.assertEqual(run.findings["test_waits"], [])

    def test_the_threshold_comes_from_the_environment(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_naps(self) -> None:
                time.sleep(0.2)

        with mock.patch.dict(os.environ, {"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "0.5"}):
            relaxed = Recorded(Case)
        with mock.patch.dict(os.environ, {"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "0.05"}):
            strict = Recorded(Case)
        self.assertEqual(relaxed.findings["test_naps"], [])
        self.assertIn("(the limit is 0.05 s)", strict.message("test_naps", "blocked-loop"))

    def test_a_bad_threshold_fails_the_test_with_the_fix(self) -> None:
        class Case(aiounit.AsyncTestCase):
            async def test_it(self) -> None:
                pass

        for value in ("soon", "-1", "0"):
            with self.subTest(value=value):
                with mock.patch.dict(os.environ, {"AIOUNIT_BLOCKED_LOOP_THRESHOLD": value}):
                    result = run_suite(Case("test_it"))
                self.assertEqual(outcomes(result), {"test_it": "error"})
                text = messages(result.errors)
                self.assertIn(f"AIOUNIT_BLOCKED_LOOP_THRESHOLD={value!r} is not a number", text)
                self.assertIn("AIOUNIT_CHECKS=blocked-loop=off", text)
                self.assertIn("[bad-blocked-loop-threshold]", text)

    def test_many_slow_steps_are_counted_after_the_first_three(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP

            async def test_naps_often(self) -> None:
                for _ in range(5):
                    time.sleep(0.05)
                    await asyncio.sleep(0)

        with mock.patch.dict(os.environ, {"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "0.02"}):
            run = Recorded(Case)
        self.assertEqual(run.checks("test_naps_often"), ["blocked-loop"] * 4)
        last = run.findings["test_naps_often"][-1]["message"]
        self.assertRegex(last, r"test_naps_often: 2 more steps held the loop longer than 0\.02 s")

    def test_levels_from_class_and_method(self) -> None:
        class Case(aiounit.AsyncTestCase):
            loop_factory = SELECTOR_LOOP
            checks = {"blocked-loop": "error"}

            async def test_strict(self) -> None:
                time.sleep(0.2)

            @aiounit.checks(blocked_loop="off")
            async def test_unchecked(self) -> None:
                time.sleep(0.2)

        result = run_suite(Case)
        self.assertEqual(outcomes(result), {"test_strict": "error"})
        self.assertIn("[blocked-loop]", messages(result.errors))


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
    def test_each_finding_is_reported_on_its_own_test(self) -> None:
        with example("resources") as path:
            default = aiounit_cli("discover", "-v", "--json", "report.json", cwd=path)
            report = json.loads((path / "report.json").read_text())
        self.assertEqual(default.returncode, 0, default.stderr)
        findings = {r["id"].rsplit(".", 1)[1]: r["findings"] for r in report["tests"]}
        self.assertEqual(
            {name: [f["check"] for f in found] for name, found in findings.items()},
            {
                "test_1_drops_a_socket": ["unclosed-resource"],
                "test_2_leaves_a_server": ["unclosed-resource"],
                "test_3_blocks_the_loop": ["blocked-loop"],
                "test_4_clean": [],
            },
        )
        stderr = default.stderr
        self.assertIn("test_4_clean (test_resources.Leftovers.test_4_clean) ... ok", stderr)
        self.assertIn("WARNING: test_1_drops_a_socket", stderr)
        self.assertIn("test_1_drops_a_socket: unclosed <socket.socket fd=", stderr)
        self.assertIn("test_2_leaves_a_server left a server listening on 127.0.0.1:", stderr)
        self.assertIn("It was a step of the coroutine test_3_blocks_the_loop()", stderr)
        self.assertIn("time.sleep(0.3)  # the bug: a blocking call in async code", stderr)
        self.assertNotIn("WARNING: test_4_clean", stderr)

    def test_levels_and_threshold_from_the_command_line_and_environment(self) -> None:
        with example("resources") as path:
            strict = aiounit_cli("discover", "--strict", cwd=path)
            off = aiounit_cli(
                "discover", "--checks", "unclosed-resource=off,blocked-loop=off", cwd=path
            )
            aiounit_cli(
                "discover", "--json", "patient.json", cwd=path,
                env={"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "5"},
            )  # fmt: skip
            report = json.loads((path / "patient.json").read_text())
            bad = aiounit_cli("discover", cwd=path, env={"AIOUNIT_BLOCKED_LOOP_THRESHOLD": "x"})
        self.assertEqual(strict.returncode, 1)
        self.assertRegex(
            strict.stderr.rstrip().splitlines()[-1], r"^1 passed, 0 failed, 3 errors in "
        )
        self.assertEqual(off.returncode, 0, off.stderr)
        self.assertNotIn("WARNING:", off.stderr)
        blocked = [r["findings"] for r in report["tests"] if r["id"].endswith("blocks_the_loop")]
        self.assertEqual(blocked, [[]])
        self.assertEqual(bad.returncode, 1)
        self.assertIn("[bad-blocked-loop-threshold]", bad.stderr)

    def test_under_python_m_unittest(self) -> None:
        with example("resources") as path:
            plain = run("unittest", "-v", cwd=path)
        self.assertEqual(plain.returncode, 1)
        for name in ("test_1_drops_a_socket", "test_2_leaves_a_server", "test_3_blocks_the_loop"):
            self.assertIn(f"{name} (test_resources.Leftovers.{name}) ... ERROR", plain.stderr)
        self.assertIn("test_4_clean (test_resources.Leftovers.test_4_clean) ... ok", plain.stderr)
        self.assertIn(
            "CheckWarning: test_resources.Leftovers.test_1_drops_a_socket: unclosed <socket",
            plain.stderr,
        )
        self.assertIn("test_2_leaves_a_server left a server listening on", plain.stderr)
        self.assertIn("ran for 0.3", plain.stderr)
