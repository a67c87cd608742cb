"""The engine agrees with the plain-Python reference implementation on every balance column."""

import datetime as dt

import polars as pl
import pytest

from benchmarks.reference_ledger import reference_balances
from test_ledger_properties import run
from histories import random_history
from transforms.balances import BALANCE_COLUMNS
from transforms.history import build_history
from transforms.rules import default_rules
from transforms.snapshot import stage_all
from given import raw_frame

RULES = default_rules()


def history_of(rows: dict, as_of: dt.date):
    raw = {kind: [raw_frame(kind, [r for r in kind_rows if r["folder"] <= as_of.isoformat()] or kind_rows[:0], as_of.isoformat())]
           for kind, kind_rows in rows.items() if kind_rows}
    staged, _ = stage_all(raw)
    return build_history(staged)[0]


def disagreements(engine: pl.DataFrame, reference: dict[str, dict]) -> list:
    found = []
    assert sorted(engine["customer_id"]) == sorted(reference), "different customers"
    for row in engine.to_dicts():
        expected = reference[row["customer_id"]]
        for column in BALANCE_COLUMNS:
            if row[column] != expected[column]:
                found.append((row["customer_id"], column, row[column], expected[column]))
    return found


@pytest.mark.parametrize("seed", range(60))
def test_engine_matches_the_reference_on_random_histories(seed):
    rows = random_history(seed, customers=6)
    as_of = dt.date(2026, 3, 1) - dt.timedelta(days=seed * 5)
    snap = run(rows, as_of)
    assert disagreements(snap.balances, reference_balances(history_of(rows, as_of), RULES, as_of)) == []
