"""Random but valid-looking histories for property tests: rows as an export would carry them."""

from __future__ import annotations

import datetime as dt
import random

MSK = dt.timezone(dt.timedelta(hours=3))


def _stamp(moment: dt.datetime, rng: random.Random) -> str:
    if rng.random() < 0.3:
        return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat()


def _money(kopecks: int) -> str:
    return f"{kopecks // 100}.{kopecks % 100:02d}"


def random_history(seed: int, customers: int = 4, start: dt.date = dt.date(2025, 1, 1), days: int = 420) -> dict:
    """{kind: [row dict with a 'folder']}; ids are unique, so no row conflicts on purpose."""
    rng = random.Random(seed)
    rows = {"customers": [], "promotions": [], "orders": [], "returns": [], "adjustments": []}
    first = dt.datetime.combine(start, dt.time(), MSK)

    def moment(lo_day: float, hi_day: float) -> dt.datetime:
        at = first + dt.timedelta(minutes=int(rng.uniform(lo_day, hi_day) * 24 * 60))
        if rng.random() < 0.2:  # midnight, where expiries, maturities and birthdays happen
            at = at.replace(hour=0, minute=0)
        return at

    def folder_of(at: dt.datetime, late: int = 0) -> str:
        return (at.astimezone(MSK).date() + dt.timedelta(days=late)).isoformat()

    rows["promotions"] = [
        {"promo_code": "NOPTS", "earns_points": "false", "points_redeemable": "true", "folder": start.isoformat()},
        {"promo_code": "NORED", "earns_points": "true", "points_redeemable": "false", "folder": start.isoformat()},
    ]
    for c in range(customers):
        cid = f"C{seed % 1000}-{c}"
        if c < customers - 1 or rng.random() < 0.5:  # sometimes one customer is missing from the file
            birth = rng.choice(["", "1992-02-29", f"19{rng.randint(60, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"])
            rows["customers"].append({"customer_id": cid, "registered_at": _stamp(first, rng), "birth_date": birth,
                                      "folder": start.isoformat()})
        for o in range(rng.randint(1, 7)):
            oid = f"O{seed % 1000}-{c}-{o}"
            paid = moment(0, days)
            channel = rng.choice(["online", "boutique"])
            delivered = None
            if channel == "online" and rng.random() < 0.8:
                delivered = paid + dt.timedelta(days=rng.randint(0, 7), hours=rng.randint(0, 12))
            late = rng.choice([0, 0, 0, 1, 3])
            for line in range(1, rng.randint(1, 3) + 1):
                qty = rng.randint(1, 3)
                price = rng.choice([rng.randint(100, 500_000), rng.randint(100_000, 50_000_000), rng.randint(1, 99_999_999)])
                discount = rng.choice([0, 0, rng.randint(0, price * qty)])
                net = price * qty - discount
                redeemed = rng.choice([0, 0, rng.randint(0, min(net // 100, 20_000))])
                promo = rng.choice(["", "", "", "NOPTS", "NORED", "UNKNOWN"])
                row = {"order_id": oid, "line_no": str(line), "customer_id": cid, "channel": channel,
                       "paid_at": _stamp(paid, rng), "delivered_at": "", "currency": "RUB", "sku": f"S{line}",
                       "quantity": str(qty), "unit_price": _money(price), "discount": _money(discount),
                       "points_redeemed": str(redeemed), "promo_code": promo, "folder": folder_of(paid, late)}
                rows["orders"].append(row)
                if delivered is not None:
                    rows["orders"].append({**row, "delivered_at": _stamp(delivered, rng), "folder": folder_of(delivered, late)})
                for r in range(rng.choice([0, 0, 1, 2])):
                    back = max(paid, moment((paid - first).days, (paid - first).days + 40))
                    kind = rng.choice(["return", "return", "cancel"])
                    quantity = str(rng.randint(1, qty)) if kind == "return" or rng.random() < 0.3 else ""
                    rows["returns"].append({"return_id": f"R-{oid}-{line}-{r}", "order_id": oid, "line_no": str(line),
                                            "kind": kind, "quantity": quantity, "returned_at": _stamp(back, rng),
                                            "folder": folder_of(back, rng.choice([0, 0, 2]))})
        for a in range(rng.choice([0, 0, 1, 2])):
            at = moment(0, days)
            points = rng.choice([-1, 1]) * rng.randint(1, 3000)
            rows["adjustments"].append({"adjustment_id": f"A{seed % 1000}-{c}-{a}", "customer_id": cid,
                                        "created_at": _stamp(at, rng), "points": str(points), "reason": "service",
                                        "folder": folder_of(at)})
    return rows
