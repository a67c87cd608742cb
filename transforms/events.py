"""Ledger inputs: the accepted history of one snapshot turned into sorted events and lots.

Everything here is set-based and needs no ledger state: line and order amounts in kopecks,
eligibility, maturity and expiry instants, birthdays, which returns apply, and the exceptions
those decide (caps, unknown codes and customers, undelivered orders, future events, parked
and early returns). The kernel in `ledger_kernel` then walks the events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from transforms import checks
from transforms import ledger_kernel as k
from transforms.calendar import business_date, cutoff_of, plus_days, plus_months, start_of, start_of_date
from transforms.checks import concat_exceptions
from transforms.history import History
from transforms.rules import Rules

KOPECKS = 100


@dataclass(frozen=True)
class LedgerInputs:
    """One snapshot's ledger inputs; the frames' row positions are the kernel's indexes."""

    customers: pl.DataFrame
    """grain [customer_id]: every customer known by D (customers file, orders, adjustments)"""
    lines: pl.DataFrame
    """grain [order_id, line_no]: lines of orders paid before the cut-off, sorted"""
    orders: pl.DataFrame
    """grain [order_id]: orders paid before the cut-off, sorted by order_id"""
    returns: pl.DataFrame
    """grain [return_id, order_id, line_no]: return rows applied in this snapshot, sorted"""
    adjustments: pl.DataFrame
    """grain [adjustment_id]: adjustments created before the cut-off, sorted"""
    lots: pl.DataFrame
    """grain [lot_id]: every lot an event may open"""
    events: pl.DataFrame
    """grain [customer, time, priority, rank]: what the kernel walks, in order"""
    history: History
    """the rows they come from (for when an exception became known, `history.known_from`)"""


def _money_kopecks(column: str) -> pl.Expr:
    return (pl.col(column) * KOPECKS).cast(pl.Int64)


def _expiry_of(instant: pl.Expr, rules: Rules) -> pl.Expr:
    """business_date(instant) + expiry months, at 00:00 (RULES 5, 9)."""
    return start_of(plus_months(business_date(instant, rules), rules.expiry_months), rules)


def snapshot_lines(history: History, rules: Rules, cutoff: dt.datetime) -> pl.DataFrame:
    """Lines of orders paid before the cut-off, with amounts in kopecks and promo decisions, sorted
    by order id and line; order_index numbers the orders in that order."""
    promos = history.promotions.select(
        "promo_code", pl.col("earns_points").alias("promo_earns"),
        pl.col("points_redeemable").alias("promo_redeemable"),
        pl.col("first_folder").alias("promo_first_folder"), pl.col("folder").alias("promo_folder"),
    )
    return (
        history.order_lines.filter(pl.col("paid_at") < cutoff)
        .sort("order_id", "line_no")
        .join(promos, on="promo_code", how="left", maintain_order="left")
        .with_columns(
            (_money_kopecks("unit_price") * pl.col("quantity")).alias("price_kop"),
            (_money_kopecks("unit_price") * pl.col("quantity") - _money_kopecks("discount")).alias("net_kop"),
            pl.col("promo_earns").fill_null(True).alias("eligible"),
            pl.col("promo_redeemable").fill_null(True).alias("redeemable"),
            # RULES 4: a boutique line without delivered_at is delivered at payment
            pl.when(pl.col("delivered_at").is_not_null())
            .then(pl.col("delivered_at"))
            .when(pl.col("channel") == "boutique")
            .then(pl.col("paid_at"))
            .alias("delivered"),
        )
        .with_columns((pl.col("net_kop") - pl.col("points_redeemed") * KOPECKS).alias("paid_kop"))
        .with_columns(
            (pl.col("order_id") != pl.col("order_id").shift()).fill_null(True).cum_sum().sub(1).cast(pl.UInt32)
            .alias("order_index")
        )
    )


