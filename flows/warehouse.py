"""The run's state in DIR/warehouse.duckdb: the run log and the exceptions already reported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from transforms.reporting import SEEN_SCHEMA

WAREHOUSE_FILE = "warehouse.duckdb"

_DDL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, as_of DATE NOT NULL, started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ, status VARCHAR NOT NULL, message VARCHAR,
    rules_version VARCHAR, code_version VARCHAR, out_dir VARCHAR
);
CREATE TABLE IF NOT EXISTS exceptions_seen (
    exception_key VARCHAR PRIMARY KEY, first_seen DATE NOT NULL
);
"""
_START = "INSERT INTO runs (run_id, as_of, started_at, status, rules_version, code_version) VALUES (?, ?, ?, 'running', ?, ?)"
_FINISH = "UPDATE runs SET finished_at = ?, status = ?, message = ?, out_dir = ? WHERE run_id = ?"
_SEEN = "SELECT exception_key, first_seen FROM exceptions_seen"
_REMEMBER = """
INSERT INTO exceptions_seen SELECT exception_key, first_seen FROM remembered
ON CONFLICT (exception_key) DO UPDATE SET first_seen = least(exceptions_seen.first_seen, excluded.first_seen)
"""


class Warehouse:
    def __init__(self, data_dir: Path):
        self.path = data_dir / WAREHOUSE_FILE

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.path))
        con.execute(_DDL)
        return con

    def start_run(self, run_id: str, as_of: dt.date, rules_version: str, code_version: str) -> None:
        with self._connect() as con:
            con.execute(_START, [run_id, as_of, dt.datetime.now(dt.timezone.utc), rules_version, code_version])

    def finish_run(self, run_id: str, status: str, message: str = "", out_dir: str | None = None) -> None:
        with self._connect() as con:
            con.execute(_FINISH, [dt.datetime.now(dt.timezone.utc), status, message, out_dir, run_id])

    def seen_exceptions(self) -> pl.DataFrame:
        with self._connect() as con:
            return con.sql(_SEEN).pl().cast(SEEN_SCHEMA)

    def remember_exceptions(self, remembered: pl.DataFrame) -> None:
        with self._connect() as con:
            con.register("remembered", remembered)
            con.execute(_REMEMBER)
