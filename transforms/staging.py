"""Staging: one export file's raw text rows -> typed rows of its kind, plus SCHEMA exceptions.

A staged row is one accepted row of the export, typed as `schemas.inputs` says, with where it
came from (source_file, source_row, folder). A row breaking any column rule is not staged and
becomes one SCHEMA exception listing every problem of that row.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas.formats import IDENTIFIER, quoted
from schemas.inputs import META_COLUMNS, ExportKind, parsed_column
from transforms.calendar import local_text, plus_days, start_of
from transforms.rules import Rules, default_rules
from transforms.checks import schema_violations

_ROW = "__row_index"
_ENTITY_COLUMN = {
    "orders": "order_id",
    "returns": "return_id",
    "customers": "customer_id",
    "promotions": "promo_code",
    "adjustments": "adjustment_id",
    "balances": "customer_id",
}


STAGING_RULES = ("timezone", "future_event_max_days")
"""The only rules a staged row depends on: instants are shown in the program's timezone and
RULES 12's horizon rejects an event too far after its folder. The staged cache is keyed on their
values (`staging_rules`), so that a change of any other rule (a rate, a threshold) keeps it."""


def staging_rules(rules: Rules) -> dict[str, object]:
    """The values of `STAGING_RULES` in `rules`."""
    return {name: getattr(rules, name) for name in STAGING_RULES}


FAILURES = {_ROW: pl.Int64, "column": pl.String, "problem": pl.String, "value": pl.String}
"""grain: one failed check of one row."""


def _failures(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> pl.DataFrame:
    """(row index, column, problem, value) for every failed check; empty when the frame is valid."""
    empty = pl.DataFrame(schema=FAILURES)
    if frame.height == 0:
        return empty
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        positions = frame.select(pl.col(_ROW), pl.int_range(pl.len(), dtype=pl.Int32).alias("index"))
        cases = errors.failure_cases.filter(pl.col("index").is_not_null()).join(positions, on="index")
        return cases.select(
            pl.col(_ROW),
            pl.when(pl.col("schema_context") == "DataFrameSchema")
            .then(pl.lit("row"))
            .otherwise(pl.col("column"))
            .alias("column"),
            pl.when(pl.col("check") == "not_nullable")
            .then(pl.lit("required value is empty"))
            .otherwise(pl.col("check"))
            .alias("problem"),
            pl.col("failure_case").alias("value"),
        )
    return empty


RAW_META = {"source_file": pl.String, "source_row": pl.Int64, "folder": pl.Date}
"""The columns every raw frame carries beside the export's own (see schemas.inputs.META_COLUMNS)."""


def empty_raw(kind: ExportKind) -> pl.DataFrame:
    """A raw frame of `kind` with no rows: what a run stages when no file of that kind arrived."""
    return pl.DataFrame(schema={c: pl.String for c in kind.columns} | RAW_META)


def _describe(formats: dict, failure: dict) -> str:
    column, problem, value = failure["column"], failure["problem"], failure["value"]
    if column == "row":
        return problem
    if column in formats and problem == formats[column].problem:
        problem = formats[column].explain(value)
    return f"{column}: {problem}" + ("" if value is None else f" (got {quoted(value)})")


def clean_text(kind: ExportKind, raw: pl.DataFrame) -> pl.DataFrame:
    """The kind's columns as text, empty cells as null, plus META and a row index. Spaces around a
    value are dropped, except around an id, where they are a SCHEMA problem: " C3 " is not "C3"."""
    def cleaned(name: str) -> pl.Expr:
        text = pl.col(name).cast(pl.String)
        if kind.columns[name][0] is IDENTIFIER:
            return pl.when(text.str.strip_chars() != "").then(text).alias(name)
        return text.str.strip_chars().replace("", None).alias(name)

    return raw.select(
        *[cleaned(name) for name in kind.required_columns],
        *[pl.col(name) for name in META_COLUMNS],
    ).with_row_index(_ROW).with_columns(pl.col(_ROW).cast(pl.Int64))


EVENT_COLUMNS = {"orders": ("paid_at", "delivered_at"), "returns": ("returned_at",), "adjustments": ("created_at",)}
"""The instants of an export that are events (RULES 12: FUTURE_EVENT); registered_at is not one."""