def snapshot_orders(lines: pl.DataFrame, rules: Rules, cutoff: dt.datetime) -> pl.DataFrame:
    """One row per order: spend, earning base, redemption, delivery, maturity and expiry."""
    delivered = pl.when(pl.col("delivered") < cutoff).then(pl.col("delivered")).max()
    return (
        lines.group_by("order_index", maintain_order=True)
        .agg(
            pl.col("order_id").first(),
            pl.col("customer_id").first(),
            pl.col("channel").first(),
            pl.col("paid_at").first(),
            pl.col("net_kop").sum().alias("net_kop"),
            pl.when(pl.col("eligible")).then(pl.col("paid_kop")).otherwise(0).sum().alias("base_kop"),
            pl.col("points_redeemed").sum().alias("redeemed_points"),
            pl.col("price_kop").sum().alias("price_kop"),
            delivered.alias("delivered"),
            pl.col("quantity").sum().alias("quantity"),
            pl.col("source_file").first(),
            pl.col("source_row").first(),
            pl.col("folder").min().alias("first_folder"),
            pl.col("folder").max(),
        )
        .with_columns(
            _expiry_of(pl.col("paid_at"), rules).alias("expiry"),
            start_of(plus_days(business_date(pl.col("delivered"), rules), rules.hold_days), rules).alias("matures"),
        )
        .select("order_index", pl.exclude("order_index"))
    )


