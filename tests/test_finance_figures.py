"""Given/expect rows for the finance figures of one snapshot (transforms/finance.py), by hand.

As of 2026-03-31 (rates 5%, boutique orders mature 14 days after payment, 12-month expiry):
  C1  born 1990-12-25, not a member on 2025-12-25 (no birthday points).
      O1 paid 2026-03-20 12:00, 10 000.00 -> 500 pending, matures 2026-04-03, expires 2027-03-20.
      +300 adjusted on 2025-04-10 -> available, expires 2026-04-10.
  C2  -100 on 2026-01-15 and -50 on 2026-03-20 with nothing available: 150 debt. +120 on
      2026-03-25 repays the oldest first: the 100, then 20 of the 50; 30 left, 11 days old.
  C3  +200 on 2025-02-10, expired 2026-02-10 00:00 untouched.
"""

import datetime as dt

import polars as pl

from given import raw_frame
from transforms.finance import CLOSING_COLUMNS, Opening, combine_figures, late_sources, rollforward
from transforms.history import build_history
from transforms.rules import default_rules
from transforms.snapshot import compute_snapshot, stage_all

AS_OF = dt.date(2026, 3, 31)
CUSTOMERS = [{"customer_id": "C1", "birth_date": "1990-12-25"}, {"customer_id": "C2"}, {"customer_id": "C3"}]
ORDERS = [{"order_id": "O1", "customer_id": "C1", "paid_at": "2026-03-20T12:00:00+03:00", "unit_price": "10000.00"}]


def adjustment(name, customer, created, points):
    return {"adjustment_id": name, "customer_id": customer, "created_at": created, "points": points}


ADJUSTMENTS = [
    adjustment("J1", "C1", "2025-04-10T10:00:00+03:00", "300"),
    adjustment("J2", "C2", "2026-01-15T10:00:00+03:00", "-100"),
    adjustment("J3", "C2", "2026-03-20T10:00:00+03:00", "-50"),
    adjustment("J4", "C2", "2026-03-25T10:00:00+03:00", "120"),
    adjustment("J5", "C3", "2025-02-10T10:00:00+03:00", "200"),
]
STAGED, _ = stage_all({
    "customers": [raw_frame("customers", CUSTOMERS, "2026-03-01")],
    "orders": [raw_frame("orders", ORDERS, "2026-03-20")],
    "adjustments": [raw_frame("adjustments", ADJUSTMENTS, "2026-03-25")],
})


def figures(opening: Opening | None = None):
    return compute_snapshot(STAGED, default_rules(), AS_OF, opening=opening).figures


def opening_of(c1_available: int) -> Opening:
    """The published closing of 2026-03-30 (nothing happens on 2026-03-31)."""
    closings = pl.DataFrame([("C1", "base", 500, c1_available, 0), ("C2", "base", 0, 0, 30)],
                            schema=CLOSING_COLUMNS, orient="row")
    return Opening(dt.date(2026, 3, 30), closings, {"pending": 500, "available": c1_available, "debt": 30})


def test_points_maturing_and_expiring_ahead():
    assert figures().ahead.rows() == [(7, 500, 0), (30, 500, 300), (90, 500, 300)]


def test_expiry_by_week_starts_the_day_after():
    weeks = figures().expiry_by_week
    assert weeks.height == 13
    assert weeks.row(0) == (dt.date(2026, 4, 1), dt.date(2026, 4, 7), 0)
    assert weeks.filter(pl.col("expiring_points") > 0).rows() == [(dt.date(2026, 4, 8), dt.date(2026, 4, 14), 300)]


def test_breakage_by_month_of_issue():
    assert figures().breakage.sort("month").rows() == [
        (dt.date(2025, 2, 1), 200, 200, 0),
        (dt.date(2025, 4, 1), 300, 0, 300),
        (dt.date(2026, 3, 1), 620, 0, 500),
    ]


def test_debt_is_aged_first_in_first_out():
    assert figures().debt_by_age.rows() == [
        ("0-30", 0, 30, 1, 30), ("31-90", 31, 90, 0, 0), ("91-180", 91, 180, 0, 0),
        ("181-365", 181, 365, 0, 0), ("366+", 366, None, 0, 0),
    ]


def test_liability_by_tier_counts_customers_holding_points_or_debt():
    found = figures(opening_of(300))
    assert found.tiers.rows() == [("base", 2, 2, 770, 770)]
    rows, breaks = rollforward(combine_figures([found]), opening_of(300))
    assert breaks.height == 0
    assert rows.filter(pl.col("bucket") == "liability").select("opening", "restatement", "closing").row(0) == (
        770, 0, 770)


def test_the_movements_of_the_last_30_days_by_day_kind_and_bucket():
    recent = figures().movements_by_day.sort("business_date", "kind", "bucket").rows()
    assert recent == [
        (dt.date(2026, 3, 20), "debt", "debt", 50),
        (dt.date(2026, 3, 20), "earn", "pending", 500),
        (dt.date(2026, 3, 25), "adjust", "available", 120),
        (dt.date(2026, 3, 25), "repay", "available", -120),
        (dt.date(2026, 3, 25), "repay", "debt", -120),
    ]


def test_a_restatement_with_no_late_row_behind_it_breaks_the_rollforward():
    rows, breaks = rollforward(combine_figures([figures(opening_of(301))]), opening_of(301))
    assert breaks.select("entity_id", "message").rows() == [(
        "C1", "customer C1, available: the closing of 2026-03-30 was published as 301 and is recomputed as 300 "
              "(1 less), and no row that arrived since explains it")]
    assert rows.filter(pl.col("bucket") == "available").select("opening", "restatement", "closing").row(0) == (
        301, -1, 300)


def test_late_rows_are_those_received_after_the_day_that_reach_back_before_its_cut_off():
    history, _ = build_history(STAGED)
    c1 = pl.DataFrame({"customer_id": ["C1"]})
    rules = default_rules()
    assert late_sources(history, c1, dt.date(2026, 3, 30), rules).height == 0
    assert late_sources(history, c1, dt.date(2026, 3, 19), rules).rows() == [  # O1 was paid after 03-19
        ("C1", "inbox/2026-03-25/adjustments.csv:1")]
    assert late_sources(history, c1, dt.date(2025, 4, 9), rules).rows() == [  # J1 created after 2025-04-09;
        ("C1", "inbox/2026-03-01/customers.csv:1")]                           # a birth date reaches back always


def test_a_birth_date_set_back_is_late_from_the_row_that_set_it_back():
    """C1's birth date 1990-12-25 (03-01), 1990-06-01 (03-10), 1990-12-25 again (03-20): the date
    standing since 03-20 was made so by the 03-20 row, so a day between 03-10 and 03-20 is restated
    by that row, and a day after 03-20 by none (the 03-01 row alone would say none and none)."""
    staged, _ = stage_all({"customers": [
        raw_frame("customers", CUSTOMERS, "2026-03-01"),
        raw_frame("customers", [{"customer_id": "C1", "birth_date": "1990-06-01"}], "2026-03-10"),
        raw_frame("customers", [{"customer_id": "C1", "birth_date": "1990-12-25"}], "2026-03-20"),
    ]})
    history, _ = build_history(staged)
    c1 = pl.DataFrame({"customer_id": ["C1"]})
    rules = default_rules()
    assert late_sources(history, c1, dt.date(2026, 3, 15), rules).rows() == [
        ("C1", "inbox/2026-03-20/customers.csv:1")]
    assert late_sources(history, c1, dt.date(2026, 3, 25), rules).height == 0
