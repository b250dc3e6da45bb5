"""Start one measured process, wait for it, and write down its wall time and its own peak RSS.

Usage: python -I -S launcher.py RESULT_FILE TIMEOUT_SECONDS PROGRAM [ARG ...]

Linux counts the memory of the process that started a child in the child's ru_maxrss: the
peak is kept across fork and exec (and vfork shares the parent's memory outright). Started
from the harness, every child would weigh at least as much as the harness. This launcher is
a bare interpreter (-S: no site) of a few MiB, far below any measured Python process, so the
figure it reads with wait4 is the child's own. It imports only built-in modules, and the
timing covers fork to exit, not the launcher's own start.
"""

import os
import signal
import sys
import time


def main(argv: list[str]) -> int:
    """Run argv[3:] and write "status wall maxrss_kib cpu timed_out" to argv[1]."""
    result_file, timeout, program = argv[1], float(argv[2]), argv[3:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            # Python ignores SIGPIPE; the measured program starts as a shell would start it.
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            os.execv(program[0], program)
        except OSError as error:
            os.write(2, f"launcher: cannot run {program[0]}: {error}\n".encode())
        finally:
            os._exit(127)
    timed_out = []

    def kill(signum: int, frame: object) -> None:
        timed_out.append(True)
        os.kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGALRM, kill)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    signal.setitimer(signal.ITIMER_REAL, 0)
    cpu = usage.ru_utime + usage.ru_stime
    with open(result_file, "w") as out:
        out.write(f"{status} {wall!r} {usage.ru_maxrss} {cpu!r} {int(bool(timed_out))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
