"""The program's clock (RULES 1): business dates in the rules' timezone, day and month arithmetic."""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.rules import Rules

MICROS = 1_000_000


def business_date(instant: pl.Expr, rules: Rules) -> pl.Expr:
    """Calendar date of a UTC instant on the program's clock."""
    return instant.dt.convert_time_zone(rules.timezone).dt.date()


def local_text(instant: pl.Expr, rules: Rules) -> pl.Expr:
    """An instant as people read it in messages: '2026-02-09T12:00:00+03:00', on the program's clock."""
    return instant.dt.convert_time_zone(rules.timezone).dt.strftime("%Y-%m-%dT%H:%M:%S%:z")


def start_of(date: pl.Expr, rules: Rules) -> pl.Expr:
    """00:00 of a business date on the program's clock, as a UTC instant."""
    return (
        date.cast(pl.Datetime("us"))
        .dt.replace_time_zone(rules.timezone)
        .dt.convert_time_zone("UTC")
    )


def plus_months(date: pl.Expr, months: int) -> pl.Expr:
    """Calendar months, clamped to the month's end (2024-02-29 + 12 months = 2025-02-28)."""
    return date.dt.offset_by(f"{months}mo")


def plus_days(date: pl.Expr, days: int) -> pl.Expr:
    return date + pl.duration(days=days)


def epoch_micros(instant: pl.Expr) -> pl.Expr:
    return instant.dt.epoch("us")


def start_of_date(date: dt.date, rules: Rules) -> dt.datetime:
    """00:00 of `date` on the program's clock, as an aware UTC datetime."""
    local = dt.datetime.combine(date, dt.time(), tzinfo=rules.tz)
    return local.astimezone(dt.timezone.utc)


def cutoff_of(as_of: dt.date, rules: Rules) -> dt.datetime:
    """First instant after the snapshot of `as_of`: D+1 00:00 on the program's clock."""
    return start_of_date(as_of + dt.timedelta(days=1), rules)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def micros_of(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // dt.timedelta(microseconds=1)


def yesterday(rules: Rules, now: dt.datetime | None = None) -> dt.date:
    """The default business date of a nightly run: yesterday on the program's clock."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.astimezone(rules.tz).date() - dt.timedelta(days=1)