def applicable_returns(
    history: History, lines: pl.DataFrame, rules: Rules, cutoff: dt.datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return rows applied in this snapshot, and the exceptions of those that are not."""
    known = history.order_lines.select("order_id", "line_no", "customer_id", "paid_at",
                                       pl.col("folder").alias("line_folder"))
    returns = history.returns.join(known, on=["order_id", "line_no"], how="left")
    exceptions = [checks.returns_unknown_order(returns), checks.returns_before_payment(returns, rules)]
    applied = (
        returns.filter(
            pl.col("paid_at").is_not_null()
            & (pl.col("returned_at") >= pl.col("paid_at"))
            & (pl.col("returned_at") < cutoff)
        )
        .join(lines.select("order_id", "line_no", pl.int_range(pl.len()).alias("line_index")), on=["order_id", "line_no"])
        .sort("return_id", "order_id", "line_no")
        .with_row_index("return_index")
    )
    return applied, concat_exceptions(exceptions)


def grant_date(year: pl.Expr, birth_date: pl.Expr) -> pl.Expr:
    """The birthday of `birth_date` in `year` (RULES 6): 29 February is granted on 28 February of
    a common year."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month, day = birth_date.dt.month(), birth_date.dt.day()
    return pl.date(year, month, pl.when((month == 2) & (day == 29) & ~leap).then(28).otherwise(day))


def birthdays(history: History, orders: pl.DataFrame, rules: Rules, as_of: dt.date, cutoff: dt.datetime) -> pl.DataFrame:
    """One row per birthday grant (RULES 6): members only, 29 Feb -> 28 Feb, from program start."""
    first_paid = orders.group_by("customer_id").agg(pl.col("paid_at").min().alias("first_paid"))
    return (
        history.customers.filter(pl.col("birth_date").is_not_null())
        .join(first_paid, on="customer_id")
        .with_columns(
            pl.int_ranges(
                pl.max_horizontal(pl.col("birth_date").dt.year() + 1, pl.lit(rules.program_start.year)),
                as_of.year + 1,
            ).alias("year")
        )
        .explode("year")
        .filter(pl.col("year").is_not_null())
        .with_columns(grant_date(pl.col("year"), pl.col("birth_date")).alias("grant_date"))
        .with_columns(start_of(pl.col("grant_date"), rules).alias("granted_at"))
        .filter(
            (pl.col("granted_at") >= start_of_date(rules.program_start, rules))
            & (pl.col("granted_at") < cutoff)
            & (pl.col("first_paid") < pl.col("granted_at"))
        )
        .select(
            "customer_id", "grant_date", "granted_at",
            start_of(plus_months(pl.col("grant_date"), rules.expiry_months), rules).alias("expiry"),
            pl.format("birthday:{}:{}", "customer_id", "grant_date").alias("lot_id"),
        )
        .sort("customer_id", "grant_date")
        .with_row_index("grant_index")
    )


def _lots(orders, grants, returns, adjustments) -> pl.DataFrame:
    """Every lot an event may open, with its index (the kernel's), assigned here once; ranked by
    lot id (the last FIFO tie-break, RULES 7). (lot_kind, source_index) names what opens it: the
    order, birthday grant, applied return or positive adjustment of that index."""
    columns = ["lot_id", "lot_kind", "source_index", "customer_id", "created_at", "expiry"]
    frames = [
        orders.select(pl.format("earn:{}", "order_id").alias("lot_id"), pl.lit("earn").alias("lot_kind"),
                      pl.col("order_index").alias("source_index"), "customer_id",
                      pl.col("paid_at").alias("created_at"), "expiry"),
        grants.select("lot_id", pl.lit("birthday").alias("lot_kind"), pl.col("grant_index").alias("source_index"),
                      "customer_id", pl.col("granted_at").alias("created_at"), "expiry"),
        returns.select(pl.format("restore:{}:{}:{}", "return_id", "order_id", "line_no").alias("lot_id"),
                       pl.lit("restore").alias("lot_kind"), pl.col("return_index").alias("source_index"), "customer_id",
                       pl.col("returned_at").alias("created_at"), pl.lit(None, pl.Datetime("us", "UTC")).alias("expiry")),
        adjustments.filter(pl.col("points") > 0).select(
            pl.format("adjust:{}", "adjustment_id").alias("lot_id"), pl.lit("adjust").alias("lot_kind"),
            pl.col("adjustment_index").alias("source_index"), "customer_id", pl.col("created_at"), "expiry"),
    ]
    lots = pl.concat([f.select(columns).cast({"source_index": pl.Int64}) for f in frames]).with_row_index("lot_index")
    return lots.with_columns(pl.col("lot_id").rank("ordinal").cast(pl.Int64).alias("lot_rank"))


def _with_lot(frame: pl.DataFrame, lots: pl.DataFrame, kind: str, source: str) -> pl.DataFrame:
    """The frame with the index and rank of the lot of `kind` that its row `source` opens (-1: none)."""
    opened = lots.filter(pl.col("lot_kind") == kind).select(
        pl.col("source_index").alias(source), pl.col("lot_index").cast(pl.Int64).alias("lot"), "lot_rank")
    return frame.with_columns(pl.col(source).cast(pl.Int64)).join(opened, on=source, how="left").with_columns(
        pl.col("lot").fill_null(-1))


EVENT_COLUMNS = {
    "customer_index": pl.UInt32, "time": pl.Int64, "priority": pl.Int64, "rank": pl.Int64,
    "order": pl.Int64, "line": pl.Int64, "quantity": pl.Int64, "points": pl.Int64, "adjustment": pl.Int64,
    "lot": pl.Int64, "ref": pl.Int64,
}
"""An event for the kernel (ledger_kernel.Events): `order`, `line`, `adjustment` index what it
concerns, `quantity` a return's (-1: all that is left), `points` a birthday's or adjustment's,
`lot` the lot it opens or matures; -1 where it does not apply. `ref`: its row in its own frame."""


def _events(orders, grants, returns, adjustments, lots, customers, rules: Rules, cutoff: dt.datetime
            ) -> pl.DataFrame:
    """Every event of the snapshot, one frame, columns EVENT_COLUMNS (time in UTC microseconds),
    sorted as the kernel walks them. Each source row gets its customer's index before it becomes
    events: every customer of these rows is among `customers`."""
    def indexed(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(frame.select("customer_id").join(
            customers, on="customer_id", how="left", maintain_order="left").get_column("customer_index"))

    orders, grants, returns, adjustments = (indexed(f) for f in (orders, grants, returns, adjustments))
    pieces = [
        _with_lot(orders.filter(pl.col("matures") < cutoff), lots, "earn", "order_index").select(
            "customer_index", pl.col("matures").dt.epoch("us").alias("time"),
            pl.lit(k.P_MATURITY).alias("priority"), pl.col("lot_rank").alias("rank"),
            pl.col("order_index").alias("order"), "lot", pl.col("order_index").alias("ref"),
        ),
        _with_lot(grants, lots, "birthday", "grant_index").select(
            "customer_index", pl.col("granted_at").dt.epoch("us").alias("time"), pl.lit(k.P_BIRTHDAY).alias("priority"),
            pl.col("lot_rank").alias("rank"), pl.lit(rules.birthday_points).alias("points"), "lot",
            pl.col("grant_index").alias("ref"),
        ),
        _with_lot(orders, lots, "earn", "order_index").select(
            "customer_index", pl.col("paid_at").dt.epoch("us").alias("time"), pl.lit(k.P_ORDER).alias("priority"),
            pl.col("order_index").alias("rank"), pl.col("order_index").alias("order"), "lot",
            pl.col("order_index").alias("ref"),
        ),
        _with_lot(returns, lots, "restore", "return_index").select(
            "customer_index", pl.col("returned_at").dt.epoch("us").alias("time"), pl.lit(k.P_RETURN).alias("priority"),
            pl.col("return_index").alias("rank"), pl.col("line_index").alias("line"),
            pl.col("quantity").fill_null(-1).alias("quantity"), "lot", pl.col("return_index").alias("ref"),
        ),
        _with_lot(adjustments, lots, "adjust", "adjustment_index").select(
            "customer_index", pl.col("created_at").dt.epoch("us").alias("time"),
            pl.lit(k.P_ADJUSTMENT).alias("priority"), pl.col("adjustment_index").alias("rank"), "points",
            pl.col("adjustment_index").alias("adjustment"), "lot", pl.col("adjustment_index").alias("ref"),
        ),
    ]
    missing = {"order": -1, "line": -1, "quantity": -1, "points": 0, "adjustment": -1}
    return pl.concat([
        piece.with_columns(pl.lit(value).alias(name) for name, value in missing.items() if name not in piece.columns)
        .select(list(EVENT_COLUMNS)).cast(EVENT_COLUMNS)
        for piece in pieces
    ]).sort("customer_index", "time", "priority", "rank")


def build_ledger_inputs(
    history: History, rules: Rules, as_of: dt.date
) -> tuple[LedgerInputs, pl.DataFrame]:
    """Ledger inputs for the snapshot as of `as_of`, and the exceptions decided on the way."""
    cutoff = cutoff_of(as_of, rules)
    lines = snapshot_lines(history, rules, cutoff)
    orders = snapshot_orders(lines, rules, cutoff)
    returns, return_exceptions = applicable_returns(history, lines, rules, cutoff)
    adjustments = (
        history.adjustments.filter(pl.col("created_at") < cutoff)
        .sort("adjustment_id")
        .with_row_index("adjustment_index")
        .with_columns(_expiry_of(pl.col("created_at"), rules).alias("expiry"))
    )
    grants = birthdays(history, orders, rules, as_of, cutoff)
    lots = _lots(orders, grants, returns, adjustments)
    customers = (
        pl.concat([
            history.customers.select("customer_id"),
            history.order_lines.filter(pl.col("paid_at") < cutoff).select("customer_id"),
            adjustments.select("customer_id"),
        ])
        .unique()
        .sort("customer_id")
        .with_row_index("customer_index")
    )

    events = _events(orders, grants, returns, adjustments, lots, customers, rules, cutoff)
    inputs = LedgerInputs(customers, lines, orders, returns, adjustments, lots, events, history)
    return inputs, concat_exceptions([return_exceptions, static_exceptions(history, inputs, rules)])


def static_exceptions(history: History, inputs: LedgerInputs, rules: Rules) -> pl.DataFrame:
    """Warnings decided by the snapshot's rows alone (RULES 3, 7, 12)."""
    return concat_exceptions([
        checks.unknown_promos(inputs.lines),
        checks.redemption_promos(inputs.lines),
        checks.redemption_caps(inputs.orders, rules),
        checks.unknown_customers(inputs.orders, inputs.adjustments, history.customers),
        checks.future_events(history, rules),
    ])
