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


def variance(balances: pl.DataFrame, operational: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Exception rows for D; none when no balances file arrived in D's folder."""
    todays = operational.filter(pl.col("folder") == as_of)
    if todays.height == 0:
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
