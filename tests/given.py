"""Given-rows helpers: build raw export frames from short dicts and run a snapshot on them.

Every test goes through the real staging, history, events, kernel and balances steps.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from schemas.inputs import EXPORT_KINDS
from transforms.rules import default_rules
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
    """Snapshot as of `as_of` of the given rows (one file per kind; 'folder' may be set per row)."""
    raw = {kind: [raw_frame(kind, rows, as_of)] for kind, rows in rows_by_kind.items() if rows}
    staged, rejected = stage_all(raw)
    snap = compute_snapshot(staged, rules or default_rules(), dt.date.fromisoformat(as_of))
    exceptions = pl.concat([rejected.with_columns(pl.lit(snap.as_of).alias("business_date")), snap.exceptions])
    return Snapshot(snap.as_of, snap.balances, snap.movements, exceptions, snap.ledger, snap.figures)


def balance(snap: Snapshot, customer_id: str) -> dict:
    rows = snap.balances.filter(pl.col("customer_id") == customer_id).to_dicts()
    assert len(rows) == 1, f"{customer_id} has {len(rows)} balance rows"
    return rows[0]


def codes(snap: Snapshot) -> list[tuple[str, str]]:
    return sorted(zip(snap.exceptions["code"], snap.exceptions["entity_id"]))
