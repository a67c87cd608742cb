"""A customer's statement as of a published day: their lots, and every movement in order with the
running balance of each bucket. What support and finance read to answer "why does the personal
account show this" (`perfone-loyalty explain`). Built from the published files alone."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from schemas.codes import BUCKETS


@dataclass(frozen=True)
class Statement:
    customer_id: str
    balance: dict
    """the customer's row of balances.parquet"""
    lots: pl.DataFrame
    """grain [lot_id]: lots.parquet rows of the customer, in order of creation"""
    movements: pl.DataFrame
    """grain: one movement, in the order the ledger applied them, with `<bucket>_balance` after it"""


def statement(customer_id: str, balance: dict, lots: pl.DataFrame, movements: pl.DataFrame) -> Statement:
    """The statement of one customer from their published rows (movements in file order, which is
    the order the ledger walked them)."""
    ordered = movements.with_row_index("sequence").sort("instant", "sequence", maintain_order=True)
    running = ordered.with_columns(
        pl.when(pl.col("bucket") == bucket).then(pl.col("points")).otherwise(0).cum_sum().alias(f"{bucket}_balance")
        for bucket in BUCKETS
    ).drop("sequence")
    return Statement(customer_id, balance, lots.sort("created_at", "lot_id"), running)


def balances_agree(found: Statement) -> bool:
    """The running balances end where the published balances are (they are the same movements)."""
    if found.movements.height == 0:
        return all(found.balance[f"{b}_points"] == 0 for b in BUCKETS)
    last = found.movements.row(-1, named=True)
    return all(last[f"{b}_balance"] == found.balance[f"{b}_points"] for b in BUCKETS)
