"""Tier 2: given rows -> expected balances and movements, numbers worked by hand from docs/rules.md.

Every scenario runs the real pipeline (staging, history, events, kernel, balances).
Times are Moscow (+03:00) unless written otherwise.
"""

import datetime as dt

import polars as pl

from given import balance, codes, snapshot

C1 = [{"customer_id": "C1"}]


def order(order_id, paid_at, price, *, customer="C1", qty=1, redeemed=0, line=1, **extra):
    return {"order_id": order_id, "customer_id": customer, "paid_at": paid_at, "unit_price": str(price),
            "quantity": str(qty), "points_redeemed": str(redeemed), "line_no": str(line), **extra}


def ret(return_id, order_id, returned_at, qty="", *, line=1, kind="return"):
    return {"return_id": return_id, "order_id": order_id, "line_no": str(line), "kind": kind,
            "quantity": str(qty), "returned_at": returned_at}


def movements_of(snap, kind):
    return snap.movements.filter(pl.col("kind") == kind).select("lot_id", "bucket", "points", "source_id").rows()


# --- RULES 14: the worked example, step by step ------------------------------------------

WORKED = dict(
    customers=C1,
    promotions=[{"promo_code": "NOBONUS", "earns_points": "false", "points_redeemable": "true"}],
    orders=[
        order("O1", "2026-01-10T14:00:00+03:00", "150000.00", qty=2, discount="20000.00"),
        order("O2", "2026-02-01T12:00:00+03:00", "30000.00", redeemed=12000, channel="online",
              delivered_at="2026-02-03T12:00:00+03:00"),
        order("O2", "2026-02-01T12:00:00+03:00", "10000.00", line=2, channel="online",
              delivered_at="2026-02-03T12:00:00+03:00", promo_code="NOBONUS"),
    ],
    returns=[ret("R1", "O2", "2026-02-10T12:00:00+03:00", 1)],
)


def test_worked_example_before_maturity():
    snap = snapshot("2026-01-23", **WORKED)
    b = balance(snap, "C1")
    # L1 = floor(5% x 280 000) = 14 000 pending until 2026-01-24
    assert (b["available_points"], b["pending_points"], b["tier"]) == (0, 14000, "base")
    assert str(b["lifetime_spend"]) == "280000.00"


def test_worked_example_after_o2():
    snap = snapshot("2026-02-09", **WORKED)
    b = balance(snap, "C1")
    # L1 matured (14 000), 12 000 redeemed -> 2 000; L2 = 5% x 18 000 = 900 pending until 02-17
    assert (b["available_points"], b["pending_points"], b["debt_points"]) == (2000, 900, 0)
    assert (b["tier"], b["cashback_pct"], str(b["lifetime_spend"])) == ("standart", 7, "320000.00")


def test_worked_example_after_the_return():
    snap = snapshot("2026-02-10", **WORKED)
    b = balance(snap, "C1")
    assert (b["available_points"], b["pending_points"], b["debt_points"]) == (14000, 0, 0)
    assert (b["tier"], str(b["lifetime_spend"])) == ("base", "290000.00")
    assert (b["earned_points"], b["redeemed_points"], b["clawed_back_points"], b["restored_points"]) == (14900, 12000, 900, 12000)
    assert movements_of(snap, "restore") == [("restore:R1:O2:1", "available", 12000, "R1")]
    # the restored lot expires with L1, 2027-01-10
    assert str(b["next_expiry_date"]) == "2027-01-10" and b["next_expiry_points"] == 14000


# --- RULES 2: tiers ------------------------------------------------------------------------

def test_threshold_crossing_order_earns_the_old_rate_and_the_next_earns_the_new():
    snap = snapshot(
        "2026-03-31", customers=C1,
        orders=[
            order("A", "2026-01-10T12:00:00+03:00", "290000.00"),  # 5% -> 14 500, spend 290 000
            order("B", "2026-01-11T12:00:00+03:00", "20000.00"),   # held base before -> 5% -> 1 000; spend 310 000
            order("C", "2026-01-12T12:00:00+03:00", "10000.00"),   # standart -> 7% -> 700
        ],
    )
    assert movements_of(snap, "earn") == [
        ("earn:A", "pending", 14500, "A"), ("earn:B", "pending", 1000, "B"), ("earn:C", "pending", 700, "C")]
    assert balance(snap, "C1")["tier"] == "standart"


def test_same_instant_orders_take_rates_in_order_id_order():
    snap = snapshot(
        "2026-03-31", customers=C1,
        orders=[
            order("Z", "2026-01-10T12:00:00+03:00", "10000.00"),   # after Y: spend 300 000 -> 7% -> 700
            order("Y", "2026-01-10T12:00:00+03:00", "300000.00"),  # first by id: 5% -> 15 000
        ],
    )
    assert sorted(movements_of(snap, "earn")) == [("earn:Y", "pending", 15000, "Y"), ("earn:Z", "pending", 700, "Z")]


