"""The finance view of a snapshot as of D: the roll-forward (RULES 11), the liability, what is coming.

Each customer part adds up its own figures (`part_figures`); figures of parts add up
(`combine_figures`), and `finance_report` turns the whole into the tables of the report. Two
sides are computed apart and must agree to the point: the closing from the lots' state the walk
left, and the opening as published plus everything the movements say happened since.

A row of the roll-forward is a bucket (pending, available, debt, then the liability, available +
pending - debt in RUB at 1 point = 1 RUB); its columns are the opening (the last published day
before D, as stored when published), the restatement (that day's closing recomputed tonight
minus as published: data that arrived late), the movements since that day's cut-off by kind, and
the closing of D.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Callable

import polars as pl

from reports.model import (
    AHEAD, BREAKAGE, DEBT_BY_AGE, EXPIRY_BY_WEEK, LARGEST_DIFFERENCES, LIABILITY_BY_TIER, LIABILITY_HISTORY,
    MISMATCHES_BY_SIZE, MOVEMENTS_BY_DAY, RESTATEMENTS, ROLLFORWARD, VARIANCE_SUMMARY, FinanceReport,
)
from schemas.codes import BUCKETS, MOVEMENT_KINDS
from transforms.calendar import business_date, cutoff_of, micros_of, start_of_date
from transforms.checks import rollforward_breaks
from transforms.history import History, influences
from transforms.ledger import Ledger
from transforms.rules import Rules
from transforms.variance import VARIANCE_ROWS

HORIZONS_DAYS = (7, 30, 90)
EXPIRY_WEEKS = 13
DEBT_AGE_BANDS_DAYS = ((0, 30), (31, 90), (91, 180), (181, 365), (366, None))
MISMATCH_BANDS_POINTS = ((1, 9), (10, 99), (100, 999), (1_000, 9_999), (10_000, 99_999), (100_000, None))
HISTORY_DAYS = 90
MOVEMENT_DAYS = 30
LARGEST_DIFFERENCES_SHOWN = 20
RESTATEMENTS_SHOWN = 50
LATE_SOURCES_NAMED = 5
"""The report's shape: how far ahead and back it looks and how many rows it names."""

VARIANCE_CODES = ("BALANCE_MISMATCH", "MISSING_IN_OPERATIONAL", "MISSING_IN_RECOMPUTED")
CLOSING_COLUMNS = {"customer_id": pl.String, "tier": pl.String, "pending": pl.Int64, "available": pl.Int64,
                   "debt": pl.Int64}
"""grain [customer_id]: a customer's closing as stored when a day is published (non-zero rows only)."""


class RollforwardBreak(RuntimeError):
    """The roll-forward does not tie: nothing is published. `rows` are the ROLLFORWARD_BREAK rows."""

    def __init__(self, message: str, rows: pl.DataFrame):
        super().__init__(message)
        self.rows = rows


@dataclass(frozen=True)
class Opening:
    """What tonight's roll-forward starts from: the last published day before D, as published."""

    as_of: dt.date | None
    """None on the first run: everything starts from zero"""
    closings: pl.DataFrame
    """CLOSING_COLUMNS, every customer holding points or debt at that day's close"""
    totals: dict[str, int]
    """pending, available, debt of that day as stored with it"""
    engine_change: str | None = None
    """set when the rules or the code changed since that day was published: then a restatement
    with no late data behind it is put down to that change instead of breaking the run"""

    @staticmethod
    def none() -> Opening:
        return Opening(None, pl.DataFrame(schema=CLOSING_COLUMNS), {bucket: 0 for bucket in BUCKETS})


def closings_of(balances: pl.DataFrame) -> pl.DataFrame:
    """The closing to store for a published day: the customers holding points or debt."""
    return balances.select(
        "customer_id", "tier", pl.col("pending_points").alias("pending"),
        pl.col("available_points").alias("available"), pl.col("debt_points").alias("debt"),
    ).filter((pl.col("pending") != 0) | (pl.col("available") != 0) | (pl.col("debt") != 0))


