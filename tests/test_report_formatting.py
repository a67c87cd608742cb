"""Truth tables for the report's number and date formats, each row written out by hand."""

import datetime as dt
from decimal import Decimal

import pytest

from reports import formatting as fmt

NB = "\u00a0"  # between money groups and before ₽ and %
TH = "\u202f"  # between point groups
MINUS = "\u2212"


@pytest.mark.parametrize(
    "value, signed, text",
    [
        (0, False, f"0,00{NB}₽"),
        (5, False, f"5,00{NB}₽"),
        (999, False, f"999,00{NB}₽"),
        (1_000, False, f"1{NB}000,00{NB}₽"),
        (100_000, False, f"100{NB}000,00{NB}₽"),
        (1_234_567, False, f"1{NB}234{NB}567,00{NB}₽"),
        (Decimal("1234567.89"), False, f"1{NB}234{NB}567,89{NB}₽"),
        (-1_234, False, f"{MINUS}1{NB}234,00{NB}₽"),
        (Decimal("0.005"), False, f"0,01{NB}₽"),  # half away from zero
        (Decimal("-0.005"), False, f"{MINUS}0,01{NB}₽"),
        (Decimal("-0.004"), False, f"0,00{NB}₽"),  # no minus on a zero
        (Decimal("2.675"), False, f"2,68{NB}₽"),  # a float would make this 2.67
        (9_750, True, f"+9{NB}750,00{NB}₽"),
        (-9_750, True, f"{MINUS}9{NB}750,00{NB}₽"),
        (0, True, f"0,00{NB}₽"),
    ],
)
def test_money(value, signed, text):
    assert fmt.money(value, signed=signed) == text


@pytest.mark.parametrize(
    "value, signed, text",
    [
        (0, False, "0"),
        (7, False, "7"),
        (999, False, "999"),
        (1_000, False, f"1{TH}000"),
        (12_345, False, f"12{TH}345"),
        (-1_234_567, False, f"{MINUS}1{TH}234{TH}567"),
        (1_000_000_000, False, f"1{TH}000{TH}000{TH}000"),
        (12, True, "+12"),
        (-12, True, f"{MINUS}12"),
        (0, True, "0"),
    ],
)
def test_points(value, signed, text):
    assert fmt.points(value, signed=signed) == text


@pytest.mark.parametrize(
    "day, text, short, month",
    [
        (dt.date(2026, 3, 31), "31.03.2026", "31.03", "март 2026"),
        (dt.date(2026, 1, 5), "05.01.2026", "05.01", "январь 2026"),
        (dt.date(2025, 12, 1), "01.12.2025", "01.12", "декабрь 2025"),
    ],
)
def test_dates(day, text, short, month):
    assert (fmt.date(day), fmt.day_month(day), fmt.month(day)) == (text, short, month)


@pytest.mark.parametrize(
    "part, whole, share, text",
    [
        (1, 8, Decimal("0.125"), f"12,5{NB}%"),
        (5_000, 40_000, Decimal("0.125"), f"12,5{NB}%"),
        (1, 16, Decimal("0.063"), f"6,3{NB}%"),  # 6.25 -> 6.3, half away from zero
        (-1, 16, Decimal("-0.063"), f"{MINUS}6,3{NB}%"),
        (4_100, 61_000, Decimal("0.067"), f"6,7{NB}%"),  # 6.7213...
        (1, 3, Decimal("0.333"), f"33,3{NB}%"),
        (2, 3, Decimal("0.667"), f"66,7{NB}%"),
        (1, 2_000, Decimal("0.001"), f"0,1{NB}%"),  # exactly 0.05 %
        (1, 2_001, Decimal("0.000"), f"0,0{NB}%"),  # just under
        (-1, 20_000, Decimal("0.000"), f"0,0{NB}%"),  # no minus on a zero
        (0, 5, Decimal("0.000"), f"0,0{NB}%"),
        (3, 2, Decimal("1.500"), f"150,0{NB}%"),
        (12_345, 1, Decimal("12345.000"), f"1{NB}234{NB}500,0{NB}%"),
        # 10^17 + 0.05 %: exactly a half, which a float would lose
        (1 + 2_000 * 10**15, 2_000, Decimal("1000000000000000.001"), f"100{NB}000{NB}000{NB}000{NB}000{NB}000,1{NB}%"),
        (5, 0, None, "—"),
        (0, 0, None, "—"),
    ],
)
def test_share_and_percent(part, whole, share, text):
    assert fmt.share(part, whole) == share
    assert fmt.percent(part, whole) == text


def test_separators_are_the_no_break_ones():
    assert fmt.money(1_234_567) == "1\u00a0234\u00a0567,00\u00a0\u20bd"
    assert fmt.points(-1_234_567) == "\u22121\u202f234\u202f567"
    assert " " not in fmt.money(-1_234_567) + fmt.points(1_234_567) + fmt.percent(1, 3)
