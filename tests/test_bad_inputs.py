"""Bad input gets a precise message or an exception row; nothing fails for a harmless reason; the
manifest's counts add up (read = applied + duplicates + conflicts + parked + rejected)."""

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from flows.inbox import InputFileError
from flows.nightly import DEFAULT_DATA_DIR, nightly

pytestmark = pytest.mark.usefixtures("prefect_harness")

DAY = dt.date(2026, 3, 31)
HEADER = ("order_id,line_no,customer_id,channel,paid_at,delivered_at,currency,sku,quantity,unit_price,discount,"
          "points_redeemed,promo_code")


@pytest.fixture
def data_dir(sample_copy) -> Path:
    return sample_copy()


def published(data_dir: Path) -> tuple[Path, dict, pl.DataFrame]:
    out = Path(nightly(DAY, data_dir))
    return out, json.loads((out / "manifest.json").read_text()), pl.read_parquet(out / "exceptions.parquet")


def test_an_undeclared_semicolon_file_says_how_to_declare_it(data_dir):
    (data_dir / "inbox/2026-03-30/orders_shop.csv").write_text(HEADER.replace(",", ";") + "\n")
    with pytest.raises(InputFileError, match=r"orders_shop.csv: lacks required column\(s\) order_id, .*; its header "
                                             r"looks ';'-separated: declare its source in sources.toml"):
        nightly(DAY, data_dir)


def test_a_truncated_parquet_says_what_is_wrong(data_dir):
    promotions = data_dir / "inbox/2025-02-03/promotions.parquet"
    promotions.write_bytes(promotions.read_bytes()[:-30])
    with pytest.raises(InputFileError, match=r"promotions.parquet: not a readable parquet file, truncated or damaged "
                                             r"\(.+\)"):
        nightly(DAY, data_dir)


def test_a_zero_byte_export_is_a_warning_not_a_stop(data_dir):
    (data_dir / "inbox/2026-03-31/orders.csv").write_bytes(b"")
    (data_dir / "inbox/2026-03-31/returns.parquet").write_bytes(b"")
    (data_dir / "inbox/2026-03-31/customers.csv").write_bytes(b"\n\n")
    out, manifest, exceptions = published(data_dir)
    empty = exceptions.filter(pl.col("code") == "EMPTY_FILE")
    assert sorted(empty["entity_id"]) == ["inbox/2026-03-31/customers.csv", "inbox/2026-03-31/orders.csv",
                                          "inbox/2026-03-31/returns.parquet"]
    assert set(empty["severity"]) == {"warning"}
    assert (out / "balances.csv").read_bytes() == (DEFAULT_DATA_DIR.parent / "tests/golden/2026-03-31/balances.csv"
                                                   ).read_bytes()


def test_folders_and_files_that_are_not_exports_are_skipped_and_reported(data_dir):
    for name in ("20260320", "2026-W12-5"):
        (data_dir / "inbox" / name).mkdir()
        (data_dir / "inbox" / name / "orders.csv").write_text(
            HEADER + "\nO-5555,1,C001,boutique,2026-03-20T12:00:00+03:00,,RUB,S,1,100000.00,0.00,0,\n")
    (data_dir / "inbox/2026-03-31/notes.txt").write_text("hello")
    out, manifest, exceptions = published(data_dir)
    skipped = sorted(entry["path"] for entry in manifest["skipped"])
    assert skipped == ["inbox/2026-03-31/notes.txt", "inbox/2026-W12-5", "inbox/20260320"]
    assert sorted(exceptions.filter(pl.col("code") == "SKIPPED_INPUT")["entity_id"]) == skipped
    assert "O-5555" not in pl.read_parquet(out / "movements.parquet")["source_id"].to_list()


def test_ids_with_control_characters_spaces_or_megabytes_and_far_future_events_are_schema_rows(data_dir):
    rows = [
        "O-6001,1,C001,boutique,2026-03-31T12:00:00+03:00,,RUB,S\x00X,1,100.00,0.00,0,",
        "O-6002,1,C001 ,boutique,2026-03-31T12:00:00+03:00,,RUB,S,1,100.00,0.00,0,",
        f"O-6003,1,C001,boutique,2026-03-31T12:00:00+03:00,,RUB,{'S' * 10_000_000},1,100.00,0.00,0,",
        "O-6004,1,C001,boutique,2099-01-01T12:00:00+03:00,,RUB,S,1,100.00,0.00,0,",
    ]
    (data_dir / "inbox/2026-03-31/orders.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    out, manifest, exceptions = published(data_dir)
    schema = exceptions.filter(pl.col("source_file") == "inbox/2026-03-31/orders.csv")
    assert schema.select("code", "entity_id").rows() == [("SCHEMA", f"O-600{n}") for n in (1, 2, 3, 4)]
    assert max(len(m) for m in schema["message"]) < 300
    assert "paid_at: more than 30 days after its folder 2026-03-31" in schema["message"][3]
    assert (out / "exceptions.csv").stat().st_size < 20_000


def test_the_manifest_counts_add_up_per_file(data_dir):
    _, manifest, _ = published(data_dir)
    inputs = {entry["file"]: entry for entry in manifest["inputs"]}
    outcomes = ("rows_applied", "rows_duplicates", "rows_conflicts", "rows_parked", "rows_rejected")
    for entry in inputs.values():
        assert entry["rows_read"] == sum(entry[o] for o in outcomes), entry
    # by hand: 01-23 sends O-1001 line 1 with its delivery, then the same row again; 01-24 two
    # conflicting versions; 02-04 repeats an adjustment id with other values; 02-10 a return dated
    # before its order, 02-15 a return exceeding what is left; 02-12 three rows breaking column rules
    expected = {
        "inbox/2026-01-23/orders.csv": (2, 1, 1, 0, 0, 0),
        "inbox/2026-01-24/orders.csv": (2, 0, 0, 2, 0, 0),
        "inbox/2026-02-04/adjustments.csv": (1, 0, 0, 1, 0, 0),
        "inbox/2026-02-10/returns.csv": (2, 1, 0, 0, 0, 1),
        "inbox/2026-02-15/returns.csv": (2, 1, 0, 0, 0, 1),
        "inbox/2026-02-12/orders_web.csv": (3, 0, 0, 0, 0, 3),
    }
    for file, counts in expected.items():
        assert tuple(inputs[file][k] for k in ("rows_read", *outcomes)) == counts, file
