"""Reading the inbox: `DIR/inbox/<YYYY-MM-DD>/<kind>*.csv|.parquet` -> raw text frames.

I/O only. Every cell comes out as text (null when empty), with where it came from; the column
rules are the staging step's business. A file that cannot be read, or lacks a required column,
raises InputFileError naming the file: the run stops and publishes nothing (RULES 12).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import io
import logging
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from schemas.formats import AMOUNT, INTEGER
from schemas.inputs import EXPORT_KINDS

log = logging.getLogger(__name__)

SOURCES_FILE = "sources.toml"
"""Optional, in the data dir: per-file-pattern CSV dialects, e.g. the 1C export."""


class InputFileError(RuntimeError):
    """An inbox file that cannot be used at all."""


@dataclass(frozen=True)
class CsvDialect:
    separator: str = ","
    encoding: str = "utf-8"
    decimal_comma: bool = False


@dataclass(frozen=True)
class InboxFile:
    path: Path
    relative: str
    folder: dt.date
    kind: str


@dataclass(frozen=True)
class Skipped:
    """An entry of the inbox that is not an export: reported (SKIPPED_INPUT), never read."""

    relative: str
    folder: dt.date | None
    reason: str


FOLDER_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def load_dialects(data_dir: Path) -> list[tuple[str, CsvDialect]]:
    """(file-name pattern, dialect) pairs from DIR/sources.toml; the first match wins."""
    config = data_dir / SOURCES_FILE
    if not config.exists():
        return []
    try:
        doc = tomllib.loads(config.read_text())
        return [
            (
                str(source["match"]),
                CsvDialect(
                    separator=str(source.get("separator", ",")),
                    encoding=str(source.get("encoding", "utf-8")),
                    decimal_comma=bool(source.get("decimal_comma", False)),
                ),
            )
            for source in doc.get("source", [])
        ]
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as problem:
        raise InputFileError(f"{config}: unreadable source configuration ({problem})") from None


def dialect_for(name: str, dialects: list[tuple[str, CsvDialect]]) -> CsvDialect:
    for pattern, dialect in dialects:
        if fnmatch.fnmatch(name, pattern):
            return dialect
    return CsvDialect()


def kind_of(name: str) -> str | None:
    stem = name.lower()
    if not (stem.endswith(".csv") or stem.endswith(".parquet")):
        return None
    return next((kind for kind in EXPORT_KINDS if stem.startswith(kind)), None)


def folder_date(name: str) -> dt.date | None:
    """The date of an inbox folder named YYYY-MM-DD exactly (not 20260320, not 2026-W12-5)."""
    if not FOLDER_NAME.match(name):
        return None
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None


def inbox_files(data_dir: Path, as_of: dt.date) -> list[InboxFile]:
    """Every export file in inbox folders dated <= D, in arrival order (folder, then name)."""
    return scan_inbox(data_dir, as_of)[0]


def scan_inbox(data_dir: Path, as_of: dt.date) -> tuple[list[InboxFile], list[Skipped]]:
    """The export files of folders dated <= D, in arrival order (folder, then name), and what the
    inbox holds besides (skipped: a folder not named YYYY-MM-DD, a file of no known kind). Every
    night lists the whole inbox (thousands of files after a few years): one directory read per
    folder, no path arithmetic per file."""
    inbox = data_dir / "inbox"
    if not inbox.is_dir():
        return [], []
    found, skipped = [], []
    for folder in _listed(inbox):
        relative = f"inbox/{folder.name}"
        day = folder_date(folder.name) if folder.is_dir() else None
        if day is None:
            what = "folder" if folder.is_dir() else "file"
            skipped.append(Skipped(relative, None, f"{what} {folder.name!r} is not an inbox folder named YYYY-MM-DD"))
            continue
        if day > as_of:
            continue
        parent = inbox / folder.name
        for entry in _listed(parent):
            kind = kind_of(entry.name) if entry.is_file() else None
            if kind is None:
                skipped.append(Skipped(f"{relative}/{entry.name}", day,
                                       f"{entry.name!r} is not an export (orders, returns, customers, promotions, "
                                       "adjustments or balances, as .csv or .parquet)"))
                continue
            found.append(InboxFile(parent / entry.name, f"{relative}/{entry.name}", day, kind))
    return found, skipped


def _listed(folder: Path) -> list[os.DirEntry]:
    """A folder's entries by name (symbolic links followed, as for any path)."""
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _csv_text(file: InboxFile, dialect: CsvDialect) -> pl.DataFrame:
    data = file.path.read_bytes()
    try:
        text = data.decode("utf-8-sig" if dialect.encoding.lower().replace("_", "-") == "utf-8" else dialect.encoding)
    except (UnicodeDecodeError, LookupError) as problem:
        raise InputFileError(f"{file.relative}: not readable as {dialect.encoding} ({problem})") from None
    if not text.strip():
        return None  # a 0-byte export: nothing to export that day (read_raw says so)
    try:
        return pl.read_csv(
            io.StringIO(text), separator=dialect.separator, infer_schema=False, has_header=True,
            truncate_ragged_lines=False, raise_if_empty=True,
        )
    except Exception as problem:  # polars raises several kinds for a malformed CSV
        first_line = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
        raise InputFileError(f"{file.relative}: cannot be parsed as CSV ({first_line})") from None


