"""The ledger of one snapshot: movements, lots and per-customer state, from the kernel's walk."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from schemas.codes import BUCKETS, MOVEMENT_KINDS, SOURCE_KINDS
from transforms import checks
from transforms import ledger_kernel as k
from transforms.calendar import business_date, cutoff_of, micros_of
from transforms.money import rub
from transforms.checks import concat_exceptions
from transforms.events import LedgerInputs
from transforms.history import known_from
from transforms.rules import Rules

INSTANT = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Ledger:
    movements: pl.DataFrame
    """grain: one change of one bucket (pending, available, debt) of one customer, in order"""
    tallies: pl.DataFrame
    """the movements, row for row, coded: customer_index, time, lot, kind, bucket, source_kind, points"""
    lots: pl.DataFrame
    """grain [lot_id]: each lot's customer_index, points left at the cut-off, bucket, maturity and expiry"""
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


def _int64(frame: pl.DataFrame, name: str) -> np.ndarray:
    return np.ascontiguousarray(frame.get_column(name).cast(pl.Int64).to_numpy())


def walk(inputs: LedgerInputs, rules: Rules, cutoff: dt.datetime) -> k.Walk:
    """The kernel's walk over the snapshot's events, its inputs named field by field."""
    ev, lots, orders, lines = inputs.events, inputs.lots, inputs.orders, inputs.lines
    earn_lots = lots.filter(pl.col("lot_kind") == "earn").select(
        pl.col("source_index").alias("order_index"), "lot_index")
    order_lot = orders.select(pl.col("order_index").cast(pl.Int64)).join(
        earn_lots, on="order_index", how="left", maintain_order="left")
    return k.walk_ledger(
        k.Events(*(_int64(ev, name) for name in (
            "customer_index", "time", "priority", "order", "line", "quantity", "points", "adjustment", "lot"))),
        k.Lots(_instants(lots, "created_at", 0), _instants(lots, "expiry", k.NO_EXPIRY), _int64(lots, "lot_rank")),
        k.Orders(_int64(orders, "net_kop"), _int64(orders, "base_kop"), _int64(orders, "redeemed_points"),
                 _int64(order_lot, "lot_index")),
        k.Lines(_int64(lines, "order_index"), _int64(lines, "quantity"), _int64(lines, "net_kop"),
                _int64(lines, "paid_kop"), _column(lines, "eligible"), _int64(lines, "points_redeemed")),
        k.Tiers(np.array([t.from_kopecks for t in rules.tiers], np.int64),
                np.array([t.rate_bp for t in rules.tiers], np.int64)),
        inputs.customers.height, micros_of(cutoff),
    )


def _coded(codes: np.ndarray, names: tuple[str, ...]) -> pl.Series:
    return pl.Series(names, dtype=pl.Enum(names)).gather(codes)


