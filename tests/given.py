"""Given-rows helpers: build raw export frames from short dicts and run a snapshot on them.

Every test goes through the real staging, history, events, kernel and balances steps.
"""

from __future__ import annotations

import datetime as dt
import random

import polars as pl

from schemas.inputs import EXPORT_KINDS
from transforms.rules import default_rules
from transforms.balances import BALANCE_COLUMNS
from transforms.snapshot import Snapshot, compute_snapshot, stage_all

ORDER_DEFAULTS = {
    "line_no": "1", "channel": "boutique", "delivered_at": "", "currency": "RUB", "sku": "SKU",
    "quantity": "1", "discount": "0", "points_redeemed": "0", "promo_code": "",
}
DEFAULTS = {
    "orders": ORDER_DEFAULTS,
    "returns": {"line_no": "1", "kind": "return", "quantity": ""},
    "customers": {"registered_at": "2023-01-01T00:00:00+03:00", "birth_date": ""},
    "promotions": {},
    "adjustments": {"reason": "goodwill"},
    "balances": {},
}


def raw_frame(kind: str, rows: list[dict], folder: str, file: str | None = None) -> pl.DataFrame:
    columns = EXPORT_KINDS[kind].columns
    filled = [{c: str(({**DEFAULTS[kind], **row}).get(c, "")) for c in columns} for row in rows]
    frame = pl.DataFrame(filled, schema={c: pl.String for c in columns})
    folders = [row.get("folder", folder) for row in rows]
    return frame.with_columns(
        pl.Series("source_file", [f"inbox/{f}/{file or kind + '.csv'}" for f in folders]),
        pl.Series("source_row", list(range(1, len(rows) + 1)), pl.Int64),
        pl.Series("folder", [dt.date.fromisoformat(f) for f in folders], pl.Date),
    )


def snapshot(as_of: str, rules=None, **rows_by_kind: list[dict]) -> Snapshot:
    """Snapshot as of `as_of` of the given rows (one file per kind; 'folder' may be set per row).
    Rows without a folder are in `as_of`'s, customers rows in the earliest folder of any row: the
    customers are known from the start unless a test says otherwise."""
    earliest = min([as_of, *(row["folder"] for rows in rows_by_kind.values() for row in rows if "folder" in row)])
    raw = {kind: [raw_frame(kind, rows, earliest if kind == "customers" else as_of)]
           for kind, rows in rows_by_kind.items() if rows}
    staged, rejected = stage_all(raw)
    snap = compute_snapshot(staged, rules or default_rules(), dt.date.fromisoformat(as_of))
    exceptions = pl.concat([rejected.with_columns(pl.lit(snap.as_of).alias("business_date")), snap.exceptions])
    return Snapshot(snap.as_of, snap.balances, snap.movements, exceptions, snap.ledger, snap.figures, snap.duplicates)


def balance(snap: Snapshot, customer_id: str) -> dict:
    rows = snap.balances.filter(pl.col("customer_id") == customer_id).to_dicts()
    assert len(rows) == 1, f"{customer_id} has {len(rows)} balance rows"
    return rows[0]


def codes(snap: Snapshot) -> list[tuple[str, str]]:
    return sorted(zip(snap.exceptions["code"], snap.exceptions["entity_id"]))


def snapshot_of_history(history: dict, as_of: dt.date, shuffle_seed: int | None = None):
    """The snapshot as of D from every row whose folder is <= D, one raw frame per (kind, folder)."""
    return compute_snapshot(staged_history(history, as_of, shuffle_seed), default_rules(), as_of)


def staged_history(history: dict, as_of: dt.date, shuffle_seed: int | None = None) -> dict[str, pl.DataFrame]:
    """The accepted rows of every folder <= D, staged from one raw frame per (kind, folder)."""
    raw = {}
    for kind, rows in history.items():
        by_folder = {}
        for row in rows:
            if dt.date.fromisoformat(row["folder"]) <= as_of:
                by_folder.setdefault(row["folder"], []).append(row)
        for folder, folder_rows in sorted(by_folder.items()):
            if shuffle_seed is not None:
                folder_rows = folder_rows[:]
                random.Random(shuffle_seed).shuffle(folder_rows)
            raw.setdefault(kind, []).append(raw_frame(kind, folder_rows, folder))
    staged, _ = stage_all(raw)
    return staged


def disagreements(engine: pl.DataFrame, reference: dict[str, dict]) -> list:
    """(customer, column, engine's value, reference's value) wherever the two differ."""
    found = []
    assert sorted(engine["customer_id"]) == sorted(reference), "different customers"
    for row in engine.to_dicts():
        expected = reference[row["customer_id"]]
        for column in BALANCE_COLUMNS:
            if row[column] != expected[column]:
                found.append((row["customer_id"], column, row[column], expected[column]))
    return found
