"""The order rows arrived in: folder, then file, then row. Staging and the history both sort by it."""

from __future__ import annotations

import polars as pl

ARRIVAL = ("folder", "source_file", "source_row")


def in_arrival_order(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame sorted by (folder, source_file, source_row), sorting only if it is not already.

    With source_file an Enum of the files in arrival order (`arrival_enum`: folder, then name),
    by one integer key, the file's place and the row: a third less than sorting on three columns."""
    if frame.height < 2:
        return frame
    if isinstance(frame.schema["source_file"], pl.Enum) and frame.select(
            pl.col("source_row").is_between(0, 2**32 - 1).all()).item():
        key = pl.col("source_file").to_physical().cast(pl.UInt64) * 2**32 + pl.col("source_row").cast(pl.UInt64)
        if frame.select(key).to_series().is_sorted():
            return frame
        return frame.sort(key, maintain_order=True)
    folder, file, row = (pl.col(c) for c in ARRIVAL)
    later = (folder > folder.shift()) | (folder == folder.shift()) & (
        (file > file.shift()) | (file == file.shift()) & (row > row.shift()))
    if frame.select(later.slice(1).all()).item():
        return frame
    return frame.sort(list(ARRIVAL), maintain_order=True)
