"""The run's state in DIR/warehouse.duckdb: the run log, and the published days with their
closings and the night each reported its exceptions since.

A day is published in two steps that commit together: its records are staged here under the
run's id (`stage_publication`), the folder is swapped in, then the records are committed
(`commit_publication`). A run that dies between the two leaves a staged publication, which the
next run settles by looking at the folder (`recover`): the folder of that run is there, so the
records commit; it is not, so they go. Only committed days are openings of later runs.

DuckDB lets one process write the file, or any number read it, not both: a run waits for a
reader to let go (LOCK_WAIT_SECONDS) rather than fail on its first try.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from transforms.finance import CLOSING_COLUMNS, Opening

WAREHOUSE_FILE = "warehouse.duckdb"

_DDL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, as_of DATE NOT NULL, started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ, status VARCHAR NOT NULL, message VARCHAR,
    rules_version VARCHAR, code_version VARCHAR, out_dir VARCHAR
);
CREATE TABLE IF NOT EXISTS publications (
    run_id VARCHAR PRIMARY KEY, as_of DATE NOT NULL, state VARCHAR NOT NULL, staged_at TIMESTAMPTZ NOT NULL,
    committed_at TIMESTAMPTZ, opening_as_of DATE, reported_since DATE, rules_version VARCHAR NOT NULL,
    code_version VARCHAR NOT NULL, pending BIGINT NOT NULL, available BIGINT NOT NULL, debt BIGINT NOT NULL
);
ALTER TABLE publications ADD COLUMN IF NOT EXISTS reported_since DATE;
CREATE TABLE IF NOT EXISTS closings (
    run_id VARCHAR NOT NULL, customer_id VARCHAR NOT NULL, tier VARCHAR NOT NULL,
    pending BIGINT NOT NULL, available BIGINT NOT NULL, debt BIGINT NOT NULL
);
"""
_START = "INSERT INTO runs (run_id, as_of, started_at, status, rules_version, code_version) VALUES (?, ?, ?, 'running', ?, ?)"
_FINISH = "UPDATE runs SET finished_at = ?, status = ?, message = ?, out_dir = ? WHERE run_id = ?"
_ABANDONED = """
UPDATE runs SET status = 'failed', finished_at = ?, message = 'stopped before it finished (the process was killed)'
WHERE status = 'running' RETURNING run_id, as_of, started_at
"""
_STAGE = """
INSERT INTO publications (run_id, as_of, state, staged_at, opening_as_of, reported_since, rules_version,
                          code_version, pending, available, debt)
VALUES ($run_id, $as_of, 'staged', $now, $opening_as_of, $reported_since, $rules_version, $code_version,
        $pending, $available, $debt)
"""
_STAGE_CLOSINGS = """
INSERT INTO closings SELECT $run_id, customer_id, tier, pending, available, debt FROM read_parquet($closings)
"""
_CLOSING_TOTALS = """
SELECT coalesce(sum(pending), 0), coalesce(sum(available), 0), coalesce(sum(debt), 0) FROM read_parquet($closings)
"""
_SUPERSEDED = "SELECT run_id FROM publications WHERE as_of = $as_of AND state = 'committed' AND run_id <> $run_id"
_COMMIT = "UPDATE publications SET state = 'committed', committed_at = $now WHERE run_id = $run_id"
_FORGET = ("DELETE FROM closings WHERE run_id = $run_id", "DELETE FROM publications WHERE run_id = $run_id")
_STAGED = "SELECT run_id, as_of FROM publications WHERE state = 'staged' ORDER BY staged_at"
_OPENING = """
SELECT run_id, as_of, rules_version, code_version, pending, available, debt FROM publications
WHERE state = 'committed' AND as_of < $as_of ORDER BY as_of DESC LIMIT 1
"""
_CLOSINGS = "SELECT customer_id, tier, pending, available, debt FROM closings WHERE run_id = $run_id"
_PUBLISHED_AS = "SELECT reported_since FROM publications WHERE state = 'committed' AND as_of = $as_of"
_LAST_BEFORE = "SELECT max(as_of) FROM publications WHERE state = 'committed' AND as_of < $as_of"
_HISTORY = """
SELECT as_of, pending, available, debt, available + pending - debt AS liability FROM publications
WHERE state = 'committed' AND as_of < $as_of ORDER BY as_of
"""


@dataclass(frozen=True)
class Publication:
    """A day about to be published: what the warehouse stores with it."""

    run_id: str
    as_of: dt.date
    opening_as_of: dt.date | None
    rules_version: str
    code_version: str
    reported_since: dt.date | None
    """the night whose exceptions this one reports on top of (`Warehouse.reported_since`)"""
    closings: Path
    """a parquet file of CLOSING_COLUMNS rows: every customer holding points or debt"""


LOCK_WAIT_SECONDS = 120
"""How long a run waits for other processes that hold warehouse.duckdb open (a reader: a
monitoring query, someone's DuckDB shell) before it fails with one line naming the file."""


class WarehouseBusy(RuntimeError):
    """Another process kept the warehouse file open for longer than LOCK_WAIT_SECONDS."""


