"""Shared by the example's tests: note which process ran a test (PIDS_FILE, when set)."""

import os


def note_process(test):
    path = os.environ.get("PIDS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(f"{os.getpid()} {test.id()}\n")
