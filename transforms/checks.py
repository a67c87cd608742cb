"""Every exception check, one function each: frames in, the offending rows out as exception rows.

A check selects the rows that break a rule (or formats what a kernel found) and says what a
finance person or operator can act on. The codes and their severities are data, in
`schemas.codes`. Steps call these checks and collect their rows; nothing is raised mid-way.

Each row also carries its `arrival` (FOUND_SCHEMA): the inbox folder whose data made the exception
what it is, its own row's folder or, for what the ledger walk finds, the latest folder among the
rows that shaped the customer up to the event (`history.influences`). A night reports the rows
that arrived since the last night published before it (RULES 12), so what is reported does not
depend on how the nights were scheduled.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from schemas.codes import ERROR_CODES, EXCEPTION_CODES, EXCEPTION_SCHEMA
from transforms.calendar import business_date, local_text, plus_days, start_of
from transforms.money import rub_text
from transforms.rules import Rules

if TYPE_CHECKING:
    from transforms.history import History

KOPECKS = 100
FOUND_SCHEMA = {**EXCEPTION_SCHEMA, "arrival": pl.Date}
"""An exception row as found, before a night decides whether to report it."""


def exception_rows(
    frame: pl.DataFrame,
    code: str,
    *,
    entity_id: pl.Expr,
    message: pl.Expr,
    customer_id: pl.Expr | None = None,
    source_file: pl.Expr | None = None,
    source_row: pl.Expr | None = None,
    arrival: pl.Expr | None = None,
) -> pl.DataFrame:
    """Exception rows for every row of `frame`; business_date is filled in when the run publishes.
    `arrival` defaults to the row's own folder."""
    if code not in EXCEPTION_CODES:
        raise KeyError(f"unknown exception code {code}")
    return frame.select(
        pl.lit(None, pl.Date).alias("business_date"),
        pl.lit(EXCEPTION_CODES[code].severity).alias("severity"),
        pl.lit(code).alias("code"),
        (source_file if source_file is not None else pl.col("source_file")).cast(pl.String).alias("source_file"),
        (source_row if source_row is not None else pl.col("source_row")).cast(pl.Int64).alias("source_row"),
        entity_id.cast(pl.String).alias("entity_id"),
        (customer_id if customer_id is not None else pl.lit(None)).cast(pl.String).alias("customer_id"),
        message.cast(pl.String).alias("message"),
        (arrival if arrival is not None else pl.col("folder")).cast(pl.Date).alias("arrival"),
    )


def severity_of(code: pl.Expr) -> pl.Expr:
    return pl.when(code.is_in(sorted(ERROR_CODES))).then(pl.lit("error")).otherwise(pl.lit("warning"))


def no_exceptions() -> pl.DataFrame:
    return pl.DataFrame(schema=FOUND_SCHEMA)


def concat_exceptions(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if f.height]
    return pl.concat(frames, how="vertical") if frames else no_exceptions()


# RULES 12: input rows ------------------------------------------------------------------------

def schema_violations(rejected: pl.DataFrame, kind: str, entity: str, has_customer: bool) -> pl.DataFrame:
    """SCHEMA: rows of one export breaking a column rule, each with every problem (`problems`)."""
    return exception_rows(
        rejected, "SCHEMA",
        entity_id=pl.col(entity).fill_null(pl.lit("?")),
        customer_id=pl.col("customer_id") if has_customer else None,
        message=pl.lit(f"{kind} row rejected: ") + pl.col("problems"),
    )


def empty_files(files: pl.DataFrame) -> pl.DataFrame:
    """EMPTY_FILE: exports with nothing in them, not even a header (`source_file`, `folder`), read
    as files with no rows."""
    return exception_rows(
        files, "EMPTY_FILE", entity_id=pl.col("source_file"), source_row=pl.lit(None),
        message=pl.format("{} is empty (not even a header row): read as a file with no rows", "source_file"),
    )


def skipped_inputs(entries: pl.DataFrame) -> pl.DataFrame:
    """SKIPPED_INPUT: inbox entries that are not exports (`source_file`, `folder`, `reason`)."""
    return exception_rows(
        entries, "SKIPPED_INPUT", entity_id=pl.col("source_file"), source_row=pl.lit(None),
        message=pl.format("{} skipped: {}", "source_file", "reason"),
    )


