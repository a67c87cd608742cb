"""The sharded store of order lines and returns: what a part reads from disk is what the in-memory
routing of the same history gives that part, run after run, whatever was reused or rebuilt."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from prefect.logging import disable_run_logger

import flows.staged_store as store_module
from flows.inbox import inbox_files
from flows.nightly import DEFAULT_DATA_DIR, code_version, stage_inbox
from flows.staged_cache import PROJECT_DIR, STAGING_CODE, StagedCache, arrival_enum, load_staged, no_rows, staging_version
from flows.staged_store import SHARDED_KINDS, SegmentStore
from transforms.arrival import in_arrival_order
from transforms.partition import SHARDS, customer_parts, route_small_kinds


@pytest.fixture
def data_dir(tmp_path):
    target = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, target, ignore=shutil.ignore_patterns("out", "warehouse.duckdb*", ".prefect", ".staged"))
    return target


@pytest.fixture(autouse=True)
def small_segments(monkeypatch):
    monkeypatch.setattr(store_module, "SEGMENT_ROWS", 12)  # many segments out of the small sample


HELD_KINDS = ("customers", "balances", "adjustments")
SMALL_KINDS = (*HELD_KINDS, "promotions")


def sharded_run(data_dir, as_of: dt.date):
    """The night's store: order lines and returns in segments, the other per-customer kinds held."""
    cache = StagedCache(data_dir, "test")
    files = cache.stage(inbox_files(data_dir, as_of))
    routed = route_small_kinds(load_staged(files, SMALL_KINDS)[0])
    return files, SegmentStore(cache.root / "segments").update(files).hold({k: routed[k] for k in HELD_KINDS})


def assert_parts_match_memory(files, sharded, parts: int):
    """Every kind a part reads from disk is the in-memory routing's part; the held kinds come in
    shard order (the history puts every kind in arrival order first)."""
    arrival = arrival_enum(files)
    empty = {kind: no_rows(kind, arrival) for kind in SHARDED_KINDS}
    staged, _ = load_staged(files)
    for n, expected in enumerate(customer_parts(staged, parts)):
        read = sharded.part(n, parts, arrival, empty)
        for kind in SHARDED_KINDS:
            assert read[kind].equals(expected[kind]), (kind, n, parts)
        for kind in HELD_KINDS:
            assert in_arrival_order(read[kind]).equals(expected[kind]), (kind, n, parts)


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_parts_read_from_disk_are_the_in_memory_parts(data_dir, parts):
    files, sharded = sharded_run(data_dir, dt.date(2026, 3, 31))
    assert len(sharded.segments["orders"]) > 2
    assert_parts_match_memory(files, sharded, parts)
    assert sum(sharded.part(n, parts, arrival_enum(files), {})["orders"].height for n in range(parts)) == \
        load_staged(files)[0]["orders"].height


def test_full_segments_merge_level_by_level_into_files_by_shard_range_that_parts_read_alone(data_dir, monkeypatch):
    """With 3-row segments merged two by two, the sample's history makes segments of several
    levels; each merged one covers every shard once, in files by shard range, and holds its
    segments' files and rows. A part opens only the files of its shards, reads what the in-memory
    routing gives it, and the store keeps no file the manifest does not name. The next night keeps
    the merged segments as they are."""
    monkeypatch.setattr(store_module, "SEGMENT_ROWS", 3)
    monkeypatch.setattr(store_module, "MERGE_AT", 2)
    _, early = sharded_run(data_dir, dt.date(2026, 3, 30))
    files, sharded = sharded_run(data_dir, dt.date(2026, 3, 31))
    for kind in SHARDED_KINDS:
        segments = sharded.segments[kind]
        levels = [s.level for s in segments]
        assert max(levels) >= 2 and levels == sorted(levels, reverse=True), (kind, levels)
        assert len(levels[:-1]) == len(set(levels[:-1])), (kind, levels)  # MERGE_AT - 1 of a level, the last aside
        for merged in (s for s in segments if s.level):
            lows, highs = [p[0] for p in merged.pieces], [p[1] for p in merged.pieces]
            assert lows[0] == 0 and highs[-1] == SHARDS and lows[1:] == highs[:-1], kind
            assert len(merged.pieces) > 1
            assert pl.read_parquet([sharded.root / p for p in merged.paths()]).height == merged.rows
        assert sum(len(s.files) for s in segments) == len([f for f in files if f.file.kind == kind])
        deepest = [s for s in early.segments[kind] if s.level == max(levels)]
        assert deepest and deepest[0] in segments, kind  # kept by the next night, not merged again
    merged = sharded.segments["orders"][0]
    low, high = merged.pieces[0][:2]
    assert merged.paths(low, high) == [merged.pieces[0][2]]
    named = {p for v in sharded.segments.values() for s in v for p in s.paths()}
    named |= {s.order_map for s in sharded.segments["orders"]} | {"segments.json"}
    assert {f.name for f in sharded.root.iterdir()} == named
    for parts in (1, 4, 9):
        assert_parts_match_memory(files, sharded, parts)


