"""History: every staged version of every row -> the rows that stand, plus the conflicts (RULES 12).

Versions are taken in arrival order (inbox folder, file path, row); the first version stands.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from transforms.exceptions import concat_exceptions, exception_rows
from transforms.sqlrun import run_sql

ARRIVAL = ("folder", "source_file", "source_row")

ORDER_LINE_COLUMNS = (
    "order_id", "line_no", "customer_id", "channel", "paid_at", "delivered_at", "currency", "sku",
    "quantity", "unit_price", "discount", "points_redeemed", "promo_code",
)


@dataclass(frozen=True)
class History:
    """The accepted rows of every kind, as of one run."""

    order_lines: pl.DataFrame
    """grain [order_id, line_no]: the standing version, delivered_at from its first delivery."""
    returns: pl.DataFrame
    """grain [return_id, order_id, line_no]"""
    adjustments: pl.DataFrame
    """grain [adjustment_id]"""
    customers: pl.DataFrame
    """grain [customer_id]: latest registered_at, latest non-empty birth_date"""
    promotions: pl.DataFrame
    """grain [promo_code]: the latest row received"""
    delivery_rows: pl.DataFrame
    """grain [order_id, line_no]: where each line's delivered_at came from (for FUTURE_EVENT)"""


def accept_order_lines(staged: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(standing order lines, where their delivery came from, ORDER_CONFLICT exceptions)."""
    versions = run_sql("order_lines", staged_orders=staged)
    conflicts = versions.filter(pl.col("conflict").is_not_null())
    exceptions = exception_rows(
        conflicts,
        "ORDER_CONFLICT",
        entity_id=pl.col("order_id"),
        customer_id=pl.col("customer_id"),
        message=pl.format("order {} line {} not applied: {}", "order_id", "line_no", "conflict"),
    )
    standing = versions.filter(pl.col("is_first") & pl.col("conflict").is_null())
    lines = standing.select(
        *[c for c in ORDER_LINE_COLUMNS if c != "delivered_at"],
        pl.col("line_delivered_at").alias("delivered_at"),
        *ARRIVAL,
    ).select(*ORDER_LINE_COLUMNS, *ARRIVAL)
    delivery = standing.filter(pl.col("line_delivered_at").is_not_null()).select(
        "order_id", "line_no", "customer_id",
        pl.col("line_delivered_at").alias("delivered_at"),
        pl.col("delivered_folder").alias("folder"),
        pl.col("delivered_source_file").alias("source_file"),
        pl.col("delivered_source_row").alias("source_row"),
    )
    return lines, delivery, exceptions


def accept_keyed_rows(
    staged: pl.DataFrame, key: list[str], entity: str, what: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """First version per key stands; an identical repeat is ignored, a different one is ROW_CONFLICT."""
    values = [c for c in staged.columns if c not in ARRIVAL]
    versions = staged.sort(list(ARRIVAL)).with_columns(
        pl.int_range(pl.len()).over(key).alias("version"),
        pl.struct(values).eq_missing(pl.struct(values).first().over(key)).alias("same_as_first"),
    )
    conflicts = versions.filter(~pl.col("same_as_first"))
    exceptions = exception_rows(
        conflicts,
        "ROW_CONFLICT",
        entity_id=pl.col(entity),
        customer_id=pl.col("customer_id") if "customer_id" in staged.columns else None,
        message=pl.format(f"{what} {{}} repeats an id with other values; the first version stands", pl.col(entity)),
    )
    standing = versions.filter(pl.col("version") == 0).drop("version", "same_as_first")
    return standing, exceptions


def latest_customers(staged: pl.DataFrame) -> pl.DataFrame:
    """One row per customer: latest registered_at, latest non-empty birth_date (RULES 6)."""
    ordered = staged.sort(list(ARRIVAL))
    return ordered.group_by("customer_id").agg(
        pl.col("registered_at").last(),
        pl.col("birth_date").drop_nulls().last(),
        pl.col("source_file").last(),
        pl.col("source_row").last(),
    ).sort("customer_id")


def latest_promotions(staged: pl.DataFrame) -> pl.DataFrame:
    """One row per promo code: the latest row received defines it (RULES 3)."""
    return (
        staged.sort(list(ARRIVAL))
        .group_by("promo_code")
        .agg(pl.col("earns_points").last(), pl.col("points_redeemable").last())
        .sort("promo_code")
    )


def build_history(staged: dict[str, pl.DataFrame]) -> tuple[History, pl.DataFrame]:
    """All accepted rows of every kind, and the conflict exceptions found on the way."""
    lines, delivery, order_conflicts = accept_order_lines(staged["orders"])
    returns, return_conflicts = accept_keyed_rows(
        staged["returns"], ["return_id", "order_id", "line_no"], "return_id", "return"
    )
    adjustments, adjustment_conflicts = accept_keyed_rows(
        staged["adjustments"], ["adjustment_id"], "adjustment_id", "adjustment"
    )
    history = History(
        order_lines=lines,
        returns=returns,
        adjustments=adjustments,
        customers=latest_customers(staged["customers"]),
        promotions=latest_promotions(staged["promotions"]),
        delivery_rows=delivery,
    )
    return history, concat_exceptions([order_conflicts, return_conflicts, adjustment_conflicts])
