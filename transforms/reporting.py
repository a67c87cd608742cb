"""Which exceptions a night reports (RULES 12): those that arrived since the last night published
before it, plus the recurring ones. A pure function of the data and that date, so a re-run of D
reports what D reported, whatever ran in between, and the exceptions reported up to D are the
same whether the nights ran one by one, as one catch-up run or as a backfill."""

from __future__ import annotations

import datetime as dt

import polars as pl

from schemas.codes import EXCEPTION_SCHEMA, RECURRING_CODES
from transforms.checks import FOUND_SCHEMA
from transforms.sqlrun import run_sql


def reported_exceptions(found: pl.DataFrame, since: dt.date | None) -> pl.DataFrame:
    """The exceptions to publish for D. `since`: the last night published before D when D was
    first published (None: D was the first night, which reports everything it finds)."""
    reported = run_sql(
        "reported_exceptions",
        {"since": since, "recurring": sorted(RECURRING_CODES)},
        found=found.select(list(FOUND_SCHEMA)),
    )
    return reported.select([pl.col(name).cast(dtype) for name, dtype in EXCEPTION_SCHEMA.items()])
