"""Customer partitions: the staged history split so that each part holds whole customers.

A customer's ledger depends on nothing outside that customer, so a snapshot can be computed part
by part, in bounded memory. Rows go where their customer's ledger needs them: an order line with
its order's first-arrived line (so a line naming another customer still meets its order and is
rejected there), a return with its order (a return of an unknown order by its order id), an
adjustment with its first version's customer, customers and operational balances by customer,
promotions to every part.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from transforms.history import in_arrival_order

_SEED = 20_240_101  # fixed: the same key always lands in the same part


def part_of(key: pl.Expr, parts: int) -> pl.Expr:
    return (key.hash(seed=_SEED) % parts).cast(pl.Int32)


def assign_parts(staged: dict[str, pl.DataFrame], parts: int) -> dict[str, pl.DataFrame]:
    """Each kind's rows with a `part` column (promotions, which go everywhere, excepted)."""
    orders = in_arrival_order(staged["orders"])
    order_part = orders.group_by("order_id", maintain_order=True).agg(
        part_of(pl.col("customer_id").first(), parts).alias("part"))
    adjustments = in_arrival_order(staged["adjustments"])
    adjustment_part = adjustments.group_by("adjustment_id", maintain_order=True).agg(
        part_of(pl.col("customer_id").first(), parts).alias("part"))
    return {
        "orders": orders.join(order_part, on="order_id", how="left", maintain_order="left"),
        "returns": staged["returns"].join(order_part, on="order_id", how="left", maintain_order="left")
        .with_columns(pl.col("part").fill_null(part_of(pl.col("order_id"), parts))),
        "adjustments": adjustments.join(adjustment_part, on="adjustment_id", how="left", maintain_order="left"),
        "customers": staged["customers"].with_columns(part_of(pl.col("customer_id"), parts).alias("part")),
        "balances": staged["balances"].with_columns(part_of(pl.col("customer_id"), parts).alias("part")),
        "promotions": staged["promotions"],
    }


def customer_parts(staged: dict[str, pl.DataFrame], parts: int) -> Iterator[dict[str, pl.DataFrame]]:
    """The staged history, one customer partition at a time (all of it when parts is 1)."""
    if parts <= 1:
        yield staged
        return
    assigned = assign_parts(staged, parts)
    for part in range(parts):
        yield {
            kind: frame if kind == "promotions" else frame.filter(pl.col("part") == part).drop("part")
            for kind, frame in assigned.items()
        }