def order_conflicts(conflicts: pl.DataFrame) -> pl.DataFrame:
    """ORDER_CONFLICT: order line versions not applied, each carrying its `conflict` text."""
    return exception_rows(
        conflicts, "ORDER_CONFLICT", entity_id=pl.col("order_id"), customer_id=pl.col("customer_id"),
        message=pl.format("order {} line {} not applied: {}", "order_id", "line_no", "conflict"),
    )


def row_conflicts(conflicts: pl.DataFrame, entity: str, what: str) -> pl.DataFrame:
    """ROW_CONFLICT: later versions of a returns or adjustments row that differ from the first."""
    return exception_rows(
        conflicts, "ROW_CONFLICT", entity_id=pl.col(entity),
        customer_id=pl.col("customer_id") if "customer_id" in conflicts.columns else None,
        message=pl.format(f"{what} {{}} repeats an id with other values; the first version stands", pl.col(entity)),
    )


def future_events(history: History, rules: Rules) -> pl.DataFrame:
    """FUTURE_EVENT: a row whose event instant falls after its inbox folder's date."""
    after_folder = start_of(plus_days(pl.col("folder"), 1), rules)
    lines = history.order_lines.filter(pl.col("paid_at") >= after_folder)
    deliveries = history.delivery_rows.filter(pl.col("delivered_at") >= after_folder)
    returns = history.returns.filter(pl.col("returned_at") >= after_folder)
    adjustments = history.adjustments.filter(pl.col("created_at") >= after_folder)
    return concat_exceptions([
        exception_rows(
            lines, "FUTURE_EVENT", entity_id=pl.col("order_id"), customer_id=pl.col("customer_id"),
            message=pl.format("order {} line {}: paid_at {} is after its folder {}; applied at its own instant",
                              "order_id", "line_no", local_text(pl.col("paid_at"), rules), "folder"),
        ),
        exception_rows(
            deliveries, "FUTURE_EVENT", entity_id=pl.col("order_id"), customer_id=pl.col("customer_id"),
            message=pl.format("order {} line {}: delivered_at {} is after its folder {}; applied at its own instant",
                              "order_id", "line_no", local_text(pl.col("delivered_at"), rules), "folder"),
        ),
        exception_rows(
            returns, "FUTURE_EVENT", entity_id=pl.col("return_id"),
            message=pl.format("return {}: returned_at {} is after its folder {}; applied at its own instant",
                              "return_id", local_text(pl.col("returned_at"), rules), "folder"),
        ),
        exception_rows(
            adjustments, "FUTURE_EVENT", entity_id=pl.col("adjustment_id"), customer_id=pl.col("customer_id"),
            message=pl.format("adjustment {}: created_at {} is after its folder {}; applied at its own instant",
                              "adjustment_id", local_text(pl.col("created_at"), rules), "folder"),
        ),
    ])


def unknown_customers(orders: pl.DataFrame, adjustments: pl.DataFrame, customers: pl.DataFrame) -> pl.DataFrame:
    """UNKNOWN_CUSTOMER: orders and adjustments of a customer absent from the customers files of the
    folders up to their own (`first_folder` of an order: where its first line arrived)."""
    known = customers.select("customer_id", pl.col("first_folder").alias("customer_folder"))

    def unknown(rows: pl.DataFrame, folder: str) -> pl.DataFrame:
        joined = rows.join(known, on="customer_id", how="left")
        return joined.filter(pl.col("customer_folder").is_null() | (pl.col("customer_folder") > pl.col(folder)))

    return concat_exceptions([
        exception_rows(
            unknown(orders, "first_folder"), "UNKNOWN_CUSTOMER",
            entity_id=pl.col("order_id"), customer_id=pl.col("customer_id"), arrival=pl.col("first_folder"),
            message=pl.format("order {}: customer {} is not in the customers file; applied", "order_id", "customer_id"),
        ),
        exception_rows(
            unknown(adjustments, "folder"), "UNKNOWN_CUSTOMER",
            entity_id=pl.col("adjustment_id"), customer_id=pl.col("customer_id"),
            message=pl.format("adjustment {}: customer {} is not in the customers file; applied",
                              "adjustment_id", "customer_id"),
        ),
    ])


# RULES 3, 7: orders --------------------------------------------------------------------------

