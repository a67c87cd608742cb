"""Hand-made finance reports for the renderers: a small night with every table filled, the same
night with hostile strings in every string column, and a first night with nothing in it.

The numbers are chosen by hand and tie: opening + restatement + movements = closing per bucket,
liability = available + pending - debt, and the tiers add up to the liability.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from itertools import cycle

import polars as pl

from reports.model import MOVEMENT_KINDS, SCHEMAS, FinanceReport

AS_OF = dt.date(2026, 3, 31)
OPENING_AS_OF = dt.date(2026, 3, 30)

HOSTILE = (
    '=HYPERLINK("http://x","y")',
    "+cmd|' /C calc'!A0",
    "@SUM(1)",
    "-2+3",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
)

# bucket -> opening, restatement, the kinds in MOVEMENT_KINDS order, closing
ROLLFORWARD_ROWS = {
    "pending": (120_000, 1_500, (45_000, -38_000, 0, 0, -2_100, 0, 0, 0, 0, 0), 126_400),
    "available": (12_830_000, -700, (0, 38_000, -27_500, -9_800, -1_300, 600, 5_000, 250, 0, -900), 12_833_650),
    "debt": (3_000, 0, (0, 0, 0, 0, 0, 0, 0, 0, 1_200, -900), 3_300),
    "liability": (12_947_000, 800, (45_000, 0, -27_500, -9_800, -3_400, 600, 5_000, 250, -1_200, 0), 12_956_750),
}

STATEMENT = """customer C000777 as of 31.03.2026
  available  recomputed 12 500   operational 10 000   difference +2 500
  lot 2025-10-02 order O-1187  earn  +2 500  matured 2025-10-16
  the operational system has not applied the maturity of order O-1187"""


def frame(name: str, rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMAS[name], orient="row")


def rollforward() -> pl.DataFrame:
    return frame(
        "rollforward",
        [(bucket, opening, restated, *kinds, closing, True)
         for bucket, (opening, restated, kinds, closing) in ROLLFORWARD_ROWS.items()],
    )


def liability_history() -> pl.DataFrame:
    """20 published days up to D, weekends of March 2026 skipped; D-1 is the opening as published."""
    days = [AS_OF - dt.timedelta(days=i) for i in range(28) if (AS_OF - dt.timedelta(days=i)).weekday() < 5][:20]
    rows = []
    for i, day in enumerate(sorted(days)):
        pending = 100_000 + 1_300 * i
        available = 12_600_000 + 11_000 * i + (i * 37 % 11) * 1_000
        debt = 2_000 + 50 * i
        rows.append((day, pending, available, debt, available + pending - debt))
    rows[-2] = (OPENING_AS_OF, 118_500, 12_830_700, 3_000, 12_946_200)
    rows[-1] = (AS_OF, 126_400, 12_833_650, 3_300, 12_956_750)
    return frame("liability_history", rows)


def movements_by_day() -> pl.DataFrame:
    """The last 30 days: D's rows are the roll-forward's; earlier days follow a simple pattern."""
    rows = []
    for i in range(1, 30):
        day = AS_OF - dt.timedelta(days=i)
        earn, matured, redeemed = 30_000 + 700 * (i % 9), 25_000 + 500 * (i % 7), -(20_000 + 900 * (i % 5))
        rows += [
            (day, "earn", "pending", earn),
            (day, "mature", "pending", -matured),
            (day, "mature", "available", matured),
            (day, "redeem", "available", redeemed),
        ]
        if i % 3 == 0:
            rows += [(day, "expire", "available", -4_000 - 100 * i), (day, "clawback", "pending", -600)]
        if i % 4 == 0:
            rows += [(day, "birthday", "available", 3_000), (day, "debt", "debt", 400)]
        if i % 6 == 0:
            rows += [(day, "repay", "available", -300), (day, "repay", "debt", -300)]
            rows += [(day, "adjust", "available", -150)]
    for bucket in ("pending", "available", "debt"):
        kinds = ROLLFORWARD_ROWS[bucket][2]
        rows += [(AS_OF, kind, bucket, points) for kind, points in zip(MOVEMENT_KINDS, kinds, strict=True) if points]
    return frame("movements_by_day", sorted(rows, key=lambda r: (r[0], MOVEMENT_KINDS.index(r[1]), r[2])))


def finance_report() -> FinanceReport:
    """A small night with every table filled."""
    week = dt.timedelta(days=7)
    first_week = AS_OF + dt.timedelta(days=1)
    weekly = (800, 1_200, 1_500, 0, 2_600, 4_100, 3_900, 5_200, 7_000, 6_400, 9_800, 8_500, 10_000)
    return FinanceReport(
        as_of=AS_OF,
        opening_as_of=OPENING_AS_OF,
        run_id="run-2026-03-31-0300",
        code_version="0.1.0+g3f2a9c1",
        rules_version="rules-2026.1",
        operational_reported=True,
        restated_customers=7,
        rollforward=rollforward(),
        restatements=frame("restatements", [
            ("C000123", "pending", 9_000, 10_500, 1_500,
             "inbox/2026-03-31/orders.csv:3; inbox/2026-03-31/orders.csv:4"),
            ("C000456", "available", 2_000, 1_300, -700, "inbox/2026-03-31/returns.csv:12"),
            ("C000789", "pending", 400, 400, 0, "delivery date corrected: inbox/2026-03-31/orders.csv:9"),
        ]),
        liability_by_tier=frame("liability_by_tier", [
            ("base", 1_200, 1_180, 2_100_000, 2_050_000, -50_000),
            ("standart", 400, 410, 3_000_000, 3_060_000, 60_000),
            ("gold", 150, 152, 4_200_000, 4_230_000, 30_000),
            ("platinum", 40, 41, 2_500_000, 2_480_750, -19_250),
            ("luxe", 12, 12, 900_000, 890_000, -10_000),
            ("premium", 3, 3, 247_000, 246_000, -1_000),
        ]),
        ahead=frame("ahead", [(7, 12_000, 800), (30, 38_000, 4_100), (90, 126_400, 61_000)]),
        expiry_by_week=frame("expiry_by_week", [
            (first_week + week * i, first_week + week * i + dt.timedelta(days=6), points)
            for i, points in enumerate(weekly)
        ]),
        breakage=frame("breakage", [
            (dt.date(2025, 1, 1), 40_000, 5_000, 0),  # 12.5 %, final
            (dt.date(2025, 2, 1), 0, 0, 0),  # nothing issued: no share
            (dt.date(2025, 3, 1), 52_000, 6_500, 1_200),  # 12.5 %
            (dt.date(2025, 4, 1), 61_000, 4_100, 9_000),  # 6.721... -> 6.7 %
            (dt.date(2025, 5, 1), 16_000, 1_000, 8_000),  # 6.25 -> 6.3 % (half away from zero)
            (dt.date(2025, 6, 1), 58_000, 0, 30_000),  # 0.0 %
        ]),
        debt_by_age=frame("debt_by_age", [
            ("0-30", 0, 30, 5, 1_200),
            ("31-90", 31, 90, 3, 900),
            ("91-180", 91, 180, 2, 700),
            ("181-365", 181, 365, 1, 300),
            ("366+", 366, None, 1, 200),
        ]),
        variance_summary=frame("variance_summary", [
            ("BALANCE_MISMATCH", 14, 5_230),
            ("MISSING_IN_OPERATIONAL", 3, 1_900),
            ("MISSING_IN_RECOMPUTED", 1, 75),
        ]),
        largest_differences=frame("largest_differences", [
            ("C000777", "BALANCE_MISMATCH", "available", 12_500, 10_000, 2_500, STATEMENT),
            ("C000900", "MISSING_IN_OPERATIONAL", None, 1_200, None, 1_200,
             "customer C000900: unknown to the operational file"),
            ("C000778", "BALANCE_MISMATCH", "pending", 300, 1_100, -800, "customer C000778\n  pending 300 vs 1 100"),
            ("C000901", "MISSING_IN_RECOMPUTED", None, None, 75, -75, "customer C000901: not in the customers export"),
        ]),
        exceptions_by_code=frame("exceptions_by_code", [
            ("error", "SCHEMA", 2),
            ("error", "RETURN_UNKNOWN_ORDER", 1),
            ("warning", "BALANCE_MISMATCH", 14),
            ("warning", "MISSING_IN_OPERATIONAL", 3),
            ("warning", "MISSING_IN_RECOMPUTED", 1),
            ("warning", "DEBT", 4),
            ("warning", "UNDELIVERED", 9),
        ]),
        liability_history=liability_history(),
        movements_by_day=movements_by_day(),
        mismatches_by_size=frame("mismatches_by_size", [
            ("1-9", 1, 9, 2),
            ("10-99", 10, 99, 5),
            ("100-999", 100, 999, 6),
            ("1000-9999", 1_000, 9_999, 4),
            ("10000-99999", 10_000, 99_999, 1),
            ("100000+", 100_000, None, 0),
        ]),
    )


def frames(report: FinanceReport) -> dict[str, pl.DataFrame]:
    return {name: getattr(report, name) for name in SCHEMAS}


def hostile_report() -> FinanceReport:
    """The same night with a hostile string in every string cell and every string field."""
    strings = cycle(HOSTILE)
    report = finance_report()
    hostile = {
        name: df.with_columns(
            pl.Series(column, [next(strings) for _ in range(df.height)], dtype=pl.String)
            for column, dtype in SCHEMAS[name].items() if dtype == pl.String
        )
        for name, df in frames(report).items()
    }
    return replace(report, run_id=HOSTILE[0], code_version=HOSTILE[4], rules_version=HOSTILE[5], **hostile)


def empty_report() -> FinanceReport:
    """A first night with no rows in any table and no operational file."""
    return replace(
        finance_report(), opening_as_of=None, operational_reported=False, restated_customers=0,
        **{name: pl.DataFrame(schema=schema) for name, schema in SCHEMAS.items()},
    )
