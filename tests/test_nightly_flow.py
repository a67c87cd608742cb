"""Tier 3: the Prefect flow end to end on the bundled sample, against goldens rewritten only on purpose.

`pytest --update-goldens` rewrites tests/golden/; review the diff before committing it.
"""

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from flows.inbox import InputFileError
from flows.nightly import DEFAULT_DATA_DIR, nightly

GOLDEN = Path(__file__).parent / "golden"
BALANCE_COLUMNS = [
    "customer_id", "as_of", "tier", "cashback_pct", "lifetime_spend", "next_tier", "spend_to_next_tier",
    "available_points", "pending_points", "debt_points", "next_expiry_date", "next_expiry_points",
    "expiring_30d_points", "earned_points", "redeemed_points", "expired_points", "clawed_back_points",
    "restored_points", "birthday_points", "adjusted_points",
]
EXCEPTION_COLUMNS = ["business_date", "severity", "code", "source_file", "source_row", "entity_id", "customer_id", "message"]
MOVEMENT_COLUMNS = {"instant", "customer_id", "lot_id", "kind", "points", "source_id"}

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A private copy of the bundled sample: inputs only."""
    target = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, target, ignore=shutil.ignore_patterns("out", "warehouse.duckdb*", ".prefect", ".staged"))
    return target


def run(data_dir: Path, day: str) -> Path:
    return Path(nightly(dt.date.fromisoformat(day), data_dir))


def check_golden(request, name: str, frame: pl.DataFrame) -> None:
    path = GOLDEN / name
    text = frame.write_csv()
    if request.config.getoption("--update-goldens"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run pytest --update-goldens, review it, commit it"
    assert text == path.read_text(), f"{name} differs from its golden (pytest --update-goldens if on purpose)"


@pytest.fixture(scope="module")
def golden_nights(tmp_path_factory) -> Path:
    """The sample's nights of 2026-02-10 then 2026-03-31, run once for the tests that only read them."""
    target = tmp_path_factory.mktemp("golden") / "data"
    shutil.copytree(DEFAULT_DATA_DIR, target, ignore=shutil.ignore_patterns("out", "warehouse.duckdb*", ".prefect", ".staged"))
    for day in ("2026-02-10", "2026-03-31"):
        run(target, day)
    return target


def test_golden_nights_on_the_bundled_sample(request, golden_nights):
    for day in ("2026-02-10", "2026-03-31"):
        out = golden_nights / "out" / day
        check_golden(request, f"{day}/balances.csv", pl.read_csv(out / "balances.csv", infer_schema=False))
        check_golden(request, f"{day}/exceptions.csv", pl.read_csv(out / "exceptions.csv", infer_schema=False))
        movements = pl.read_parquet(out / "movements.parquet")
        check_golden(request, f"{day}/movements.csv", movements)
        for name in ("rollforward.csv", "restatements.csv", "balances_delta.csv"):
            check_golden(request, f"{day}/{name}", pl.read_csv(out / name, infer_schema=False))


def test_published_files_carry_the_contract_columns_and_a_manifest(golden_nights):
    out = golden_nights / "out" / "2026-03-31"
    assert pl.read_parquet(out / "balances.parquet").columns == BALANCE_COLUMNS
    assert pl.read_csv(out / "balances.csv").columns == BALANCE_COLUMNS
    assert pl.read_csv(out / "exceptions.csv").columns == EXCEPTION_COLUMNS
    assert pl.read_parquet(out / "exceptions.parquet").columns == EXCEPTION_COLUMNS
    assert MOVEMENT_COLUMNS <= set(pl.read_parquet(out / "movements.parquet").columns)
    manifest = json.loads((out / "manifest.json").read_text())
    web = next(f for f in manifest["inputs"] if f["file"] == "inbox/2026-02-12/orders_web.csv")
    assert (web["rows_read"], web["rows_accepted"], web["rows_rejected"]) == (3, 0, 3)
    assert manifest["outputs"]["balances.csv"]["rows"] == 14
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())


