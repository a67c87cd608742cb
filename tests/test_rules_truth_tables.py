"""Tier 1: truth tables for single rules, each row computed by hand from docs/rules.md."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from transforms.calendar import business_date, cutoff_of, plus_months, start_of
from given import balance, snapshot
from transforms.ledger_kernel import round_share
from transforms.rules import RulesError, default_rules, parse_rules

RULES = default_rules()
RUB = 100  # kopecks


@pytest.mark.parametrize(
    "spend_rub, tier, pct",
    [
        ("0", "base", 5),
        ("299999.99", "base", 5),
        ("300000", "standart", 7),
        ("699999.99", "standart", 7),
        ("700000", "gold", 10),
        ("1000000", "platinum", 15),
        ("1499999.99", "platinum", 15),
        ("1500000", "luxe", 20),
        ("2999999.99", "luxe", 20),
        ("3000000", "premium", 25),
        ("99000000", "premium", 25),
    ],
)
def test_tier_by_lifetime_spend(spend_rub, tier, pct):
    """One order of that net amount: the balances' tier (the engine's own tier lookup)."""
    order = {"order_id": "A", "customer_id": "C1", "paid_at": "2026-01-10T12:00:00+03:00", "unit_price": spend_rub}
    row = balance(snapshot("2026-01-31", customers=[{"customer_id": "C1"}], orders=[order]), "C1")
    assert (row["tier"], row["cashback_pct"]) == (tier, pct)


@pytest.mark.parametrize(
    "spend_before, base, points",
    [
        ("300000.00", "1999.99", 139),      # 7% of 1 999.99 = 139.9993 -> 139, not 140
        (None, "18000.00", 900),            # RULES 14: 5% of 18 000
        (None, "280000.00", 14000),         # RULES 14: 5% of 280 000
        (None, "9899.98", 494),             # 5% of 9 899.98 = 494.999 -> 494
        ("3000000.00", "19.99", 4),         # 25% of 19.99 = 4.9975 -> 4
        ("3000000.00", "0.00", 0),
    ],
)
def test_points_are_floored(spend_before, base, points):
    """The ledger's own earning: an order earning nothing (a promotion without points) first
    brings the spend, and so the tier, then the order whose points are counted."""
    orders = [{"order_id": "B", "customer_id": "C1", "paid_at": "2026-01-20T12:00:00+03:00", "unit_price": base}]
    if spend_before:
        orders.append({"order_id": "A", "customer_id": "C1", "paid_at": "2026-01-10T12:00:00+03:00",
                       "unit_price": spend_before, "promo_code": "NOBONUS"})
    promotions = [{"promo_code": "NOBONUS", "earns_points": "false", "points_redeemable": "true"}]
    snap = snapshot("2026-01-31", customers=[{"customer_id": "C1"}], orders=orders, promotions=promotions)
    earned = snap.movements.filter((pl.col("kind") == "earn") & (pl.col("source_id") == "B"))
    assert earned.get_column("points").sum() == points


@pytest.mark.parametrize(
    "amount_kop, part, whole, expected_kop",
    [
        (999998, 2, 3, 666665),   # 9 999.98 * 2/3 = 6 666.6533 -> 6 666.65
        (999998, 1, 3, 333333),   # 3 333.3266 -> 3 333.33
        (500000, 1, 2, 250000),
        (1, 1, 2, 1),             # 0.005 RUB -> 0.01 (half away from zero)
        (3, 1, 2, 2),             # 0.015 -> 0.02
        (989998, 2, 3, 659999),   # 6 599.9866 -> 6 599.99
        (123457, 3, 3, 123457),
        (123457, 0, 3, 0),
    ],
)
def test_round_share_half_away_from_zero(amount_kop, part, whole, expected_kop):
    assert round_share(np.int64(amount_kop), np.int64(part), np.int64(whole)) == expected_kop


@pytest.mark.parametrize(
    "paid, months, expires",
    [
        ("2024-02-29", 12, "2025-02-28"),
        ("2025-02-28", 12, "2026-02-28"),
        ("2026-01-10", 12, "2027-01-10"),
        ("2023-03-31", 11, "2024-02-29"),
        ("2024-01-31", 1, "2024-02-29"),
    ],
)
def test_calendar_months_clamp_to_month_end(paid, months, expires):
    frame = pl.DataFrame({"d": [dt.date.fromisoformat(paid)]})
    assert frame.select(plus_months(pl.col("d"), months)).item() == dt.date.fromisoformat(expires)


@pytest.mark.parametrize(
    "instant, date",
    [
        ("2026-01-10T20:59:59+00:00", "2026-01-10"),
        ("2026-01-10T21:00:00+00:00", "2026-01-11"),  # 00:00 MSK belongs to the next day
        ("2026-01-10T23:30:00+03:00", "2026-01-10"),
        ("2026-01-11T00:30:00+05:00", "2026-01-10"),  # 22:30 MSK
        ("2012-06-01T19:59:59+00:00", "2012-06-01"),  # Moscow was UTC+4 from 2011-03-27
        ("2012-06-01T20:00:00+00:00", "2012-06-02"),
        ("2014-10-25T21:59:59+00:00", "2014-10-26"),  # 01:59:59 MSK+4, the last second of UTC+4
        ("2014-10-25T22:00:00+00:00", "2014-10-26"),  # 01:00 MSK+3
        ("2014-10-26T20:59:59+00:00", "2014-10-26"),
        ("2014-10-26T21:00:00+00:00", "2014-10-27"),
        ("1969-12-31T20:59:59+00:00", "1969-12-31"),  # outside the table of offsets: converted
        ("1969-12-31T21:00:00+00:00", "1970-01-01"),
        ("2150-06-01T20:59:59+00:00", "2150-06-01"),
        ("2150-06-01T21:00:00+00:00", "2150-06-02"),
    ],
)
def test_business_date_is_moscow_calendar_date(instant, date):
    frame = pl.DataFrame({"t": [dt.datetime.fromisoformat(instant)]}).with_columns(
        pl.col("t").dt.convert_time_zone("UTC")
    )
    assert frame.select(business_date(pl.col("t"), RULES)).item() == dt.date.fromisoformat(date)


def test_a_missing_instant_has_no_business_date():
    frame = pl.DataFrame({"t": [None, dt.datetime(2026, 1, 10, 21, tzinfo=dt.timezone.utc)]},
                         schema={"t": pl.Datetime("us", "UTC")})
    assert frame.select(business_date(pl.col("t"), RULES)).to_series().to_list() == [None, dt.date(2026, 1, 11)]


@pytest.mark.parametrize("zone", ["Europe/Moscow", "America/New_York", "Europe/London", "Australia/Lord_Howe",
                                  "Asia/Kathmandu", "America/St_Johns"])
def test_business_dates_from_the_table_of_offsets_are_the_zone_databases(zone):
    """Around every change of the zone's offset, at every quarter hour of three years with daylight
    saving, and at random instants from 1950 to 2150: the date the zone's own conversion gives."""
    from dataclasses import replace

    from transforms.calendar import MICROS, utc_offsets

    since, _ = utc_offsets(zone)
    changes = since.to_numpy()[1:]
    near = np.concatenate([changes + d for d in (-3600 * MICROS, -1, 0, 1, 3600 * MICROS)])
    quarters = np.arange(1_230_768_000, 1_325_376_000, 900, dtype=np.int64) * MICROS  # 2009-2011
    spread = np.random.default_rng(7).integers(-631_152_000, 5_680_281_600, 20_000) * MICROS
    frame = pl.DataFrame({"t": np.concatenate([near, quarters, spread])}).select(
        pl.col("t").cast(pl.Datetime("us", "UTC")))
    rules = replace(RULES, timezone=zone)
    mismatched = frame.filter(business_date(pl.col("t"), rules) != pl.col("t").dt.convert_time_zone(zone).dt.date())
    assert mismatched.height == 0, mismatched.head()