def unknown_promos(lines: pl.DataFrame) -> pl.DataFrame:
    """UNKNOWN_PROMO: lines whose promo code is not in the promotions files of the folders up to
    their own (`promo_first_folder`: where the code first arrived). They earn."""
    unknown = pl.col("promo_code").is_not_null() & (
        pl.col("promo_first_folder").is_null() | (pl.col("promo_first_folder") > pl.col("folder")))
    return exception_rows(
        lines.filter(unknown), "UNKNOWN_PROMO", entity_id=pl.col("order_id"),
        customer_id=pl.col("customer_id"),
        message=pl.format("order {} line {}: promo code '{}' is not in the promotions file; it earns points",
                          "order_id", "line_no", "promo_code"),
    )


def redemption_promos(lines: pl.DataFrame) -> pl.DataFrame:
    """REDEMPTION_PROMO: points paid on a line whose promotion (as its latest row defines it, from
    folder `promo_folder`) does not allow them."""
    return exception_rows(
        lines.filter((pl.col("points_redeemed") > 0) & ~pl.col("redeemable")), "REDEMPTION_PROMO",
        entity_id=pl.col("order_id"), customer_id=pl.col("customer_id"),
        arrival=pl.max_horizontal("folder", "promo_folder"),
        message=pl.format("order {} line {}: {} points paid on promo '{}', which does not allow points; debited anyway",
                          "order_id", "line_no", "points_redeemed", "promo_code"),
    )


