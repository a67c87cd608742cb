"""The ledger of one snapshot: movements, lots and per-customer state, from the kernel's walk."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from transforms import ledger_kernel as k
from transforms.calendar import business_date, cutoff_of, local_text, micros_of
from transforms.events import LedgerInputs
from transforms.exceptions import concat_exceptions, exception_rows
from transforms.rules import Rules

INSTANT = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Ledger:
    movements: pl.DataFrame
    """grain: one change of one bucket (pending, available, debt) of one customer, in order"""
    tallies: pl.DataFrame
    """the movements, row for row, coded: customer_index, kind, bucket, source_kind, points"""
    lots: pl.DataFrame
    """grain [lot_id]: each lot's points left at the cut-off, its bucket and expiry"""
    customers: pl.DataFrame
    """grain [customer_id]: lifetime spend (kopecks) and debt at the cut-off"""
    lines: pl.DataFrame
    """grain [order_id, line_no]: the snapshot's lines with their kept quantity"""
    orders: pl.DataFrame
    """grain [order_id]: the snapshot's orders with their rate and current points"""


def _column(frame: pl.DataFrame, name: str) -> np.ndarray:
    return np.ascontiguousarray(frame.get_column(name).to_numpy())


def _instants(frame: pl.DataFrame, name: str, missing: int) -> np.ndarray:
    return np.ascontiguousarray(frame.get_column(name).dt.epoch("us").fill_null(missing).to_numpy())


def walk(inputs: LedgerInputs, rules: Rules, cutoff: dt.datetime):
    """Run the kernel, growing its movement buffer until everything fits."""
    ev, lots, orders, lines = inputs.events, inputs.lots, inputs.orders, inputs.lines
    arrays = (
        _column(ev, "customer_index").astype(np.int64), _column(ev, "time"), _column(ev, "priority"),
        _column(ev, "a"), _column(ev, "b"), _column(ev, "lot"),
        _instants(lots, "created_at", 0), _instants(lots, "expiry", k.NO_EXPIRY), _column(lots, "lot_rank"),
        _column(orders, "net_kop"), _column(orders, "base_kop"),
        _column(orders, "redeemed_points").astype(np.int64), _column(orders, "order_index").astype(np.int64),
        _column(lines, "order_index").astype(np.int64), _column(lines, "quantity"), _column(lines, "net_kop"),
        _column(lines, "paid_kop"), _column(lines, "eligible"), _column(lines, "points_redeemed"),
        np.array([t.from_kopecks for t in rules.tiers], np.int64),
        np.array([t.rate_bp for t in rules.tiers], np.int64),
        inputs.customers.height, micros_of(cutoff),
    )
    capacity = 4 * (ev.height + lots.height) + 64
    while True:
        result = k.run_ledger(*arrays, capacity)
        if not result[0]:
            return result[1:]
        capacity *= 2


def _coded(codes: np.ndarray, names: tuple[str, ...]) -> pl.Series:
    return pl.Series(names, dtype=pl.Enum(names)).gather(codes)


def _tallies(mv: np.ndarray) -> pl.DataFrame:
    """The kernel's movements without their text: what balances add up, per customer index."""
    return pl.DataFrame({
        "customer_index": pl.Series(mv[:, k.M_CUST]).cast(pl.UInt32),
        "kind": _coded(mv[:, k.M_KIND], k.MOVEMENT_KINDS),
        "bucket": _coded(mv[:, k.M_BUCKET], k.BUCKETS),
        "source_kind": _coded(mv[:, k.M_SRC_KIND], k.SOURCE_KINDS),
        "points": pl.Series(mv[:, k.M_POINTS]),
    })