def test_a_return_staged_before_its_order_meets_the_order_once_it_arrives(data_dir, monkeypatch):
    monkeypatch.setattr(store_module, "SEGMENT_ROWS", 1)  # every segment full: the return's is reused
    _, early = sharded_run(data_dir, dt.date(2026, 3, 2))
    files, later = sharded_run(data_dir, dt.date(2026, 3, 31))
    parked = early.late_returns.get_column("return_id").to_list()
    assert parked, "the sample has a return arriving before its order (C009)"
    moved = later.late_returns.filter(pl.col("order_known"))
    assert set(moved.get_column("return_id")) & set(parked)
    assert_parts_match_memory(files, later, 5)


def test_a_later_run_keeps_the_full_segments_and_rebuilds_after_a_changed_file(data_dir, monkeypatch):
    monkeypatch.setattr(store_module, "SEGMENT_ROWS", 3)
    monkeypatch.setattr(store_module, "MERGE_AT", 10_000)  # no merging: a merge rewrites what it merges
    _, first = sharded_run(data_dir, dt.date(2026, 2, 5))
    files, second = sharded_run(data_dir, dt.date(2026, 3, 31))
    for kind in SHARDED_KINDS:
        kept = [s.pieces for s in first.segments[kind][:-1]]  # the last, short one takes new files
        assert kept and [s.pieces for s in second.segments[kind][:len(kept)]] == kept, kind

    changed = data_dir / "inbox" / "2025-03-01" / "orders.csv"
    changed.write_text(changed.read_text().replace("C004", "C014", 1))
    files, third = sharded_run(data_dir, dt.date(2026, 3, 31))
    assert not {s.pieces for s in third.segments["returns"]} & {s.pieces for s in second.segments["returns"]}
    assert_parts_match_memory(files, third, 4)


def test_the_short_last_segment_takes_new_files_without_reading_its_old_files_again(data_dir, monkeypatch):
    monkeypatch.setattr(store_module, "SEGMENT_ROWS", 10_000)  # one short segment of each kind
    early, first = sharded_run(data_dir, dt.date(2026, 2, 5))
    read = []
    read_parquet = pl.read_parquet
    monkeypatch.setattr(pl, "read_parquet", lambda path, *a, **kw: read.extend(
        map(str, path if isinstance(path, list) else [path])) or read_parquet(path, *a, **kw))
    files, second = sharded_run(data_dir, dt.date(2026, 3, 31))
    for kind in SHARDED_KINDS:
        [segment] = second.segments[kind]
        assert segment.files[:len(first.segments[kind][0].files)] == first.segments[kind][0].files
        assert len(segment.files) > len(first.segments[kind][0].files), kind
    old = {str(f.accepted) for f in early if f.file.kind in SHARDED_KINDS}
    new = {str(f.accepted) for f in files if f.file.kind in SHARDED_KINDS} - old
    assert not old & set(read) and new <= set(read)
    assert {str(second.root / first.segments[kind][0].paths()[0]) for kind in SHARDED_KINDS} <= set(read)
    monkeypatch.undo()
    assert_parts_match_memory(files, second, 3)


