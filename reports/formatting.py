"""Numbers, dates and names as Russian finance reads them: grouped digits, decimal comma, true minus.

Money groups with U+00A0 and ends in "₽"; points group with U+202F; negatives take U+2212.
Everything is exact: integers or Decimal, rounded half away from zero, never a float. The Russian
names of the report's codes (buckets, movement kinds, severities, variance codes) are here too,
shared by the page and the workbook.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

NBSP = "\u00a0"
NNBSP = "\u202f"
MINUS = "\u2212"
DASH = "—"
MONTHS = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)

BUCKETS = {
    "pending": "Ожидают начисления",
    "available": "Доступны",
    "debt": "Долг",
    "liability": "Обязательство",
}
KINDS = {
    "earn": "Начислено",
    "mature": "Созрело",
    "redeem": "Списано в оплату",
    "expire": "Сгорело",
    "clawback": "Отозвано при возврате",
    "restore": "Восстановлено",
    "birthday": "День рождения",
    "adjust": "Корректировки",
    "debt": "Долг возник",
    "repay": "Долг погашен",
}
VARIANCE_CODES = {
    "BALANCE_MISMATCH": "Остаток клиента расходится",
    "MISSING_IN_OPERATIONAL": "Клиента нет в операционной системе",
    "MISSING_IN_RECOMPUTED": "Клиента нет в пересчёте",
}
SEVERITIES = {"error": "ошибка", "warning": "предупреждение"}


def grouped(digits: str, separator: str) -> str:
    """'1234567' -> '1 234 567' with `separator` between groups of three."""
    head = len(digits) % 3 or 3
    return separator.join([digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)])


def sign_of(value: int | Decimal, signed: bool) -> str:
    """'−' for a negative value; '+' for a positive one only when `signed` (a change)."""
    if value < 0:
        return MINUS
    return "+" if signed and value > 0 else ""


def money(rub: int | Decimal, *, signed: bool = False) -> str:
    """'1 234 567,89 ₽' from whole rubles (1 point = 1 RUB) or a Decimal amount, to the kopeck."""
    kopecks = int((Decimal(rub) * 100).to_integral_value(rounding=ROUND_HALF_UP))
    whole, cents = divmod(abs(kopecks), 100)
    return f"{sign_of(kopecks, signed)}{grouped(str(whole), NBSP)},{cents:02d}{NBSP}₽"


def points(value: int, *, signed: bool = False) -> str:
    """'1 234 567' (thin no-break spaces), whole points."""
    return f"{sign_of(value, signed)}{grouped(str(abs(value)), NNBSP)}"


def date(day: dt.date) -> str:
    """'31.03.2026'."""
    return f"{day.day:02d}.{day.month:02d}.{day.year:04d}"


def day_month(day: dt.date) -> str:
    """'31.03': an axis label where the year is plain from the context."""
    return f"{day.day:02d}.{day.month:02d}"


def month(day: dt.date) -> str:
    """'март 2026': the month of a first-of-month date."""
    return f"{MONTHS[day.month - 1]} {day.year}"


def share(part: int, whole: int) -> Decimal | None:
    """part / whole as a fraction rounded half away from zero to 0.001 (0.1 %); None when whole is 0."""
    if whole == 0:
        return None
    tenths, rest = divmod(abs(part) * 1000, abs(whole))
    tenths += 2 * rest >= abs(whole)
    negative = (part < 0) != (whole < 0) and tenths > 0
    return Decimal(-tenths if negative else tenths).scaleb(-3)


def percent(part: int, whole: int) -> str:
    """'12,5 %' for part / whole, exact to 0.1 %; '—' when whole is 0."""
    fraction = share(part, whole)
    if fraction is None:
        return DASH
    tenths = int(fraction.scaleb(3))
    whole_pct, tenth = divmod(abs(tenths), 10)
    return f"{sign_of(tenths, False)}{grouped(str(whole_pct), NBSP)},{tenth}{NBSP}%"
