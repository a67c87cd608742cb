"""Staged rows of each inbox file, cached by the file's sha256 under DIR/.staged/<staging version>+<dialects>/.

Files not seen before are staged in batches of one kind (memory: one batch's text) and cached
file by file; a nightly run stages only those (normally one day's) and reads the rest back typed. Any change of
the code that stages (`STAGING_CODE`, the libraries that parse and write the rows) or of the CSV
dialects declared in DIR/sources.toml starts a new cache: staged rows never outlive the code or the
reading that made them (a source declared anew is read anew). A change of the rest of the code (the
ledger, finance, reports, the flow) keeps the cache: the next night recomputes from it. Entries are
written durably (`flows.durable`: each file flushed, its folder once a batch); one that does not
read back whole is staged again. An entry's `.rows` file, written last, holds the rows read and
the exception rows found; a file without exception rows has no `.rejected.parquet`.

`files.json` remembers each inbox file's size, modification time, sha256 and row counts: a file
seen before and unchanged is neither read nor hashed again, so a night's fixed cost grows with
what is new, not with the history. A changed file (same name, other size or time) is hashed
again: new bytes are a new delivery, staged afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from flows.durable import (
    clear_temporaries, fsync_path, parquet_reads, sha256_of, write_durably, write_text_durably,
)
from flows.inbox import CsvDialect, InboxFile, load_dialects, read_raw
from flows.progress import tell
from transforms.checks import FOUND_SCHEMA, concat_exceptions, empty_files
from schemas.inputs import EXPORT_KINDS
from transforms.rules import Rules, default_rules
from transforms.staging import empty_raw, stage_export, staging_rules

CACHE_DIR = ".staged"
BATCHES_AT_ONCE = 2
"""Batches staged side by side: one alone keeps the machine's two cores about 70% busy."""
PROGRESS_FROM_FILES = 50
"""Staging this many new files or more (a first load) tells its progress (flows.progress)."""


@dataclass(frozen=True)
class StagedFile:
    file: InboxFile
    sha256: str
    accepted: Path
    rejected: Path
    rows_read: int
    cached: bool
    rejected_rows: int
    """exception rows found while staging it (SCHEMA, EMPTY_FILE): most files have none"""


class BrokenCacheEntry(RuntimeError):
    """Cached rows that no longer read back; `files` are to be staged again."""

    def __init__(self, files: list[StagedFile]):
        super().__init__(f"{len(files)} staged cache entries do not read back")
        self.files = files


PROJECT_DIR = Path(__file__).resolve().parents[1]
STAGING_CODE = (
    "flows/durable.py", "flows/inbox.py", "flows/progress.py", "flows/staged_cache.py", "flows/staged_store.py",
    "schemas/codes.py", "schemas/formats.py", "schemas/inputs.py",
    "transforms/arrival.py", "transforms/calendar.py", "transforms/checks.py", "transforms/money.py",
    "transforms/partition.py", "transforms/rules.py", "transforms/staging.py",
)
"""The files whose code makes what the cache holds (the staged rows, the segments, the order map):
every project module that staging and the segment store import. A test keeps it complete. Of the
rules file only the values staging reads are part of the key (`transforms.staging.STAGING_RULES`)."""
STAGING_LIBRARIES = ("polars", "pyarrow", "pandera")
"""The libraries that parse, check and write the staged rows: another release starts a new cache."""


def staging_version(root: Path = PROJECT_DIR, rules: Rules | None = None) -> str:
    """A digest of `STAGING_CODE` as it is on disk under `root` (committed or not), of the rules
    staging reads (`rules`, default: the project's) and of the libraries' releases: the cache's
    key besides the dialects."""
    digest = hashlib.sha256()
    for name in STAGING_CODE:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    digest.update(repr(sorted(staging_rules(rules or default_rules()).items())).encode() + b"\0")
    for library in STAGING_LIBRARIES:
        digest.update(f"{library}=={metadata.version(library)}\0".encode())
    return f"staging-{digest.hexdigest()[:10]}"


def dialects_version(dialects: list[tuple[str, CsvDialect]]) -> str:
    """A digest of the CSV dialects as read from DIR/sources.toml (not its text: a comment is no change)."""
    return hashlib.sha256(repr(dialects).encode()).hexdigest()[:10]


