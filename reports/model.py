"""The finance report of one published night: every table the page and the workbook show.

All figures are whole points (Int64); 1 point = 1 RUB, so the liability is these numbers in RUB.
The frames are built by `transforms.finance`; the renderers (`reports.html`, `reports.xlsx`)
only format them. Each schema below is the column order and types a renderer may rely on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

POINTS = pl.Int64
MOVEMENT_KINDS = ("earn", "mature", "redeem", "expire", "clawback", "restore", "birthday", "adjust", "debt", "repay")

ROLLFORWARD = {
    "bucket": pl.String,  # pending, available, debt, then liability (= available + pending - debt)
    "opening": POINTS,
    "restatement": POINTS,
    **{kind: POINTS for kind in MOVEMENT_KINDS},
    "closing": POINTS,
    "ties": pl.Boolean,
}
"""grain [bucket]: opening + restatement + sum of the kinds = closing (RULES 11)."""

RESTATEMENTS = {
    "customer_id": pl.String,
    "bucket": pl.String,
    "published": POINTS,  # the opening as published the night it closed
    "recomputed": POINTS,  # the same closing recomputed tonight
    "difference": POINTS,  # recomputed - published
    "cause": pl.String,  # the late source rows ("inbox/2026-02-12/orders.csv:3; ...") or another reason
}
"""grain [customer_id, bucket]: a customer whose opening changed; the page shows the largest."""

LIABILITY_BY_TIER = {
    "tier": pl.String,  # in the order of the rules' tiers
    "customers_opening": POINTS,
    "customers": POINTS,
    "opening": POINTS,  # liability of the customers in that tier at the opening
    "closing": POINTS,
    "change": POINTS,
}
"""grain [tier]: liability (available + pending - debt) by the tier each customer held."""

AHEAD = {"horizon_days": POINTS, "maturing_points": POINTS, "expiring_points": POINTS}
"""grain [horizon_days] (7, 30, 90): points maturing and expiring on D+1 .. D+horizon."""

EXPIRY_BY_WEEK = {"week_start": pl.Date, "week_end": pl.Date, "expiring_points": POINTS}
"""grain [week_start]: points expiring in each of the next 13 weeks (D+1 .. D+91)."""

BREAKAGE = {"month": pl.Date, "issued_points": POINTS, "expired_points": POINTS, "held_points": POINTS}
"""grain [month]: lots created in that month (first day): points issued, expired since, still held.
Breakage = expired / issued; final only once held is 0."""

DEBT_BY_AGE = {
    "age_band": pl.String,  # "0-30", "31-90", "91-180", "181-365", "366+" (days since it arose)
    "from_days": POINTS,
    "to_days": POINTS,  # null for the last, open band
    "customers": POINTS,
    "debt_points": POINTS,
}
"""grain [age_band]: outstanding debt, repaid first-in first-out, by its age on D."""

VARIANCE_SUMMARY = {"code": pl.String, "rows": POINTS, "points": POINTS}
"""grain [code] (BALANCE_MISMATCH, MISSING_IN_OPERATIONAL, MISSING_IN_RECOMPUTED): rows and the
sum of absolute point differences."""

LARGEST_DIFFERENCES = {
    "customer_id": pl.String,
    "code": pl.String,
    "bucket": pl.String,  # available / pending for BALANCE_MISMATCH, null for MISSING_IN_*
    "recomputed": POINTS,  # null when the recomputation does not know the customer
    "operational": POINTS,  # null when absent from the operational file
    "difference": POINTS,  # recomputed - operational (a missing side counts as 0)
    "statement": pl.String,  # what `perfone-loyalty explain` prints for the customer (plain text)
}
"""grain [customer_id, code, bucket]: the 20 largest absolute differences."""

EXCEPTIONS_BY_CODE = {"severity": pl.String, "code": pl.String, "rows": POINTS}
"""grain [severity, code]: the exceptions published for D."""

LIABILITY_HISTORY = {"as_of": pl.Date, "pending": POINTS, "available": POINTS, "debt": POINTS, "liability": POINTS}
"""grain [as_of]: the closing of each published day (up to the last 90, D included), as published."""

MOVEMENTS_BY_DAY = {"business_date": pl.Date, "kind": pl.String, "bucket": pl.String, "points": POINTS}
"""grain [business_date, kind, bucket]: signed movements of the last 30 days (D-29 .. D)."""

MISMATCHES_BY_SIZE = {"size_band": pl.String, "from_points": POINTS, "to_points": POINTS, "rows": POINTS}
"""grain [size_band]: variance rows by absolute difference ("1-9", "10-99", ..., "100000+")."""


@dataclass(frozen=True)
class FinanceReport:
    as_of: dt.date
    opening_as_of: dt.date | None
    """the last published day before D; None on the first run (everything from zero)"""
    run_id: str
    code_version: str
    rules_version: str
    operational_reported: bool
    """whether D's folder brought the operational balances (no file: no variance)"""
    restated_customers: int
    """customers whose opening was restated (the `restatements` frame holds the largest rows)"""
    rollforward: pl.DataFrame
    restatements: pl.DataFrame
    liability_by_tier: pl.DataFrame
    ahead: pl.DataFrame
    expiry_by_week: pl.DataFrame
    breakage: pl.DataFrame
    debt_by_age: pl.DataFrame
    variance_summary: pl.DataFrame
    largest_differences: pl.DataFrame
    exceptions_by_code: pl.DataFrame
    liability_history: pl.DataFrame
    movements_by_day: pl.DataFrame
    mismatches_by_size: pl.DataFrame

    @property
    def liability(self) -> pl.DataFrame:
        return self.rollforward.filter(pl.col("bucket") == "liability")

    @property
    def ties(self) -> bool:
        return bool(self.rollforward.get_column("ties").all())


SCHEMAS = {
    "rollforward": ROLLFORWARD,
    "restatements": RESTATEMENTS,
    "liability_by_tier": LIABILITY_BY_TIER,
    "ahead": AHEAD,
    "expiry_by_week": EXPIRY_BY_WEEK,
    "breakage": BREAKAGE,
    "debt_by_age": DEBT_BY_AGE,
    "variance_summary": VARIANCE_SUMMARY,
    "largest_differences": LARGEST_DIFFERENCES,
    "exceptions_by_code": EXCEPTIONS_BY_CODE,
    "liability_history": LIABILITY_HISTORY,
    "movements_by_day": MOVEMENTS_BY_DAY,
    "mismatches_by_size": MISMATCHES_BY_SIZE,
}
"""Table name -> column types, for every frame of FinanceReport."""
