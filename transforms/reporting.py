"""Which exceptions a run reports (RULES 12): first seen in this run, plus the recurring ones."""

from __future__ import annotations

import datetime as dt

import polars as pl

from schemas.codes import EXCEPTION_SCHEMA, RECURRING_CODES
from transforms.sqlrun import run_sql

SEEN_SCHEMA = {"exception_key": pl.String, "first_seen": pl.Date}


def reported_exceptions(
    found: pl.DataFrame, seen: pl.DataFrame, as_of: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the exceptions to publish for D, every (exception_key, first_seen) to remember)."""
    dated = run_sql(
        "reported_exceptions",
        {"as_of": as_of, "recurring": sorted(RECURRING_CODES)},
        found=found.select(list(EXCEPTION_SCHEMA)),
        seen=seen.select(list(SEEN_SCHEMA)),
    )
    reported = dated.filter(pl.col("reported")).select(
        [pl.col(name).cast(dtype) for name, dtype in EXCEPTION_SCHEMA.items()]
    )
    remembered = dated.select("exception_key", pl.col("first_seen").cast(pl.Date)).unique("exception_key")
    return reported, remembered
