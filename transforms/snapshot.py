"""One snapshot as of D: staged exports in; balances, movements and exceptions out. Pure."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import polars as pl

from schemas.inputs import EXPORT_KINDS
from transforms.balances import build_balances
from transforms.checks import FOUND_SCHEMA, concat_exceptions
from transforms.events import build_ledger_inputs
from transforms.finance import Figures, Opening, part_figures
from transforms.history import build_history, duplicates_by_file
from transforms.ledger import Ledger, build_ledger
from transforms.rules import Rules
from transforms.staging import empty_raw, stage_export
from transforms.variance import variance


class _Clock:
    def __init__(self, timings: dict | None):
        self.timings = timings if timings is not None else {}

    def __call__(self, name: str, step, *args):
        started = time.perf_counter()
        result = step(*args)
        self.timings[name] = round(time.perf_counter() - started, 3)
        return result


@dataclass(frozen=True)
class Snapshot:
    as_of: dt.date
    balances: pl.DataFrame
    movements: pl.DataFrame
    exceptions: pl.DataFrame
    ledger: Ledger
    figures: Figures
    """what finance needs from these customers (transforms.finance)"""
    duplicates: pl.DataFrame
    """grain [source_file]: rows that repeat a standing row (history.duplicates_by_file)"""


def stage_all(raw: dict[str, list[pl.DataFrame]]) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Stage every raw file of every kind, all files of a kind at once (rows keep their source).

    Returns (accepted rows per kind, SCHEMA exceptions)."""
    staged, rejected = {}, []
    for name, kind in EXPORT_KINDS.items():
        frames = raw.get(name) or [empty_raw(kind)]
        accepted, exceptions = stage_export(kind, pl.concat(frames, how="vertical_relaxed"))
        staged[name] = accepted
        rejected.append(exceptions)
    return staged, concat_exceptions(rejected)


def compute_snapshot(
    staged: dict[str, pl.DataFrame], rules: Rules, as_of: dt.date, timings: dict | None = None,
    operational_reported: bool | None = None, opening: Opening | None = None,
) -> Snapshot:
    """Recompute the whole ledger from the accepted history of every folder <= D.

    `timings`, when given, receives the seconds each step took. `operational_reported`: whether
    D's folder brought operational balances, for a part of the customers (see `variance`).
    `opening`: the last published closing of these customers (none: the roll-forward starts at 0)."""
    clock = _Clock(timings)
    history, conflicts = clock("history", build_history, staged)
    inputs, decided = clock("events", build_ledger_inputs, history, rules, as_of)
    ledger, walked = clock("ledger", build_ledger, inputs, rules, as_of)
    balances = clock("balances", build_balances, ledger, rules, as_of)
    drift, differences = clock("variance", variance, balances, staged["balances"], as_of, operational_reported)
    figures = clock("finance", part_figures, ledger, balances, history, differences, opening or Opening.none(),
                    rules, as_of)
    exceptions = (
        concat_exceptions([conflicts, decided, walked, drift])
        .with_columns(pl.lit(as_of).alias("business_date"))
        .select(list(FOUND_SCHEMA))
    )
    duplicates = clock("counts", duplicates_by_file, history)
    return Snapshot(as_of, balances, ledger.movements, exceptions, ledger, figures, duplicates)
