"""Runs the named DuckDB queries of transforms/sql/ over Polars frames, parameters bound."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import duckdb
import polars as pl

SQL_DIR = Path(__file__).with_name("sql")
_LOCAL = threading.local()


@cache
def sql_text(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory database (opening one costs about 20 ms, paid per part otherwise);
    it holds nothing between queries but the frames' views, which `run_sql` drops."""
    if getattr(_LOCAL, "con", None) is None:
        _LOCAL.con = duckdb.connect()
        _LOCAL.con.execute("SET TimeZone = 'UTC'")
    return _LOCAL.con


def run_sql(name: str, params: dict | None = None, **frames: pl.DataFrame) -> pl.DataFrame:
    """Result of query `name` with each frame visible under its keyword name, and nothing else."""
    con = _connection()
    try:
        for table, frame in frames.items():
            con.register(table, frame)
        return con.sql(sql_text(name), params=params or {}).pl()
    finally:
        for table in frames:
            con.unregister(table)
