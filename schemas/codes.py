"""Every code the outputs use, defined once: exception codes with their severity, movement kinds,
buckets and source kinds. Plain data, so that reading a contract never loads the engine."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class ExceptionCode:
    """One exception code: `error` when the row is not applied (or not yet), `warning` for the rest
    (docs/interfaces.md lists the errors; ROLLFORWARD_BREAK is a warning there, and stops the run);
    `recurring` codes are reported every night while they last (RULES 12)."""

    code: str
    severity: str
    recurring: bool
    means: str


EXCEPTION_CODES = {
    c.code: c
    for c in (
        ExceptionCode("SCHEMA", "error", False, "a row breaks a column rule; not applied"),
        ExceptionCode("ORDER_CONFLICT", "error", False, "an order line differs from its accepted version"),
        ExceptionCode("ROW_CONFLICT", "error", False, "a return or adjustment repeats an id with other values"),
        ExceptionCode("RETURN_EXCEEDS_QUANTITY", "error", False, "a return asks for more than is left on the line"),
        ExceptionCode("RETURN_UNKNOWN_ORDER", "error", True, "a return of an order line not received yet; parked"),
        ExceptionCode("REDEMPTION_CAP", "warning", False, "points paid exceed the share of the price allowed"),
        ExceptionCode("REDEMPTION_PROMO", "warning", False, "points paid on a promotion that does not allow them"),
        ExceptionCode("OVERDRAFT", "warning", False, "a debit exceeded the available points; the rest is debt"),
        ExceptionCode("DEBT", "warning", False, "a clawback found the points spent; the rest is debt"),
        ExceptionCode("UNKNOWN_PROMO", "warning", False, "a promo code absent from the promotions file"),
        ExceptionCode("UNKNOWN_CUSTOMER", "warning", False, "an order or adjustment of a customer not in the customers file"),
        ExceptionCode("UNDELIVERED", "warning", True, "an online order long paid and not delivered; points stay pending"),
        ExceptionCode("FUTURE_EVENT", "warning", False, "an event dated after the folder it arrived in"),
        ExceptionCode("BALANCE_MISMATCH", "warning", True, "the operational system shows other points for a bucket"),
        ExceptionCode("MISSING_IN_OPERATIONAL", "warning", True, "a customer with points absent from the operational file"),
        ExceptionCode("MISSING_IN_RECOMPUTED", "warning", True, "the operational file shows points of a customer unknown here"),
        ExceptionCode("ROLLFORWARD_BREAK", "warning", False, "the roll-forward does not tie; the run publishes nothing"),
        ExceptionCode("EMPTY_FILE", "warning", False, "a 0-byte export, read as a file with no rows"),
        ExceptionCode("SKIPPED_INPUT", "warning", True, "an inbox entry that is not an export; never read"),
    )
}
ERROR_CODES = frozenset(c.code for c in EXCEPTION_CODES.values() if c.severity == "error")
WARNING_CODES = frozenset(c.code for c in EXCEPTION_CODES.values() if c.severity == "warning")
RECURRING_CODES = frozenset(c.code for c in EXCEPTION_CODES.values() if c.recurring)

EXCEPTION_SCHEMA = {
    "business_date": pl.Date,
    "severity": pl.String,
    "code": pl.String,
    "source_file": pl.String,
    "source_row": pl.Int64,
    "entity_id": pl.String,
    "customer_id": pl.String,
    "message": pl.String,
}
"""The columns of exceptions.csv/.parquet, in order."""

MOVEMENT_KINDS = ("earn", "mature", "redeem", "expire", "clawback", "restore", "birthday", "adjust", "debt", "repay")
"""What moved points (movements.parquet); the roll-forward has one column per kind."""
BUCKETS = ("pending", "available", "debt")
"""Where points sit: each movement changes one bucket, so a bucket's balance is the sum of its rows."""
SOURCE_KINDS = ("order", "return", "adjustment", "lot")
"""What a movement's source_id names."""
