"""Cell formats of the exports: how a valid cell looks and how it is read into a typed value.

Each format is a pair (check, parse) over one string column. The check is what pandera runs on
the raw text, so a cell that fails it becomes a SCHEMA exception; the parse is what staging
applies to cells that passed, so the two can never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import polars as pl

MONEY = pl.Decimal(18, 2)
INSTANT = pl.Datetime("us", "UTC")

_TIMESTAMP = r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(?:\.\d{1,6})?)?(Z|[+-]\d{2}(?::?\d{2})?)$"
_NAIVE_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"


_CANONICAL_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}:\d{2}$"
"""The form most exports use, already what `_any_timestamp` would rewrite it to."""
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"


def parse_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO 8601 with a UTC offset ('Z', '+03:00', '+0300', '+03') -> UTC instant; null if not.
    A cell already in the canonical form is read directly; only the others are taken apart and
    put together canonically first (three times slower), which gives the same instant."""
    canonical = text.str.contains(_CANONICAL_TIMESTAMP)
    return pl.coalesce(_read_canonical(pl.when(canonical).then(text)),
                       _any_timestamp(pl.when(~canonical).then(text)))  # each row takes one path


def parse_canonical_timestamp(text: pl.Expr) -> pl.Expr:
    """`parse_timestamp` of a cell in the canonical form; null for every other cell, even a valid one."""
    return _read_canonical(pl.when(text.str.contains(_CANONICAL_TIMESTAMP)).then(text))


def _read_canonical(text: pl.Expr) -> pl.Expr:
    return text.str.to_datetime(_TIMESTAMP_FORMAT, strict=False, time_unit="us", time_zone="UTC")


def _any_timestamp(text: pl.Expr) -> pl.Expr:
    """parse_timestamp for every accepted form: the parts rewritten canonically, then read."""
    parts = text.str.extract_groups(_TIMESTAMP)
    offset = parts.struct.field("4")
    offset = (
        pl.when(offset == "Z")
        .then(pl.lit("+00:00"))
        .when(offset.str.len_chars() == 3)
        .then(offset + ":00")
        .when(offset.str.len_chars() == 5)
        .then(offset.str.slice(0, 3) + ":" + offset.str.slice(3, 2))
        .otherwise(offset)
    )
    canonical = pl.concat_str(
        parts.struct.field("1"),
        pl.lit("T"),
        parts.struct.field("2"),
        parts.struct.field("3").fill_null(":00"),
        offset,
    )
    return canonical.str.to_datetime(_TIMESTAMP_FORMAT, strict=False, time_unit="us", time_zone="UTC")


def parse_date(text: pl.Expr) -> pl.Expr:
    return (
        pl.when(text.str.contains(r"^\d{4}-\d{2}-\d{2}$"))
        .then(text)
        .otherwise(None)
        .str.to_date("%Y-%m-%d", strict=False)
    )


def parse_int(text: pl.Expr) -> pl.Expr:
    return (
        pl.when(text.str.contains(r"^[+-]?\d{1,15}$"))
        .then(text)
        .otherwise(None)
        .cast(pl.Int64, strict=False)
    )


def parse_money(text: pl.Expr) -> pl.Expr:
    """At most 2 decimals, '.' as the separator (a decimal-comma source is normalised on read)."""
    return (
        pl.when(text.str.contains(r"^[+-]?\d{1,15}(\.\d{1,2})?$"))
        .then(text)
        .otherwise(None)
        .cast(MONEY, strict=False)
    )


def parse_bool(text: pl.Expr) -> pl.Expr:
    lowered = text.str.to_lowercase()
    return pl.when(lowered == "true").then(True).when(lowered == "false").then(False).otherwise(None)


def parse_text(text: pl.Expr) -> pl.Expr:
    return text


ID_MAX_CHARS = 100
TEXT_MAX_CHARS = 1000
QUOTED_CHARS = 40
"""Input limits: an id longer than ID_MAX_CHARS or a text longer than TEXT_MAX_CHARS is a SCHEMA
row, and a message quotes at most QUOTED_CHARS of a bad value."""
_CONTROL = r"[\x00-\x1f\x7f]"


def parse_identifier(text: pl.Expr) -> pl.Expr:
    """An id as exported: no control characters, no spaces around it, at most ID_MAX_CHARS."""
    fine = (~text.str.contains(_CONTROL)) & (text.str.strip_chars() == text) & (text.str.len_chars() <= ID_MAX_CHARS)
    return pl.when(fine).then(text)


def parse_free_text(text: pl.Expr) -> pl.Expr:
    """Free text (an adjustment's reason): no control characters, at most TEXT_MAX_CHARS."""
    fine = (~text.str.contains(_CONTROL)) & (text.str.len_chars() <= TEXT_MAX_CHARS)
    return pl.when(fine).then(text)


def quoted(value: str | None) -> str:
    """A bad value as a message shows it: a short prefix, its length when cut."""
    if value is None:
        return "empty"
    if len(value) <= QUOTED_CHARS:
        return repr(value)
    return f"{value[:QUOTED_CHARS]!r}... ({len(value)} characters)"


@dataclass(frozen=True)
class CellFormat:
    """How one column's raw text must look (`problem` says so when it does not) and reads."""

    name: str
    dtype: pl.DataType
    parse: Callable[[pl.Expr], pl.Expr]
    problem: str
    parse_usual: Callable[[pl.Expr], pl.Expr] | None = None
    """`parse` of the form most exports use, cheaper, and null for any other cell: staging reads a
    column with it first, then reads with `parse` the cells it left null that are not empty"""

    def explain(self, raw: str) -> str:
        if self.parse is parse_timestamp and raw is not None:
            if re.match(_NAIVE_TIMESTAMP, raw):
                return "timestamp has no UTC offset (naive)"
        return self.problem


TEXT = CellFormat("text", pl.String, parse_text, "text")
IDENTIFIER = CellFormat("identifier", pl.String, parse_identifier,
                        f"not an id: control characters, spaces around it, or more than {ID_MAX_CHARS} characters")
FREE_TEXT = CellFormat("free text", pl.String, parse_free_text,
                       f"control characters or more than {TEXT_MAX_CHARS} characters")
INTEGER = CellFormat("integer", pl.Int64, parse_int, "not a whole number")
AMOUNT = CellFormat("money", MONEY, parse_money, "not an amount with at most 2 decimals")
TIMESTAMP = CellFormat("timestamp", INSTANT, parse_timestamp, "not an ISO 8601 timestamp with a UTC offset",
                       parse_canonical_timestamp)
DATE = CellFormat("date", pl.Date, parse_date, "not a date YYYY-MM-DD")
BOOLEAN = CellFormat("boolean", pl.Boolean, parse_bool, "not true/false")
