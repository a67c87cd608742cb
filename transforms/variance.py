"""Variance of the recomputed snapshot against the operational loyalty system (RULES 11)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.exceptions import EXCEPTION_SCHEMA, concat_exceptions, exception_rows
from transforms.sqlrun import run_sql

_MESSAGES = {
    "BALANCE_MISMATCH": pl.format(
        "{} points: recomputed {}, operational system {} (difference {})",
        "bucket", "recomputed_points", "operational_points", pl.col("recomputed_points") - pl.col("operational_points"),
    ),
    "MISSING_IN_OPERATIONAL": pl.format(
        "customer {} holds {} points here but is absent from the operational balances", "customer_id", "recomputed_points"),
    "MISSING_IN_RECOMPUTED": pl.format(
        "the operational system shows {} points for customer {}, unknown to the recomputation",
        "operational_points", "customer_id"),
}


def reported_on(operational: pl.DataFrame, as_of: dt.date) -> bool:
    """Whether D's folder brought operational balances at all (RULES 11: no file, no variance)."""
    return operational.filter(pl.col("folder") == as_of).height > 0


def variance(
    balances: pl.DataFrame, operational: pl.DataFrame, as_of: dt.date, reported: bool | None = None
) -> pl.DataFrame:
    """Exception rows for D; none when no balances file arrived in D's folder.

    `reported`: `reported_on` the whole inbox. A part of the customers must be told: its own rows
    of D's file may be none while its customers are still missing from that file."""
    todays = operational.filter(pl.col("folder") == as_of)
    if not (todays.height > 0 if reported is None else reported):
        return pl.DataFrame(schema=EXCEPTION_SCHEMA)
    found = run_sql(
        "variance",
        recomputed=balances.select("customer_id", "available_points", "pending_points"),
        reported=todays.select("customer_id", "available_points", "pending_points", "source_file", "source_row"),
    )
    return concat_exceptions([
        exception_rows(
            found.filter(pl.col("code") == code), code, entity_id=pl.col("customer_id"),
            customer_id=pl.col("customer_id"), message=message,
        )
        for code, message in _MESSAGES.items()
    ])
