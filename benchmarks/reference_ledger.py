"""A straightforward reference implementation of the rules (docs/rules.md): per customer, per event, plain Python.

Written to be obviously correct, not fast, and to share nothing with the engine but the accepted
rows it starts from (staging and history are tested on their own). Money is Decimal, instants are
aware datetimes, points are ints. Used by the tests (the engine must agree on every balance
column) and by the benchmark (as the slow reference).
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from transforms.history import History
from transforms.rules import Rules, Tier

CENT = Decimal("0.01")
PRIORITY = {"expire": 0, "mature": 1, "birthday": 2, "order": 3, "return": 4, "adjustment": 5}


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def tier_for(rules: Rules, spend_kopecks: int) -> Tier:
    """The highest tier whose threshold is <= the spend (RULES 2)."""
    held = rules.tiers[0]
    for tier in rules.tiers:
        if tier.from_kopecks <= spend_kopecks:
            held = tier
    return held


def next_tier(rules: Rules, tier: Tier) -> Tier | None:
    index = rules.tiers.index(tier)
    return rules.tiers[index + 1] if index + 1 < len(rules.tiers) else None


def kept_share(amount: Decimal, kept: int, qty: int) -> Decimal:
    return (amount * kept / qty).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Lot:
    lot_id: str
    created: dt.datetime
    expiry: dt.datetime
    points: int
    pending: bool


@dataclass
class Account:
    spend: Decimal = Decimal(0)
    debt: int = 0
    lots: list[Lot] = field(default_factory=list)
    totals: dict = field(default_factory=lambda: dict.fromkeys(
        ["earned", "redeemed", "expired", "clawed_back", "restored", "birthday", "adjusted"], 0))


class Reference:
    def __init__(self, rules: Rules, as_of: dt.date):
        self.rules, self.as_of, self.tz = rules, as_of, rules.tz
        self.cutoff = self.midnight(as_of + dt.timedelta(days=1))

    def midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), self.tz)

    def day_of(self, instant: dt.datetime) -> dt.date:
        return instant.astimezone(self.tz).date()

    def expiry_of(self, instant: dt.datetime) -> dt.datetime:
        return self.midnight(add_months(self.day_of(instant), self.rules.expiry_months))

    def rate(self, spend: Decimal) -> Decimal:
        return Decimal(tier_for(self.rules, int(spend * 100)).cashback_pct) / 100

    # --- the lot operations -------------------------------------------------------------

    def take(self, account: Account, want: int, consumed: list | None = None) -> int:
        """Take from available lots, first expiring first; return what could not be taken."""
        for lot in sorted((l for l in account.lots if not l.pending and l.points > 0),
                          key=lambda l: (l.expiry, l.created, l.lot_id)):
            if want == 0:
                break
            part = min(want, lot.points)
            lot.points -= part
            want -= part
            if consumed is not None:
                consumed.append(lot.expiry)
        return want

    def credit(self, account: Account, lot: Lot, at: dt.datetime) -> None:
        """A new available lot: it repays debt first; it may be born expired (restore)."""
        repay = min(account.debt, lot.points)
        account.debt -= repay
        lot.points -= repay
        if lot.expiry <= at:
            account.totals["expired"] += lot.points
            lot.points = 0
        account.lots.append(lot)

    def expire_until(self, account: Account, instant: dt.datetime, inclusive: bool) -> None:
        for lot in account.lots:
            if lot.points > 0 and (lot.expiry <= instant if inclusive else lot.expiry < instant):
                account.totals["expired"] += lot.points
                lot.points = 0

    # --- the walk ---------------------------------------------------------------------

    def run(self, history: History) -> dict[str, dict]:
        rules, cutoff = self.rules, self.cutoff
        promos = {p["promo_code"]: p for p in history.promotions.to_dicts()}
        lines = [l for l in history.order_lines.to_dicts() if l["paid_at"] < cutoff]
        orders: dict[str, dict] = {}
        for line in sorted(lines, key=lambda l: (l["order_id"], l["line_no"])):
            promo = promos.get(line["promo_code"]) if line["promo_code"] is not None else None
            line["net"] = line["unit_price"] * line["quantity"] - line["discount"]
            line["paid"] = line["net"] - line["points_redeemed"]
            line["eligible"] = promo is None or promo["earns_points"]
            line["kept"], line["restored"] = line["quantity"], 0
            delivered = line["delivered_at"] or (line["paid_at"] if line["channel"] == "boutique" else None)
            order = orders.setdefault(line["order_id"], {
                "order_id": line["order_id"], "customer_id": line["customer_id"], "channel": line["channel"],
                "paid_at": line["paid_at"], "lines": {}, "delivered": None})
            order["lines"][line["line_no"]] = line
            if delivered is not None and delivered < cutoff:
                order["delivered"] = max(order["delivered"] or delivered, delivered)
        customers = {c["customer_id"]: c for c in history.customers.to_dicts()}
        known = set(customers) | {o["customer_id"] for o in orders.values()}
        events: list[tuple] = []

        for order in orders.values():
            events.append((order["paid_at"], PRIORITY["order"], order["order_id"], "order", order))
            if order["delivered"] is not None:
                matures = self.midnight(self.day_of(order["delivered"]) + dt.timedelta(days=rules.hold_days))
                if matures < cutoff:
                    events.append((matures, PRIORITY["mature"], "earn:" + order["order_id"], "mature", order))
        for r in sorted(history.returns.to_dicts(), key=lambda r: (r["return_id"], r["order_id"], r["line_no"])):
            order = orders.get(r["order_id"])
            if order is None or r["line_no"] not in order["lines"]:
                continue
            if r["returned_at"] < order["paid_at"] or r["returned_at"] >= cutoff:
                continue
            events.append((r["returned_at"], PRIORITY["return"], (r["return_id"], r["order_id"], r["line_no"]), "return", r))
        for a in history.adjustments.to_dicts():
            if a["created_at"] < cutoff:
                known.add(a["customer_id"])
                events.append((a["created_at"], PRIORITY["adjustment"], a["adjustment_id"], "adjustment", a))
        first_paid: dict[str, dt.datetime] = {}
        for order in orders.values():
            c = order["customer_id"]
            first_paid[c] = min(first_paid.get(c, order["paid_at"]), order["paid_at"])
        for c, row in customers.items():
            born = row["birth_date"]
            if born is None or c not in first_paid:
                continue
            for year in range(max(born.year + 1, rules.program_start.year), self.as_of.year + 1):
                leap = calendar.isleap(year)
                day = dt.date(year, born.month, 28 if (born.month, born.day) == (2, 29) and not leap else born.day)
                at = self.midnight(day)
                if self.midnight(rules.program_start) <= at < cutoff and first_paid[c] < at:
                    events.append((at, PRIORITY["birthday"], f"birthday:{c}:{day}", "birthday", {"customer_id": c, "day": day}))

        accounts = {c: Account() for c in known}
        for at, _, _, kind, item in sorted(events, key=lambda e: (e[0], e[1], e[2])):
            account = accounts[item["customer_id"] if kind != "return" else orders[item["order_id"]]["customer_id"]]
            self.expire_until(account, at, inclusive=True)
            getattr(self, "on_" + kind)(account, at, item, orders)
        result = {}
        for c, account in accounts.items():
            self.expire_until(account, cutoff, inclusive=False)
            result[c] = self.balance_row(c, account)
        return result

    def on_order(self, account: Account, at, order, orders) -> None:
        redeemed = sum(l["points_redeemed"] for l in order["lines"].values())
        consumed: list = []
        if redeemed:
            short = self.take(account, redeemed, consumed)
            account.debt += short
            account.totals["redeemed"] += redeemed
        order["consumed_expiry"] = min(consumed) if consumed else None
        order["rate"] = self.rate(account.spend)
        account.spend += sum(l["net"] for l in order["lines"].values())
        base = sum(l["paid"] for l in order["lines"].values() if l["eligible"])
        order["points"] = math.floor(order["rate"] * base)
        order["lot"] = Lot("earn:" + order["order_id"], at, self.expiry_of(at), order["points"], True)
        account.lots.append(order["lot"])
        account.totals["earned"] += order["points"]

    def on_mature(self, account: Account, at, order, orders) -> None:
        lot = order["lot"]
        lot.pending = False
        repay = min(account.debt, lot.points)
        account.debt -= repay
        lot.points -= repay

    def on_birthday(self, account: Account, at, item, orders) -> None:
        points = self.rules.birthday_points
        account.totals["birthday"] += points
        expiry = self.midnight(add_months(item["day"], self.rules.expiry_months))
        self.credit(account, Lot(f"birthday:{item['customer_id']}:{item['day']}", at, expiry, points, False), at)

    def on_adjustment(self, account: Account, at, adjustment, orders) -> None:
        points = adjustment["points"]
        account.totals["adjusted"] += points
        if points > 0:
            lot = Lot("adjust:" + adjustment["adjustment_id"], at, self.expiry_of(at), points, False)
            self.credit(account, lot, at)
        else:
            account.debt += self.take(account, -points)

    def on_return(self, account: Account, at, r, orders) -> None:
        order = orders[r["order_id"]]
        line = order["lines"][r["line_no"]]
        qty, before = line["quantity"], line["kept"]
        returned = before if r["quantity"] is None else r["quantity"]
        if returned == 0 or returned > before:
            return
        after = before - returned
        line["kept"] = after
        account.spend -= kept_share(line["net"], before, qty) - kept_share(line["net"], after, qty)
        kept_base = sum(kept_share(l["paid"], l["kept"], l["quantity"]) for l in order["lines"].values() if l["eligible"])
        points = math.floor(order["rate"] * kept_base)
        drop = order["points"] - points
        order["points"] = points
        account.totals["clawed_back"] += drop
        own = order["lot"]
        part = min(drop, own.points)
        own.points -= part
        account.debt += self.take(account, drop - part)
        target = line["points_redeemed"] * (qty - after) // qty
        back = target - line["restored"]
        line["restored"] = target
        if back > 0:
            account.totals["restored"] += back
            expiry = order["consumed_expiry"] or own.expiry
            lot = Lot(f"restore:{r['return_id']}:{r['order_id']}:{r['line_no']}", at, expiry, back, False)
            self.credit(account, lot, at)

    def balance_row(self, customer_id: str, account: Account) -> dict:
        tier = tier_for(self.rules, int(account.spend * 100))
        following = next_tier(self.rules, tier)
        open_lots = [l for l in account.lots if l.points > 0]
        expiry_days = sorted({self.day_of(l.expiry) for l in open_lots})
        window_end = self.as_of + dt.timedelta(days=self.rules.expiring_window_days)
        t = account.totals
        return {
            "customer_id": customer_id, "as_of": self.as_of, "tier": tier.name, "cashback_pct": tier.cashback_pct,
            "lifetime_spend": account.spend.quantize(CENT),
            "next_tier": following.name if following else None,
            "spend_to_next_tier": (Decimal(following.from_kopecks) / 100 - account.spend).quantize(CENT) if following else None,
            "available_points": sum(l.points for l in open_lots if not l.pending),
            "pending_points": sum(l.points for l in open_lots if l.pending),
            "debt_points": account.debt,
            "next_expiry_date": expiry_days[0] if expiry_days else None,
            "next_expiry_points": sum(l.points for l in open_lots if self.day_of(l.expiry) == expiry_days[0]) if expiry_days else None,
            "expiring_30d_points": sum(l.points for l in open_lots if self.as_of < self.day_of(l.expiry) <= window_end),
            "earned_points": t["earned"], "redeemed_points": t["redeemed"], "expired_points": t["expired"],
            "clawed_back_points": t["clawed_back"], "restored_points": t["restored"],
            "birthday_points": t["birthday"], "adjusted_points": t["adjusted"],
        }


def reference_balances(history: History, rules: Rules, as_of: dt.date) -> dict[str, dict]:
    """Balance rows by customer id, as docs/rules.md defines them."""
    return Reference(rules, as_of).run(history)
