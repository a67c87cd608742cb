"""Per-customer balance snapshot as of D (docs/interfaces.md balances, RULES 13)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.calendar import business_date
from transforms.ledger import Ledger
from transforms.money import rub
from transforms.rules import Rules
from transforms.sqlrun import run_sql

BALANCE_COLUMNS = (
    "customer_id", "as_of", "tier", "cashback_pct", "lifetime_spend", "next_tier", "spend_to_next_tier",
    "available_points", "pending_points", "debt_points", "next_expiry_date", "next_expiry_points",
    "expiring_30d_points", "earned_points", "redeemed_points", "expired_points", "clawed_back_points",
    "restored_points", "birthday_points", "adjusted_points",
)


class LedgerInvariantError(AssertionError):
    """The movements and the kernel's own state disagree: a bug, never published."""


def tiers_frame(rules: Rules) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "name": [t.name for t in rules.tiers],
            "from_kopecks": [t.from_kopecks for t in rules.tiers],
            "cashback_pct": [t.cashback_pct for t in rules.tiers],
        },
        schema={"name": pl.String, "from_kopecks": pl.Int64, "cashback_pct": pl.Int64},
    )


def build_balances(ledger: Ledger, rules: Rules, as_of: dt.date) -> pl.DataFrame:
    """One row per customer known by D."""
    lots = ledger.lots.select(
        "customer_id", "remaining", business_date(pl.col("expiry"), rules).alias("expiry_date")
    )
    raw = run_sql(
        "balances",
        {"as_of": as_of, "window": rules.expiring_window_days},
        movements=ledger.tallies,
        lots=lots,
        customers=ledger.customers.select("customer_index", "customer_id", "spend_kop", "debt_points"),
        tiers=tiers_frame(rules),
    )
    broken = raw.filter(pl.col("debt_points") != pl.col("kernel_debt_points"))
    if broken.height:
        raise LedgerInvariantError(f"debt from movements differs from the walk for {broken.height} customers")
    return raw.select(
        "customer_id",
        pl.col("as_of").cast(pl.Date),
        "tier",
        pl.col("cashback_pct").cast(pl.Int64),
        rub(pl.col("lifetime_spend_kop")).alias("lifetime_spend"),
        "next_tier",
        rub(pl.col("spend_to_next_tier_kop")).alias("spend_to_next_tier"),
        *[pl.col(c).cast(pl.Int64) for c in ("available_points", "pending_points", "debt_points")],
        pl.col("next_expiry_date").cast(pl.Date),
        *[pl.col(c).cast(pl.Int64) for c in BALANCE_COLUMNS if c.endswith("_points") and c not in
          ("available_points", "pending_points", "debt_points")],
    ).select(BALANCE_COLUMNS)