class StagedCache:
    def __init__(self, data_dir: Path, version: str):
        self.dialects = load_dialects(data_dir)
        """how CSV files are read: part of the cache's key, and what `stage` reads new files with"""
        version = f"{version}+{dialects_version(self.dialects)}"
        self.root = data_dir / CACHE_DIR / version.replace("/", "_")
        for stale in (data_dir / CACHE_DIR).glob("*") if (data_dir / CACHE_DIR).exists() else []:
            if stale != self.root:
                shutil.rmtree(stale, ignore_errors=True)
        for kind in self.root.glob("*") if self.root.exists() else []:
            if kind.is_dir():
                clear_temporaries(kind)
        self.index_path = self.root / "files.json"
        try:
            self.index = json.loads(self.index_path.read_text())
        except (OSError, ValueError):
            self.index = {}

    def _paths(self, file: InboxFile, digest: str, folder: Path | None = None) -> tuple[Path, Path, Path]:
        # the same bytes may sit in two folders: the folder and path are part of every row
        folder = folder or self.root / file.kind
        stem = f"{digest}-{os.path.splitext(file.relative.replace('/', '_'))[0]}"
        return folder / f"{stem}.accepted.parquet", folder / f"{stem}.rejected.parquet", folder / f"{stem}.rows"

    def stage(self, files: list[InboxFile]) -> list[StagedFile]:
        """Every file's staged rows and SCHEMA rows, from the cache or staged now (new files read
        with the dialects the cache is keyed on).

        Files not seen before are staged in batches of one kind (one validation per batch, not
        per file), then cached file by file."""
        known, todo, listed = {}, [], {}
        statuses = {file.relative: file.path.stat() for file in files}  # before reading: a later change is new
        for file in files:
            entry = self._unchanged(file, statuses[file.relative], listed)
            if entry is None:
                digest = sha256_of(file.path)
                entry = self._entry(file, digest)
                if entry is None:
                    todo.append((file, digest))
                    continue
            known[file] = entry
        done = rows = 0

        def finish(batch, staging) -> None:
            nonlocal done, rows
            staged = staging.result()
            known.update(staged)
            done += len(batch)
            rows += sum(entry.rows_read for entry in staged.values())
            if len(todo) > PROGRESS_FROM_FILES:
                tell(f"staged {done} of {len(todo)} new inbox files", done, len(todo), rows)

        with ThreadPoolExecutor(BATCHES_AT_ONCE) as pool:  # a failure waits for the one batch beside it only
            running = deque()
            for batch in _batches(todo):
                running.append((batch, pool.submit(self._stage_batch, batch)))
                if len(running) == BATCHES_AT_ONCE:
                    finish(*running.popleft())
            while running:
                finish(*running.popleft())
        entries = [known[file] for file in files]
        self._remember(entries, statuses)
        return entries

    def _unchanged(self, file: InboxFile, status: os.stat_result, listed: dict[str, tuple[Path, set[str]]]
                   ) -> StagedFile | None:
        """The entry of a file seen before, as long as its size and modification time are the same
        and its entry is still there (`listed`: each kind's folder and the names in it, read once a run)."""
        seen = self.index.get(file.relative)
        if seen is None:
            return None
        if (seen["size"], seen["mtime_ns"]) != (status.st_size, status.st_mtime_ns):
            return None
        if file.kind not in listed:
            folder = self.root / file.kind
            listed[file.kind] = folder, set(os.listdir(folder)) if folder.is_dir() else set()
        folder, names = listed[file.kind]
        accepted, rejected, counted = self._paths(file, seen["sha256"], folder)
        if counted.name not in names:
            return None
        return StagedFile(file, seen["sha256"], accepted, rejected, seen["rows"], True, seen["rejected"])

    def _remember(self, entries: list[StagedFile], statuses: dict[str, os.stat_result]) -> None:
        index = {}
        for entry in entries:
            status = statuses[entry.file.relative]
            index[entry.file.relative] = {"size": status.st_size, "mtime_ns": status.st_mtime_ns,
                                          "sha256": entry.sha256, "rows": entry.rows_read,
                                          "rejected": entry.rejected_rows}
        if index != self.index:
            write_text_durably(self.index_path, json.dumps(index, sort_keys=True))
            self.index = index

    def gathered(self, files: list[StagedFile], kind: str) -> pl.DataFrame | None:
        """Every staged row of one kind, in arrival order (see `_gathered`)."""
        return self._gathered(kind, [f for f in files if f.file.kind == kind], lambda f: f.accepted)

    def _gathered(self, name: str, entries: list[StagedFile], path_of) -> pl.DataFrame | None:
        """The rows of the entries' files `path_of`, in their order, from one gathered file instead
        of one per inbox file: a night reads the gathered rows and the new files' only. The manifest
        names the gathered file, written first, so a crash between the two leaves the old pair."""
        if not entries:
            return None
        key = [[f.file.relative, f.sha256] for f in entries]
        folder = self.root / "gathered"
        folder.mkdir(parents=True, exist_ok=True)
        manifest = folder / f"{name}.json"
        try:
            saved = json.loads(manifest.read_text())
            data = folder / saved["file"]
            reused = len(saved["files"]) if key[:len(saved["files"])] == saved["files"] and parquet_reads(data) else 0
        except (OSError, ValueError, KeyError, TypeError):
            reused = 0
        fresh = [read_or_broken(f, path_of(f)) for f in entries[reused:]]
        if any(frame is None for frame in fresh):
            raise BrokenCacheEntry([f for f, frame in zip(entries[reused:], fresh) if frame is None])
        frames = [pl.read_parquet(data)] if reused else []
        frame = pl.concat(frames + [f.with_columns(pl.col("source_file").cast(pl.String)) for f in fresh],
                          how="vertical_relaxed")
        if fresh:
            file_name = f"{name}-{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]}.parquet"
            write_durably(folder / file_name, frame.write_parquet)
            write_text_durably(manifest, json.dumps({"file": file_name, "files": key}))
            for stale in folder.glob(f"{name}-*.parquet"):
                if stale.name != file_name:
                    stale.unlink(missing_ok=True)
        return frame

    def load(self, files: list[StagedFile], kinds) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
        """load_staged, each kind from its gathered file: what a night reads grows with what is new."""
        arrival = arrival_enum(files)
        staged = {}
        for name in kinds:
            frame = self.gathered(files, name)
            staged[name] = no_rows(name, arrival) if frame is None else frame.with_columns(
                pl.col("source_file").cast(arrival))
        found = self._gathered("found", [f for f in files if f.rejected_rows], lambda f: f.rejected)
        return staged, as_found(found)

    def forget(self, entries: list[StagedFile]) -> None:
        """Drop entries that do not read back: the next `stage` stages their files again."""
        for entry in entries:
            for path in self._paths(entry.file, entry.sha256):
                path.unlink(missing_ok=True)
            self.index.pop(entry.file.relative, None)

    def _entry(self, file: InboxFile, digest: str) -> StagedFile | None:
        """The cached entry of a file, if it is whole; a broken one is removed (and staged again)."""
        accepted, rejected, counted = self._paths(file, digest)
        try:
            rows, found = (int(n) for n in counted.read_text().split())
            whole = parquet_reads(accepted) and (found == 0 or pq.read_metadata(rejected).num_rows == found)
        except Exception:  # a missing, emptied or truncated entry: pyarrow raises several kinds
            whole = False
        if whole:
            return StagedFile(file, digest, accepted, rejected, rows, True, found)
        for broken in (accepted, rejected, counted):
            broken.unlink(missing_ok=True)
        return None

    def _stage_batch(self, batch: list[tuple[InboxFile, str]]) -> dict[InboxFile, StagedFile]:
        raws = [read_raw(file, self.dialects) for file, _ in batch]
        typed, schema_rows = stage_export(EXPORT_KINDS[batch[0][0].kind], pl.concat(raws, how="vertical_relaxed"))
        typed_by_file = typed.partition_by("source_file", as_dict=True, maintain_order=True)
        rejected_by_file = schema_rows.partition_by("source_file", as_dict=True, maintain_order=True)
        staged = {}
        for (file, digest), raw in zip(batch, raws):
            accepted, rejected, counted = self._paths(file, digest)
            accepted.parent.mkdir(parents=True, exist_ok=True)
            found = rejected_by_file.get((file.relative,), schema_rows.clear())
            if raw.height == 0 and not file.path.read_bytes().strip():  # 0 bytes, or only blank lines
                found = concat_exceptions([found, empty_files(pl.DataFrame(
                    {"source_file": [file.relative], "folder": [file.folder]}))])
            write_durably(accepted, typed_by_file.get((file.relative,), typed.clear()).write_parquet, flush_folder=False)
            if found.height:  # most files have none, and then no file
                write_durably(rejected, found.write_parquet, flush_folder=False)
            # last: the entry counts once it is there, and says how many rows each file holds
            write_text_durably(counted, f"{raw.height} {found.height}", flush_folder=False)
            staged[file] = StagedFile(file, digest, accepted, rejected, raw.height, False, found.height)
        for folder in {entry.accepted.parent for entry in staged.values()}:
            fsync_path(folder)
        return staged


