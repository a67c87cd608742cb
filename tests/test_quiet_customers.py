"""Which customers a night can change (transforms/touched.py), and that it leaves every other
customer's ledger as it was the night before: what a night carrying those customers rests on."""

import datetime as dt
import random

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from given import raw_frame, staged_history
from histories import MSK, random_history
from transforms.ledger import published_lots
from transforms.rules import default_rules
from transforms.snapshot import compute_snapshot, stage_all
from transforms.touched import touched_customers

RULES = default_rules()
D = dt.date(2026, 2, 28)


def _msk(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=MSK).astimezone(dt.timezone.utc)


def _order(order_id: str, customer_id: str, paid_at: str, **extra) -> dict:
    return {"order_id": order_id, "customer_id": customer_id, "paid_at": paid_at, "unit_price": "1000.00", **extra}


def _staged(promotions: list[dict] | None = None) -> dict[str, pl.DataFrame]:
    earlier, late, night = "2026-02-01", "2026-02-27", D.isoformat()
    raw = {
        "orders": [
            raw_frame("orders", [_order("O1", "C1", "2026-02-28T12:00:00+03:00")], night),
            raw_frame("orders", [_order(f"O{n}", f"C{n}", "2026-02-01T10:00:00+03:00") for n in (2, 3, 6)], earlier),
            raw_frame("orders", [_order("O5", "C5", "2026-02-20T10:00:00+03:00", channel="online",
                                        delivered_at="2026-02-28T23:59:59+03:00")], late),
        ],
        "returns": [raw_frame("returns", [{"return_id": "R2", "order_id": "O2", "quantity": "1",
                                            "returned_at": "2026-02-28T09:00:00+03:00"}], night)],
        "adjustments": [raw_frame("adjustments", [{"adjustment_id": "A7", "customer_id": "C7", "points": "100",
                                                   "created_at": "2026-02-28T08:00:00+03:00"}], night)],
        "customers": [raw_frame("customers", [
            {"customer_id": "C1", "birth_date": "2000-02-28"},
            {"customer_id": "C4", "birth_date": "1992-02-29"},
            {"customer_id": "C8", "birth_date": "1990-03-01"},
        ], earlier)],
    }
    if promotions:
        raw["promotions"] = [raw_frame("promotions", promotions, night)]
    staged, rejected = stage_all(raw)
    assert rejected.height == 0, rejected
    return staged


PREVIOUS_LOTS = pl.DataFrame(
    {"customer_id": ["C3", "C6", "C6"],
     "matures": [None, _msk(2026, 2, 27, 23, 59, 59), None],
     "expiry": [_msk(2026, 2, 28), _msk(2027, 2, 1), _msk(2026, 3, 1)]},
    schema={"customer_id": pl.String, "matures": pl.Datetime("us", "UTC"), "expiry": pl.Datetime("us", "UTC")},
)
"""C3's lot expires at D 00:00, the window's first instant; C6's lots mature just before it and
expire at D+1 00:00, its end, which belongs to the next night."""


def test_a_night_touches_whom_its_rows_name_or_its_window_dates():
    touched = touched_customers(_staged(), PREVIOUS_LOTS, RULES, D)
    assert dict(touched.select("customer_id", pl.col("reason").cast(pl.String)).iter_rows()) == {
        "C1": "arrived",   # an order line in D's folder (and a birthday on D: the first reason is given)
        "C2": "arrived",   # a return, in D's folder, of C2's order of an earlier folder
        "C3": "lot",       # a lot expiring at D 00:00
        "C4": "birthday",  # born 29 February: 28 February in 2026, a common year
        "C5": "dated",     # a delivery at D 23:59:59, in D-1's folder
        "C7": "arrived",   # an adjustment in D's folder
    }                      # not C6 (its lot expires at D+1 00:00) nor C8 (born 1 March)


def test_a_promotion_row_in_the_night_touches_every_customer():
    promotion = {"promo_code": "SPRING", "earns_points": "false", "points_redeemable": "true"}
    touched = touched_customers(_staged([promotion]), PREVIOUS_LOTS, RULES, D)
    assert touched.get_column("customer_id").to_list() == ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"]
    assert set(touched.get_column("reason").cast(pl.String)) == {"promotions"}


def _until(staged: dict[str, pl.DataFrame], day: dt.date) -> dict[str, pl.DataFrame]:
    """What a night of `day` reads: the staged rows of the folders up to it."""
    return {kind: frame.filter(pl.col("folder") <= day) for kind, frame in staged.items()}


def _nights(history: dict, staged: dict[str, pl.DataFrame], pick: int) -> list[dt.date]:
    """Nights worth testing: one on which rows arrive, and two on which something falls due (a
    lot matures or expires, a birthday)."""
    folders = sorted({dt.date.fromisoformat(row["folder"]) for rows in history.values() for row in rows})
    last = folders[-1] + dt.timedelta(days=380)
    movements = compute_snapshot(staged, RULES, last).movements
    due = sorted(set(movements.filter(pl.col("kind").is_in(["mature", "expire", "birthday"]))
                     .get_column("business_date").to_list()))
    chosen = random.Random(pick)
    return [chosen.choice(folders[1:]), *chosen.sample(due, min(2, len(due)))]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**31 - 1), st.integers(min_value=0, max_value=1000))
def test_a_customer_the_night_does_not_touch_keeps_the_ledger_of_the_night_before(seed, pick):
    history = random_history(seed, customers=6)
    everything = staged_history(history, dt.date.max)
    for day in _nights(history, everything, pick):
        yesterday = day - dt.timedelta(days=1)
        before = compute_snapshot(_until(everything, yesterday), RULES, yesterday)
        staged = _until(everything, day)
        after = compute_snapshot(staged, RULES, day)
        touched = touched_customers(staged, before.ledger.lots, RULES, day)
        quiet = after.balances.select("customer_id").join(touched, on="customer_id", how="anti")

        def of_quiet(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.join(quiet, on="customer_id", how="semi")

        assert of_quiet(after.movements).equals(of_quiet(before.movements)), day
        assert of_quiet(published_lots(after.ledger, RULES)).equals(of_quiet(published_lots(before.ledger, RULES))), day
        dated = pl.exclude("as_of", "expiring_30d_points")
        assert of_quiet(after.balances).select(dated).equals(of_quiet(before.balances).select(dated)), day
        assert of_quiet(before.balances).height == quiet.height, day  # none of them is new on D
