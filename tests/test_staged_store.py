"""The bucketed store of order lines and returns: what a part reads from disk is what the in-memory
routing of the same history gives that part, run after run, whatever was reused or rebuilt."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest

import flows.staged_store as store_module
from flows.inbox import inbox_files, load_dialects
from flows.nightly import DEFAULT_DATA_DIR
from flows.staged_cache import StagedCache, arrival_enum, load_staged, no_rows
from flows.staged_store import BUCKETED_KINDS, SegmentStore
from transforms.partition import customer_parts


@pytest.fixture
def data_dir(tmp_path):
    target = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, target, ignore=shutil.ignore_patterns("out", "warehouse.duckdb*", ".prefect", ".staged"))
    return target


@pytest.fixture(autouse=True)
def small_segments(monkeypatch):
    monkeypatch.setattr(store_module, "SEGMENT_ROWS", 12)  # many segments out of the small sample


def bucketed_run(data_dir, as_of: dt.date):
    cache = StagedCache(data_dir, "test")
    files = cache.stage(inbox_files(data_dir, as_of), load_dialects(data_dir))
    return files, SegmentStore(cache.root / "segments").update(files)


def assert_parts_match_memory(files, bucketed, parts: int):
    arrival = arrival_enum(files)
    empty = {kind: no_rows(kind, arrival) for kind in BUCKETED_KINDS}
    staged, _ = load_staged(files)
    for n, expected in enumerate(customer_parts(staged, parts)):
        read = bucketed.part(n, parts, arrival, empty)
        for kind in BUCKETED_KINDS:
            assert read[kind].equals(expected[kind]), (kind, n, parts)


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_parts_read_from_disk_are_the_in_memory_parts(data_dir, parts):
    files, bucketed = bucketed_run(data_dir, dt.date(2026, 3, 31))
    assert len(bucketed.segments["orders"]) > 2
    assert_parts_match_memory(files, bucketed, parts)
    assert sum(bucketed.part(n, parts, arrival_enum(files), {})["orders"].height for n in range(parts)) == \
        load_staged(files)[0]["orders"].height


def test_a_return_staged_before_its_order_meets_the_order_once_it_arrives(data_dir, monkeypatch):
    monkeypatch.setattr(store_module, "SEGMENT_ROWS", 1)  # every segment full: the return's is reused
    _, early = bucketed_run(data_dir, dt.date(2026, 3, 2))
    files, later = bucketed_run(data_dir, dt.date(2026, 3, 31))
    parked = early.late_returns.get_column("return_id").to_list()
    assert parked, "the sample has a return arriving before its order (C009)"
    moved = later.late_returns.filter(pl.col("order_known"))
    assert set(moved.get_column("return_id")) & set(parked)
    assert_parts_match_memory(files, later, 5)


def test_a_later_run_keeps_the_full_segments_and_rebuilds_after_a_changed_file(data_dir, monkeypatch):
    monkeypatch.setattr(store_module, "SEGMENT_ROWS", 3)
    _, first = bucketed_run(data_dir, dt.date(2026, 2, 5))
    files, second = bucketed_run(data_dir, dt.date(2026, 3, 31))
    for kind in BUCKETED_KINDS:
        kept = [s.path for s in first.segments[kind][:-1]]  # the last, short one takes new files
        assert kept and [s.path for s in second.segments[kind][:len(kept)]] == kept, kind

    changed = data_dir / "inbox" / "2025-03-01" / "orders.csv"
    changed.write_text(changed.read_text().replace("C004", "C014", 1))
    files, third = bucketed_run(data_dir, dt.date(2026, 3, 31))
    assert not {s.path for s in third.segments["returns"]} & {s.path for s in second.segments["returns"]}
    assert_parts_match_memory(files, third, 4)