def test_a_return_down_to_exactly_a_threshold_keeps_the_tier():
    snap = snapshot(
        "2026-03-31", customers=C1,
        orders=[
            order("A", "2026-01-10T12:00:00+03:00", "300000.00"),            # 5% -> 15 000; spend 300 000
            order("A", "2026-01-10T12:00:00+03:00", "20000.00", line=2),     # spend 320 000
            order("C", "2026-01-20T12:00:00+03:00", "10000.00"),             # standart: 7% -> 700
        ],
        returns=[ret("R", "A", "2026-01-15T12:00:00+03:00", 1, line=2)],     # spend back to 300 000
    )
    assert dict((lot, pts) for lot, _, pts, _ in movements_of(snap, "earn")) == {"earn:A": 16000, "earn:C": 700}
    b = balance(snap, "C1")
    assert (b["tier"], str(b["lifetime_spend"])) == ("standart", "310000.00")


def test_tier_falls_below_threshold_and_the_next_order_earns_base():
    snap = snapshot(
        "2026-03-31", customers=C1,
        orders=[
            order("A", "2026-01-10T12:00:00+03:00", "250000.00"),  # 5% -> 12 500
            order("B", "2026-01-11T12:00:00+03:00", "60000.00"),   # base before -> 5% -> 3 000; spend 310 000
            order("C", "2026-01-20T12:00:00+03:00", "10000.00"),   # after returning B: 250 000 -> 5% -> 500
            order("D", "2026-01-21T12:00:00+03:00", "10000.00"),   # 260 000 -> 5% -> 500
        ],
        returns=[ret("R", "B", "2026-01-15T12:00:00+03:00", 1)],
    )
    earn = dict((lot, pts) for lot, _, pts, _ in movements_of(snap, "earn"))
    assert (earn["earn:C"], earn["earn:D"]) == (500, 500)
    b = balance(snap, "C1")
    assert (b["tier"], str(b["lifetime_spend"]), str(b["spend_to_next_tier"])) == ("base", "270000.00", "30000.00")
    # B's 3 000 (pending until 01-25) clawed back from its own lot
    assert movements_of(snap, "clawback") == [("earn:B", "pending", -3000, "R")]


def test_premium_has_no_next_tier():
    snap = snapshot("2026-03-31", customers=C1, orders=[order("A", "2026-01-10T12:00:00+03:00", "3000000.00")])
    b = balance(snap, "C1")
    assert (b["tier"], b["cashback_pct"], b["next_tier"], b["spend_to_next_tier"]) == ("premium", 25, None, None)
    assert b["available_points"] == 150000  # the crossing order earned base 5%, matured 01-24


# --- RULES 3: earning ---------------------------------------------------------------------

def test_seven_percent_of_1999_99_is_139_points():
    snap = snapshot(
        "2026-03-31", customers=C1,
        orders=[order("A", "2026-01-10T12:00:00+03:00", "300000.00"),
                order("B", "2026-01-11T12:00:00+03:00", "1999.99")],
    )
    assert ("earn:B", "pending", 139, "B") in movements_of(snap, "earn")


def test_promotions_without_points_unknown_codes_and_late_promo_rows():
    promos = [{"promo_code": "NOBONUS", "earns_points": "false", "points_redeemable": "true"},
              {"promo_code": "LATE", "earns_points": "true", "points_redeemable": "true"}]
    rows = [
        order("A", "2026-01-10T12:00:00+03:00", "10000.00", promo_code="NOBONUS"),  # 0, still spend
        order("A", "2026-01-10T12:00:00+03:00", "4000.00", line=2, promo_code="nobonus"),  # case-sensitive: unknown, earns 200
        order("A", "2026-01-10T12:00:00+03:00", "2000.00", line=3, promo_code="LATE"),  # earns 100
    ]
    snap = snapshot("2026-03-31", customers=C1, orders=rows, promotions=promos)
    assert movements_of(snap, "earn") == [("earn:A", "pending", 300, "A")]
    assert str(balance(snap, "C1")["lifetime_spend"]) == "16000.00"
    assert codes(snap) == [("UNKNOWN_PROMO", "A")]
    # the latest promotions row received defines the code for earlier orders too
    promos_later = promos + [{"promo_code": "NOBONUS", "earns_points": "true", "points_redeemable": "true"}]
    snap = snapshot("2026-03-31", customers=C1, orders=rows, promotions=promos_later)
    assert movements_of(snap, "earn") == [("earn:A", "pending", 800, "A")]


# --- RULES 4: maturity -------------------------------------------------------------------