def _as_text(column: pl.Series) -> pl.Series:
    """A typed parquet column as the text an export would carry (naive timestamps stay naive)."""
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return column.dt.strftime("%Y-%m-%dT%H:%M:%S%.f")
        return column.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.f+00:00")
    if dtype == pl.Boolean:
        return column.cast(pl.String).str.to_lowercase()
    return column.cast(pl.String)


def _parquet_text(file: InboxFile) -> pl.DataFrame | None:
    if file.path.stat().st_size == 0:
        return None
    try:
        frame = pl.read_parquet(file.path)
    except Exception as problem:  # polars and pyarrow raise several kinds for a damaged file
        detail = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
        raise InputFileError(f"{file.relative}: not a readable parquet file, truncated or damaged ({detail})") from None
    return frame.select(_as_text(frame.get_column(name)).alias(name) for name in frame.columns)


def read_raw(file: InboxFile, dialects: list[tuple[str, CsvDialect]]) -> pl.DataFrame:
    """The file's kind columns as text plus source_file, source_row (1-based data row), folder.
    A 0-byte file reads as a header-only one: a shop system's way of saying it had nothing to export."""
    kind = EXPORT_KINDS[file.kind]
    if file.path.suffix.lower() == ".parquet":
        frame = _parquet_text(file)
        dialect = CsvDialect()
    else:
        dialect = dialect_for(file.path.name, dialects)
        frame = _csv_text(file, dialect)
    if frame is None:
        frame = pl.DataFrame(schema={name: pl.String for name in kind.required_columns})
    frame = frame.rename({name: name.strip().lower() for name in frame.columns})
    missing = [name for name in kind.required_columns if name not in frame.columns]
    if missing:
        hint = ""
        if len(frame.columns) == 1 and ";" in frame.columns[0] and dialect.separator != ";":
            hint = (f"; its header looks ';'-separated: declare its source in {SOURCES_FILE} of the data directory "
                    f"([[source]] match = \"{file.path.name}\", separator = \";\"; see docs/interfaces.md)")
        raise InputFileError(f"{file.relative}: lacks required column(s) {', '.join(missing)}{hint}")
    numeric = [name for name, (fmt, _) in kind.columns.items() if fmt in (AMOUNT, INTEGER)]
    if dialect.decimal_comma:
        frame = frame.with_columns(
            pl.col(name).str.replace_all(r"[\s\u00a0]", "").str.replace(",", ".", literal=True) for name in numeric
        )
    return frame.select(list(kind.required_columns)).with_columns(
        pl.lit(file.relative).alias("source_file"),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("source_row"),
        pl.lit(file.folder).alias("folder"),
    )
