"""State files written so that a crash leaves the old file or the new one, never half of one.

Each is written under a temporary name in its own folder, flushed to disk, then renamed over the
final name (a rename within a folder is atomic), and the folder is flushed so the rename lasts.
Readers treat a file that does not read back as missing, so a cache entry is rebuilt, not fatal.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq


def sha256_of(path: Path) -> str:
    """The file's sha256, read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file or a folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, write: Callable[[Path], None], flush_folder: bool = True) -> None:
    """`write(temporary)` fills a temporary file beside `path`, which then replaces `path`.
    `flush_folder=False`: the caller flushes the folder once after several files (the cache's
    entries, each of which is checked whole when read)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(temporary)
        fsync_path(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    if flush_folder:
        fsync_path(path.parent)


def write_text_durably(path: Path, text: str, flush_folder: bool = True) -> None:
    write_durably(path, lambda temporary: temporary.write_text(text), flush_folder)


def parquet_reads(path: Path) -> bool:
    """Whether a parquet file is whole (its footer reads back)."""
    try:
        pq.read_metadata(path)
        return True
    except Exception:  # pyarrow raises several kinds for a truncated or foreign file
        return False


def clear_temporaries(folder: Path) -> None:
    """Remove what a writer killed mid-write left under a temporary name."""
    for leftover in folder.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)