def _too_far_ahead(kind: ExportKind, typed: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """(row index, column, problem, value) of events more than the rules' horizon after their folder."""
    limit = start_of(plus_days(pl.col("folder"), rules.future_event_max_days + 1), rules)
    # no limit is before UTC midnight of folder + the horizon (a timezone is less than a day off
    # UTC): that bound, cheap to compute, leaves the exact one a few rows to look at
    bound = pl.col("folder").cast(pl.Datetime("us", "UTC")) + pl.duration(days=rules.future_event_max_days)
    found = [
        typed.filter(pl.col(column) >= bound).filter(pl.col(column) >= limit).select(
            pl.col(_ROW), pl.lit(column).alias("column"),
            pl.format("more than {} days after its folder {}", pl.lit(rules.future_event_max_days), "folder")
            .alias("problem"),
            local_text(pl.col(column), rules).alias("value"),
        )
        for column in EVENT_COLUMNS.get(kind.name, ())
    ]
    return pl.concat(found).cast(FAILURES) if found else pl.DataFrame(schema=FAILURES)


def stage_export(kind: ExportKind, raw: pl.DataFrame, rules: Rules | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed, accepted rows of one export and the SCHEMA exceptions of its rejected rows."""
    rules = rules or default_rules()
    text = clean_text(kind, raw)
    parsed = _parsed(kind, text)
    format_problems = _failures(kind.raw, parsed)
    formatted = _without(parsed, format_problems)
    typed = formatted.select(
        pl.col(_ROW),
        *[pl.col(parsed_column(name)).alias(name) for name in kind.columns],
        *[pl.col(name) for name in META_COLUMNS],
    )
    value_problems = _failures(kind.typed, typed)
    problems = pl.concat([format_problems, value_problems, _too_far_ahead(kind, typed, rules)])
    formats = {name: fmt for name, (fmt, _) in kind.columns.items()}
    problems = problems.with_columns(
        pl.struct("column", "problem", "value")
        .map_elements(lambda p: _describe(formats, p), return_dtype=pl.String)
        .alias("text")
    )
    rejected = (
        problems.group_by(_ROW)
        .agg(pl.col("text").sort().str.join("; ").alias("problems"))
        .join(text, on=_ROW)
        .sort(_ROW)
    )
    exceptions = schema_violations(rejected, kind.name, _ENTITY_COLUMN[kind.name], "customer_id" in kind.columns)
    # in row order already; one chunk, as a join and sort left it: a filtered frame of several
    # files' chunks made pl.format panic later on (polars 2.1, found by the property tests)
    accepted = _without(typed, rejected).drop(_ROW).rechunk()
    return accepted, exceptions


def _parsed(kind: ExportKind, text: pl.DataFrame) -> pl.DataFrame:
    """The text with each column's parsed values beside it (`parsed_column`). A column of a format
    with a usual form is read as that form, and the cells that leaves null but are not empty (a
    valid other form, or no valid form) are read again with the full parse: the same values as the
    full parse of every cell, for a fraction of the cost when most cells take the usual form."""
    usual = {name: fmt for name, (fmt, _) in kind.columns.items() if fmt.parse_usual is not None}
    parsed = text.with_columns(
        (fmt.parse_usual if name in usual else fmt.parse)(pl.col(name)).alias(parsed_column(name))
        for name, (fmt, _) in kind.columns.items()
    )
    for name, fmt in usual.items():
        rows = parsed.select(pl.arg_where(pl.col(parsed_column(name)).is_null() & pl.col(name).is_not_null()))
        if rows.height:  # text row i is parsed row i: a row index is not needed to put them back
            rows = rows.to_series()
            again = text.select(pl.col(name)).gather(rows).select(fmt.parse(pl.col(name))).to_series()
            parsed = parsed.with_columns(parsed.get_column(parsed_column(name)).scatter(rows, again))
    return parsed


def _without(frame: pl.DataFrame, problems: pl.DataFrame) -> pl.DataFrame:
    """The frame's rows not named by `problems` (by row index): the frame itself when none is."""
    if problems.height == 0:
        return frame
    return frame.filter(~pl.col(_ROW).is_in(problems.get_column(_ROW).implode()))
