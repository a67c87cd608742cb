"""Synthetic exports of a fashion retailer, at any size, for benchmarks and tests.

Shapes: spend per customer heavy-tailed (every tier populated, a few premium), seasonality and
sale peaks, 60% online delivered after 1-7 days, online returns on ~27% of lines within 30 days
(many partial), cancellations, redemptions on about a third of orders within the cap, promotions
without points, birthdays, manual adjustments, operational balances that mostly agree. Anomalies
at settable rates: bad rows, duplicates, conflicting lines, files arriving late, returns filed
before their order.

Streams: customers are generated in chunks (their histories are independent) and each chunk's
rows are appended to the per-day files, so memory stays flat as N grows. Every random draw comes
from numpy generators seeded by (seed, chunk), so the same arguments give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from synthetic.anomalies import Anomalies
from transforms.rules import Rules
from transforms.snapshot import compute_snapshot, stage_all

MSK_OFFSET = "+03:00"
PROMOTIONS = pl.DataFrame({
    "promo_code": ["SALE-WINTER", "SALE-SUMMER", "BLACKFRIDAY", "WELCOME10", "VIP-EVENING", "GIFTCARD"],
    "earns_points": ["false", "false", "false", "true", "true", "true"],
    "points_redeemable": ["true", "true", "false", "true", "true", "false"],
})
ORDER_COLUMNS = ["order_id", "line_no", "customer_id", "channel", "paid_at", "delivered_at", "currency", "sku",
                 "quantity", "unit_price", "discount", "points_redeemed", "promo_code"]
RETURN_COLUMNS = ["return_id", "order_id", "line_no", "kind", "quantity", "returned_at"]


@dataclass(frozen=True)
class Plan:
    customers: int
    start: dt.date
    end: dt.date
    seed: int
    anomalies: Anomalies = Anomalies()
    chunk: int = 25_000
    operational_balances: bool = True

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def seasonal_weights(start: dt.date, days: int) -> np.ndarray:
    """Relative sales per day: weekends, the end-of-year peak, Black Friday week, summer sale."""
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    weight = np.ones(days)
    for i, day in enumerate(dates):
        if day.weekday() >= 5:
            weight[i] *= 1.4
        if day.month == 12 and day.day >= 10 or day.month == 1 and day.day <= 8:
            weight[i] *= 2.2
        if day.month == 11 and 22 <= day.day <= 30:
            weight[i] *= 3.0
        if day.month in (6, 7) and day.day >= 20 or day.month == 7 and day.day <= 10:
            weight[i] *= 1.6
    return weight / weight.sum()


def _text_ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    return pl.select(pl.lit(prefix) + pl.Series(numbers, dtype=pl.Int64).cast(pl.String).str.zfill(width)).to_series()


def _stamp(day0: dt.date, day_index: np.ndarray, minute: np.ndarray) -> pl.Series:
    """'YYYY-MM-DDTHH:MM:00+03:00' for a day index from day0 and a minute of that day (Moscow)."""
    dates = pl.select(pl.lit(day0) + pl.duration(days=pl.Series(day_index, dtype=pl.Int64))).to_series()
    hours = pl.Series(minute // 60, dtype=pl.Int64).cast(pl.String).str.zfill(2)
    minutes = pl.Series(minute % 60, dtype=pl.Int64).cast(pl.String).str.zfill(2)
    return pl.select(dates.dt.strftime("%Y-%m-%d") + "T" + hours + ":" + minutes + ":00" + MSK_OFFSET).to_series()


def _money(kopecks: np.ndarray) -> pl.Series:
    k = pl.Series(kopecks, dtype=pl.Int64)
    return pl.select((k // 100).cast(pl.String) + "." + (k % 100).cast(pl.String).str.zfill(2)).to_series()


def _folder(day0: dt.date, day_index: np.ndarray) -> pl.Series:
    return pl.select(pl.lit(day0) + pl.duration(days=pl.Series(day_index, dtype=pl.Int64))).to_series()


class Chunk:
    """One chunk of customers and every row their histories produce, as text frames with a folder."""

    def __init__(self, plan: Plan, rules: Rules, index: int, weights: np.ndarray, late: np.ndarray):
        self.plan, self.rules, self.index = plan, rules, index
        self.rng = np.random.default_rng([plan.seed, index])
        self.weights, self.late = weights, late
        first = index * plan.chunk
        self.n = min(plan.chunk, plan.customers - first)
        self.customer_numbers = np.arange(first, first + self.n)

    def build(self) -> dict[str, pl.DataFrame]:
        customers = self.customers()
        orders, lines = self.orders()
        frames = {"customers": customers, "orders": self.order_rows(orders, lines),
                  "returns": self.return_rows(orders, lines), "adjustments": self.adjustments()}
        frames["orders"] = self.anomalies(frames["orders"])
        return frames

    # --- customers --------------------------------------------------------------------
    def customers(self) -> pl.DataFrame:
        rng, plan = self.rng, self.plan
        self.registered = rng.integers(-730, plan.days - 30, self.n)
        born = rng.integers(0, 365 * 50, self.n)
        birth = pl.select(pl.lit(dt.date(1955, 1, 1)) + pl.duration(days=pl.Series(born, dtype=pl.Int64))).to_series()
        birth = pl.select(pl.when(pl.Series(rng.random(self.n) < 0.85)).then(birth.dt.strftime("%Y-%m-%d"))
                          .otherwise(pl.lit(""))).to_series()
        self.ids = _text_ids("C", self.customer_numbers, 8)
        folder_day = np.maximum(self.registered, 0)
        return pl.DataFrame({
            "customer_id": self.ids,
            "registered_at": _stamp(plan.start, self.registered, rng.integers(9 * 60, 21 * 60, self.n)),
            "birth_date": birth,
            "folder": _folder(plan.start, folder_day),
        })

    # --- orders and lines --------------------------------------------------------------
    def orders(self) -> tuple[dict, dict]:
        rng, plan = self.rng, self.plan
        value = 1.0 + rng.pareto(1.5, self.n)                      # heavy-tailed customer value
        rate = rng.lognormal(np.log(2.6), 0.7, self.n) * np.sqrt(np.minimum(value, 9.0))
        active_from = np.clip(self.registered, 0, plan.days - 1)
        years = (plan.days - active_from) / 365.0
        counts = rng.poisson(rate * years)
        cust = np.repeat(np.arange(self.n), counts)
        n_orders = cust.size
        cum = np.concatenate([[0.0], np.cumsum(self.weights)])
        lo, hi = cum[active_from[cust]], cum[plan.days]
        day = np.searchsorted(cum, lo + rng.random(n_orders) * (hi - lo), side="right") - 1
        day = np.clip(day, active_from[cust], plan.days - 1)
        minute = rng.integers(10 * 60, 22 * 60, n_orders)
        order_key = np.lexsort((minute, day, cust))
        cust, day, minute = cust[order_key], day[order_key], minute[order_key]
        online = rng.random(n_orders) < 0.6
        n_lines = np.minimum(1 + rng.poisson(1.1, n_orders), 6)
        order_of_line = np.repeat(np.arange(n_orders), n_lines)
        line_no = np.arange(order_of_line.size) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
        n = order_of_line.size
        cvalue = value[cust[order_of_line]]
        price = np.round(rng.lognormal(np.log(7000), 0.75, n) * cvalue ** 0.85, -2).astype(np.int64) * 100
        price = np.maximum(price - 100 * (rng.random(n) < 0.3), 100)        # some x99.00 prices
        qty = rng.choice([1, 2, 3], n, p=[0.82, 0.14, 0.04])
        discounted = rng.random(n) < 0.25
        discount = np.where(discounted, (price * qty * rng.uniform(0.1, 0.3, n)).astype(np.int64), 0)
        net = price * qty - discount
        promo_pick = rng.integers(0, PROMOTIONS.height + 1, n)
        promo = np.where(rng.random(n) < 0.08, promo_pick, -1)             # index PROMOTIONS.height = unknown
        # redemptions: a third of repeat orders, from points earned at least 30 days before
        order_net = np.bincount(order_of_line, weights=net, minlength=n_orders).astype(np.int64)
        order_price = np.bincount(order_of_line, weights=price * qty, minlength=n_orders).astype(np.int64)
        cum_spend = np.cumsum(order_net)
        key = cust.astype(np.int64) * 100_000 + day
        earlier = np.searchsorted(key, key - 30, side="right") - 1
        first_of_cust = np.searchsorted(cust, cust, side="left")
        prior = np.where(earlier >= first_of_cust, cum_spend[np.maximum(earlier, 0)] - np.where(
            first_of_cust > 0, cum_spend[np.maximum(first_of_cust - 1, 0)], 0), 0)
        share = self.rules.redemption_max_share_pct
        base_pct = self.rules.tiers[0].cashback_pct
        budget = prior * base_pct // 100 // 100 // 4                       # a quarter of base-rate points, in RUB
        cap = order_price * share // 100 // 100
        redeem = np.where((rng.random(n_orders) < 0.48) & (prior > 0), np.minimum(budget, cap), 0)
        first_line = np.cumsum(n_lines) - n_lines
        redeemed = np.zeros(n, np.int64)
        redeemed[first_line] = np.minimum(redeem, net[first_line] // 100)
        # delivery, cancellation, loss
        delivered_day = day + rng.integers(1, 8, n_orders)
        cancelled = online & (rng.random(n_orders) < 0.05)
        lost = online & ~cancelled & (rng.random(n_orders) < 0.02)
        delivered = online & ~cancelled & ~lost
        orders = dict(cust=cust, day=day, minute=minute, online=online, delivered=delivered, cancelled=cancelled,
                      delivered_day=delivered_day, delivered_minute=rng.integers(9 * 60, 21 * 60, n_orders),
                      number=self.index * 10_000_000 + np.arange(n_orders), n=n_orders)
        lines = dict(order=order_of_line, line_no=line_no, price=price, qty=qty, discount=discount, net=net,
                     promo=promo, redeemed=redeemed, sku=rng.integers(0, 40_000, n), n=n)
        return orders, lines

    def order_rows(self, o: dict, l: dict) -> pl.DataFrame:
        plan, rng = self.plan, self.rng
        li = l["order"]
        codes = pl.Series(PROMOTIONS.get_column("promo_code").to_list() + ["SPRING-UNKNOWN", ""])
        promo = codes.gather(np.where(l["promo"] >= 0, l["promo"], len(codes) - 1))
        paid = _stamp(plan.start, o["day"][li], o["minute"][li])
        delivered_text = _stamp(plan.start, o["delivered_day"][li], o["delivered_minute"][li])
        base = pl.DataFrame({
            "order_id": _text_ids("O", o["number"][li], 10),
            "line_no": pl.Series(l["line_no"]).cast(pl.String),
            "customer_id": self.ids.gather(o["cust"][li]),
            "channel": pl.Series(np.where(o["online"][li], "online", "boutique")),
            "paid_at": paid,
            "delivered_at": pl.Series([""] * l["n"], dtype=pl.String),
            "currency": pl.Series(["RUB"] * l["n"], dtype=pl.String),
            "sku": _text_ids("SKU", l["sku"], 6),
            "quantity": pl.Series(l["qty"]).cast(pl.String),
            "unit_price": _money(l["price"]),
            "discount": _money(l["discount"]),
            "points_redeemed": pl.Series(l["redeemed"]).cast(pl.String),
            "promo_code": promo,
            "folder": _folder(plan.start, o["day"][li]),
        })
        delivered = o["delivered"][li]
        once = delivered & (rng.random(o["n"]) < 0.3)[li]  # exported once, after delivery
        # the order's file may arrive days late (cancellations: after the cancel itself)
        delay = np.where(o["cancelled"] & (rng.random(o["n"]) < plan.anomalies.early_returns), 4, 0)[li]
        base = base.with_columns(folder=_folder(plan.start, o["day"][li] + delay))
        first = base.filter(pl.Series(~once))
        updates = base.filter(pl.Series(delivered)).with_columns(
            delivered_at=delivered_text.filter(pl.Series(delivered)),
            folder=_folder(plan.start, (o["delivered_day"][li])[delivered]),
        )
        return pl.concat([first, updates]).filter(pl.col("folder") <= plan.end)

    def return_rows(self, o: dict, l: dict) -> pl.DataFrame:
        rng, plan = self.rng, self.plan
        li = l["order"]
        n = l["n"]
        online_delivered = o["delivered"][li]
        returns = online_delivered & (rng.random(n) < 0.27) | (~o["online"][li] & (rng.random(n) < 0.04))
        ret_day = np.where(o["online"][li], o["delivered_day"][li], o["day"][li]) + rng.integers(1, 31, n)
        partial = (l["qty"] > 1) & (rng.random(n) < 0.5)
        qty = np.where(partial, rng.integers(1, np.maximum(l["qty"], 2)), l["qty"])
        minute = rng.integers(10 * 60, 21 * 60, n)
        ret = pl.DataFrame({
            "return_id": _text_ids("R", o["number"][li] * 10 + 1, 11),
            "order_id": _text_ids("O", o["number"][li], 10),
            "line_no": pl.Series(l["line_no"]).cast(pl.String),
            "kind": pl.Series(["return"] * n, dtype=pl.String),
            "quantity": pl.Series(qty).cast(pl.String),
            "returned_at": _stamp(plan.start, ret_day, minute),
            "folder": _folder(plan.start, ret_day),
            "keep": pl.Series(returns),
        })
        second = partial & returns & (rng.random(n) < 0.2)              # the rest comes back later
        later = ret.filter(pl.Series(second)).with_columns(
            return_id=_text_ids("R", (o["number"][li] * 10 + 2)[second], 11),
            quantity=pl.Series((l["qty"] - qty)[second]).cast(pl.String),
            returned_at=_stamp(plan.start, (ret_day + 5)[second], minute[second]),
            folder=_folder(plan.start, (ret_day + 5)[second]),
        )
        cancel = o["cancelled"][li]
        cancels = ret.filter(pl.Series(cancel)).with_columns(
            return_id=_text_ids("R", (o["number"][li] * 10 + 3)[cancel], 11),
            kind=pl.lit("cancel"), quantity=pl.lit(""),
            returned_at=_stamp(plan.start, (o["day"][li])[cancel], np.minimum(o["minute"][li][cancel] + 60, 23 * 60)),
            folder=_folder(plan.start, (o["day"][li])[cancel]),
        )
        rows = pl.concat([ret.filter(pl.col("keep")), later, cancels]).drop("keep")
        return rows.filter(pl.col("folder") <= plan.end)

    def adjustments(self) -> pl.DataFrame:
        rng, plan = self.rng, self.plan
        who = np.flatnonzero(rng.random(self.n) < 0.02)
        day = rng.integers(0, plan.days, who.size)
        points = rng.integers(100, 5000, who.size) * np.where(rng.random(who.size) < 0.7, 1, -1)
        return pl.DataFrame({
            "adjustment_id": _text_ids("A", self.customer_numbers[who], 9),
            "customer_id": self.ids.gather(who),
            "created_at": _stamp(plan.start, day, rng.integers(10 * 60, 19 * 60, who.size)),
            "points": pl.Series(points).cast(pl.String),
            "reason": pl.Series(np.where(points > 0, "goodwill", "correction"), dtype=pl.String),
            "folder": _folder(plan.start, day),
        })

    # --- anomalies --------------------------------------------------------------------
    def anomalies(self, orders: pl.DataFrame) -> pl.DataFrame:
        rng, a, n = self.rng, self.plan.anomalies, orders.height
        pick = rng.random(n)
        bad = pick < a.bad_rows
        kind = rng.integers(0, 3, n)
        orders = orders.with_columns(
            paid_at=pl.when(pl.Series(bad & (kind == 0))).then(pl.col("paid_at").str.slice(0, 19)).otherwise(pl.col("paid_at")),
            unit_price=pl.when(pl.Series(bad & (kind == 1))).then(pl.col("unit_price") + "5").otherwise(pl.col("unit_price")),
            quantity=pl.when(pl.Series(bad & (kind == 2))).then(pl.lit("0")).otherwise(pl.col("quantity")),
        )
        duplicates = orders.filter(pl.Series((pick >= a.bad_rows) & (pick < a.bad_rows + a.duplicates)))
        conflict_mask = (pick >= a.bad_rows + a.duplicates) & (pick < a.bad_rows + a.duplicates + a.conflicts)
        conflicts = orders.filter(pl.Series(conflict_mask)).with_columns(
            unit_price=pl.col("unit_price").str.replace(r"\.", "1."),
            folder=pl.col("folder") + pl.duration(days=2),
        ).filter(pl.col("folder") <= self.plan.end)
        return pl.concat([orders, duplicates, conflicts])


def write_chunk(root: Path, frames: dict[str, pl.DataFrame], late: dict[tuple[dt.date, str], int], end: dt.date) -> None:
    """Append each kind's rows to inbox/<folder>/<kind>.csv (late files move to a later folder)."""
    for kind, frame in frames.items():
        if frame.height == 0:
            continue
        if late:
            shifts = pl.DataFrame(
                {"folder": [d for d, k in late if k == kind], "shift": [s for (d, k), s in late.items() if k == kind]},
                schema={"folder": pl.Date, "shift": pl.Int64})
            frame = frame.join(shifts, on="folder", how="left").with_columns(
                folder=pl.col("folder") + pl.duration(days=pl.col("shift").fill_null(0))).drop("shift")
            frame = frame.filter(pl.col("folder") <= end)
        for (folder,), rows in frame.sort("folder", maintain_order=True).group_by("folder", maintain_order=True):
            path = root / "inbox" / folder.isoformat() / f"{kind}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            new = not path.exists()
            buffer = io.BytesIO()
            rows.drop("folder").write_csv(buffer, include_header=new)
            with open(path, "ab") as handle:
                handle.write(buffer.getvalue())


