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


def inbox_files(data_dir: Path, as_of: dt.date) -> list[InboxFile]:
    """Every export file in inbox folders dated <= D, in arrival order (folder, then name)."""
    inbox = data_dir / "inbox"
    if not inbox.is_dir():
        return []
    found = []
    for folder in sorted(inbox.iterdir()):
        try:
            folder_date = dt.date.fromisoformat(folder.name)
        except ValueError:
            log.warning("ignoring %s: not an inbox folder named YYYY-MM-DD", folder)
            continue
        if not folder.is_dir() or folder_date > as_of:
            continue
        for path in sorted(folder.iterdir()):
            kind = kind_of(path.name)
            if kind is None:
                log.warning("ignoring %s: not a known export (orders, returns, ...) as .csv or .parquet", path)
                continue
            found.append(InboxFile(path, path.relative_to(data_dir).as_posix(), folder_date, kind))
    return found


def _csv_text(file: InboxFile, dialect: CsvDialect) -> pl.DataFrame:
    data = file.path.read_bytes()
    try:
        text = data.decode("utf-8-sig" if dialect.encoding.lower().replace("_", "-") == "utf-8" else dialect.encoding)
    except (UnicodeDecodeError, LookupError) as problem:
        raise InputFileError(f"{file.relative}: not readable as {dialect.encoding} ({problem})") from None
    if not text.strip():
        raise InputFileError(f"{file.relative}: the file is empty (not even a header row)")
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


def _parquet_text(file: InboxFile) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(file.path)
    except Exception as problem:
        raise InputFileError(f"{file.relative}: cannot be read as parquet ({type(problem).__name__})") from None
    return frame.select(_as_text(frame.get_column(name)).alias(name) for name in frame.columns)


def read_raw(file: InboxFile, dialects: list[tuple[str, CsvDialect]]) -> pl.DataFrame:
    """The file's kind columns as text plus source_file, source_row (1-based data row), folder."""
    kind = EXPORT_KINDS[file.kind]
    if file.path.suffix.lower() == ".parquet":
        frame = _parquet_text(file)
        dialect = CsvDialect()
    else:
        dialect = dialect_for(file.path.name, dialects)
        frame = _csv_text(file, dialect)
    frame = frame.rename({name: name.strip().lower() for name in frame.columns})
    missing = [name for name in kind.required_columns if name not in frame.columns]
    if missing:
        raise InputFileError(f"{file.relative}: lacks required column(s) {', '.join(missing)}")
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