# what one part adds up ------------------------------------------------------------------------

LINES = {"line": pl.String, "bucket": pl.String, "points": pl.Int64}
"""grain [line, bucket]: 'opening', 'recomputed_opening', 'closing' or a movement kind."""
ISSUES = {"customer_id": pl.String, "bucket": pl.String, "published": pl.Int64, "recomputed": pl.Int64,
          "movements": pl.Int64, "closing": pl.Int64, "cause": pl.String, "message": pl.String}
"""grain [customer_id, bucket]: a customer whose opening was restated (`message` null) or whose
roll-forward does not tie or is unexplained (`message` says how)."""
TIERS = {"tier": pl.String, "customers_opening": pl.Int64, "customers": pl.Int64, "opening": pl.Int64,
         "closing": pl.Int64}


@dataclass(frozen=True)
class Figures:
    """What finance needs from some customers; the figures of disjoint parts add up."""

    lines: pl.DataFrame
    issues: pl.DataFrame
    tiers: pl.DataFrame
    ahead: pl.DataFrame
    expiry_by_week: pl.DataFrame
    breakage: pl.DataFrame
    debt_by_age: pl.DataFrame
    movements_by_day: pl.DataFrame
    variance: pl.DataFrame


_SUMMED_BY = {
    "lines": ["line", "bucket"], "tiers": ["tier"], "ahead": ["horizon_days"],
    "expiry_by_week": ["week_start", "week_end"], "breakage": ["month"],
    "debt_by_age": ["age_band", "from_days", "to_days"], "movements_by_day": ["business_date", "kind", "bucket"],
}
"""Figures added up over parts by these keys; the others are rows of disjoint customers."""


def combine_figures(parts: list[Figures]) -> Figures:
    combined = {}
    for field in fields(Figures):
        frames = [getattr(part, field.name) for part in parts]
        frame = pl.concat(frames, how="vertical")
        keys = _SUMMED_BY.get(field.name)
        if keys:
            frame = frame.group_by(keys).agg(pl.exclude(keys).sum()).sort(keys)
        combined[field.name] = frame
    return Figures(**combined)


def _long(frame: pl.DataFrame, value: str) -> pl.DataFrame:
    """(keys..., pending, available, debt) -> (keys..., bucket, value)."""
    keys = [c for c in frame.columns if c not in BUCKETS]
    return frame.unpivot(list(BUCKETS), index=keys, variable_name="bucket", value_name=value)


def _instant_date(column: str, rules: Rules) -> pl.Expr:
    return business_date(pl.col(column).cast(pl.Datetime("us", "UTC")), rules)


