"""One run per data directory at a time: an exclusive lock on DIR/.lock.

The lock is the kernel's (flock), so a run that dies, even by kill -9, releases it with its last
file descriptor: a lock never outlives its holder. The file says who holds it, for the message of
a run that finds it taken. Re-entrant within a process (a backfill holds it around its nights).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = ".lock"
POLL_SECONDS = 1.0

_held: dict[Path, int] = {}
_guard = threading.Lock()


class DataDirBusy(RuntimeError):
    """Another run holds the data directory."""


def unwritable(data_dir: Path) -> str | None:
    """Why a run could not keep its state in DIR, if it could not (checked before anything starts)."""
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".write-probe-"):
            pass
    except OSError as problem:
        return f"data directory {data_dir} is not writable ({problem.strerror})"
    return None


def _holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return f"since {holder['since']} (pid {holder['pid']}, {holder['what']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "(holder unknown)"


@contextlib.contextmanager
def holding(data_dir: Path, what: str, wait_seconds: float = 0, waiting=None) -> Iterator[None]:
    """Hold DIR's lock for the block, waiting up to `wait_seconds` for another run to finish;
    `waiting(message)` is told once when it has to wait. Raises DataDirBusy after that."""
    path = (data_dir / LOCK_FILE).resolve()
    with _guard:
        if path in _held:
            _held[path] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DataDirBusy(f"another run holds {data_dir} {_holder(path)}") from None
                if waiting and not told:
                    waiting(f"waiting up to {wait_seconds:.0f} s for the run that holds {data_dir} {_holder(path)}")
                    told = True
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": what,
                                  "since": dt.datetime.now().astimezone().isoformat(timespec="seconds")}).encode(), 0)
        with _guard:
            _held[path] = 1
        try:
            yield
        finally:
            with _guard:
                del _held[path]
    finally:
        os.close(fd)  # releases the lock
