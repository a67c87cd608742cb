"""What a night reports does not depend on how the nights were scheduled (RULES 12).

On the bundled sample: the nights one by one, one catch-up run, and re-runs in another order give
the same exceptions up to D; a re-run of D reports what D reported, whatever ran in between.
"""

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flows.nightly import DEFAULT_DATA_DIR, backfill, nightly
from schemas.codes import RECURRING_CODES

pytestmark = pytest.mark.usefixtures("prefect_harness")

START, END = dt.date(2026, 3, 10), dt.date(2026, 3, 31)
KEY = ["code", "source_file", "source_row", "entity_id", "customer_id", "message"]


def run(data_dir: Path, *days: dt.date) -> None:
    for day in days:
        nightly(day, data_dir)


def reported_up_to(data_dir: Path, day: dt.date) -> set[tuple]:
    """Every exception reported by a published night <= D (recurring ones: D's own)."""
    frames = [pl.read_parquet(folder / "exceptions.parquet") for folder in (data_dir / "out").iterdir()
              if not folder.name.startswith(".") and dt.date.fromisoformat(folder.name) <= day]
    rows = pl.concat(frames)
    once = rows.filter(~pl.col("code").is_in(sorted(RECURRING_CODES)))
    tonight = rows.filter(pl.col("code").is_in(sorted(RECURRING_CODES)) & (pl.col("business_date") == day))
    return set(pl.concat([once, tonight]).select(KEY).rows())


def test_one_by_one_catch_up_and_reruns_in_another_order_report_the_same(sample_copy):
    folders = sorted(dt.date.fromisoformat(p.name) for p in (DEFAULT_DATA_DIR / "inbox").iterdir())
    one_by_one = sample_copy("one-by-one")
    run(one_by_one, START, *[day for day in folders if START < day <= END])
    catch_up = sample_copy("catch-up")
    run(catch_up, START, END)
    shuffled = sample_copy("shuffled")
    run(shuffled, END, START, dt.date(2026, 3, 25), END)
    expected = reported_up_to(one_by_one, END)
    assert len(expected) > 20
    assert reported_up_to(catch_up, END) == expected
    assert reported_up_to(shuffled, END) == expected
    for other in (catch_up, shuffled):
        assert (other / "out/2026-03-31/balances.csv").read_bytes() == (
            one_by_one / "out/2026-03-31/balances.csv").read_bytes()


def test_a_rerun_reports_what_the_night_reported_whatever_ran_in_between(sample_copy):
    data_dir = sample_copy("reruns")
    run(data_dir, END)
    first = (data_dir / "out/2026-03-31/exceptions.csv").read_bytes()
    run(data_dir, END - dt.timedelta(days=1), END)
    assert (data_dir / "out/2026-03-31/exceptions.csv").read_bytes() == first
    backfill(dt.date(2026, 3, 30), END, data_dir)
    assert (data_dir / "out/2026-03-31/exceptions.csv").read_bytes() == first


def test_a_catch_up_run_reports_an_order_whose_customer_arrived_later(sample_copy):
    data_dir = sample_copy("late-customer")
    late = data_dir / "inbox/2026-03-25"
    (late / "orders.csv").write_text(
        "order_id,line_no,customer_id,channel,paid_at,delivered_at,currency,sku,quantity,unit_price,discount,"
        "points_redeemed,promo_code\nO-7001,1,C777,boutique,2026-03-25T12:00:00+03:00,,RUB,S,1,100.00,0.00,0,\n")
    (data_dir / "inbox/2026-03-30/customers.csv").write_text(
        "customer_id,registered_at,birth_date\nC777,2026-03-25T12:00:00+03:00,\n")
    run(data_dir, dt.date(2026, 3, 24), END)  # one run over both folders
    reported = pl.read_csv(data_dir / "out/2026-03-31/exceptions.csv")
    assert reported.filter(pl.col("code") == "UNKNOWN_CUSTOMER").select("entity_id", "customer_id").rows() == [
        ("O-7001", "C777")]