def redemption_caps(orders: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """REDEMPTION_CAP: orders paying more points than the allowed share of their original price
    (known once their last line arrived, `folder`)."""
    over_cap = orders.filter(
        pl.col("redeemed_points") * KOPECKS * 100 > pl.col("price_kop") * rules.redemption_max_share_pct
    )
    return exception_rows(
        over_cap, "REDEMPTION_CAP", entity_id=pl.col("order_id"), customer_id=pl.col("customer_id"),
        message=pl.format(
            "order {}: {} points redeemed exceed {}% of the original price {} RUB; debited anyway",
            "order_id", "redeemed_points", pl.lit(rules.redemption_max_share_pct), rub_text(pl.col("price_kop")),
        ),
    )


# RULES 4, 8: deliveries and returns ----------------------------------------------------------

def returns_unknown_order(returns: pl.DataFrame) -> pl.DataFrame:
    """RETURN_UNKNOWN_ORDER: returns whose order line is not known yet (joined `paid_at` is null)."""
    return exception_rows(
        returns.filter(pl.col("paid_at").is_null()), "RETURN_UNKNOWN_ORDER", entity_id=pl.col("return_id"),
        message=pl.format("return {}: order {} line {} is not known yet; parked until it arrives",
                          "return_id", "order_id", "line_no"),
    )


def returns_before_payment(returns: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """SCHEMA: returns dated before their order's paid_at (joined on the order line)."""
    return exception_rows(
        returns.filter(pl.col("returned_at") < pl.col("paid_at")), "SCHEMA", entity_id=pl.col("return_id"),
        customer_id=pl.col("customer_id"), arrival=pl.max_horizontal("folder", "line_folder"),
        message=pl.format("returns row rejected: returned_at {} is before the order's paid_at {}",
                          local_text(pl.col("returned_at"), rules), local_text(pl.col("paid_at"), rules)),
    )


def undelivered(orders: pl.DataFrame, lines: pl.DataFrame, rules: Rules, as_of: dt.date) -> pl.DataFrame:
    """UNDELIVERED: online orders paid more than N days before D, not delivered, something kept.

    `orders` and `lines` are the ledger's, with `delivered` and `kept_quantity` as of D."""
    waiting = orders.filter((pl.col("channel") == "online") & pl.col("delivered").is_null()).filter(
        pl.lit(as_of) - business_date(pl.col("paid_at"), rules) > pl.duration(days=rules.undelivered_after_days)
    )
    kept = (
        lines.filter(pl.col("order_index").is_in(waiting.get_column("order_index").implode()))
        .group_by("order_index").agg(pl.col("kept_quantity").sum())
    )
    late = waiting.join(kept, on="order_index", maintain_order="left").filter(pl.col("kept_quantity") > 0)
    return exception_rows(
        late, "UNDELIVERED", entity_id=pl.col("order_id"), customer_id=pl.col("customer_id"), arrival=pl.lit(as_of),
        message=pl.format("online order {} paid {} has no delivery; its points stay pending", "order_id",
                          local_text(pl.col("paid_at"), rules)),
    )


# RULES 7, 8, 9: what only the ledger walk finds ----------------------------------------------

def overdrafts_of_orders(found: pl.DataFrame) -> pl.DataFrame:
    """OVERDRAFT: an order's redemption exceeded the available points (`points`: the debt).

    This check and the three below take what the walk found with its `arrival`."""
    return exception_rows(
        found, "OVERDRAFT", entity_id=pl.col("order_id"), customer_id=pl.col("customer_id"),
        arrival=pl.col("arrival"),
        message=pl.format("order {}: redemption exceeds the available points by {}; recorded as debt",
                          "order_id", "points"),
    )


def overdrafts_of_adjustments(found: pl.DataFrame) -> pl.DataFrame:
    """OVERDRAFT: a negative adjustment exceeded the available points (`points`: the debt)."""
    return exception_rows(
        found, "OVERDRAFT", entity_id=pl.col("adjustment_id"), customer_id=pl.col("customer_id"),
        arrival=pl.col("arrival"),
        message=pl.format("adjustment {}: debit exceeds the available points by {}; recorded as debt",
                          "adjustment_id", "points"),
    )


def clawback_debts(found: pl.DataFrame) -> pl.DataFrame:
    """DEBT: a return's clawback found its points no longer held (`points`: the debt)."""
    return exception_rows(
        found, "DEBT", entity_id=pl.col("return_id"), customer_id=pl.col("customer_id"), arrival=pl.col("arrival"),
        message=pl.format("return {} (order {} line {}): {} points to claw back were no longer held; recorded as debt",
                          "return_id", "order_id", "line_no", "points"),
    )


def returns_exceeding_quantity(found: pl.DataFrame) -> pl.DataFrame:
    """RETURN_EXCEEDS_QUANTITY: a return row asking more than is left (`points`: what was left)."""
    return exception_rows(
        found, "RETURN_EXCEEDS_QUANTITY", entity_id=pl.col("return_id"), customer_id=pl.col("customer_id"),
        arrival=pl.col("arrival"),
        message=pl.format("return {} (order {} line {}) rejected: only {} left on the line",
                          "return_id", "order_id", "line_no", "points"),
    )


# RULES 11: reconciliation --------------------------------------------------------------------

VARIANCE_MESSAGES = {
    "BALANCE_MISMATCH": pl.format(
        "{} points: recomputed {}, operational system {} (difference {})",
        "bucket", "recomputed_points", "operational_points", pl.col("recomputed_points") - pl.col("operational_points"),
    ),
    "MISSING_IN_OPERATIONAL": pl.format(
        "customer {} holds {} points here but is absent from the operational balances", "customer_id", "recomputed_points"),
    "MISSING_IN_RECOMPUTED": pl.format(
        "the operational system shows {} points for customer {}, unknown to the recomputation",
        "operational_points", "customer_id"),
}


def balance_variance(compared: pl.DataFrame) -> pl.DataFrame:
    """BALANCE_MISMATCH, MISSING_IN_OPERATIONAL, MISSING_IN_RECOMPUTED: the rows of the comparison
    (`sql/variance.sql`) with their code."""
    return concat_exceptions([
        exception_rows(
            compared.filter(pl.col("code") == code), code, entity_id=pl.col("customer_id"),
            customer_id=pl.col("customer_id"), message=message, arrival=pl.lit(None),
        )
        for code, message in VARIANCE_MESSAGES.items()
    ])


def rollforward_breaks(breaks: pl.DataFrame) -> pl.DataFrame:
    """ROLLFORWARD_BREAK: a customer (or the total, `customer_id` null) whose roll-forward does not
    tie in a bucket, or whose opening changed with nothing that arrived late to explain it."""
    return exception_rows(
        breaks, "ROLLFORWARD_BREAK", entity_id=pl.col("customer_id").fill_null(pl.lit("total")),
        customer_id=pl.col("customer_id"), source_file=pl.lit(None), source_row=pl.lit(None),
        message=pl.col("message"), arrival=pl.lit(None),
    )