def part_figures(
    ledger: Ledger, balances: pl.DataFrame, history: History, variance_rows: pl.DataFrame, opening: Opening,
    rules: Rules, as_of: dt.date,
) -> Figures:
    """The finance figures of one part's snapshot; `opening.closings` holds this part's customers."""
    opened = micros_of(cutoff_of(opening.as_of, rules)) if opening.as_of else None
    before = pl.col("time") < opened if opened is not None else pl.lit(False)
    moves = ledger.tallies  # kind and bucket stay coded (Enum) until grouped
    customer_ids = ledger.customers.select("customer_index", "customer_id")

    kinds = (
        moves.filter(~before).group_by("kind", "bucket").agg(pl.col("points").sum())
        .select(pl.col("kind").cast(pl.String).alias("line"), pl.col("bucket").cast(pl.String), "points")
    )
    walked = (
        moves.group_by("customer_index", "bucket")
        .agg(pl.when(before).then(pl.col("points")).otherwise(0).sum().alias("recomputed"),
             pl.when(before).then(0).otherwise(pl.col("points")).sum().alias("movements"))
        .with_columns(pl.col("bucket").cast(pl.String))
    )
    held = ledger.lots.filter(pl.col("remaining") > 0).group_by("customer_index").agg(
        pl.when(pl.col("pending")).then(pl.col("remaining")).otherwise(0).sum().alias("pending"),
        pl.when(pl.col("pending")).then(0).otherwise(pl.col("remaining")).sum().alias("available"),
    )
    closing = _long(
        ledger.customers.select("customer_index", pl.col("debt_points").alias("debt"))
        .join(held, on="customer_index", how="left").fill_null(0),
        "closing",
    )
    published = _long(opening.closings.select("customer_id", *BUCKETS), "published")
    per_customer = (
        closing.join(walked, on=["customer_index", "bucket"], how="left")
        .join(customer_ids, on="customer_index")
        .join(published, on=["customer_id", "bucket"], how="full", coalesce=True)
        .with_columns(pl.col("recomputed", "movements", "closing", "published").fill_null(0).cast(pl.Int64))
    )
    lines = pl.concat([
        per_customer.group_by("bucket").agg(pl.col(c).sum().alias("points")).select(
            pl.lit(line).alias("line"), "bucket", "points")
        for c, line in (("published", "opening"), ("recomputed", "recomputed_opening"), ("closing", "closing"))
    ] + [kinds])
    return Figures(
        lines=lines.select(LINES.keys()).cast(LINES),
        issues=_issues(per_customer, history, opening, rules),
        tiers=_tiers(per_customer, balances, opening),
        ahead=_ahead(ledger, rules, as_of),
        expiry_by_week=_expiry_by_week(ledger, rules, as_of),
        breakage=_breakage(ledger, moves, rules),
        debt_by_age=_debt_by_age(moves, rules, as_of),
        movements_by_day=_movements_by_day(moves, rules, as_of),
        variance=variance_rows.select(VARIANCE_ROWS.keys()).cast(VARIANCE_ROWS),
    )


def _issues(per_customer: pl.DataFrame, history: History, opening: Opening, rules: Rules) -> pl.DataFrame:
    """Customers whose opening was restated, with what caused it, and those that do not tie."""
    untied = per_customer.filter(pl.col("recomputed") + pl.col("movements") != pl.col("closing")).with_columns(
        pl.lit(None, pl.String).alias("cause"),
        pl.format(
            "customer {}, {}: opening recomputed {} + movements {} = {}, but its lots hold {} ({} {})",
            "customer_id", "bucket", "recomputed", "movements", pl.col("recomputed") + pl.col("movements"),
            "closing", (pl.col("recomputed") + pl.col("movements") - pl.col("closing")).abs(),
            pl.when(pl.col("recomputed") + pl.col("movements") > pl.col("closing"))
            .then(pl.lit("too much in the movements")).otherwise(pl.lit("too little in the movements")),
        ).alias("message"),
    )
    restated = per_customer.filter(pl.col("recomputed") != pl.col("published"))
    if restated.height:
        causes = late_sources(history, restated.select("customer_id").unique(), opening.as_of, rules)
        restated = restated.join(causes, on="customer_id", how="left")
        if opening.engine_change:
            restated = restated.with_columns(pl.col("cause").fill_null(pl.lit(opening.engine_change)))
        restated = restated.with_columns(
            pl.when(pl.col("cause").is_null()).then(pl.format(
                "customer {}, {}: the closing of {} was published as {} and is recomputed as {} ({} {}), "
                "and no row that arrived since explains it",
                "customer_id", "bucket", pl.lit(str(opening.as_of)), "published", "recomputed",
                (pl.col("recomputed") - pl.col("published")).abs(),
                pl.when(pl.col("recomputed") > pl.col("published")).then(pl.lit("more")).otherwise(pl.lit("less")),
            )).alias("message")
        )
    else:
        restated = restated.with_columns(pl.lit(None, pl.String).alias("cause"), pl.lit(None, pl.String).alias("message"))
    return pl.concat([restated.select(ISSUES.keys()), untied.select(ISSUES.keys())]).cast(ISSUES)


