"""The program's clock (RULES 1): business dates in the rules' timezone, day and month arithmetic."""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import polars as pl

from transforms.rules import Rules

MICROS = 1_000_000
DAY_MICROS = 86_400 * MICROS
OFFSETS_FROM = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
OFFSETS_TO = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
"""The span, in UTC, over which business dates come from a table of the clock's UTC offsets."""


def business_date(instant: pl.Expr, rules: Rules) -> pl.Expr:
    """Calendar date of a UTC instant on the program's clock.

    Inside OFFSETS_FROM..OFFSETS_TO: the instant plus the clock's UTC offset at that instant,
    looked up in `utc_offsets` (a fifth of the time of converting every value to the zone);
    outside it, converted value by value. Both take their offsets from Polars' zone database."""
    micros = instant.dt.epoch("us")
    since, offsets = utc_offsets(rules.timezone)
    at = (pl.lit(since).search_sorted(micros, side="right").cast(pl.Int64) - 1).clip(0)
    local_day = (micros + pl.lit(offsets).gather(at)) // DAY_MICROS
    inside = micros.is_between(since[0], micros_of(OFFSETS_TO), closed="left")
    converted = pl.when(~inside).then(instant).dt.convert_time_zone(rules.timezone).dt.date()
    return pl.when(inside).then(local_day.cast(pl.Int32).cast(pl.Date)).otherwise(converted)


def _offset_of(instants: np.ndarray, timezone: str) -> np.ndarray:
    """UTC offsets (microseconds) of UTC instants (microseconds since the epoch) in a zone."""
    utc = pl.Series(instants, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
    local = utc.dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    return (local - utc.dt.replace_time_zone(None)).dt.total_microseconds().to_numpy()


@functools.cache
def utc_offsets(timezone: str) -> tuple[pl.Series, pl.Series]:
    """(since, offset): the zone's UTC offset in microseconds from each instant `since` on (UTC
    microseconds), OFFSETS_FROM to OFFSETS_TO, as Polars' zone database has it. Read every hour
    (the zone database has no zone change its offset twice within an hour), each change
    found to the microsecond by halving."""
    hours = np.arange(micros_of(OFFSETS_FROM), micros_of(OFFSETS_TO), 3600 * MICROS, dtype=np.int64)
    offset = _offset_of(hours, timezone)
    changed = np.flatnonzero(offset[1:] != offset[:-1]) + 1
    low, high, before = hours[changed - 1], hours[changed], offset[changed - 1]
    while (high - low > 1).any():  # the first microsecond of the new offset
        middle = (low + high) // 2
        still = _offset_of(middle, timezone) == before
        low, high = np.where(still, middle, low), np.where(still, high, middle)
    return (pl.Series("since", np.concatenate([hours[:1], high]), pl.Int64),
            pl.Series("offset", np.concatenate([offset[:1], offset[changed]]), pl.Int64))


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
