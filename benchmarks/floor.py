"""Two floors no engine can go below.

- `scan`: one DuckDB scan of every input file, reading every column once: what any engine must
  read.
- `written`: the movements and lots a published night holds, written again part by part as the
  flow writes them (`flows.publish.ParquetAppender`, the columns `flows.nightly.CODED` names),
  on one thread: what any engine must write each night, whatever it computes. Only the writing is
  timed; the rows are read one part (row group) at a time beforehand.

`python -m benchmarks.floor DIR` prints the scan's JSON; `python -m benchmarks.floor --written
DIR/out/D` the writing's.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from flows.nightly import CODED
from flows.publish import ParquetAppender
from schemas.inputs import EXPORT_KINDS


def scan(data_dir: Path) -> dict:
    started = time.perf_counter()
    rows = {}
    with duckdb.connect() as con:
        for kind, spec in EXPORT_KINDS.items():
            for suffix, reader in (("csv", "read_csv({}, all_varchar = true, union_by_name = true)"),
                                   ("parquet", "read_parquet({}, union_by_name = true)")):
                pattern = str(data_dir / "inbox" / "*" / f"{kind}*.{suffix}")
                if not list((data_dir / "inbox").glob(f"*/{kind}*.{suffix}")):
                    continue
                # every column once; the names are the contract's, never input text
                touched = ", ".join(f'sum(length(CAST("{c}" AS VARCHAR)))' for c in spec.columns)
                query = f"SELECT count(*), {touched} FROM " + reader.format("$pattern")
                rows[f"{kind}.{suffix}"] = con.execute(query, {"pattern": pattern}).fetchone()[0]
    return {"seconds": round(time.perf_counter() - started, 3), "rows": rows}


def written(published: Path, into: Path | None = None) -> dict:
    """Seconds to write `published`'s movements.parquet and lots.parquet again, part by part, into
    `into` (a temporary folder by default), and the rows written per file."""
    if into is None:
        with tempfile.TemporaryDirectory(prefix="floor-") as scratch:
            return written(published, Path(scratch))
    seconds, rows = {}, {}
    for name, coded in CODED.items():
        source = pq.ParquetFile(published / f"{name}.parquet")
        appender, spent = ParquetAppender(into / f"{name}.parquet", coded), 0.0
        for group in range(source.num_row_groups):
            part = pl.from_arrow(source.read_row_group(group))
            started = time.perf_counter()
            appender.append(part)
            spent += time.perf_counter() - started
        started = time.perf_counter()
        rows[name] = appender.close(pl.from_arrow(source.schema_arrow.empty_table()))["rows"]
        seconds[name] = round(spent + time.perf_counter() - started, 3)
    return {"seconds": round(sum(seconds.values()), 3), "by_file": seconds, "rows": rows}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--written"]:
        print(json.dumps(written(Path(sys.argv[2]))))
    else:
        print(json.dumps(scan(Path(sys.argv[1]))))
