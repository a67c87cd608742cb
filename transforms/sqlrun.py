"""Runs the named DuckDB queries of transforms/sql/ over Polars frames, parameters bound."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb
import polars as pl

SQL_DIR = Path(__file__).with_name("sql")


@cache
def sql_text(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def run_sql(name: str, params: dict | None = None, **frames: pl.DataFrame) -> pl.DataFrame:
    """Result of query `name` with each frame visible under its keyword name; a fresh database."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for table, frame in frames.items():
            con.register(table, frame)
        return con.sql(sql_text(name), params=params or {}).pl()
