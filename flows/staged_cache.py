"""Staged rows of each inbox file, cached by the file's sha256 under DIR/.staged/<code version>/.

Files not seen before are staged in batches of one kind (memory: one batch's text) and cached
file by file; a nightly run stages only those (normally one day's) and reads the rest back typed. Any change of the code
(its version) starts a new cache: staged rows never outlive the rules that made them. Entries are
written durably (`flows.durable`); one that does not read back is staged again.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from flows.durable import clear_temporaries, parquet_reads, write_durably, write_text_durably
from flows.inbox import CsvDialect, InboxFile, read_raw
from flows.progress import tell
from flows.publish import sha256_of
from transforms.checks import FOUND_SCHEMA, concat_exceptions, empty_files
from schemas.inputs import EXPORT_KINDS
from transforms.staging import empty_raw, stage_export

CACHE_DIR = ".staged"
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


class StagedCache:
    def __init__(self, data_dir: Path, code_version: str):
        self.root = data_dir / CACHE_DIR / code_version.replace("/", "_")
        for stale in (data_dir / CACHE_DIR).glob("*") if (data_dir / CACHE_DIR).exists() else []:
            if stale != self.root:
                shutil.rmtree(stale, ignore_errors=True)
        for kind in self.root.glob("*") if self.root.exists() else []:
            if kind.is_dir():
                clear_temporaries(kind)

    def _paths(self, file: InboxFile, digest: str) -> tuple[Path, Path, Path]:
        # the same bytes may sit in two folders: the folder and path are part of every row
        stem = self.root / file.kind / f"{digest}-{file.relative.replace('/', '_')}"
        return stem.with_suffix(".accepted.parquet"), stem.with_suffix(".rejected.parquet"), stem.with_suffix(".rows")

    def stage(self, files: list[InboxFile], dialects: list[tuple[str, CsvDialect]]) -> list[StagedFile]:
        """Every file's staged rows and SCHEMA rows, from the cache or staged now.

        Files not seen before are staged in batches of one kind (one validation per batch, not
        per file), then cached file by file."""
        known, todo = {}, []
        for file in files:
            digest = sha256_of(file.path)
            entry = self._entry(file, digest)
            if entry is None:
                todo.append((file, digest))
            else:
                known[file] = entry
        done = rows = 0
        for batch in _batches(todo):
            staged = self._stage_batch(batch, dialects)
            known.update(staged)
            done += len(batch)
            rows += sum(entry.rows_read for entry in staged.values())
            if len(todo) > PROGRESS_FROM_FILES:
                tell(f"staged {done} of {len(todo)} new inbox files", done, len(todo), rows)
        return [known[file] for file in files]

    def _entry(self, file: InboxFile, digest: str) -> StagedFile | None:
        """The cached entry of a file, if it is whole; a broken one is removed (and staged again)."""
        accepted, rejected, counted = self._paths(file, digest)
        try:
            rows = int(counted.read_text())
        except (OSError, ValueError):
            rows = None
        if rows is not None and parquet_reads(accepted) and parquet_reads(rejected):
            return StagedFile(file, digest, accepted, rejected, rows, True)
        for broken in (accepted, rejected, counted):
            broken.unlink(missing_ok=True)
        return None

    def _stage_batch(self, batch: list[tuple[InboxFile, str]], dialects) -> dict[InboxFile, StagedFile]:
        raws = [read_raw(file, dialects) for file, _ in batch]
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
            for frame, path in ((typed_by_file.get((file.relative,), typed.clear()), accepted), (found, rejected)):
                write_durably(path, frame.write_parquet)
            write_text_durably(counted, str(raw.height))  # last: the entry counts once it is there
            staged[file] = StagedFile(file, digest, accepted, rejected, raw.height, False)
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
    """Staged rows of `kinds` in arrival order (the files are), and the SCHEMA rows of all files."""
    staged = {}
    arrival = arrival_enum(files)
    for name in kinds:
        parts = [f.accepted for f in files if f.file.kind == name]
        if parts:
            staged[name] = pl.concat(
                [pl.read_parquet(p).with_columns(pl.col("source_file").cast(arrival)) for p in parts],
                how="vertical_relaxed",
            )
        else:
            staged[name] = no_rows(name, arrival)
    rejected = [pl.read_parquet(f.rejected) for f in files]
    rejected = pl.concat(rejected, how="vertical_relaxed") if rejected else pl.DataFrame(schema=FOUND_SCHEMA)
    return staged, rejected.select([pl.col(c).cast(t) for c, t in FOUND_SCHEMA.items()])


def no_rows(kind: str, arrival: pl.Enum) -> pl.DataFrame:
    """The staged frame of a kind of which no file arrived."""
    frame = stage_export(EXPORT_KINDS[kind], empty_raw(EXPORT_KINDS[kind]))[0]
    return frame.with_columns(pl.col("source_file").cast(arrival))