def late_sources(history: History, customers: pl.DataFrame, since: dt.date, rules: Rules) -> pl.DataFrame:
    """grain [customer_id]: the rows received after `since` that can change that day's closing of
    these customers (`history.influences` before its cut-off), as 'file:row; ...'."""
    cut = cutoff_of(since, rules)
    rows = influences(history, customers).filter(
        (pl.col("folder") > since) & (pl.col("instant").is_null() | (pl.col("instant") < cut)))
    named = (
        rows.with_columns(pl.format("{}:{}", "source_file", "source_row").alias("row"))
        .group_by("customer_id").agg(pl.col("row").unique().sort())
    )
    return named.select(
        "customer_id",
        pl.concat_str(
            pl.col("row").list.head(LATE_SOURCES_NAMED).list.join("; "),
            pl.when(pl.col("row").list.len() > LATE_SOURCES_NAMED)
            .then(pl.format(" and {} more", pl.col("row").list.len() - LATE_SOURCES_NAMED)).otherwise(pl.lit("")),
        ).alias("cause"),
    )


def _tiers(per_customer: pl.DataFrame, balances: pl.DataFrame, opening: Opening) -> pl.DataFrame:
    """Liability by the tier each customer held at the opening and at the closing."""
    signed = pl.when(pl.col("bucket") == "debt").then(-pl.col("closing")).otherwise(pl.col("closing"))
    closing = (
        per_customer.group_by("customer_id")
        .agg(signed.sum().alias("closing"), (pl.col("closing") != 0).any().alias("holds"))
        .filter(pl.col("holds"))
        .join(balances.select("customer_id", "tier"), on="customer_id")
        .group_by("tier").agg(pl.len().cast(pl.Int64).alias("customers"), pl.col("closing").sum())
    )
    opened = opening.closings.group_by("tier").agg(
        pl.len().cast(pl.Int64).alias("customers_opening"),
        (pl.col("pending") + pl.col("available") - pl.col("debt")).sum().alias("opening"),
    )
    return closing.join(opened, on="tier", how="full", coalesce=True).fill_null(0).select(TIERS.keys()).cast(TIERS)


def _open_lots(ledger: Ledger, rules: Rules) -> pl.DataFrame:
    return ledger.lots.filter(pl.col("remaining") > 0).select(
        "remaining", "pending",
        business_date(pl.col("expiry"), rules).alias("expiry_date"),
        business_date(pl.col("matures"), rules).alias("matures_date"),
        (pl.col("matures") < pl.col("expiry")).fill_null(False).alias("matures_first"),
    )


def _ahead(ledger: Ledger, rules: Rules, as_of: dt.date) -> pl.DataFrame:
    """Points maturing and expiring on D+1 .. D+h for each horizon h."""
    lots = _open_lots(ledger, rules)
    rows = []
    for horizon in HORIZONS_DAYS:
        last = as_of + dt.timedelta(days=horizon)
        maturing = lots.filter(pl.col("pending") & pl.col("matures_first")
                               & pl.col("matures_date").is_between(as_of, last, closed="right"))
        expiring = lots.filter(pl.col("expiry_date").is_between(as_of, last, closed="right"))
        rows.append({"horizon_days": horizon, "maturing_points": int(maturing.get_column("remaining").sum()),
                     "expiring_points": int(expiring.get_column("remaining").sum())})
    return pl.DataFrame(rows, schema=AHEAD)


