"""Staged rows of each inbox file, cached by the file's sha256 under DIR/.staged/<code version>/.

Staging one file at a time keeps memory to one file's text; a nightly run stages only the files
it has not seen (normally one day's), and reads the rest back typed. Any change of the code
(its version) starts a new cache: staged rows never outlive the rules that made them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from flows.inbox import CsvDialect, InboxFile, read_raw
from flows.publish import sha256_of
from schemas.inputs import EXPORT_KINDS
from transforms.exceptions import EXCEPTION_SCHEMA
from transforms.staging import stage_export

CACHE_DIR = ".staged"


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

    def stage(self, file: InboxFile, dialects: list[tuple[str, CsvDialect]]) -> StagedFile:
        """The file's staged rows and SCHEMA rows, staged now or read from the cache."""
        digest = sha256_of(file.path)
        # the same bytes may sit in two folders: the folder and path are part of every row
        stem = self.root / file.kind / f"{digest}-{file.relative.replace('/', '_')}"
        accepted, rejected = stem.with_suffix(".accepted.parquet"), stem.with_suffix(".rejected.parquet")
        counted = stem.with_suffix(".rows")
        if accepted.exists() and rejected.exists() and counted.exists():
            return StagedFile(file, digest, accepted, rejected, int(counted.read_text()), True)
        raw = read_raw(file, dialects)
        typed, schema_rows = stage_export(EXPORT_KINDS[file.kind], raw)
        stem.parent.mkdir(parents=True, exist_ok=True)
        for frame, path in ((typed, accepted), (schema_rows, rejected)):
            frame.write_parquet(path.with_suffix(".tmp"))
            path.with_suffix(".tmp").rename(path)
        counted.write_text(str(raw.height))
        return StagedFile(file, digest, accepted, rejected, raw.height, False)


def load_staged(files: list[StagedFile]) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Every kind's staged rows in arrival order (the files are), and all SCHEMA rows."""
    staged = {}
    for name, kind in EXPORT_KINDS.items():
        parts = [f.accepted for f in files if f.file.kind == name]
        if parts:
            staged[name] = pl.concat([pl.read_parquet(p) for p in parts], how="vertical_relaxed")
        else:
            empty = {c: pl.String for c in kind.columns} | {"source_file": pl.String, "source_row": pl.Int64, "folder": pl.Date}
            staged[name] = stage_export(kind, pl.DataFrame(schema=empty))[0]
    rejected = [pl.read_parquet(f.rejected) for f in files]
    rejected = pl.concat(rejected, how="vertical_relaxed") if rejected else pl.DataFrame(schema=EXCEPTION_SCHEMA)
    return staged, rejected.select([pl.col(c).cast(t) for c, t in EXCEPTION_SCHEMA.items()])
