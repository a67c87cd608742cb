"""Tier 2: the night's balances written from the parts' rows a chunk at a time (`write_balances`).

The parts hand their balances over in shard order; the published files are sorted by customer
and cut into chunks, and the delta of each chunk is taken against the previous snapshot's rows
in that chunk's customer range. Given/expect rows: what the CRM receives must not depend on where
the chunks fall.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from prefect.logging import disable_run_logger

import flows.publish as publish_module
from flows.nightly import write_balances
from schemas.outputs import BALANCE_SCHEMA

D = dt.date(2026, 3, 31)


def balance(customer_id: str, available: int, as_of: dt.date = D) -> dict:
    """A bronze customer holding `available` points, all of them earned."""
    return {
        "customer_id": customer_id, "as_of": as_of, "tier": "bronze", "cashback_pct": 5, "lifetime_spend": 0,
        "next_tier": "silver", "spend_to_next_tier": 300_000, "available_points": available,
        "pending_points": 0, "debt_points": 0, "next_expiry_date": None, "next_expiry_points": None,
        "expiring_30d_points": 0, "earned_points": available, "redeemed_points": 0, "expired_points": 0,
        "clawed_back_points": 0, "restored_points": 0, "birthday_points": 0, "adjusted_points": 0,
    }


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=BALANCE_SCHEMA)


@pytest.fixture
def night(tmp_path):
    """(unsorted parts' file, published folder, previous snapshot file, night folder)."""
    folder, work = tmp_path / "out", tmp_path / "night"
    folder.mkdir()
    work.mkdir()
    # the parts' order: shards, not customers
    frame([balance(c, p) for c, p in [("C07", 70), ("C02", 20), ("C09", 90), ("C04", 40), ("C05", 55),
                                      ("C01", 10)]]).write_parquet(work / "parts.parquet")
    # yesterday: C03 and C06 gone since (one between today's first and last, one past the last),
    # C05 held 50, C00 before today's first customer
    previous = tmp_path / "previous.parquet"
    frame([balance(c, p, D - dt.timedelta(days=1)) for c, p in [
        ("C00", 5), ("C01", 10), ("C02", 20), ("C03", 30), ("C04", 40), ("C05", 50), ("C10", 100)]]
    ).write_parquet(previous)
    return work / "parts.parquet", folder, previous, work


def written(night, chunk_rows: int, monkeypatch) -> dict[str, bytes]:
    unsorted, folder, previous, work = night
    monkeypatch.setattr(publish_module, "CHUNK_ROWS", chunk_rows)
    with disable_run_logger():
        files, closings = write_balances.fn(unsorted, folder, previous, D, work)
    assert files["balances.csv"]["rows"] == 6
    return {name: (folder / name).read_bytes() for name in files} | {"closings": closings.read_bytes()}


@pytest.mark.parametrize("chunk_rows", [1, 2, 4])
def test_the_files_do_not_depend_on_where_chunks_fall(night, chunk_rows, monkeypatch):
    whole = written(night, 1000, monkeypatch)
    chunked = written(night, chunk_rows, monkeypatch)
    for name in ("balances.csv", "balances_delta.csv"):
        assert chunked[name] == whole[name], name
    _, folder, _, _ = night
    assert pl.read_parquet(folder / "balances.parquet").get_column("customer_id").to_list() == [
        "C01", "C02", "C04", "C05", "C07", "C09"]


@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_the_delta_finds_every_change_whatever_the_chunks(night, chunk_rows, monkeypatch):
    written(night, chunk_rows, monkeypatch)
    _, folder, _, _ = night
    delta = pl.read_csv(folder / "balances_delta.csv", infer_schema=False).select("customer_id", "change")
    # C00: before today's first customer; C03: between two of today's; C10: past the last
    assert sorted(delta.rows()) == [
        ("C00", "removed"), ("C03", "removed"), ("C05", "changed"), ("C07", "new"), ("C09", "new"),
        ("C10", "removed")]


def test_a_customer_in_two_parts_stops_the_night(night, monkeypatch):
    unsorted, folder, previous, work = night
    frame([balance("C01", 10), balance("C02", 20), balance("C01", 10)]).write_parquet(unsorted)
    monkeypatch.setattr(publish_module, "CHUNK_ROWS", 1)  # the two rows of C01 in different chunks
    with disable_run_logger(), pytest.raises(RuntimeError, match="customer C01 has more than one row"):
        write_balances.fn(unsorted, folder, previous, D, work)


def test_no_customers_publish_headers_and_remove_everyone(night, monkeypatch):
    unsorted, folder, previous, work = night
    frame([]).write_parquet(unsorted)
    with disable_run_logger():
        files, _ = write_balances.fn(unsorted, folder, previous, D, work)
    assert (folder / "balances.csv").read_text().splitlines() == [",".join(BALANCE_SCHEMA)]
    delta = pl.read_csv(folder / "balances_delta.csv", infer_schema=False)
    assert delta.get_column("change").to_list() == ["removed"] * 7
    assert files["balances.parquet"]["rows"] == 0
