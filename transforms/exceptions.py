"""Exception rows: one row per problem a finance person or operator can act on (CONTRACT.md)."""

from __future__ import annotations

import polars as pl

ERROR_CODES = frozenset(
    {"SCHEMA", "ORDER_CONFLICT", "ROW_CONFLICT", "RETURN_EXCEEDS_QUANTITY", "RETURN_UNKNOWN_ORDER"}
)
WARNING_CODES = frozenset(
    {
        "REDEMPTION_CAP", "REDEMPTION_PROMO", "OVERDRAFT", "DEBT", "UNKNOWN_PROMO", "UNKNOWN_CUSTOMER",
        "UNDELIVERED", "FUTURE_EVENT", "BALANCE_MISMATCH", "MISSING_IN_OPERATIONAL",
        "MISSING_IN_RECOMPUTED", "ROLLFORWARD_BREAK",
    }
)
RECURRING_CODES = frozenset(
    {"RETURN_UNKNOWN_ORDER", "UNDELIVERED", "BALANCE_MISMATCH", "MISSING_IN_OPERATIONAL", "MISSING_IN_RECOMPUTED"}
)
"""Reported every night while they last, not only the night they are first seen (RULES 12)."""

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


def severity_of(code: pl.Expr) -> pl.Expr:
    return pl.when(code.is_in(list(ERROR_CODES))).then(pl.lit("error")).otherwise(pl.lit("warning"))


def exception_rows(
    frame: pl.DataFrame,
    code: str,
    *,
    entity_id: pl.Expr,
    message: pl.Expr,
    customer_id: pl.Expr | None = None,
    source_file: pl.Expr | None = None,
    source_row: pl.Expr | None = None,
) -> pl.DataFrame:
    """Exception rows for every row of `frame`; business_date is filled in when the run publishes."""
    assert code in ERROR_CODES or code in WARNING_CODES, code
    return frame.select(
        pl.lit(None, pl.Date).alias("business_date"),
        pl.lit("error" if code in ERROR_CODES else "warning").alias("severity"),
        pl.lit(code).alias("code"),
        (source_file if source_file is not None else pl.col("source_file")).cast(pl.String).alias("source_file"),
        (source_row if source_row is not None else pl.col("source_row")).cast(pl.Int64).alias("source_row"),
        entity_id.cast(pl.String).alias("entity_id"),
        (customer_id if customer_id is not None else pl.lit(None)).cast(pl.String).alias("customer_id"),
        message.cast(pl.String).alias("message"),
    )


def no_exceptions() -> pl.DataFrame:
    return pl.DataFrame(schema=EXCEPTION_SCHEMA)


def concat_exceptions(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if f.height]
    return pl.concat(frames, how="vertical") if frames else no_exceptions()
