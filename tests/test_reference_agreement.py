"""The engine agrees with the plain-Python reference implementation on every balance column."""

import datetime as dt

import pytest

from benchmarks.reference_ledger import reference_balances
from histories import random_history
from transforms.history import build_history
from transforms.rules import default_rules
from transforms.snapshot import stage_all
from given import disagreements, raw_frame, snapshot_of_history

RULES = default_rules()


def history_of(rows: dict, as_of: dt.date):
    raw = {kind: [raw_frame(kind, [r for r in kind_rows if r["folder"] <= as_of.isoformat()] or kind_rows[:0], as_of.isoformat())]
           for kind, kind_rows in rows.items() if kind_rows}
    staged, _ = stage_all(raw)
    return build_history(staged)[0]


@pytest.mark.parametrize("seed", range(60))
def test_engine_matches_the_reference_on_random_histories(seed):
    rows = random_history(seed, customers=6)
    as_of = dt.date(2026, 3, 1) - dt.timedelta(days=seed * 5)
    snap = snapshot_of_history(rows, as_of)
    assert disagreements(snap.balances, reference_balances(history_of(rows, as_of), RULES, as_of)) == []