def test_online_lot_matures_14_days_after_the_latest_delivered_line():
    rows = [
        order("A", "2026-01-10T12:00:00+03:00", "10000.00", channel="online", delivered_at="2026-01-12T23:30:00+03:00"),
        order("A", "2026-01-10T12:00:00+03:00", "10000.00", line=2, channel="online", delivered_at="2026-01-13T00:30:00+03:00"),
        order("A", "2026-01-10T12:00:00+03:00", "10000.00", line=3, channel="online"),
    ]
    # latest delivery 2026-01-13 (MSK) -> matures 2026-01-27 00:00 MSK
    before = balance(snapshot("2026-01-26", customers=C1, orders=rows), "C1")
    after = balance(snapshot("2026-01-27", customers=C1, orders=rows), "C1")
    assert (before["pending_points"], before["available_points"]) == (1500, 0)
    assert (after["pending_points"], after["available_points"]) == (0, 1500)


def test_boutique_delivery_defaults_to_payment_and_a_filled_one_is_used():
    rows = [order("A", "2026-01-10T23:59:00+03:00", "10000.00"),
            order("B", "2026-01-10T12:00:00+03:00", "10000.00", delivered_at="2026-01-15T12:00:00+03:00")]
    snap = snapshot("2026-01-24", customers=C1, orders=rows)
    assert balance(snap, "C1")["available_points"] == 500  # A matured 01-24, B matures 01-29
    assert balance(snapshot("2026-01-29", customers=C1, orders=rows), "C1")["available_points"] == 1000


def test_undelivered_online_order_stays_pending_and_is_reported_after_30_days():
    rows = [order("A", "2026-01-10T12:00:00+03:00", "10000.00", channel="online"),
            order("B", "2026-01-10T12:00:00+03:00", "10000.00", channel="online")]
    returns = [ret("R", "B", "2026-01-11T12:00:00+03:00", kind="cancel")]
    assert codes(snapshot("2026-02-09", customers=C1, orders=rows, returns=returns)) == []  # 30 days, not more
    snap = snapshot("2026-02-10", customers=C1, orders=rows, returns=returns)
    assert codes(snap) == [("UNDELIVERED", "A")]  # B wholly cancelled: not reported
    assert balance(snap, "C1")["pending_points"] == 500


# --- RULES 5 and 10: expiry, and expiry before redemption at one instant --------------------

def test_points_expire_12_months_after_payment_pending_or_available():
    rows = [order("A", "2025-01-10T12:00:00+03:00", "10000.00"),
            order("B", "2025-01-10T12:00:00+03:00", "20000.00", channel="online")]  # never delivered
    before = balance(snapshot("2026-01-09", customers=C1, orders=rows), "C1")
    after = snapshot("2026-01-10", customers=C1, orders=rows)
    assert (before["available_points"], before["pending_points"], before["expiring_30d_points"]) == (500, 1000, 1500)
    b = balance(after, "C1")
    assert (b["available_points"], b["pending_points"], b["expired_points"]) == (0, 0, 1500)
    assert sorted(movements_of(after, "expire")) == [
        ("earn:A", "available", -500, "earn:A"), ("earn:B", "pending", -1000, "earn:B")]


def test_expiry_comes_before_a_redemption_at_the_same_instant():
    rows = [order("A", "2025-01-10T12:00:00+03:00", "40000.00"),       # 2 000, expires 2026-01-10 00:00
            order("B", "2025-06-10T12:00:00+03:00", "10000.00"),       # 500, expires 2026-06-10
            order("C", "2026-01-10T00:00:00+03:00", "3000.00", redeemed=1200)]
    snap = snapshot("2026-01-10", customers=C1, orders=rows)
    b = balance(snap, "C1")
    # A's 2 000 expire first; 500 from B; 700 become debt; C earns 5% x 1 800 = 90 pending
    assert (b["available_points"], b["pending_points"], b["debt_points"]) == (0, 90, 700)
    assert (b["expired_points"], b["redeemed_points"]) == (2000, 1200)
    assert codes(snap) == [("OVERDRAFT", "C")]


def test_a_lot_expiring_at_the_cutoff_belongs_to_the_next_day():
    rows = [order("A", "2025-01-10T12:00:00+03:00", "10000.00")]
    b = balance(snapshot("2026-01-09", customers=C1, orders=rows), "C1")
    assert (b["available_points"], str(b["next_expiry_date"]), b["next_expiry_points"]) == (500, "2026-01-10", 500)


# --- RULES 6: birthdays ------------------------------------------------------------------

def customer(birth_date="", customer_id="C1", **extra):
    return {"customer_id": customer_id, "birth_date": birth_date, **extra}


