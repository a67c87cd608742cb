"""Contracts of the published files (docs/interfaces.md, outputs): checked before anything is published.

A failure here is a bug in the pipeline, never a data problem: the run stops and publishes nothing.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas.codes import (
    BUCKETS,
    ERROR_CODES,
    MOVEMENT_KINDS,
    SOURCE_KINDS,
    WARNING_CODES,
)
from schemas.formats import INSTANT, MONEY


def _check(expr: pl.Expr, error: str) -> pa.Check:
    return pa.Check(lambda data: data.lazyframe.select(expr), error=error)


def _count() -> pa.Column:
    return pa.Column(pl.Int64, pa.Check.ge(0, error="cannot be negative"))

BALANCES = pa.DataFrameSchema(
    {
        "customer_id": pa.Column(pl.String, unique=True),
        "as_of": pa.Column(pl.Date),
        "tier": pa.Column(pl.String),
        "cashback_pct": pa.Column(pl.Int64, pa.Check.gt(0)),
        "lifetime_spend": pa.Column(MONEY),
        "next_tier": pa.Column(pl.String, nullable=True),
        "spend_to_next_tier": pa.Column(MONEY, pa.Check.gt(0), nullable=True),
        "available_points": _count(),
        "pending_points": _count(),
        "debt_points": _count(),
        "next_expiry_date": pa.Column(pl.Date, nullable=True),
        "next_expiry_points": pa.Column(pl.Int64, pa.Check.gt(0), nullable=True),
        "expiring_30d_points": _count(),
        "earned_points": _count(),
        "redeemed_points": _count(),
        "expired_points": _count(),
        "clawed_back_points": _count(),
        "restored_points": _count(),
        "birthday_points": _count(),
        "adjusted_points": pa.Column(pl.Int64),
    },
    checks=[
        _check(
            pl.col("earned_points") + pl.col("birthday_points") + pl.col("restored_points")
            + pl.col("adjusted_points") - pl.col("redeemed_points") - pl.col("expired_points")
            - pl.col("clawed_back_points")
            == pl.col("available_points") + pl.col("pending_points") - pl.col("debt_points"),
            "lifetime totals do not tie out to available + pending - debt (RULES 13)",
        ),
        _check(pl.col("next_tier").is_null() == pl.col("spend_to_next_tier").is_null(),
               "next_tier and spend_to_next_tier must be empty together"),
    ],
    name="balances",
)

MOVEMENTS = pa.DataFrameSchema(
    {
        "instant": pa.Column(INSTANT),
        "business_date": pa.Column(pl.Date),
        "customer_id": pa.Column(pl.String),
        "lot_id": pa.Column(pl.String, nullable=True),
        "kind": pa.Column(pl.String, pa.Check.isin(list(MOVEMENT_KINDS))),
        "bucket": pa.Column(pl.String, pa.Check.isin(list(BUCKETS))),
        "points": pa.Column(pl.Int64, pa.Check.ne(0)),
        "source_kind": pa.Column(pl.String, pa.Check.isin(list(SOURCE_KINDS))),
        "source_id": pa.Column(pl.String),
    },
    name="movements",
)

MOVEMENT_SCHEMA = {name: column.dtype.type for name, column in MOVEMENTS.columns.items()}
"""The movements' column types, for an empty movements file."""
BALANCE_SCHEMA = {name: column.dtype.type for name, column in BALANCES.columns.items()}
"""The balances' column types, for an empty balances file."""

EXCEPTIONS = pa.DataFrameSchema(
    {
        "business_date": pa.Column(pl.Date),
        "severity": pa.Column(pl.String, pa.Check.isin(["error", "warning"])),
        "code": pa.Column(pl.String, pa.Check.isin(sorted(ERROR_CODES | WARNING_CODES))),
        "source_file": pa.Column(pl.String, nullable=True),
        "source_row": pa.Column(pl.Int64, nullable=True),
        "entity_id": pa.Column(pl.String),
        "customer_id": pa.Column(pl.String, nullable=True),
        "message": pa.Column(pl.String),
    },
    checks=[
        _check(
            (pl.col("severity") == "error") == pl.col("code").is_in(sorted(ERROR_CODES)),
            "severity must be error exactly for the error codes",
        )
    ],
    name="exceptions",
)

BALANCES_DELTA = pa.DataFrameSchema(
    {
        **{name: column.__class__(column.dtype.type, nullable=True) for name, column in BALANCES.columns.items()
           if name not in ("customer_id", "as_of")},
        "customer_id": pa.Column(pl.String, unique=True),
        "as_of": pa.Column(pl.Date),
        "change": pa.Column(pl.String, pa.Check.isin(["new", "changed", "removed"])),
    },
    checks=[_check((pl.col("change") == "removed") == pl.col("tier").is_null(),
                   "only removed rows have empty balance columns")],
    name="balances_delta",
)

LOTS = pa.DataFrameSchema(
    {
        "lot_id": pa.Column(pl.String, unique=True),
        "customer_id": pa.Column(pl.String),
        "lot_kind": pa.Column(pl.String, pa.Check.isin(["earn", "birthday", "restore", "adjust"])),
        "created_at": pa.Column(INSTANT),
        "matures_at": pa.Column(INSTANT, nullable=True),
        "expires_at": pa.Column(INSTANT),
        "cashback_pct": pa.Column(pl.Int64, nullable=True),
        "base": pa.Column(MONEY, nullable=True),
        "issued_points": pa.Column(pl.Int64, pa.Check.gt(0)),
        "remaining_points": _count(),
        "bucket": pa.Column(pl.String, pa.Check.isin(["pending", "available"])),
    },
    checks=[_check(pl.col("remaining_points") <= pl.col("issued_points"), "a lot cannot hold more than it was issued")],
    name="lots",
)

LOT_SCHEMA = {name: column.dtype.type for name, column in LOTS.columns.items()}
"""The lots' column types, for an empty lots file."""

ROLLFORWARD = pa.DataFrameSchema(
    {
        "bucket": pa.Column(pl.String, pa.Check.isin([*BUCKETS, "liability"]), unique=True),
        "opening": pa.Column(pl.Int64),
        "restatement": pa.Column(pl.Int64),
        **{kind: pa.Column(pl.Int64) for kind in MOVEMENT_KINDS},
        "closing": pa.Column(pl.Int64),
        "ties": pa.Column(pl.Boolean, pa.Check.eq(True, error="a published roll-forward ties")),
        "as_of": pa.Column(pl.Date),
        "opening_as_of": pa.Column(pl.Date, nullable=True),
    },
    checks=[_check(
        pl.col("opening") + pl.col("restatement") + pl.sum_horizontal(MOVEMENT_KINDS) == pl.col("closing"),
        "opening + restatement + movements = closing (RULES 11)")],
    name="rollforward",
)

RESTATEMENTS = pa.DataFrameSchema(
    {
        "customer_id": pa.Column(pl.String),
        "bucket": pa.Column(pl.String, pa.Check.isin(list(BUCKETS))),
        "published": pa.Column(pl.Int64),
        "recomputed": pa.Column(pl.Int64),
        "difference": pa.Column(pl.Int64, pa.Check.ne(0)),
        "cause": pa.Column(pl.String),
    },
    unique=["customer_id", "bucket"],
    name="restatements",
)
