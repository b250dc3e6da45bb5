"""Keep the virtual environment that holds the peers, benchmarks/.venv, up to date."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
VENV_DIR = BENCH_DIR / ".venv"
REQUIREMENTS = BENCH_DIR / "requirements.txt"
_STAMP = VENV_DIR / "bench-requirements.sha256"


@dataclasses.dataclass(frozen=True)
class Interpreter:
    """The python that runs every measured process, and what went wrong getting it."""

    python: str
    notes: tuple[str, ...] = ()


def ensure_venv(log: bool = True) -> Interpreter:
    """Create or update benchmarks/.venv from requirements.txt and return its python.

    A requirement that fails to install is left out with a note: its framework then
    fails its probe and is skipped. Without a venv at all, this python is used.
    """
    python = VENV_DIR / "bin" / "python"
    stamp = _stamp()
    if python.exists() and _STAMP.exists() and _STAMP.read_text() == stamp:
        return Interpreter(str(python))
    if log:
        print(f"bench: installing the peers into {VENV_DIR} ...", file=sys.stderr, flush=True)
    # Start clean: the pins or the interpreter changed, and a venv cannot change its python.
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--clear", str(VENV_DIR)], capture_output=True, text=True
    )
    if made.returncode != 0:
        note = (
            f"could not create {VENV_DIR} ({_tail(made.stderr)}); peers are skipped and "
            f"every framework runs on {sys.executable}"
        )
        return Interpreter(sys.executable, (note,))
    install_log = VENV_DIR / "install.log"
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    with open(install_log, "w") as out:
        whole = subprocess.run([*pip, "-r", str(REQUIREMENTS)], stdout=out, stderr=out)
    if whole.returncode == 0:
        _STAMP.write_text(stamp)
        return Interpreter(str(python))
    # One broken pin must not cost the others: install them one at a time, still pinned.
    failed = []
    for requirement in _requirements():
        with open(install_log, "a") as out:
            one = subprocess.run(
                [*pip, "-c", str(REQUIREMENTS), requirement], stdout=out, stderr=out
            )
        if one.returncode != 0:
            failed.append(requirement)
    notes = tuple(f"{r} failed to install (see {install_log})" for r in failed)
    return Interpreter(str(python), notes)


def _requirements() -> list[str]:
    """The requirement lines of requirements.txt, without comments."""
    lines = (line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line]


def _stamp() -> str:
    """A digest of the pins and the interpreter: when either changes, the venv is updated."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _tail(text: str) -> str:
    """The last non-blank line of text."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"