class Warehouse:
    def __init__(self, data_dir: Path):
        self.path = data_dir / WAREHOUSE_FILE

    def _connect(self) -> duckdb.DuckDBPyConnection:
        deadline, pause = time.monotonic() + LOCK_WAIT_SECONDS, 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as held:
                if "Could not set lock" not in str(held):
                    raise
                if time.monotonic() >= deadline:
                    pid = re.search(r"\(PID (\d+)\)", str(held))
                    holder = f"pid {pid.group(1)}" if pid else "another process"
                    raise WarehouseBusy(f"{self.path} is held open by {holder} for more than {LOCK_WAIT_SECONDS} s; "
                                        "close it (or read a copy of it) and run again") from None
                time.sleep(pause)
                pause = min(1.0, pause * 2)
        con.execute(_DDL)
        return con

    def start_run(self, run_id: str, as_of: dt.date, rules_version: str, code_version: str) -> None:
        with self._connect() as con:
            con.execute(_START, [run_id, as_of, dt.datetime.now(dt.timezone.utc), rules_version, code_version])

    def close_abandoned_runs(self) -> list[str]:
        """Runs still marked running while this one holds the data directory died (killed): say so."""
        with self._connect() as con:
            abandoned = con.execute(_ABANDONED, [_now()]).fetchall()
        return [f"run {run_id} for {as_of}, started {started:%Y-%m-%d %H:%M:%S %Z}, stopped before it finished; "
                f"marked failed" for run_id, as_of, started in abandoned]

    def finish_run(self, run_id: str, status: str, message: str = "", out_dir: str | None = None) -> None:
        with self._connect() as con:
            con.execute(_FINISH, [dt.datetime.now(dt.timezone.utc), status, message, out_dir, run_id])

    def reported_since(self, as_of: dt.date) -> dt.date | None:
        """The night D reports exceptions since: as when D was first published, else the last night
        published before D (None: D reports everything it finds)."""
        with self._connect() as con:
            published = con.execute(_PUBLISHED_AS, {"as_of": as_of}).fetchall()
            if published:
                return published[0][0]
            return con.execute(_LAST_BEFORE, {"as_of": as_of}).fetchall()[0][0]

    def opening(self, as_of: dt.date, rules_version: str, code_version: str) -> Opening:
        """The closing of the last published day before D, as published (none: the first run)."""
        with self._connect() as con:
            found = con.execute(_OPENING, {"as_of": as_of}).fetchall()
            if not found:
                return Opening.none()
            run_id, day, rules_then, code_then, pending, available, debt = found[0]
            closings = con.sql(_CLOSINGS, params={"run_id": run_id}).pl().cast(CLOSING_COLUMNS)
        changes = [f"{what} {then} -> {now}" for what, then, now in
                   (("rules", rules_then, rules_version), ("code", code_then, code_version)) if then != now]
        change = f"the engine changed since {day} was published ({', '.join(changes)})" if changes else None
        return Opening(day, closings, {"pending": pending, "available": available, "debt": debt}, change)

    def liability_history(self, as_of: dt.date) -> pl.DataFrame:
        """The closing totals of every published day before D, as published."""
        with self._connect() as con:
            return con.sql(_HISTORY, params={"as_of": as_of}).pl()

    def stage_publication(self, publication: Publication, now: dt.datetime | None = None) -> None:
        """Store what the day's publication carries, not yet in force (see `recover`)."""
        closings = {"closings": str(publication.closings)}
        with self._connect() as con:
            totals = dict(zip(("pending", "available", "debt"), con.execute(_CLOSING_TOTALS, closings).fetchone()))
            con.begin()
            for statement in _FORGET:  # a retry stages the same run again
                con.execute(statement, {"run_id": publication.run_id})
            con.execute(_STAGE, {
                "run_id": publication.run_id, "as_of": publication.as_of, "now": now or _now(),
                "opening_as_of": publication.opening_as_of, "reported_since": publication.reported_since,
                "rules_version": publication.rules_version, "code_version": publication.code_version, **totals,
            })
            con.execute(_STAGE_CLOSINGS, {"run_id": publication.run_id, **closings})
            con.commit()

    def commit_publication(self, run_id: str, as_of: dt.date) -> None:
        """The day's folder is in place: its records come into force and replace the day's earlier ones."""
        with self._connect() as con:
            con.begin()
            for (old,) in con.execute(_SUPERSEDED, {"as_of": as_of, "run_id": run_id}).fetchall():
                for statement in _FORGET:
                    con.execute(statement, {"run_id": old})
            con.execute(_COMMIT, {"run_id": run_id, "now": _now()})
            con.commit()

    def abort_publication(self, run_id: str) -> None:
        with self._connect() as con:
            con.begin()
            for statement in _FORGET:
                con.execute(statement, {"run_id": run_id})
            con.commit()

    def recover(self, out_root: Path) -> list[str]:
        """Settle the publications a dead run left staged: commit those whose folder is published
        (its manifest names the run), drop the others. Returns what it did, one line each."""
        with self._connect() as con:
            staged = con.execute(_STAGED).fetchall()
        done = []
        for run_id, as_of in staged:
            if published_run(out_root / as_of.isoformat()) == run_id:
                self.commit_publication(run_id, as_of)
                done.append(f"committed the records of {as_of}, published by run {run_id} before it stopped")
            else:
                self.abort_publication(run_id)
                done.append(f"dropped the records of run {run_id} for {as_of}: its folder was never published")
        return done


def published_run(folder: Path) -> str | None:
    """The run id in a published folder's manifest, if there is a readable one."""
    try:
        return json.loads((folder / "manifest.json").read_text())["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
