"""The customers a night can change: those whose ledger as of D may differ from that of D-1.

A customer is touched on D when
- a row of theirs arrived in D's folder: an order line, an adjustment, a customer row, or a
  return of one of their orders ("arrived");
- a staged row of theirs is dated in D's window, from D-1's cut-off (D 00:00) up to D's: paid,
  delivered, returned, created or registered ("dated"; a row can arrive before its instant);
- one of their lots as of D-1 matures or expires in that window ("lot");
- D is their birthday by any birth date staged for them ("birthday").
A promotion row in D's folder touches every customer ("promotions": it can change the points of
any order that carries its code).

Every other customer's movements, lots, lifetime spend, tier and debt as of D are those of D-1,
and their balance row differs only in `as_of` and `expiring_30d_points`, which move with the date
(tests/test_quiet_customers.py, on generated histories). That holds only when the rows of the
folders before D are those D-1 was computed from, with the same code and rules: a night that
carries the other customers from D-1 must recompute everyone otherwise. Exceptions are not
covered: an undelivered order falls due with time alone (`checks.undelivered`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.calendar import cutoff_of, start_of_date
from transforms.events import grant_date
from transforms.rules import Rules

REASONS = ("promotions", "arrived", "dated", "lot", "birthday")
"""Why a customer is touched; a customer touched for several is given the first."""
TOUCHED = {"customer_id": pl.String, "reason": pl.Enum(REASONS)}


def touched_customers(staged: dict[str, pl.DataFrame], previous_lots: pl.DataFrame, rules: Rules,
                      as_of: dt.date) -> pl.DataFrame:
    """grain [customer_id]: the customers D can change and why (REASONS).

    `staged`: the staged rows of every folder <= D by kind (orders, returns, adjustments,
    customers, promotions); `previous_lots`: the ledger's lots as of D-1 (customer_id, matures,
    expiry)."""
    opened, cut = start_of_date(as_of, rules), cutoff_of(as_of, rules)  # D 00:00, D+1 00:00
    arrived = pl.col("folder") == as_of

    def dated(*columns: str) -> pl.Expr:
        return pl.any_horizontal(pl.col(c).is_between(opened, cut, closed="left") for c in columns).fill_null(False)

    def by_row(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
        return frame.filter(arrived | dated(*columns)).select(
            "customer_id", pl.when(arrived).then(pl.lit("arrived")).otherwise(pl.lit("dated")).alias("reason"))

    lines, customers = staged["orders"], staged["customers"]
    if staged["promotions"].filter(arrived).height:
        everyone = pl.concat([frame.select("customer_id") for frame in (lines, customers, staged["adjustments"])])
        return everyone.unique().sort("customer_id").with_columns(pl.lit("promotions").alias("reason")).cast(TOUCHED)
    owners = lines.select("order_id", "customer_id").unique()
    birthday = customers.filter(
        grant_date(pl.lit(as_of.year), pl.col("birth_date")) == as_of
    ).select("customer_id", pl.lit("birthday").alias("reason"))
    lots = previous_lots.filter(dated("matures", "expiry")).select("customer_id", pl.lit("lot").alias("reason"))
    found = pl.concat([
        frame.cast(TOUCHED) for frame in (
            by_row(lines, "paid_at", "delivered_at"),
            by_row(staged["returns"].join(owners, on="order_id"), "returned_at"),
            by_row(staged["adjustments"], "created_at"),
            by_row(customers, "registered_at"),
            lots, birthday,
        )
    ])
    return found.group_by("customer_id").agg(pl.col("reason").min()).sort("customer_id")