BATCH_CSV_BYTES = 120 * 2**20  # about 1M order lines of CSV text
PARQUET_TO_CSV = 20  # a parquet export is about 20 times smaller than the same rows as CSV


def _batches(todo: list[tuple[InboxFile, str]]):
    """Consecutive files of one kind, up to about BATCH_CSV_BYTES of text each."""
    batch, size = [], 0
    for item in sorted(todo, key=lambda item: (item[0].kind, item[0].folder, item[0].relative)):
        if batch and (batch[0][0].kind != item[0].kind or size > BATCH_CSV_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item[0].path.stat().st_size * (PARQUET_TO_CSV if item[0].path.suffix == ".parquet" else 1)
    if batch:
        yield batch


def arrival_enum(files: list[StagedFile]) -> pl.Enum:
    """source_file as an Enum of the files in arrival order: 4 bytes a row instead of the path,
    and it still sorts in arrival order."""
    return pl.Enum([f.file.relative for f in files])


def load_staged(files: list[StagedFile], kinds=tuple(EXPORT_KINDS)) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Staged rows of `kinds` in arrival order (the files are), and the exception rows staging
    found in any file. Raises BrokenCacheEntry naming the entries that do not read back."""
    arrival = arrival_enum(files)
    read = {f: read_or_broken(f, f.accepted) for f in files if f.file.kind in kinds}
    broken = [f for f, frame in read.items() if frame is None]
    if broken:
        raise BrokenCacheEntry(broken)
    staged = {}
    for name in kinds:
        parts = [frame.with_columns(pl.col("source_file").cast(arrival)) for f, frame in read.items()
                 if f.file.kind == name]
        staged[name] = pl.concat(parts, how="vertical_relaxed") if parts else no_rows(name, arrival)
    return staged, _found_while_staging(files)


def read_or_broken(entry: StagedFile, path: Path) -> pl.DataFrame | None:
    """A cached file's rows; None when it does not read back."""
    try:
        return pl.read_parquet(path)
    except Exception:  # polars raises several kinds for a damaged file
        return None


def _found_while_staging(files: list[StagedFile]) -> pl.DataFrame:
    """The exception rows staging found (SCHEMA, EMPTY_FILE), read only from the files that have any."""
    rejected = [(f, read_or_broken(f, f.rejected)) for f in files if f.rejected_rows]
    broken = [f for f, frame in rejected if frame is None]
    if broken:
        raise BrokenCacheEntry(broken)
    frames = [frame for _, frame in rejected]
    return as_found(pl.concat(frames, how="vertical_relaxed") if frames else None)


def as_found(found: pl.DataFrame | None) -> pl.DataFrame:
    """Staging's exception rows in FOUND_SCHEMA (none: an empty frame)."""
    if found is None:
        return pl.DataFrame(schema=FOUND_SCHEMA)
    return found.select([pl.col(c).cast(t) for c, t in FOUND_SCHEMA.items()])


def no_rows(kind: str, arrival: pl.Enum) -> pl.DataFrame:
    """The staged frame of a kind of which no file arrived."""
    frame = stage_export(EXPORT_KINDS[kind], empty_raw(EXPORT_KINDS[kind]))[0]
    return frame.with_columns(pl.col("source_file").cast(arrival))