def test_29_february_birthday_in_common_and_leap_years():
    rows = [order("A", "2024-01-10T12:00:00+03:00", "1000.00")]
    snap = snapshot("2025-03-01", customers=[customer("1992-02-29")], orders=rows)
    grants = snap.movements.filter(pl.col("kind") == "birthday").select("lot_id", "points", "business_date").rows()
    assert [(lot, pts, str(day)) for lot, pts, day in grants] == [
        ("birthday:C1:2024-02-29", 10000, "2024-02-29"), ("birthday:C1:2025-02-28", 10000, "2025-02-28")]
    # the 2024-02-29 grant expires 2025-02-28 00:00, at the same instant the 2025 grant arrives
    b = balance(snap, "C1")
    # order A's 50 points expired 2025-01-10 as well
    assert (b["birthday_points"], b["expired_points"], b["available_points"]) == (20000, 10000 + 50, 10000)
    assert (str(b["next_expiry_date"]), b["next_expiry_points"]) == ("2026-02-28", 10000)


def test_birthday_needs_an_order_paid_strictly_before_it():
    at_midnight = [order("A", "2026-03-15T00:00:00+03:00", "1000.00")]
    just_before = [order("A", "2026-03-14T23:59:59+03:00", "1000.00")]
    assert balance(snapshot("2026-03-31", customers=[customer("1980-03-15")], orders=at_midnight), "C1")["birthday_points"] == 0
    assert balance(snapshot("2026-03-31", customers=[customer("1980-03-15")], orders=just_before), "C1")["birthday_points"] == 10000


def test_birthday_from_program_start_and_for_known_customers_only():
    rows = [order("A", "2023-01-10T12:00:00+03:00", "1000.00"),
            order("B", "2023-01-10T12:00:00+03:00", "1000.00", customer="C2")]
    snap = snapshot("2024-12-31", customers=[customer("1980-06-01")], orders=rows)
    assert balance(snap, "C1")["birthday_points"] == 10000  # 2023-06-01 is before 2024-01-01: only 2024
    assert balance(snap, "C2")["birthday_points"] == 0       # not in the customers file


def test_latest_birth_date_restates_earlier_grants_and_empty_never_erases():
    rows = [order("A", "2025-01-10T12:00:00+03:00", "1000.00")]
    corrected = [customer("1990-05-01"), customer("1990-04-01"), customer("")]
    snap = snapshot("2025-12-31", customers=corrected, orders=rows)
    grants = snap.movements.filter(pl.col("kind") == "birthday").get_column("lot_id").to_list()
    assert grants == ["birthday:C1:2025-04-01"]


# --- RULES 7 and 9: redemption, overdraft, debt and its repayment -------------------------

def test_redemption_takes_the_first_expiring_lot_and_never_pending_points():
    rows = [order("A", "2025-06-10T12:00:00+03:00", "20000.00"),    # 1 000, expires 2026-06-10
            order("B", "2025-03-10T12:00:00+03:00", "20000.00"),    # 1 000, expires 2026-03-10 (first)
            order("P", "2026-01-09T12:00:00+03:00", "100000.00"),   # 5 000 pending until 01-23
            order("C", "2026-01-10T12:00:00+03:00", "4000.00", redeemed=1500)]
    snap = snapshot("2026-01-10", customers=C1, orders=rows)
    assert movements_of(snap, "redeem") == [("earn:B", "available", -1000, "C"), ("earn:A", "available", -500, "C")]
    assert balance(snap, "C1")["available_points"] == 500


def test_overdraft_becomes_debt_repaid_by_the_next_maturity():
    rows = [order("A", "2026-01-01T12:00:00+03:00", "10000.00"),                  # 500 available 01-15
            order("B", "2026-01-20T12:00:00+03:00", "4000.00", redeemed=2000),    # 500 taken, 1 500 debt; earns 100
            order("C", "2026-01-21T12:00:00+03:00", "20000.00")]                   # 1 000, matures 02-04
    b = balance(snapshot("2026-02-02", customers=C1, orders=rows), "C1")
    assert (b["available_points"], b["pending_points"], b["debt_points"]) == (0, 1100, 1500)
    b = balance(snapshot("2026-02-03", customers=C1, orders=rows), "C1")
    # B's own 100 matured 02-03 00:00 and repaid debt first
    assert (b["available_points"], b["pending_points"], b["debt_points"]) == (0, 1000, 1400)
    snap = snapshot("2026-02-04", customers=C1, orders=rows)
    b = balance(snap, "C1")
    # C's 1 000 matured 02-04 -> debt 400
    assert (b["available_points"], b["pending_points"], b["debt_points"]) == (0, 0, 400)
    assert (b["redeemed_points"], b["earned_points"]) == (2000, 1600)
    assert codes(snap) == [("OVERDRAFT", "B")]  # 2 000 is exactly 50% of 4 000: within the cap
    assert snap.movements.filter(pl.col("kind") == "repay", pl.col("bucket") == "debt").get_column("points").to_list() == [-100, -1000]