def late_files(plan: Plan) -> dict[tuple[dt.date, str], int]:
    rng = np.random.default_rng([plan.seed, 999_999_999])
    late = {}
    for i in range(plan.days):
        for kind in ("orders", "returns", "adjustments"):
            if rng.random() < plan.anomalies.late_files:
                late[(plan.start + dt.timedelta(days=i), kind)] = int(rng.integers(1, 6))
    return late


def operational_balances(frames: dict[str, pl.DataFrame], rules: Rules, plan: Plan, index: int) -> pl.DataFrame:
    """What the operational system reports for the last day: the engine's answer, with noise.

    2% of customers differ in one bucket, 0.5% are missing, and a few unknown ones appear."""
    raw = {
        kind: [frame.with_columns(
            pl.lit(f"generated/{kind}").alias("source_file"),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("source_row"),
        )]
        for kind, frame in frames.items()
    }
    raw["promotions"] = [PROMOTIONS.with_columns(
        pl.lit("generated/promotions").alias("source_file"), pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("source_row"),
        pl.lit(plan.start).alias("folder"))]
    staged, _ = stage_all(raw)
    balances = compute_snapshot(staged, rules, plan.end).balances
    rng = np.random.default_rng([plan.seed, index, 7])
    n = balances.height
    noise = rng.random(n)
    shift = rng.integers(1, 500, n)
    reported = balances.select(
        "customer_id",
        pl.col("available_points") + pl.Series(np.where(noise < 0.01, shift, 0)),
        pl.col("pending_points") + pl.Series(np.where((noise >= 0.01) & (noise < 0.02), shift, 0)),
    ).filter(pl.Series(noise < 0.995))
    strangers = pl.DataFrame({
        "customer_id": _text_ids("X", index * 1000 + np.arange(3), 8),
        "available_points": pl.Series(rng.integers(1, 1000, 3)), "pending_points": pl.Series([0, 0, 0]),
    })
    return pl.concat([reported, strangers]).select(pl.all().cast(pl.String)).with_columns(pl.lit(plan.end).alias("folder"))


