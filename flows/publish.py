"""Writing a snapshot: every file into a hidden folder, then one rename makes it `out/<D>/`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from reports.spreadsheet import inert_text


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_frames(folder: Path, frames: dict[str, pl.DataFrame]) -> dict[str, dict]:
    """Write each frame by file name (.parquet or .csv); rows and sha256 of each."""
    written = {}
    for name, frame in frames.items():
        path = folder / name
        if name.endswith(".parquet"):
            frame.write_parquet(path, compression="zstd", statistics=True)
        else:
            frame.write_csv(path, datetime_format="%Y-%m-%dT%H:%M:%S%.f%:z")
        written[name] = {"rows": frame.height, "sha256": sha256_of(path)}
    return written


class ParquetAppender:
    """One parquet file written part by part (row groups), for outputs too big to hold at once."""

    def __init__(self, path: Path):
        self.path, self.writer, self.rows = path, None, 0

    def append(self, frame: pl.DataFrame) -> None:
        table = frame.to_arrow()
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self.writer.write_table(table)
        self.rows += frame.height

    def close(self, empty: pl.DataFrame) -> dict:
        if self.writer is None:
            empty.write_parquet(self.path, compression="zstd")
        else:
            self.writer.close()
        return {"rows": self.rows, "sha256": sha256_of(self.path)}


FAILED_DIR = "failed"


def write_failure(data_dir: Path, as_of, rows: pl.DataFrame) -> Path:
    """The exception rows that stopped the run of D, for the operator: DIR/failed/<D>/exceptions.csv."""
    folder = data_dir / FAILED_DIR / str(as_of)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "exceptions.csv"
    inert_text(rows).write_csv(path)
    return path


def partial_folder(out_root: Path, name: str) -> Path:
    """A fresh hidden folder to write the outputs of `name` into before publishing."""
    out_root.mkdir(parents=True, exist_ok=True)
    staging = out_root / f".{name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def publish_folder(
    out_root: Path, name: str, frames: dict[str, pl.DataFrame], manifest: dict, written: dict[str, dict] | None = None
) -> Path:
    """Write the frames beside what is `written` already under out_root/.name.partial, then swap
    it in as out_root/name."""
    staging = out_root / f".{name}.partial"
    if not staging.exists():
        staging = partial_folder(out_root, name)
    manifest["outputs"] = {**(written or {}), **write_frames(staging, frames)}
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    final = out_root / name
    previous = out_root / f".{name}.previous"
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        final.rename(previous)
    staging.rename(final)
    if previous.exists():
        shutil.rmtree(previous)
    return final