def test_redemption_caps_are_reported_but_debited():
    rows = [order("A", "2026-01-01T12:00:00+03:00", "100000.00"),
            order("B", "2026-02-01T12:00:00+03:00", "1000.00", redeemed=501),   # cap 500
            order("D", "2026-02-02T12:00:00+03:00", "1000.00", redeemed=500),   # exactly 50%: fine
            order("E", "2026-02-03T12:00:00+03:00", "2000.00", redeemed=100, discount="1500.00"),  # cap on original price
            order("F", "2026-02-04T12:00:00+03:00", "2000.00", redeemed=10, promo_code="NOPTS")]
    promos = [{"promo_code": "NOPTS", "earns_points": "true", "points_redeemable": "false"}]
    snap = snapshot("2026-02-28", customers=C1, orders=rows, promotions=promos)
    assert codes(snap) == [("REDEMPTION_CAP", "B"), ("REDEMPTION_PROMO", "F")]
    assert balance(snap, "C1")["redeemed_points"] == 501 + 500 + 100 + 10


def test_adjustments_credit_after_repaying_debt_and_debit_like_a_redemption():
    rows = [order("A", "2026-01-01T12:00:00+03:00", "10000.00")]  # 500 available from 01-15
    adjustments = [
        {"adjustment_id": "J1", "customer_id": "C1", "created_at": "2026-01-20T10:00:00+03:00", "points": "-800"},
        {"adjustment_id": "J2", "customer_id": "C1", "created_at": "2026-01-21T10:00:00+03:00", "points": "1000"},
    ]
    snap = snapshot("2026-01-31", customers=C1, orders=rows, adjustments=adjustments)
    b = balance(snap, "C1")
    # J1: 500 taken, 300 debt (OVERDRAFT); J2: 300 repay, 700 available until 2027-01-21
    assert (b["available_points"], b["debt_points"], b["adjusted_points"]) == (700, 0, 200)
    assert codes(snap) == [("OVERDRAFT", "J1")]
    assert (str(b["next_expiry_date"]), b["next_expiry_points"]) == ("2027-01-21", 700)


# --- RULES 8: returns ---------------------------------------------------------------------

def test_clawback_after_the_lot_was_spent_takes_other_lots_then_debt():
    rows = [order("A", "2026-01-01T12:00:00+03:00", "40000.00"),               # 2 000, available 01-15
            order("B", "2026-01-02T12:00:00+03:00", "10000.00"),               # 500, available 01-16
            order("C", "2026-01-20T12:00:00+03:00", "5000.00", redeemed=2100),  # A 2 000 + B 100; earns 145
            order("D", "2026-01-21T12:00:00+03:00", "2000.00")]                 # 100 pending until 02-04
    returns = [ret("R", "A", "2026-01-25T12:00:00+03:00", 1)]
    snap = snapshot("2026-01-25", customers=C1, orders=rows, returns=returns)
    # claw 2 000: own lot A empty -> B's 400 -> 1 600 debt; pending C and D untouched
    assert movements_of(snap, "clawback") == [("earn:B", "available", -400, "R")]
    b = balance(snap, "C1")
    assert (b["available_points"], b["pending_points"], b["debt_points"], b["clawed_back_points"]) == (0, 245, 1600, 2000)
    assert codes(snap) == [("DEBT", "R")]


def test_partial_returns_repeated_three_times_never_drift():
    rows = [order("P", "2025-12-01T12:00:00+03:00", "10000.00"),   # 500 available, expires 2026-12-01
            order("A", "2026-01-08T12:00:00+03:00", "3333.33", qty=3, discount="0.01", redeemed=100)]
    returns = [ret("R1", "A", "2026-01-15T12:00:00+03:00", 1), ret("R2", "A", "2026-01-16T12:00:00+03:00", 1),
               ret("R3", "A", "2026-01-17T12:00:00+03:00", 1)]
    spends = []
    for day, kept in (("2026-01-14", 3), ("2026-01-15", 2), ("2026-01-16", 1), ("2026-01-17", 0)):
        spends.append(str(balance(snapshot(day, customers=C1, orders=rows, returns=returns), "C1")["lifetime_spend"]))
    # kept net 9 999.98 -> 6 666.65 -> 3 333.33 -> 0
    assert spends == ["19999.98", "16666.65", "13333.33", "10000.00"]
    snap = snapshot("2026-01-17", customers=C1, orders=rows, returns=returns)
    # points 494 -> 329 -> 164 -> 0; restores 33, 33, 34
    assert [p for _, _, p, _ in movements_of(snap, "clawback")] == [-165, -165, -164]
    assert [p for _, _, p, _ in movements_of(snap, "restore")] == [33, 33, 34]
    b = balance(snap, "C1")
    assert (b["available_points"], b["pending_points"], b["restored_points"]) == (500, 0, 100)