def test_start_of_day_and_snapshot_cutoff():
    frame = pl.DataFrame({"d": [dt.date(2026, 1, 24)]})
    assert frame.select(start_of(pl.col("d"), RULES)).item() == dt.datetime(2026, 1, 23, 21, tzinfo=dt.timezone.utc)
    assert cutoff_of(dt.date(2026, 2, 10), RULES) == dt.datetime(2026, 2, 10, 21, tzinfo=dt.timezone.utc)


def test_rules_file_holds_the_program_numbers():
    assert [t.from_kopecks // RUB for t in RULES.tiers] == [0, 300_000, 700_000, 1_000_000, 1_500_000, 3_000_000]
    assert [t.cashback_pct for t in RULES.tiers] == [5, 7, 10, 15, 20, 25]
    assert (RULES.hold_days, RULES.expiry_months, RULES.birthday_points) == (14, 12, 10_000)
    assert (RULES.redemption_max_share_pct, RULES.timezone) == (50, "Europe/Moscow")
    assert RULES.program_start == dt.date(2024, 1, 1)
    with pytest.raises(AttributeError):
        RULES.hold_days = 7  # frozen


def _doc(**changes):
    doc = {
        "version": "t", "timezone": "Europe/Moscow", "program_start": "2024-01-01",
        "tier": [{"name": "base", "from_rub": "0", "cashback_pct": 5},
                 {"name": "standart", "from_rub": "300000", "cashback_pct": 7}],
        "maturity": {"hold_days": 14}, "expiry": {"months": 12}, "birthday": {"points": 10000},
        "redemption": {"max_share_pct": 50},
        "reporting": {"undelivered_after_days": 30, "expiring_window_days": 30},
        "input": {"future_event_max_days": 30},
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    "changes, complaint",
    [
        ({"tier": [{"name": "base", "from_rub": "10", "cashback_pct": 5}]}, "start at 0"),
        ({"tier": [{"name": "a", "from_rub": "0", "cashback_pct": 5}, {"name": "b", "from_rub": "0", "cashback_pct": 7}]}, "rise strictly"),
        ({"tier": [{"name": "a", "from_rub": "0.001", "cashback_pct": 5}]}, "2 decimals"),
        ({"maturity": {"hold_days": 0}}, "hold_days"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"redemption": {"max_share_pct": 150}}, "100"),
        ({"birthday": {}}, "points"),
    ],
)
def test_rules_file_rejects_nonsense(changes, complaint):
    with pytest.raises(RulesError, match=complaint):
        parse_rules(_doc(**changes))
