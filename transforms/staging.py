"""Staging: one export file's raw text rows -> typed rows of its kind, plus SCHEMA exceptions.

A staged row is one accepted row of the export, typed as `schemas.inputs` says, with where it
came from (source_file, source_row, folder). A row breaking any column rule is not staged and
becomes one SCHEMA exception listing every problem of that row.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas.inputs import META_COLUMNS, ExportKind
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


def _failures(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> pl.DataFrame:
    """(row index, column, problem, value) for every failed check; empty when the frame is valid."""
    empty = pl.DataFrame(schema={_ROW: pl.Int64, "column": pl.String, "problem": pl.String, "value": pl.String})
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
    return f"{column}: {problem}" + ("" if value is None else f" (got {value!r})")


def clean_text(kind: ExportKind, raw: pl.DataFrame) -> pl.DataFrame:
    """The kind's columns as stripped text, empty cells as null, plus META and a row index."""
    return raw.select(
        *[
            pl.col(name).cast(pl.String).str.strip_chars().replace("", None).alias(name)
            for name in kind.required_columns
        ],
        *[pl.col(name) for name in META_COLUMNS],
    ).with_row_index(_ROW).with_columns(pl.col(_ROW).cast(pl.Int64))


def stage_export(kind: ExportKind, raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed, accepted rows of one export and the SCHEMA exceptions of its rejected rows."""
    text = clean_text(kind, raw)
    format_problems = _failures(kind.raw, text)
    formatted = text.join(format_problems.select(_ROW).unique(), on=_ROW, how="anti")
    typed = formatted.select(
        pl.col(_ROW),
        *[fmt.parse(pl.col(name)).alias(name) for name, (fmt, _) in kind.columns.items()],
        *[pl.col(name) for name in META_COLUMNS],
    )
    value_problems = _failures(kind.typed, typed)
    problems = pl.concat([format_problems, value_problems])
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
    accepted = typed.join(rejected.select(_ROW), on=_ROW, how="anti").sort(_ROW).drop(_ROW)
    return accepted, exceptions
