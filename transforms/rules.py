"""The program's rules: every number of docs/rules.md, loaded once from rules.toml into a frozen object."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

RULES_FILE = Path(__file__).with_name("rules.toml")


class RulesError(ValueError):
    """The rules file is missing a value or holds one that makes no sense."""


@dataclass(frozen=True)
class Tier:
    """One cashback tier: held from `from_kopecks` of lifetime spend upwards."""

    name: str
    from_kopecks: int
    cashback_pct: int

    @property
    def rate_bp(self) -> int:
        """Cashback in basis points (1/100 of a percent), the kernel's integer rate."""
        return self.cashback_pct * 100


@dataclass(frozen=True)
class Rules:
    version: str
    timezone: str
    program_start: dt.date
    tiers: tuple[Tier, ...]
    hold_days: int
    expiry_months: int
    birthday_points: int
    redemption_max_share_pct: int
    undelivered_after_days: int
    expiring_window_days: int
    future_event_max_days: int

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)



def _kopecks(text: str, where: str) -> int:
    value = Decimal(text)
    if value != value.quantize(Decimal("0.01")) or value < 0:
        raise RulesError(f"{where}: {text!r} is not a non-negative amount with at most 2 decimals")
    return int(value * 100)


def _positive_int(table: dict, key: str, where: str) -> int:
    value = table.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RulesError(f"{where}.{key} must be a positive whole number, got {value!r}")
    return value


def parse_rules(doc: dict) -> Rules:
    """Validate a parsed rules document; every problem is a RulesError naming the key."""
    try:
        tiers = tuple(
            Tier(
                name=str(t["name"]),
                from_kopecks=_kopecks(str(t["from_rub"]), f"tier {t['name']}"),
                cashback_pct=_positive_int(t, "cashback_pct", f"tier {t['name']}"),
            )
            for t in doc["tier"]
        )
        rules = Rules(
            version=str(doc["version"]),
            timezone=str(doc["timezone"]),
            program_start=dt.date.fromisoformat(str(doc["program_start"])),
            tiers=tiers,
            hold_days=_positive_int(doc["maturity"], "hold_days", "maturity"),
            expiry_months=_positive_int(doc["expiry"], "months", "expiry"),
            birthday_points=_positive_int(doc["birthday"], "points", "birthday"),
            redemption_max_share_pct=_positive_int(doc["redemption"], "max_share_pct", "redemption"),
            undelivered_after_days=_positive_int(doc["reporting"], "undelivered_after_days", "reporting"),
            expiring_window_days=_positive_int(doc["reporting"], "expiring_window_days", "reporting"),
            future_event_max_days=_positive_int(doc["input"], "future_event_max_days", "input"),
        )
    except KeyError as missing:
        raise RulesError(f"rules file lacks {missing}") from None
    if not tiers or tiers[0].from_kopecks != 0:
        raise RulesError("the first tier must start at 0 RUB")
    if any(a.from_kopecks >= b.from_kopecks for a, b in zip(tiers, tiers[1:])):
        raise RulesError("tier thresholds must rise strictly")
    if rules.redemption_max_share_pct > 100:
        raise RulesError("redemption.max_share_pct cannot exceed 100")
    try:
        rules.tz
    except Exception:
        raise RulesError(f"unknown timezone {rules.timezone!r}") from None
    return rules


def load_rules(path: Path | str = RULES_FILE) -> Rules:
    with open(path, "rb") as handle:
        return parse_rules(tomllib.load(handle))


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    return load_rules()