def test_an_unchanged_file_is_neither_read_nor_hashed_and_a_changed_one_is_staged_again(data_dir, monkeypatch):
    import os

    import flows.staged_cache as cache_module

    as_of = dt.date(2026, 3, 31)
    first = StagedCache(data_dir, "test").stage(inbox_files(data_dir, as_of))
    touched = {"read": [], "hashed": []}
    read_raw, sha256_of = cache_module.read_raw, cache_module.sha256_of
    monkeypatch.setattr(cache_module, "read_raw", lambda file, d: touched["read"].append(file.relative) or read_raw(file, d))
    monkeypatch.setattr(cache_module, "sha256_of", lambda path: touched["hashed"].append(path.name) or sha256_of(path))
    again = StagedCache(data_dir, "test").stage(inbox_files(data_dir, as_of))
    assert touched == {"read": [], "hashed": []}
    assert [f.sha256 for f in again] == [f.sha256 for f in first] and all(f.cached for f in again)
    changed = data_dir / "inbox/2026-03-30/orders.csv"
    changed.write_text(changed.read_text().replace("6000.00", "6000.50"))
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    after = StagedCache(data_dir, "test").stage(inbox_files(data_dir, as_of))
    assert touched == {"read": ["inbox/2026-03-30/orders.csv"], "hashed": ["orders.csv"]}
    [restaged] = [f for f in after if not f.cached]
    assert restaged.file.relative == "inbox/2026-03-30/orders.csv" and restaged.sha256 != next(
        f.sha256 for f in first if f.file.relative == restaged.file.relative)


def test_the_small_kinds_gathered_in_one_file_read_as_file_by_file(data_dir):
    kinds = ("customers", "promotions", "adjustments", "balances")
    for as_of in (dt.date(2026, 2, 5), dt.date(2026, 3, 31)):  # the second night reuses the first's
        cache = StagedCache(data_dir, "test")
        files = cache.stage(inbox_files(data_dir, as_of))
        gathered, found = cache.load(files, kinds)
        expected, expected_found = load_staged(files, kinds)
        for kind in kinds:
            assert gathered[kind].equals(expected[kind]), kind
        assert found.equals(expected_found)
        assert found.height == sum(f.rejected_rows for f in files) > 0
    customers = data_dir / "inbox/2025-02-03/customers.csv"  # an early file changes: all is gathered again
    customers.write_text(customers.read_text() + "C777,2025-02-03T10:00:00+03:00,\nC778,not a time,\n")
    cache = StagedCache(data_dir, "test")
    files = cache.stage(inbox_files(data_dir, as_of))
    gathered, found = cache.load(files, kinds)
    assert "C777" in gathered["customers"]["customer_id"].to_list()
    assert found.equals(load_staged(files, kinds)[1])  # its rejected row comes before the later files'
    assert found["source_file"][0] == "inbox/2025-02-03/customers.csv"


def test_an_entry_has_an_exception_file_only_with_exception_rows_and_is_staged_again_when_it_is_lost(data_dir):
    as_of = dt.date(2026, 3, 31)
    cache = StagedCache(data_dir, "test")
    files = cache.stage(inbox_files(data_dir, as_of))
    with_rows = [f for f in files if f.rejected_rows]
    assert with_rows and all(f.rejected.exists() for f in with_rows)
    assert not any(f.rejected.exists() for f in files if not f.rejected_rows)
    lost = with_rows[0]
    lost.rejected.unlink()
    (cache.root / "files.json").unlink()  # look at every entry itself, not the index
    again = StagedCache(data_dir, "test").stage(inbox_files(data_dir, as_of))
    assert [f.file.relative for f in again if not f.cached] == [lost.file.relative]
    restaged = next(f for f in again if f.file.relative == lost.file.relative)
    assert restaged.rejected.exists() and restaged.rejected_rows == lost.rejected_rows