def _movements(inputs: LedgerInputs, mv: np.ndarray, tallies: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """The kernel's movement buffer as the published frame.

    The kernel emits customer by customer (indexes follow customer_id order), each in time order."""
    src_kind, src = mv[:, k.M_SRC_KIND], mv[:, k.M_SRC]
    # every source id in one table: orders, returns, adjustments, lots, at these offsets
    tables = [inputs.orders.get_column("order_id"), inputs.returns.get_column("return_id"),
              inputs.adjustments.get_column("adjustment_id"), inputs.lots.get_column("lot_id")]
    offsets = np.cumsum([0] + [t.len() for t in tables[:-1]])
    event_ref = inputs.events.get_column("ref").to_numpy()
    returns = src_kind == k.S_RETURN
    index = offsets[src_kind] + np.where(returns, event_ref[np.where(returns, src, 0)], src)
    lot = mv[:, k.M_LOT]
    lot_table = inputs.lots.get_column("lot_id").extend(pl.Series([None], dtype=pl.String))  # last: no lot
    lot_ids = lot_table.gather(np.where(lot >= 0, lot, lot_table.len() - 1))
    instant = pl.Series("instant", mv[:, k.M_TIME]).cast(INSTANT)
    return pl.DataFrame({
        "instant": instant,
        "business_date": pl.select(business_date(pl.lit(instant), rules)).to_series(),
        "customer_id": inputs.customers.get_column("customer_id").gather(mv[:, k.M_CUST]),
        "lot_id": lot_ids,
        "kind": tallies.get_column("kind").cast(pl.String),
        "bucket": tallies.get_column("bucket").cast(pl.String),
        "points": tallies.get_column("points"),
        "source_kind": tallies.get_column("source_kind").cast(pl.String),
        "source_id": pl.concat(tables).gather(index),
    })


def build_ledger(inputs: LedgerInputs, rules: Rules, as_of: dt.date) -> tuple[Ledger, pl.DataFrame]:
    """Walk the snapshot's events; the ledger, and the exceptions only the walk can find."""
    cutoff = cutoff_of(as_of, rules)
    (mv, remaining, pending, expiry, spend, debt, order_rate, order_points, kept, xs) = walk(inputs, rules, cutoff)
    tallies = _tallies(mv)
    movements = _movements(inputs, mv, tallies, rules)
    lots = inputs.lots.with_columns(
        pl.Series("remaining", remaining),
        pl.Series("pending", pending),
        pl.Series("expiry", expiry).replace(k.NO_EXPIRY, None).cast(INSTANT),
    )
    customers = inputs.customers.with_columns(pl.Series("spend_kop", spend), pl.Series("debt_points", debt))
    orders = inputs.orders.with_columns(pl.Series("rate_bp", order_rate), pl.Series("points", order_points))
    lines = inputs.lines.with_columns(pl.Series("kept_quantity", kept))
    ledger = Ledger(movements, tallies, lots, customers, lines, orders)
    return ledger, concat_exceptions([_kernel_exceptions(inputs, xs), undelivered(ledger, rules, as_of)])


def _kernel_exceptions(inputs: LedgerInputs, xs: np.ndarray) -> pl.DataFrame:
    found = pl.DataFrame(xs, schema=["code", "event", "points"], orient="row")
    events = inputs.events.with_row_index("event").with_columns(pl.col("event").cast(pl.Int64))
    found = found.join(events.select("event", "priority", "ref", "customer_id"), on="event")
    orders = found.filter(pl.col("priority") == k.P_ORDER).join(
        inputs.orders.select(pl.col("order_index").cast(pl.Int64).alias("ref"), "order_id", "source_file", "source_row"),
        on="ref",
    )
    adjustments = found.filter(pl.col("priority") == k.P_ADJUSTMENT).join(
        inputs.adjustments.select(pl.col("adjustment_index").cast(pl.Int64).alias("ref"), "adjustment_id",
                                  "source_file", "source_row"),
        on="ref",
    )
    returns = found.filter(pl.col("priority") == k.P_RETURN).join(
        inputs.returns.select(pl.col("return_index").cast(pl.Int64).alias("ref"), "return_id", "order_id", "line_no",
                              "source_file", "source_row"),
        on="ref",
    )
    code = pl.col("code")
    return concat_exceptions([
        exception_rows(
            orders.filter(code == k.X_OVERDRAFT), "OVERDRAFT", entity_id=pl.col("order_id"),
            customer_id=pl.col("customer_id"),
            message=pl.format("order {}: redemption exceeds the available points by {}; recorded as debt",
                              "order_id", "points"),
        ),
        exception_rows(
            adjustments.filter(code == k.X_OVERDRAFT), "OVERDRAFT", entity_id=pl.col("adjustment_id"),
            customer_id=pl.col("customer_id"),
            message=pl.format("adjustment {}: debit exceeds the available points by {}; recorded as debt",
                              "adjustment_id", "points"),
        ),
        exception_rows(
            returns.filter(code == k.X_DEBT), "DEBT", entity_id=pl.col("return_id"), customer_id=pl.col("customer_id"),
            message=pl.format("return {} (order {} line {}): {} points to claw back were no longer held; recorded as debt",
                              "return_id", "order_id", "line_no", "points"),
        ),
        exception_rows(
            returns.filter(code == k.X_RETURN_EXCEEDS), "RETURN_EXCEEDS_QUANTITY", entity_id=pl.col("return_id"),
            customer_id=pl.col("customer_id"),
            message=pl.format("return {} (order {} line {}) rejected: only {} left on the line",
                              "return_id", "order_id", "line_no", "points"),
        ),
    ])


def undelivered(ledger: Ledger, rules: Rules, as_of: dt.date) -> pl.DataFrame:
    """UNDELIVERED (RULES 4): online, paid more than N days before D, no delivery yet, something kept."""
    waiting = ledger.orders.filter((pl.col("channel") == "online") & pl.col("delivered").is_null()).filter(
        pl.lit(as_of) - business_date(pl.col("paid_at"), rules) > pl.duration(days=rules.undelivered_after_days)
    )
    kept = (
        ledger.lines.filter(pl.col("order_index").is_in(waiting.get_column("order_index").implode()))
        .group_by("order_index").agg(pl.col("kept_quantity").sum())
    )
    late = waiting.join(kept, on="order_index", maintain_order="left").filter(pl.col("kept_quantity") > 0)
    return exception_rows(
        late, "UNDELIVERED", entity_id=pl.col("order_id"), customer_id=pl.col("customer_id"),
        message=pl.format("online order {} paid {} has no delivery; its points stay pending", "order_id",
                          local_text(pl.col("paid_at"), rules)),
    )