def test_restore_whose_inherited_expiry_already_passed_expires_at_once():
    rows = [order("A", "2025-03-20T12:00:00+03:00", "40000.00"),   # 2 000, expires 2026-03-20
            order("B", "2026-03-01T12:00:00+03:00", "5000.00", qty=2, redeemed=2000)]  # consumes A
    returns = [ret("R", "B", "2026-03-25T12:00:00+03:00", 1)]
    snap = snapshot("2026-03-31", customers=C1, orders=rows, returns=returns)
    assert movements_of(snap, "restore") == [("restore:R:B:1", "available", 1000, "R")]
    expired = snap.movements.filter(pl.col("kind") == "expire", pl.col("lot_id") == "restore:R:B:1")
    assert expired.select("points", pl.col("business_date").cast(pl.String)).rows() == [(-1000, "2026-03-25")]
    b = balance(snap, "C1")
    # B earned 5% x 8 000 = 400, clawed to 5% x 4 000 = 200 (pending: matures 03-15 -> available)
    assert (b["available_points"], b["restored_points"], b["expired_points"]) == (200, 1000, 1000)


def test_restore_lot_inherits_the_earliest_expiry_consumed_by_the_redemption():
    rows = [order("A", "2025-06-10T12:00:00+03:00", "20000.00"),   # 1 000, expires 2026-06-10
            order("B", "2025-09-10T12:00:00+03:00", "20000.00"),   # 1 000, expires 2026-09-10
            order("C", "2026-01-10T12:00:00+03:00", "4000.00", qty=1, redeemed=1500)]
    snap = snapshot("2026-02-01", customers=C1, orders=rows, returns=[ret("R", "C", "2026-01-20T12:00:00+03:00", 1)])
    lots = snap.ledger.lots.filter(pl.col("lot_id") == "restore:R:C:1")
    assert lots.select("remaining", pl.col("expiry").dt.convert_time_zone("Europe/Moscow").dt.date().cast(pl.String)).rows() == [(1500, "2026-06-10")]


def test_cancellation_takes_what_is_left_and_a_later_row_exceeding_it_is_rejected():
    rows = [order("A", "2026-02-14T12:00:00+03:00", "7000.00", qty=2, channel="online"),
            order("A", "2026-02-14T12:00:00+03:00", "3000.00", line=2, channel="online",
                  delivered_at="2026-02-18T15:00:00+03:00")]
    returns = [ret("R1", "A", "2026-02-15T08:00:00+03:00", 1),
               ret("R2", "A", "2026-02-15T09:00:00+03:00", kind="cancel"),
               ret("R3", "A", "2026-02-15T10:00:00+03:00", 1),
               ret("R4", "A", "2026-02-15T11:00:00+03:00", kind="cancel")]
    snap = snapshot("2026-03-31", customers=C1, orders=rows, returns=returns)
    b = balance(snap, "C1")
    assert (str(b["lifetime_spend"]), b["available_points"], b["clawed_back_points"]) == ("3000.00", 150, 700)
    assert codes(snap) == [("RETURN_EXCEEDS_QUANTITY", "R3"), ("RETURN_EXCEEDS_QUANTITY", "R4")]


def test_a_return_needs_a_quantity_and_cannot_predate_its_order():
    rows = [order("A", "2026-02-14T12:00:00+03:00", "7000.00", qty=2)]
    returns = [ret("R1", "A", "2026-02-15T08:00:00+03:00"), ret("R2", "A", "2026-02-13T08:00:00+03:00", 1)]
    snap = snapshot("2026-03-31", customers=C1, orders=rows, returns=returns)
    assert codes(snap) == [("SCHEMA", "R1"), ("SCHEMA", "R2")]
    assert str(balance(snap, "C1")["lifetime_spend"]) == "14000.00"


def test_return_arriving_before_its_order_is_parked_then_applied_at_its_own_instant():
    rows = [dict(order("A", "2026-03-01T12:00:00+03:00", "15000.00", qty=2), folder="2026-03-04")]
    returns = [dict(ret("R", "A", "2026-03-02T15:00:00+03:00", 1), folder="2026-03-02")]
    parked = snapshot("2026-03-03", customers=C1, returns=returns)
    assert codes(parked) == [("RETURN_UNKNOWN_ORDER", "R")]
    snap = snapshot("2026-03-31", customers=C1, orders=rows, returns=returns)
    assert codes(snap) == []
    b = balance(snap, "C1")
    # 1 500 earned on 03-01; the return of 03-02 claws 750 back from the pending lot
    assert (b["available_points"], b["clawed_back_points"], str(b["lifetime_spend"])) == (750, 750, "15000.00")


# --- RULES 12: duplicates, updates and conflicts -----------------------------------------

