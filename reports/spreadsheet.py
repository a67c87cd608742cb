"""CSV files that people open in Excel or LibreOffice: text that could start a formula is made inert.

A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula (or a
DDE command) by spreadsheets. In the files people open (exceptions.csv, restatements.csv) such a
text cell gets a leading apostrophe, the convention spreadsheets show as "this is text"; numbers
are left alone. The exact values stay in the Parquet twins and in the machine files (balances.csv,
balances_delta.csv, rollforward.csv), which are never altered.
"""

from __future__ import annotations

import polars as pl

FORMULA_STARTS = r"^[=+\-@\t\r]"


def inert_text(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every text cell that a spreadsheet would evaluate prefixed with an apostrophe."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_STARTS)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name))
        .alias(name)
        for name in text
    )
