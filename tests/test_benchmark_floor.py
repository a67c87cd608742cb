"""The benchmark's writing floor writes what a published night holds, all of it, part by part."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pyarrow.parquet as pq

from benchmarks.floor import written
from flows.nightly import CODED
from flows.publish import ParquetAppender
from schemas.outputs import LOT_SCHEMA, MOVEMENT_SCHEMA

AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
MOVEMENTS = [  # two parts: C1's earn and maturity, then C2's redemption
    [(AT, dt.date(2026, 3, 2), "C1", "earn:O1", "earn", "pending", 70, "order", "O1")],
    [(AT, dt.date(2026, 3, 16), "C1", "earn:O1", "mature", "pending", -70, "lot", "earn:O1"),
     (AT, dt.date(2026, 3, 16), "C1", "earn:O1", "mature", "available", 70, "lot", "earn:O1"),
     (AT, dt.date(2026, 3, 20), "C2", None, "debt", "debt", 5, "order", "O2")],
]
LOTS = [
    [("earn:O1", "C1", "earn", AT, AT, AT, 7, Decimal("1000.00"), 70, 70, "available")],
    [],
]


def _published(folder):
    for name, parts, schema in (("movements", MOVEMENTS, MOVEMENT_SCHEMA), ("lots", LOTS, LOT_SCHEMA)):
        appender = ParquetAppender(folder / f"{name}.parquet", CODED[name])
        for rows in parts:
            appender.append(pl.DataFrame(rows, schema=schema, orient="row"))
        appender.close(pl.DataFrame(schema=schema))


def test_every_row_of_every_part_is_written_again(tmp_path):
    published, into = tmp_path / "out", tmp_path / "again"
    published.mkdir()
    into.mkdir()
    _published(published)
    measured = written(published, into)
    assert measured["rows"] == {"movements": 4, "lots": 1}
    assert set(measured["by_file"]) == {"movements", "lots"}
    for name in ("movements", "lots"):
        assert pl.read_parquet(into / f"{name}.parquet").equals(pl.read_parquet(published / f"{name}.parquet"))
    assert pq.ParquetFile(into / "movements.parquet").num_row_groups == 2  # as the flow wrote it: part by part
