"""balances_delta: what a CRM imports nightly instead of every balance row.

grain [customer_id]: a row of D's balances that differs from the previous published snapshot in
any column but `as_of` (`change` = new or changed), or a customer of that snapshot no longer in
D's (`change` = removed, only customer_id and as_of filled). Upserting the new and changed rows,
deleting the removed ones and setting every row's as_of to D turns the previous snapshot into D's
exactly. Without a previous snapshot (the first run) every row is new.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

CHANGES = ("new", "changed", "removed")


def balances_delta(current: pl.DataFrame, previous: pl.DataFrame | None, as_of: dt.date) -> pl.DataFrame:
    columns = current.columns
    if previous is None:
        return current.with_columns(pl.lit("new").alias("change"))
    compared = [c for c in columns if c not in ("customer_id", "as_of")]
    before = previous.select(columns).cast(current.schema).rename({c: f"{c}__previous" for c in columns if c != "customer_id"})
    joined = current.join(before, on="customer_id", how="full", coalesce=True, maintain_order="left")
    was = pl.col("as_of__previous").is_not_null()
    now = pl.col("as_of").is_not_null()
    differs = pl.any_horizontal(~pl.col(c).eq_missing(pl.col(f"{c}__previous")) for c in compared)
    change = (
        pl.when(now & ~was).then(pl.lit("new"))
        .when(~now).then(pl.lit("removed"))
        .when(differs).then(pl.lit("changed"))
    )
    return (
        joined.with_columns(change.alias("change"))
        .filter(pl.col("change").is_not_null())
        .with_columns(pl.lit(as_of).alias("as_of"))
        .select(*columns, "change")
        .sort("customer_id")
    )


def apply_delta(previous: pl.DataFrame, delta: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """The snapshot a CRM holds after applying `delta` to `previous` (for tests and the docs)."""
    kept = previous.join(delta.select("customer_id"), on="customer_id", how="anti")
    upserted = delta.filter(pl.col("change") != "removed").drop("change")
    return (
        pl.concat([kept.cast(upserted.schema), upserted])
        .with_columns(pl.lit(as_of).alias("as_of"))
        .sort("customer_id")
    )