def test_batches_staged_side_by_side_stage_what_one_batch_at_a_time_does(data_dir, monkeypatch):
    import flows.staged_cache as cache_module

    staged = {}
    for at_once in (1, 2):
        monkeypatch.setattr(cache_module, "BATCHES_AT_ONCE", at_once)
        files = StagedCache(data_dir, f"at-once-{at_once}").stage(inbox_files(data_dir, dt.date(2026, 3, 31)))
        assert len({f.file.kind for f in files}) > 1  # more than one batch
        staged[at_once] = [(f.file.relative, f.sha256, f.rows_read, f.rejected_rows, pl.read_parquet(f.accepted))
                           for f in files]
    for one, two in zip(staged[1], staged[2], strict=True):
        assert one[:4] == two[:4] and one[4].equals(two[4])


def test_a_source_declared_anew_is_read_anew_and_a_comment_changes_nothing(data_dir):
    """The 1C file's amounts have a decimal comma (`1999,99`): undeclared, its row is rejected; once
    sources.toml declares it again, the same bytes are staged again and the row is accepted."""
    as_of = dt.date(2026, 3, 31)
    config = data_dir / "sources.toml"
    declared = config.read_text()
    assert "decimal_comma = true\n" in declared

    def one_c():
        files = StagedCache(data_dir, "test").stage(inbox_files(data_dir, as_of))
        [entry] = [f for f in files if f.file.relative == "inbox/2026-02-20/orders_1c.csv"]
        return entry.rows_read, entry.rejected_rows, entry.cached

    config.write_text(declared.replace("decimal_comma = true\n", ""))
    assert one_c() == (1, 1, False)
    config.write_text(declared)
    assert one_c() == (1, 0, False)
    config.write_text("# the 1C export, declared\n" + declared)
    assert one_c() == (1, 0, True)


PACKAGES = ("flows", "transforms", "schemas", "reports")


def test_the_staging_code_names_every_project_module_staging_imports():
    """A module the cache's writers import but `STAGING_CODE` leaves out could change the staged
    rows, the segments or the order map without starting a new cache: yesterday's rows would be
    read as if today's code had staged them."""
    probe = ("import sys, flows.staged_cache, flows.staged_store, transforms.staging, transforms.partition\n"
             "print('\\n'.join(m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None)))")
    printed = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True,
                             check=True).stdout.split("\n")
    imported = set()
    for name in filter(None, printed):
        path = Path(name).resolve()
        if path.is_relative_to(PROJECT_DIR) and path.relative_to(PROJECT_DIR).parts[0] in PACKAGES:
            imported.add(path.relative_to(PROJECT_DIR).as_posix())
    modules = {name for name in imported if not name.endswith("__init__.py")}
    assert "transforms/staging.py" in modules and "flows/staged_store.py" in modules
    assert modules - set(STAGING_CODE) == set()
    assert all(not (PROJECT_DIR / name).read_text().strip() for name in imported - modules), "a package's __init__"


def test_the_staging_version_moves_with_the_staging_code_and_not_with_the_rest(tmp_path):
    """The same files elsewhere give the same version; one changed byte of staging code another;
    the ledger's code is not part of it, so a release of the engine alone keeps the cache."""
    for name in STAGING_CODE:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT_DIR / name, tmp_path / name)
    assert staging_version(tmp_path) == staging_version()
    staging = tmp_path / "transforms" / "staging.py"
    staging.write_text(staging.read_text() + "\n")
    assert staging_version(tmp_path) != staging_version()
    assert "transforms/ledger.py" not in STAGING_CODE and "flows/nightly.py" not in STAGING_CODE


def test_the_nightly_stages_into_a_cache_keyed_on_the_staging_code_not_the_code_version(data_dir):
    """Any commit is a new code version (its hash is part of it); the cache must not follow it, or
    every release would stage the whole history again (minutes at two million customers)."""
    as_of = dt.date(2026, 3, 31)
    with disable_run_logger():
        stage_inbox.fn(data_dir, as_of)
    [root] = (data_dir / ".staged").iterdir()
    assert root.name.startswith(staging_version() + "+")
    assert code_version() not in root.name
    again = StagedCache(data_dir, staging_version()).stage(inbox_files(data_dir, as_of))
    assert again and all(f.cached for f in again)
