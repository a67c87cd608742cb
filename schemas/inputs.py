"""Contracts of the six exports (docs/interfaces.md, inputs): one pandera schema per kind, in two layers.

`raw` checks the text of each cell (required, format: offsets on timestamps, 2 decimals on money,
whole points); `typed` checks the parsed values (ranges, allowed values, cross-column rules).
A row failing either becomes one SCHEMA exception; the file's other rows still apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from schemas.formats import (
    AMOUNT, BOOLEAN, DATE, FREE_TEXT, IDENTIFIER, INSTANT, INTEGER, MONEY, TEXT, TIMESTAMP, CellFormat,
)

META_COLUMNS = ("source_file", "source_row", "folder")
"""Every staged row keeps where it came from: file path, 1-based data row, inbox folder date."""


def _row_check(expr: pl.Expr, error: str) -> pa.Check:
    return pa.Check(lambda data: data.lazyframe.select(expr), error=error)


def _col(dtype, *checks: pa.Check, nullable: bool = False) -> pa.Column:
    return pa.Column(dtype, list(checks), nullable=nullable)


def parsed_column(name: str) -> str:
    """Where staging puts a column's parsed values, beside its text, before the raw layer checks
    them: each cell is parsed once, and what is checked is exactly what is staged."""
    return f"__parsed_{name}"


def _format_check(name: str, fmt: CellFormat) -> pa.Check:
    return _row_check(pl.col(name).is_null() | pl.col(parsed_column(name)).is_not_null(), f"{fmt.problem}")


@dataclass(frozen=True)
class ExportKind:
    """One export kind: its columns (format, required) and its typed contract."""

    name: str
    columns: dict[str, tuple[CellFormat, bool]]
    typed: pa.DataFrameSchema

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(self.columns)

    @property
    def raw(self) -> pa.DataFrameSchema:
        """The text layer, checked on the text with each column's parsed values beside it
        (`parsed_column`): a cell with text that does not parse breaks its format."""
        return pa.DataFrameSchema(
            {
                name: pa.Column(
                    pl.String,
                    [] if fmt is TEXT else [_format_check(name, fmt)],
                    nullable=not required,
                )
                for name, (fmt, required) in self.columns.items()
            },
            name=f"{self.name} (raw text)",
        )


_line_net = pl.col("unit_price") * pl.col("quantity") - pl.col("discount")

ORDERS = ExportKind(
    name="orders",
    columns={
        "order_id": (IDENTIFIER, True),
        "line_no": (INTEGER, True),
        "customer_id": (IDENTIFIER, True),
        "channel": (TEXT, True),
        "paid_at": (TIMESTAMP, True),
        "delivered_at": (TIMESTAMP, False),
        "currency": (TEXT, True),
        "sku": (IDENTIFIER, True),
        "quantity": (INTEGER, True),
        "unit_price": (AMOUNT, True),
        "discount": (AMOUNT, True),
        "points_redeemed": (INTEGER, True),
        "promo_code": (IDENTIFIER, False),
    },
    typed=pa.DataFrameSchema(
        {
            "order_id": _col(pl.String),
            "line_no": _col(pl.Int64, pa.Check.ge(1, error="must be at least 1")),
            "customer_id": _col(pl.String),
            "channel": _col(pl.String, pa.Check.isin(["online", "boutique"], error="must be online or boutique")),
            "paid_at": _col(INSTANT),
            "delivered_at": _col(INSTANT, nullable=True),
            "currency": _col(pl.String, pa.Check.isin(["RUB"], error="must be RUB")),
            "sku": _col(pl.String),
            "quantity": _col(pl.Int64, pa.Check.ge(1, error="must be at least 1")),
            "unit_price": _col(MONEY, pa.Check.ge(0, error="cannot be negative")),
            "discount": _col(MONEY, pa.Check.ge(0, error="cannot be negative")),
            "points_redeemed": _col(pl.Int64, pa.Check.ge(0, error="cannot be negative")),
            "promo_code": _col(pl.String, nullable=True),
        },
        checks=[
            _row_check(
                pl.col("discount") <= pl.col("unit_price") * pl.col("quantity"),
                "discount exceeds unit_price * quantity",
            ),
            _row_check(
                pl.col("points_redeemed").cast(MONEY) <= _line_net,
                "points_redeemed exceed the line net amount",
            ),
            _row_check(
                pl.col("delivered_at").is_null() | (pl.col("delivered_at") >= pl.col("paid_at")),
                "delivered_at is before paid_at",
            ),
        ],
        name="orders",
    ),
)

RETURNS = ExportKind(
    name="returns",
    columns={
        "return_id": (IDENTIFIER, True),
        "order_id": (IDENTIFIER, True),
        "line_no": (INTEGER, True),
        "kind": (TEXT, True),
        "quantity": (INTEGER, False),
        "returned_at": (TIMESTAMP, True),
    },
    typed=pa.DataFrameSchema(
        {
            "return_id": _col(pl.String),
            "order_id": _col(pl.String),
            "line_no": _col(pl.Int64, pa.Check.ge(1, error="must be at least 1")),
            "kind": _col(pl.String, pa.Check.isin(["return", "cancel"], error="must be return or cancel")),
            "quantity": _col(pl.Int64, pa.Check.ge(1, error="must be at least 1"), nullable=True),
            "returned_at": _col(INSTANT),
        },
        checks=[
            _row_check(
                (pl.col("kind") == "cancel") | pl.col("quantity").is_not_null(),
                "a return needs a quantity (only a cancel may leave it empty)",
            ),
        ],
        name="returns",
    ),
)

CUSTOMERS = ExportKind(
    name="customers",
    columns={
        "customer_id": (IDENTIFIER, True),
        "registered_at": (TIMESTAMP, True),
        "birth_date": (DATE, False),
    },
    typed=pa.DataFrameSchema(
        {
            "customer_id": _col(pl.String),
            "registered_at": _col(INSTANT),
            "birth_date": _col(pl.Date, nullable=True),
        },
        name="customers",
    ),
)

PROMOTIONS = ExportKind(
    name="promotions",
    columns={
        "promo_code": (IDENTIFIER, True),
        "earns_points": (BOOLEAN, True),
        "points_redeemable": (BOOLEAN, True),
    },
    typed=pa.DataFrameSchema(
        {
            "promo_code": _col(pl.String),
            "earns_points": _col(pl.Boolean),
            "points_redeemable": _col(pl.Boolean),
        },
        name="promotions",
    ),
)

ADJUSTMENTS = ExportKind(
    name="adjustments",
    columns={
        "adjustment_id": (IDENTIFIER, True),
        "customer_id": (IDENTIFIER, True),
        "created_at": (TIMESTAMP, True),
        "points": (INTEGER, True),
        "reason": (FREE_TEXT, True),
    },
    typed=pa.DataFrameSchema(
        {
            "adjustment_id": _col(pl.String),
            "customer_id": _col(pl.String),
            "created_at": _col(INSTANT),
            "points": _col(pl.Int64, pa.Check.ne(0, error="an adjustment of 0 points is not allowed")),
            "reason": _col(pl.String),
        },
        name="adjustments",
    ),
)

BALANCES = ExportKind(
    name="balances",
    columns={
        "customer_id": (IDENTIFIER, True),
        "available_points": (INTEGER, True),
        "pending_points": (INTEGER, True),
    },
    typed=pa.DataFrameSchema(
        {
            "customer_id": _col(pl.String),
            "available_points": _col(pl.Int64),
            "pending_points": _col(pl.Int64),
        },
        name="balances",
    ),
)

EXPORT_KINDS: dict[str, ExportKind] = {
    kind.name: kind for kind in (ORDERS, RETURNS, CUSTOMERS, PROMOTIONS, ADJUSTMENTS, BALANCES)
}