def generate(root: Path, plan: Plan, rules: Rules, fmt: str = "csv") -> dict:
    """Write inbox folders for the plan under root; a summary of what was written."""
    inbox = root / "inbox"
    if inbox.exists() and any(inbox.iterdir()):
        raise FileExistsError(f"{inbox} is not empty: generate into a new data directory")
    weights = seasonal_weights(plan.start, plan.days)
    late = late_files(plan)
    write_chunk(root, {"promotions": PROMOTIONS.with_columns(pl.lit(plan.start).alias("folder"))}, {}, plan.end)
    counts = dict.fromkeys(["customers", "orders", "returns", "adjustments", "balances"], 0)
    for index in range((plan.customers + plan.chunk - 1) // plan.chunk):
        frames = Chunk(plan, rules, index, weights, late).build()
        if plan.operational_balances:
            balances = operational_balances(frames, rules, plan, index)
            write_chunk(root, {"balances": balances}, {}, plan.end)
            counts["balances"] += balances.height
        write_chunk(root, frames, late, plan.end)
        for kind, frame in frames.items():
            counts[kind] += frame.height
    if fmt == "parquet":
        for path in sorted(inbox.glob("*/*.csv")):
            pl.read_csv(path, infer_schema=False).write_parquet(path.with_suffix(".parquet"))
            path.unlink()
    return {"rows": counts, "folders": len(list(inbox.iterdir()))}
