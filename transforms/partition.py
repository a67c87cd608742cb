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


def _key(column: str) -> list[pl.Expr]:
    """A 128-bit stand-in for an id (two 64-bit hashes): cheap to group and join on tens of
    millions of rows. A collision could only split a customer across parts, which the balances
    audit (one row per customer) would stop before anything is published."""
    return [pl.col(column).hash(seed=_SEED).alias("k1"), pl.col(column).hash(seed=_SEED + 1).alias("k2")]


def assign_parts(staged: dict[str, pl.DataFrame], parts: int) -> dict[str, pl.Series]:
    """Each kind's part number, row by row (promotions, which go everywhere, excepted).

    Narrow on purpose: a part column joined onto the frames would copy the whole history."""
    orders, adjustments = staged["orders"], staged["adjustments"]

    def first_customer_part(frame: pl.DataFrame, key: str) -> pl.DataFrame:
        return (
            in_arrival_order(frame).select(*_key(key), part_of(pl.col("customer_id"), parts).alias("part"))
            .group_by("k1", "k2", maintain_order=True).agg(pl.col("part").first())
        )

    order_part = first_customer_part(orders, "order_id")
    adjustment_part = first_customer_part(adjustments, "adjustment_id")

    def looked_up(frame: pl.DataFrame, key: str, table: pl.DataFrame) -> pl.Series:
        return frame.select(_key(key)).join(table, on=["k1", "k2"], how="left", maintain_order="left").get_column("part")

    return {
        "orders": looked_up(orders, "order_id", order_part),
        "returns": looked_up(staged["returns"], "order_id", order_part).fill_null(
            staged["returns"].select(part_of(pl.col("order_id"), parts)).to_series()),
        "adjustments": looked_up(adjustments, "adjustment_id", adjustment_part),
        "customers": staged["customers"].select(part_of(pl.col("customer_id"), parts)).to_series(),
        "balances": staged["balances"].select(part_of(pl.col("customer_id"), parts)).to_series(),
    }


def customer_parts(staged: dict[str, pl.DataFrame], parts: int) -> Iterator[dict[str, pl.DataFrame]]:
    """The staged history, one customer partition at a time (all of it when parts is 1)."""
    if parts <= 1:
        yield staged
        return
    assigned = assign_parts(staged, parts)
    for part in range(parts):
        yield {
            kind: frame.filter(assigned[kind] == part) if kind in assigned else frame
            for kind, frame in staged.items()
        }