def _tallies(mv: np.ndarray) -> pl.DataFrame:
    """The kernel's movements without their text: what balances and the roll-forward add up, per
    customer index (`time` in UTC microseconds, `lot` the lot index or -1)."""
    return pl.DataFrame({
        "customer_index": pl.Series(mv[:, k.M_CUST]).cast(pl.UInt32),
        "time": pl.Series(mv[:, k.M_TIME]),
        "lot": pl.Series(mv[:, k.M_LOT]),
        "kind": _coded(mv[:, k.M_KIND], MOVEMENT_KINDS),
        "bucket": _coded(mv[:, k.M_BUCKET], BUCKETS),
        "source_kind": _coded(mv[:, k.M_SRC_KIND], SOURCE_KINDS),
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
    walked = walk(inputs, rules, cutoff)
    tallies = _tallies(walked.movements)
    movements = _movements(inputs, walked.movements, tallies, rules)
    orders = inputs.orders.with_columns(
        pl.Series("rate_bp", walked.order_rate), pl.Series("points", walked.order_points))
    lots = inputs.lots.with_columns(
        _lot_customers(inputs),
        _issued(tallies, inputs.lots.height),
        pl.Series("remaining", walked.remaining),
        pl.Series("pending", walked.pending),
        pl.Series("expiry", walked.expiry).replace(k.NO_EXPIRY, None).cast(INSTANT),
        *_earning_terms(inputs.lots, orders),
    )
    customers = inputs.customers.with_columns(
        pl.Series("spend_kop", walked.spend), pl.Series("debt_points", walked.debt))
    lines = inputs.lines.with_columns(pl.Series("kept_quantity", walked.kept))
    ledger = Ledger(movements, tallies, lots, customers, lines, orders)
    return ledger, concat_exceptions([
        _kernel_exceptions(inputs, walked.findings), checks.undelivered(ledger.orders, ledger.lines, rules, as_of),
    ])


def _lot_customers(inputs: LedgerInputs) -> pl.Series:
    """Each lot's customer index, from the event that opens it (every lot has one)."""
    opening = inputs.events.filter(pl.col("lot") >= 0)
    owner = np.zeros(inputs.lots.height, np.uint32)
    owner[opening.get_column("lot").to_numpy()] = opening.get_column("customer_index").to_numpy()
    return pl.Series("customer_index", owner)


CREDIT_KINDS = ("earn", "birthday", "restore", "adjust")
"""Movements that put points into a lot when it is created."""


def _issued(tallies: pl.DataFrame, n_lots: int) -> pl.Series:
    """Points each lot was created with (0: a lot that never held any)."""
    credits = tallies.filter((pl.col("lot") >= 0) & pl.col("kind").is_in(CREDIT_KINDS) & (pl.col("points") > 0))
    issued = np.zeros(n_lots, np.int64)
    np.add.at(issued, credits.get_column("lot").to_numpy(), credits.get_column("points").to_numpy())
    return pl.Series("issued", issued)


def published_lots(ledger: Ledger, rules: Rules) -> pl.DataFrame:
    """lots.parquet rows: every lot that held points, what created it, its terms and what is left."""
    return ledger.lots.filter(pl.col("issued") > 0).select(
        "lot_id", "customer_id", "lot_kind", "created_at",
        pl.col("matures").alias("matures_at"), pl.col("expiry").alias("expires_at"),
        (pl.col("rate_bp") // 100).alias("cashback_pct"), rub(pl.col("base_kop")).alias("base"),
        pl.col("issued").alias("issued_points"), pl.col("remaining").alias("remaining_points"),
        pl.when(pl.col("pending")).then(pl.lit("pending")).otherwise(pl.lit("available")).alias("bucket"),
    )


def _earning_terms(lots: pl.DataFrame, orders: pl.DataFrame) -> list[pl.Series]:
    """An earn lot's maturity instant, cashback rate (basis points) and earning base (kopecks),
    taken from its order (`source_index` is the order's row); other lots get none."""
    order_row = lots.select(pl.when(pl.col("lot_kind") == "earn").then(pl.col("source_index"))).to_series()
    return [orders.get_column(name).gather(order_row) for name in ("matures", "rate_bp", "base_kop")]


def _kernel_exceptions(inputs: LedgerInputs, xs: np.ndarray) -> pl.DataFrame:
    """What the walk found (code, event position, points), joined to the rows the checks name."""
    found = pl.DataFrame(xs, schema=["code", "event", "points"], orient="row")
    events = inputs.events.with_row_index("event").with_columns(pl.col("event").cast(pl.Int64))
    found = found.join(events.select("event", "priority", "ref", "customer_index", "time"), on="event").join(
        inputs.customers.select("customer_index", "customer_id"), on="customer_index", maintain_order="left")
    found = found.with_columns(known_from(found, inputs.history))
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
        checks.overdrafts_of_orders(orders.filter(code == k.X_OVERDRAFT)),
        checks.overdrafts_of_adjustments(adjustments.filter(code == k.X_OVERDRAFT)),
        checks.clawback_debts(returns.filter(code == k.X_DEBT)),
        checks.returns_exceeding_quantity(returns.filter(code == k.X_RETURN_EXCEEDS)),
    ])