def test_rerunning_a_day_gives_byte_identical_balances_whatever_arrived_later(data_dir):
    first = run(data_dir, "2026-02-10")
    before = {name: (first / name).read_bytes() for name in ("balances.parquet", "balances.csv", "movements.parquet")}
    late = data_dir / "inbox/2026-02-11"
    late.mkdir()
    (late / "orders.csv").write_text(
        (data_dir / "inbox/2026-02-10/orders.csv").read_text().splitlines()[0] + "\n"
        "O-7777,1,C001,boutique,2026-02-05T12:00:00+03:00,,RUB,LATE-1,1,1000.00,0.00,0,\n"
    )
    changed = run(data_dir, "2026-02-11")
    assert (changed / "balances.csv").read_bytes() != before["balances.csv"]
    again = run(data_dir, "2026-02-10")
    assert {name: (again / name).read_bytes() for name in before} == before


def test_exceptions_are_reported_when_first_seen_and_parked_returns_every_night(data_dir):
    def reported(day):
        table = pl.read_csv(run(data_dir, day) / "exceptions.csv")
        return sorted(zip(table["code"], table["entity_id"]))

    history = reported("2026-02-11")  # a first run reports everything it sees in the history
    assert ("DEBT", "R-0601") in history and ("OVERDRAFT", "O-0403") in history
    new_rows = [("SCHEMA", "O-9001"), ("SCHEMA", "O-9002"), ("SCHEMA", "O-9003")]
    assert reported("2026-02-12") == new_rows
    assert reported("2026-02-13") == []
    assert reported("2026-02-12") == new_rows  # a re-run reports the same
    assert ("RETURN_UNKNOWN_ORDER", "R-0901") in reported("2026-03-02")
    assert ("RETURN_UNKNOWN_ORDER", "R-0901") in reported("2026-03-03")
    assert ("RETURN_UNKNOWN_ORDER", "R-0901") not in reported("2026-03-04")


def test_an_unreadable_file_stops_the_run_and_publishes_nothing(data_dir):
    good = run(data_dir, "2026-03-31")
    kept = (good / "balances.csv").read_bytes()
    (data_dir / "inbox/2026-03-30/orders_broken.csv").write_text("order_id,line_no\nO1,1\n")
    with pytest.raises(InputFileError, match="orders_broken.csv: lacks required column"):
        run(data_dir, "2026-03-31")
    assert (good / "balances.csv").read_bytes() == kept


