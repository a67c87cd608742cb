"""Reading customers' statements out of a published day (`perfone-loyalty explain`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from flows.inbox import folder_date
from transforms.statement import Statement, statement


class NotFound(LookupError):
    """An unpublished day or a customer the day does not know: one line for the user."""


def published_folder(data_dir: Path, as_of: dt.date | None) -> Path:
    """out/<D>/, or the latest published day when D is not given."""
    out = data_dir / "out"
    if as_of is None:
        days = sorted(p.name for p in out.iterdir() if folder_date(p.name)) if out.is_dir() else []
        if not days:
            raise NotFound(f"nothing is published in {out} yet")
        return out / days[-1]
    folder = out / as_of.isoformat()
    if not (folder / "balances.parquet").exists():
        raise NotFound(f"{as_of} is not published in {out}")
    if not (folder / "lots.parquet").exists():
        raise NotFound(f"{as_of} was published before statements could be drawn (no lots.parquet): run it again")
    return folder


def read_statements(folder: Path, customer_ids: list[str], balances: pl.DataFrame | None = None) -> dict[str, Statement]:
    """The statements of these customers from the folder's lots and movements (`balances`: the
    day's balances when they are at hand; read from the folder otherwise)."""
    wanted = pl.col("customer_id").is_in(customer_ids)
    rows = (balances.lazy() if balances is not None else pl.scan_parquet(folder / "balances.parquet")).filter(wanted)
    lots = pl.scan_parquet(folder / "lots.parquet").filter(wanted)
    movements = pl.scan_parquet(folder / "movements.parquet").filter(wanted)
    found, lots, movements = pl.collect_all([rows, lots, movements])
    by_lots = lots.partition_by("customer_id", as_dict=True)
    by_moves = movements.partition_by("customer_id", as_dict=True)
    return {
        row["customer_id"]: statement(
            row["customer_id"], row,
            by_lots.get((row["customer_id"],), lots.clear()), by_moves.get((row["customer_id"],), movements.clear()),
        )
        for row in found.iter_rows(named=True)
    }


def customer_statement(folder: Path, customer_id: str) -> Statement:
    found = read_statements(folder, [customer_id])
    if customer_id not in found:
        raise NotFound(f"customer {customer_id!r} is not in the balances of {folder.name}")
    return found[customer_id]