def test_delivery_update_duplicate_and_conflicts():
    first = dict(order("A", "2026-01-20T10:00:00+03:00", "50000.00", channel="online"), folder="2026-01-20")
    update = dict(first, delivered_at="2026-01-23T14:00:00+03:00", folder="2026-01-23")
    duplicate = dict(update)
    other_delivery = dict(update, delivered_at="2026-01-24T14:00:00+03:00", folder="2026-01-24")
    other_price = dict(update, unit_price="55000.00", folder="2026-01-24")
    foreign_line = dict(order("A", "2026-01-20T10:00:00+03:00", "10.00", line=2, customer="C2", channel="online"), folder="2026-01-24")
    snap = snapshot("2026-02-10", customers=C1, orders=[first, update, duplicate, other_delivery, other_price, foreign_line])
    assert codes(snap) == [("ORDER_CONFLICT", "A")] * 3
    b = balance(snap, "C1")
    # matured 2026-02-06 from the first delivery
    assert (b["available_points"], str(b["lifetime_spend"])) == (2500, "50000.00")


def test_repeated_return_and_adjustment_ids():
    rows = [order("A", "2026-02-14T12:00:00+03:00", "7000.00", qty=2)]
    returns = [ret("R1", "A", "2026-02-15T08:00:00+03:00", 1), ret("R1", "A", "2026-02-15T08:00:00+03:00", 1),
               ret("R1", "A", "2026-02-16T08:00:00+03:00", 1)]
    adjustments = [
        {"adjustment_id": "J", "customer_id": "C1", "created_at": "2026-02-20T10:00:00+03:00", "points": "100"},
        {"adjustment_id": "J", "customer_id": "C1", "created_at": "2026-02-20T10:00:00+03:00", "points": "200"},
    ]
    snap = snapshot("2026-03-31", customers=C1, orders=rows, returns=returns, adjustments=adjustments)
    assert codes(snap) == [("ROW_CONFLICT", "J"), ("ROW_CONFLICT", "R1")]
    b = balance(snap, "C1")
    assert (str(b["lifetime_spend"]), b["adjusted_points"]) == ("7000.00", 100)


def test_a_bad_row_does_not_stop_the_other_lines_of_its_order():
    rows = [order("A", "2026-01-10T12:00:00+03:00", "10000.00"),
            order("A", "2026-01-10T12:00:00+03:00", "-5.00", line=2)]
    snap = snapshot("2026-03-31", customers=C1, orders=rows)
    assert codes(snap) == [("SCHEMA", "A")]
    assert str(balance(snap, "C1")["lifetime_spend"]) == "10000.00"


def test_unknown_customers_and_future_events_are_applied_and_reported():
    rows = [dict(order("A", "2026-01-10T12:00:00+03:00", "10000.00", customer="C9"), folder="2026-01-09")]
    adjustments = [{"adjustment_id": "J", "customer_id": "C9", "created_at": "2026-01-11T10:00:00+03:00", "points": "50"}]
    snap = snapshot("2026-03-31", customers=C1, orders=rows, adjustments=adjustments)
    assert codes(snap) == [("FUTURE_EVENT", "A"), ("UNKNOWN_CUSTOMER", "A"), ("UNKNOWN_CUSTOMER", "J")]
    assert balance(snap, "C9")["available_points"] == 550
    assert balance(snap, "C1")["available_points"] == 0


# --- RULES 11: variance against the operational balances ----------------------------------

def test_variance_against_the_operational_balances_of_d():
    rows = [order("A", "2026-01-10T12:00:00+03:00", "10000.00"),                       # 500 available
            order("B", "2026-03-25T12:00:00+03:00", "20000.00", customer="C2")]         # 1 000 pending
    operational = [
        {"customer_id": "C1", "available_points": "400", "pending_points": "10"},
        {"customer_id": "C9", "available_points": "0", "pending_points": "0"},        # zero: no variance
        {"customer_id": "C8", "available_points": "5", "pending_points": "0"},
    ]
    snap = snapshot("2026-03-31", customers=C1 + [{"customer_id": "C2"}], orders=rows, balances=operational)
    found = snap.exceptions.filter(pl.col("code").str.starts_with("BALANCE") | pl.col("code").str.starts_with("MISSING"))
    assert found.select("code", "entity_id", "message").rows() == [
        ("BALANCE_MISMATCH", "C1", "available points: recomputed 500, operational system 400 (difference 100)"),
        ("BALANCE_MISMATCH", "C1", "pending points: recomputed 0, operational system 10 (difference -10)"),
        ("MISSING_IN_OPERATIONAL", "C2", "customer C2 holds 1000 points here but is absent from the operational balances"),
        ("MISSING_IN_RECOMPUTED", "C8", "the operational system shows 5 points for customer C8, unknown to the recomputation"),
    ]
    assert set(found["severity"]) == {"warning"}


def test_no_operational_file_that_day_means_no_variance():
    rows = [order("A", "2026-01-10T12:00:00+03:00", "10000.00")]
    operational = [dict({"customer_id": "C1", "available_points": "1", "pending_points": "0"}, folder="2026-03-30")]
    assert codes(snapshot("2026-03-31", customers=C1, orders=rows, balances=operational)) == []