def test_the_command_line_publishes_and_fails_with_one_clear_line(data_dir, cli_env):
    env = cli_env()
    command = [sys.executable, "-m", "flows.cli", "run", "--date", "2026-03-31", "--data-dir", str(data_dir)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"published {data_dir / 'out' / '2026-03-31'}"  # failures: test_unattended
    too_many = subprocess.run([*command, "--partitions", "4097"], capture_output=True, text=True, env=env, timeout=60)
    assert (too_many.returncode, too_many.stderr.strip()) == (
        2, "perfone-loyalty run: argument --partitions: must be from 1 to 4096, got '4097' (see --help)")


def test_backfill_publishes_each_day_in_order(data_dir):
    from flows.nightly import backfill

    published = backfill(dt.date(2026, 3, 2), dt.date(2026, 3, 4), data_dir)
    assert [Path(p).name for p in published] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    parked = pl.read_csv(Path(published[0]) / "exceptions.csv").filter(pl.col("code") == "RETURN_UNKNOWN_ORDER")
    assert parked["entity_id"].to_list() == ["R-0901"]
    c009 = pl.read_csv(Path(published[2]) / "balances.csv").filter(pl.col("customer_id") == "C009").row(0, named=True)
    assert (c009["pending_points"], c009["clawed_back_points"]) == (750, 750)


def test_partitioned_run_publishes_the_same_balances_and_exceptions(data_dir, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(data_dir, other)
    whole = Path(nightly(dt.date(2026, 3, 31), data_dir, 1))
    split = Path(nightly(dt.date(2026, 3, 31), other, 32))  # most parts hold one customer or none
    for name in ("balances.csv", "balances.parquet", "exceptions.csv"):
        assert (whole / name).read_bytes() == (split / name).read_bytes(), name
    order = ["customer_id", "instant", "kind", "bucket", "lot_id", "points"]
    assert pl.read_parquet(whole / "movements.parquet").sort(order).equals(
        pl.read_parquet(split / "movements.parquet").sort(order))
    assert json.loads((split / "manifest.json").read_text())["partitions"] == 32


def test_balances_written_a_few_customers_at_a_time_are_the_golden_ones(data_dir, golden_nights, monkeypatch):
    import flows.publish

    monkeypatch.setattr(flows.publish, "CHUNK_ROWS", 4)  # 15 customers: four chunks, deltas across them
    for day in ("2026-02-10", "2026-03-31"):
        chunked, whole = run(data_dir, day), golden_nights / "out" / day
        for name in ("balances.csv", "balances_delta.csv"):
            assert (chunked / name).read_bytes() == (whole / name).read_bytes(), (day, name)
        assert pl.read_parquet(chunked / "balances.parquet").equals(pl.read_parquet(whole / "balances.parquet"))


def test_a_second_run_stages_only_files_it_has_not_seen(data_dir):
    run(data_dir, "2026-03-30")
    manifest = json.loads((run(data_dir, "2026-03-31") / "manifest.json").read_text())
    fresh = [f["file"] for f in manifest["inputs"] if not f["staged_before"]]
    assert fresh == ["inbox/2026-03-31/balances.csv"]


@pytest.mark.parametrize("order_rows, at_once, requested, parts", [
    (0, 2, None, 1),
    (500_000, 2, None, 1),  # one part: nothing to round
    (500_001, 2, None, 2),
    (1_073_988, 2, None, 4),  # three parts would take two rounds, the second on one core
    (6_000_000, 2, None, 12),
    (59_787_983, 2, None, 120),
    (5_000_000, 8, None, 16),  # a cluster of 8 worker threads
    (600_000_000, 2, None, 1200),  # 20M customers
    (3_000_000_000, 2, None, 4096),  # at most one part per shard
    (59_787_983, 2, 5, 5),  # as asked
    (59_787_983, 2, 5000, 4096),
])
def test_the_parts_of_a_night_fill_the_rounds(order_rows, at_once, requested, parts):
    from flows.nightly import part_count

    assert part_count(order_rows, at_once, requested) == parts


def test_a_run_settles_an_interrupted_swap_and_removes_what_unpublished_nights_left(tmp_path):
    """03-30: killed mid-swap, the old folder aside and the new one complete (its manifest written);
    03-29: published, then a re-run of it failed while writing; 03-31: a night killed while writing."""
    from flows.publish import settle_folders

    out = tmp_path / "out"
    for folder, files in {".2026-03-30.previous": ["balances.csv"], ".2026-03-30.partial": ["manifest.json"],
                          "2026-03-29": ["manifest.json"], ".2026-03-29.partial": ["balances.csv"],
                          ".2026-03-31.partial": []}.items():
        (out / folder).mkdir(parents=True)
        for name in files:
            (out / folder / name).write_text(folder)
    assert settle_folders(out) == [
        "finished publishing 2026-03-30 from .2026-03-30.partial after an interrupted swap",
        "removed .2026-03-29.partial, left by a night that did not publish",
        "removed .2026-03-31.partial, left by a night that did not publish",
    ]
    assert sorted(p.name for p in out.iterdir()) == ["2026-03-29", "2026-03-30"]
    assert (out / "2026-03-30" / "manifest.json").read_text() == ".2026-03-30.partial"
    assert (out / "2026-03-29" / "manifest.json").read_text() == "2026-03-29"
    assert settle_folders(out) == []
