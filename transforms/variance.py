"""Variance of the recomputed snapshot against the operational loyalty system (RULES 11)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.checks import balance_variance, no_exceptions
from transforms.sqlrun import run_sql


def reported_on(operational: pl.DataFrame, as_of: dt.date) -> bool:
    """Whether D's folder brought operational balances at all (RULES 11: no file, no variance)."""
    return operational.filter(pl.col("folder") == as_of).height > 0


VARIANCE_ROWS = {"customer_id": pl.String, "code": pl.String, "bucket": pl.String, "recomputed": pl.Int64,
                 "operational": pl.Int64}
"""grain [customer_id, code, bucket]: one difference, with both sides (a missing side is null)."""


def variance(
    balances: pl.DataFrame, operational: pl.DataFrame, as_of: dt.date, reported: bool | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(exception rows, VARIANCE_ROWS) for D; none when no balances file arrived in D's folder.

    `reported`: `reported_on` the whole inbox. A part of the customers must be told: its own rows
    of D's file may be none while its customers are still missing from that file."""
    todays = operational.filter(pl.col("folder") == as_of)
    if not (todays.height > 0 if reported is None else reported):
        return no_exceptions(), pl.DataFrame(schema=VARIANCE_ROWS)
    found = run_sql(
        "variance",
        recomputed=balances.select("customer_id", "available_points", "pending_points"),
        reported=todays.select("customer_id", "available_points", "pending_points", "source_file", "source_row"),
    )
    rows = found.select(
        "customer_id", "code", "bucket", pl.col("recomputed_points").alias("recomputed"),
        pl.col("operational_points").alias("operational"),
    ).cast(VARIANCE_ROWS)
    return balance_variance(found), rows