def test_a_part_without_rows_of_d_s_file_still_reports_its_missing_customers():
    import datetime as dt

    from transforms.variance import variance

    recomputed = pl.DataFrame({"customer_id": ["C2"], "available_points": [0], "pending_points": [1000]})
    none_of_this_part = pl.DataFrame(schema={
        "customer_id": pl.String, "available_points": pl.Int64, "pending_points": pl.Int64,
        "source_file": pl.String, "source_row": pl.Int64, "folder": pl.Date})
    as_of = dt.date(2026, 3, 31)
    assert variance(recomputed, none_of_this_part, as_of)[0].height == 0  # alone: no file that day
    told, rows = variance(recomputed, none_of_this_part, as_of, reported=True)
    assert told.select("code", "entity_id").rows() == [("MISSING_IN_OPERATIONAL", "C2")]
    assert rows.rows() == [("C2", "MISSING_IN_OPERATIONAL", None, 1000, None)]
    assert variance(recomputed, none_of_this_part, as_of, reported=False)[0].height == 0


def test_the_first_version_is_the_first_to_arrive_whatever_the_row_order():
    late = dict(order("A", "2026-01-20T10:00:00+03:00", "90.00"), folder="2026-01-21")
    early = dict(order("A", "2026-01-20T10:00:00+03:00", "50.00"), folder="2026-01-20")
    snap = snapshot("2026-02-10", customers=C1, orders=[late, early])
    assert str(balance(snap, "C1")["lifetime_spend"]) == "50.00"
    assert codes(snap) == [("ORDER_CONFLICT", "A")]


def test_a_debit_with_no_lot_anywhere_is_all_debt():
    adjustments = [{"adjustment_id": "J", "customer_id": "C1", "created_at": "2026-01-20T10:00:00+03:00", "points": "-40"}]
    snap = snapshot("2026-01-31", customers=C1, adjustments=adjustments)
    b = balance(snap, "C1")
    assert (b["debt_points"], b["adjusted_points"]) == (40, -40)
    assert snap.movements.select("lot_id", "kind", "points").rows() == [(None, "debt", 40)]


def test_a_customer_or_promo_code_is_known_by_the_folders_up_to_the_row_s_own():
    early = dict(order("A", "2026-03-01T12:00:00+03:00", "100.00", promo_code="P1"), folder="2026-03-01")
    same_day = dict(order("B", "2026-03-05T12:00:00+03:00", "100.00", customer="C2", promo_code="P2"), folder="2026-03-05")
    customers = [dict(C1[0], folder="2026-03-02"), {"customer_id": "C2", "folder": "2026-03-05"}]
    promos = [{"promo_code": "P1", "earns_points": "true", "points_redeemable": "true", "folder": "2026-03-03"},
              {"promo_code": "P2", "earns_points": "true", "points_redeemable": "true", "folder": "2026-03-05"}]
    snap = snapshot("2026-03-31", customers=customers, orders=[early, same_day], promotions=promos)
    assert codes(snap) == [("UNKNOWN_CUSTOMER", "A"), ("UNKNOWN_PROMO", "A")]  # known only after A arrived
    assert balance(snap, "C1")["earned_points"] == 5  # it still earns, at the code's latest definition


def test_an_overdraft_revealed_by_a_late_row_is_known_from_that_row_s_folder():
    def adjustment(name, created, points, folder):
        return {"adjustment_id": name, "customer_id": "C1", "created_at": created, "points": points, "folder": folder}

    credit = adjustment("J", "2026-03-10T10:00:00+03:00", "500", "2026-03-10")
    debit = adjustment("K", "2026-03-15T10:00:00+03:00", "-300", "2026-03-25")  # arrives late
    b = [dict(order("B", "2026-03-20T12:00:00+03:00", "1000.00", redeemed=400), folder="2026-03-20")]
    before = snapshot("2026-03-24", customers=C1, orders=b, adjustments=[credit])
    after = snapshot("2026-03-31", customers=C1, orders=b, adjustments=[credit, debit])
    assert codes(before) == []  # 500 available cover B's 400
    # K leaves 200 on 03-15: B's redemption of 03-20 overdraws by 200, known once K arrived
    assert after.exceptions.select("code", "entity_id", "arrival").rows() == [("OVERDRAFT", "B", dt.date(2026, 3, 25))]


def test_rows_of_one_instant_count_together_for_when_an_exception_became_known():
    # order B's 30 lines share one payment instant and arrive over 30 days; the last line's redemption
    # overdraws: the overdraft is known only once every row of that instant had arrived (03-30)
    lines = [dict(order("B", "2026-03-01T12:00:00+03:00", "1000.00", line=n, redeemed=10 if n == 30 else 0),
                  folder=f"2026-03-{n:02d}") for n in range(1, 31)]
    snap = snapshot("2026-03-31", customers=C1, orders=lines)
    assert snap.exceptions.filter(pl.col("code") == "OVERDRAFT").select("entity_id", "arrival").rows() == [
        ("B", dt.date(2026, 3, 30))]
