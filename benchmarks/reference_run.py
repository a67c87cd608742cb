"""Engine recompute against the reference implementation on the same staged history. Prints JSON."""

from __future__ import annotations

import flows.allocator  # noqa: F401  (first: the engine measured here runs as a night does)

import datetime as dt
import json
import sys
import time
from pathlib import Path

from benchmarks.reference_ledger import reference_balances
from flows.inbox import inbox_files, load_dialects, read_raw
from transforms.balances import BALANCE_COLUMNS
from transforms.history import build_history
from transforms.rules import default_rules
from transforms.snapshot import compute_snapshot, stage_all


def compare(data_dir: Path, as_of: dt.date) -> dict:
    rules = default_rules()
    raw = {}
    for file in inbox_files(data_dir, as_of):
        raw.setdefault(file.kind, []).append(read_raw(file, load_dialects(data_dir)))
    staged, _ = stage_all(raw)
    started = time.perf_counter()
    engine = compute_snapshot(staged, rules, as_of).balances
    engine_seconds = time.perf_counter() - started
    started = time.perf_counter()
    history = build_history(staged)[0]
    reference = reference_balances(history, rules, as_of)
    reference_seconds = time.perf_counter() - started
    differing = sum(
        any(row[c] != reference[row["customer_id"]][c] for c in BALANCE_COLUMNS) for row in engine.iter_rows(named=True)
    )
    return {"engine_seconds": round(engine_seconds, 3), "reference_seconds": round(reference_seconds, 3),
            "customers": engine.height, "customers_differing": differing}


if __name__ == "__main__":
    print(json.dumps(compare(Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]))))