def _expiry_by_week(ledger: Ledger, rules: Rules, as_of: dt.date) -> pl.DataFrame:
    """Points expiring in each of the next EXPIRY_WEEKS weeks, the first starting on D+1."""
    first = as_of + dt.timedelta(days=1)
    weeks = pl.DataFrame({"week": list(range(EXPIRY_WEEKS))}, schema={"week": pl.Int64})
    expiring = (
        _open_lots(ledger, rules)
        .with_columns(((pl.col("expiry_date") - pl.lit(first)).dt.total_days() // 7).alias("week"))
        .filter(pl.col("week").is_between(0, EXPIRY_WEEKS - 1))
        .group_by("week").agg(pl.col("remaining").sum().alias("expiring_points"))
    )
    return weeks.join(expiring, on="week", how="left").fill_null(0).select(
        (pl.lit(first) + pl.duration(days=pl.col("week") * 7)).alias("week_start"),
        (pl.lit(first) + pl.duration(days=pl.col("week") * 7 + 6)).alias("week_end"),
        "expiring_points",
    ).cast(EXPIRY_BY_WEEK)


def _breakage(ledger: Ledger, moves: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """By month of a lot's creation: points issued, expired since and still held."""
    expired = moves.filter(pl.col("kind") == "expire").group_by("lot").agg((-pl.col("points").sum()).alias("expired"))
    lots = ledger.lots.filter(pl.col("issued") > 0).select(
        pl.col("lot_index").cast(pl.Int64).alias("lot"), "issued", "remaining",
        _instant_date("created_at", rules).dt.month_start().alias("month"),
    )
    return (
        lots.join(expired, on="lot", how="left").fill_null(0)
        .group_by("month").agg(pl.col("issued").sum().alias("issued_points"),
                               pl.col("expired").sum().alias("expired_points"),
                               pl.col("remaining").sum().alias("held_points"))
        .select(BREAKAGE.keys()).cast(BREAKAGE)
    )


def _band(value: pl.Expr, bands) -> pl.Expr:
    """The name of the band (low, high) holding the value; bands rise, the last is open."""
    band = pl.lit(None, pl.String)
    for low, high in bands:  # the last written is the first tested: the highest band
        band = pl.when(value >= low).then(pl.lit(_band_name(low, high))).otherwise(band)
    return band


def _band_name(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else f"{low}-{high}"


def _debt_by_age(moves: pl.DataFrame, rules: Rules, as_of: dt.date) -> pl.DataFrame:
    """Outstanding debt by its age on D: repayments settle the oldest debt first."""
    debt = moves.filter(pl.col("bucket") == "debt")
    repaid = debt.filter(pl.col("points") < 0).group_by("customer_index").agg((-pl.col("points").sum()).alias("repaid"))
    outstanding = (
        debt.filter(pl.col("points") > 0).sort("customer_index", "time", maintain_order=True)
        .with_columns(pl.col("points").cum_sum().over("customer_index").alias("upto"))
        .join(repaid, on="customer_index", how="left").fill_null(0)
        .with_columns(pl.min_horizontal(pl.col("points"), pl.col("upto") - pl.col("repaid")).clip(0).alias("left"))
        .filter(pl.col("left") > 0)
        .with_columns(_band((pl.lit(as_of) - _instant_date("time", rules)).dt.total_days(), DEBT_AGE_BANDS_DAYS).alias("age_band"))
        .group_by("age_band").agg(pl.col("customer_index").n_unique().cast(pl.Int64).alias("customers"),
                                  pl.col("left").sum().alias("debt_points"))
    )
    return _bands(DEBT_AGE_BANDS_DAYS, "age_band", "from_days", "to_days").join(
        outstanding, on="age_band", how="left").with_columns(pl.col("customers", "debt_points").fill_null(0)
                                                             ).select(DEBT_BY_AGE.keys()).cast(DEBT_BY_AGE)


def _bands(bands, name: str, low: str, high: str) -> pl.DataFrame:
    return pl.DataFrame(
        {name: [_band_name(a, b) for a, b in bands], low: [a for a, _ in bands], high: [b for _, b in bands]},
        schema={name: pl.String, low: pl.Int64, high: pl.Int64},
    )


def _movements_by_day(moves: pl.DataFrame, rules: Rules, as_of: dt.date) -> pl.DataFrame:
    first = as_of - dt.timedelta(days=MOVEMENT_DAYS - 1)
    return (
        moves.filter(pl.col("time") >= micros_of(start_of_date(first, rules)))
        .group_by(_instant_date("time", rules).alias("business_date"), "kind", "bucket")
        .agg(pl.col("points").sum())
        .select(MOVEMENTS_BY_DAY.keys()).cast(MOVEMENTS_BY_DAY)
    )


# the whole night ------------------------------------------------------------------------------

def rollforward(figures: Figures, opening: Opening) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(ROLLFORWARD rows, ROLLFORWARD_BREAK exception rows) of the whole night."""
    lines = {(line, bucket): points for line, bucket, points in figures.lines.iter_rows()}
    rows, breaks = [], []
    for bucket in BUCKETS:
        stored = opening.totals[bucket]
        summed = lines.get(("opening", bucket), 0)
        if stored != summed:
            breaks.append(f"{bucket}: the stored closing of {opening.as_of} is {stored} in total, but its "
                          f"customers add up to {summed} ({abs(stored - summed)} {'more' if summed > stored else 'less'})")
        row = {"bucket": bucket, "opening": stored,
               "restatement": lines.get(("recomputed_opening", bucket), 0) - stored,
               **{kind: lines.get((kind, bucket), 0) for kind in MOVEMENT_KINDS},
               "closing": lines.get(("closing", bucket), 0)}
        rows.append(row)
    signs = {"pending": 1, "available": 1, "debt": -1}
    liability = {"bucket": "liability", **{
        column: sum(signs[row["bucket"]] * row[column] for row in rows)
        for column in ("opening", "restatement", *MOVEMENT_KINDS, "closing")}}
    table = []
    for row in [*rows, liability]:
        moved = row["opening"] + row["restatement"] + sum(row[kind] for kind in MOVEMENT_KINDS)
        row["ties"] = moved == row["closing"]
        if not row["ties"]:
            breaks.append(
                f"{row['bucket']}: opening {row['opening']} + restatement {row['restatement']} + movements "
                f"{moved - row['opening'] - row['restatement']} = {moved} != closing {row['closing']} "
                f"({abs(moved - row['closing'])} too {'much' if moved > row['closing'] else 'little'} in the movements)")
        table.append(row)
    totals = pl.DataFrame({"customer_id": [None] * len(breaks), "message": breaks},
                          schema={"customer_id": pl.String, "message": pl.String})
    customers = figures.issues.filter(pl.col("message").is_not_null()).select("customer_id", "message")
    return pl.DataFrame(table, schema=ROLLFORWARD), rollforward_breaks(pl.concat([totals, customers]))


def check_rollforward(breaks: pl.DataFrame, as_of: dt.date) -> None:
    """Raise RollforwardBreak, naming the first problem and how many there are, if any row broke."""
    if breaks.height:
        first = breaks.get_column("message").first()
        more = f" (and {breaks.height - 1} more)" if breaks.height > 1 else ""
        raise RollforwardBreak(f"ROLLFORWARD_BREAK on {as_of}: {first}{more}", breaks)


def restatements(figures: Figures) -> pl.DataFrame:
    """RESTATEMENTS rows of every restated customer, largest difference first."""
    return (
        figures.issues.filter(pl.col("message").is_null())
        .select("customer_id", "bucket", "published", "recomputed",
                (pl.col("recomputed") - pl.col("published")).alias("difference"), "cause")
        .sort(pl.col("difference").abs(), "customer_id", "bucket", descending=[True, False, False])
        .cast(RESTATEMENTS)
    )


def finance_report(
    figures: Figures, opening: Opening, rollforward_rows: pl.DataFrame, exceptions: pl.DataFrame,
    history: pl.DataFrame, rules: Rules, as_of: dt.date, run: dict, operational_reported: bool,
    statements: Callable[[list[str]], dict[str, str]],
) -> FinanceReport:
    """The report's tables. `history`: LIABILITY_HISTORY rows of earlier published days;
    `statements(customer_ids)`: what `explain` prints for each; `run`: run_id and code_version."""
    restated = restatements(figures)
    order = {tier.name: n for n, tier in enumerate(rules.tiers)}
    tiers = (
        figures.tiers.with_columns((pl.col("closing") - pl.col("opening")).alias("change"))
        .sort(pl.col("tier").replace_strict(order, default=len(order)))
        .select(LIABILITY_BY_TIER.keys()).cast(LIABILITY_BY_TIER)
    )
    closing = {row["bucket"]: row["closing"] for row in rollforward_rows.iter_rows(named=True)}
    today = pl.DataFrame([{"as_of": as_of, **{b: closing[b] for b in BUCKETS}, "liability": closing["liability"]}],
                         schema=LIABILITY_HISTORY)
    earliest = as_of - dt.timedelta(days=HISTORY_DAYS - 1)
    liability_history = pl.concat([
        history.filter((pl.col("as_of") >= earliest) & (pl.col("as_of") < as_of)).cast(LIABILITY_HISTORY), today,
    ]).sort("as_of")
    return FinanceReport(
        as_of=as_of, opening_as_of=opening.as_of, run_id=run["run_id"], code_version=run["code_version"],
        rules_version=rules.version, operational_reported=operational_reported,
        restated_customers=restated.get_column("customer_id").n_unique(),
        rollforward=rollforward_rows,
        restatements=restated.head(RESTATEMENTS_SHOWN),
        liability_by_tier=tiers,
        ahead=figures.ahead.sort("horizon_days").cast(AHEAD),
        expiry_by_week=figures.expiry_by_week.sort("week_start").cast(EXPIRY_BY_WEEK),
        breakage=figures.breakage.sort("month").cast(BREAKAGE),
        debt_by_age=figures.debt_by_age.sort("from_days").cast(DEBT_BY_AGE),
        variance_summary=_variance_summary(figures.variance),
        largest_differences=_largest_differences(figures.variance, statements),
        exceptions_by_code=exceptions.group_by("severity", "code").agg(pl.len().cast(pl.Int64).alias("rows"))
        .sort("severity", "code"),
        liability_history=liability_history,
        movements_by_day=figures.movements_by_day.sort("business_date", "kind", "bucket"),
        mismatches_by_size=_mismatches_by_size(figures.variance),
    )


def _difference() -> pl.Expr:
    return (pl.col("recomputed").fill_null(0) - pl.col("operational").fill_null(0)).alias("difference")


def _variance_summary(variance: pl.DataFrame) -> pl.DataFrame:
    codes = pl.DataFrame({"code": list(VARIANCE_CODES)})
    counted = variance.with_columns(_difference()).group_by("code").agg(
        pl.len().cast(pl.Int64).alias("rows"), pl.col("difference").abs().sum().alias("points"))
    return codes.join(counted, on="code", how="left").fill_null(0).cast(VARIANCE_SUMMARY)


def _largest_differences(variance: pl.DataFrame, statements: Callable[[list[str]], dict[str, str]]) -> pl.DataFrame:
    largest = (
        variance.with_columns(_difference())
        .sort(pl.col("difference").abs(), "customer_id", "code", "bucket", descending=[True, False, False, False],
              nulls_last=True)
        .head(LARGEST_DIFFERENCES_SHOWN)
    )
    written = statements(largest.get_column("customer_id").unique().sort().to_list())
    return largest.with_columns(
        pl.col("customer_id").replace_strict(written, default="", return_dtype=pl.String).alias("statement")
    ).select(LARGEST_DIFFERENCES.keys()).cast(LARGEST_DIFFERENCES)


def _mismatches_by_size(variance: pl.DataFrame) -> pl.DataFrame:
    counted = (
        variance.select(_band(_difference().abs(), MISMATCH_BANDS_POINTS).alias("size_band"))
        .group_by("size_band").agg(pl.len().cast(pl.Int64).alias("rows"))
    )
    return _bands(MISMATCH_BANDS_POINTS, "size_band", "from_points", "to_points").join(
        counted, on="size_band", how="left").with_columns(pl.col("rows").fill_null(0)).cast(MISMATCHES_BY_SIZE)

