"""The lot bookkeeping of RULES 7-10: a compiled kernel over customer-sorted event arrays.

Why a kernel and not SQL: FIFO consumption by expiry is expressible as interval overlaps, but
clawback from a named lot, debt that later credits repay, restore lots whose expiry depends on
which lots a redemption consumed, and tiers that move with every order and return make each
event depend on the state the previous one left. So everything that needs no state (events,
lots, caps, most exceptions) is built set-based in Polars, and this kernel walks each
customer's events once, in order, holding only that customer's open lots: O(events x open lots).

Units: instants in UTC microseconds, money in kopecks, rates in basis points, points whole.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from schemas.codes import BUCKETS, MOVEMENT_KINDS, SOURCE_KINDS

# event priorities at one instant (RULES 10); expiries (0) are applied lazily before any event
P_MATURITY, P_BIRTHDAY, P_ORDER, P_RETURN, P_ADJUSTMENT = 1, 2, 3, 4, 5

# movement kinds, buckets and sources (what caused a movement; the index is into its table)
K_EARN, K_MATURE, K_REDEEM, K_EXPIRE, K_CLAWBACK, K_RESTORE, K_BIRTHDAY, K_ADJUST, K_DEBT, K_REPAY = (
    MOVEMENT_KINDS.index(kind) for kind in
    ("earn", "mature", "redeem", "expire", "clawback", "restore", "birthday", "adjust", "debt", "repay"))
B_PENDING, B_AVAILABLE, B_DEBT = (BUCKETS.index(bucket) for bucket in ("pending", "available", "debt"))
S_ORDER, S_RETURN, S_ADJUSTMENT, S_LOT = (SOURCE_KINDS.index(kind) for kind in ("order", "return", "adjustment", "lot"))

# exceptions the kernel finds; x_event is the event's position, x_points the amount
KERNEL_CODES = ("OVERDRAFT", "DEBT", "RETURN_EXCEEDS_QUANTITY")
X_OVERDRAFT, X_DEBT, X_RETURN_EXCEEDS = range(3)

# columns of the movement buffer
M_TIME, M_CUST, M_LOT, M_KIND, M_BUCKET, M_POINTS, M_SRC_KIND, M_SRC = range(8)

NO_EXPIRY = np.iinfo(np.int64).max
RATE_SCALE = 1_000_000  # kopecks x basis points -> points


class Events(NamedTuple):
    """What the kernel walks, sorted by customer, time, priority, rank; -1 where a field does not
    apply to an event's priority (see events.EVENT_COLUMNS)."""

    customer: np.ndarray  # customer index
    time: np.ndarray  # UTC microseconds
    priority: np.ndarray  # P_*
    order: np.ndarray  # maturity, order: the order's index
    line: np.ndarray  # return: the order line's index
    quantity: np.ndarray  # return: the quantity (-1: all that is left)
    points: np.ndarray  # birthday, adjustment: the points (signed for an adjustment)
    adjustment: np.ndarray  # adjustment: its index
    lot: np.ndarray  # the lot it opens (birthday, order, return, credit) or matures


class Lots(NamedTuple):
    """By lot index: when each lot is created, when it expires (NO_EXPIRY: set by the walk), its
    rank by lot id (the last FIFO tie-break)."""

    created: np.ndarray
    expiry: np.ndarray
    rank: np.ndarray


class Orders(NamedTuple):
    """By order index: net amount and earning base (kopecks), points redeemed, its earn lot."""

    net: np.ndarray
    base: np.ndarray
    redeemed: np.ndarray
    lot: np.ndarray


class Lines(NamedTuple):
    """By line index: its order, quantity, net amount and money paid (kopecks), whether it earns,
    the points redeemed on it."""

    order: np.ndarray
    quantity: np.ndarray
    net: np.ndarray
    paid: np.ndarray
    eligible: np.ndarray
    redeemed: np.ndarray


class Tiers(NamedTuple):
    """The rules' tiers, rising: threshold in kopecks, cashback in basis points."""

    from_kopecks: np.ndarray
    rate_bp: np.ndarray


class Walk(NamedTuple):
    """What the walk leaves: the movements (M_* columns), each lot's points left, whether it is
    still pending and its expiry; each customer's spend and debt; each order's rate and points;
    each line's kept quantity; and the findings (code, event position, points) of X_* codes."""

    movements: np.ndarray
    remaining: np.ndarray
    pending: np.ndarray
    expiry: np.ndarray
    spend: np.ndarray
    debt: np.ndarray
    order_rate: np.ndarray
    order_points: np.ndarray
    kept: np.ndarray
    findings: np.ndarray


@njit(cache=True)
def round_share(amount, part, whole):
    """round(amount * part / whole) half away from zero, for non-negative integers."""
    return (2 * amount * part + whole) // (2 * whole)


@njit(cache=True, inline="always")
def emit(mv, n, t, c, lot, kind, bucket, points, src_kind, src):
    mv[n, M_TIME] = t
    mv[n, M_CUST] = c
    mv[n, M_LOT] = lot
    mv[n, M_KIND] = kind
    mv[n, M_BUCKET] = bucket
    mv[n, M_POINTS] = points
    mv[n, M_SRC_KIND] = src_kind
    mv[n, M_SRC] = src
    return n + 1


@njit(cache=True)
def debit(mv, n, t, c, want, kind, src_kind, src, open_lots, n_open, remaining, pending, expiry, created, rank):
    """Take `want` from available lots, earliest expiry first (then created, then lot id).

    Returns (movements written, points that could not be taken, earliest expiry consumed)."""
    first_expiry = NO_EXPIRY
    while want > 0:
        best = -1
        for j in range(n_open):
            lot = open_lots[j]
            if remaining[lot] > 0 and not pending[lot]:
                if best < 0 or expiry[lot] < expiry[best] or (
                    expiry[lot] == expiry[best]
                    and (created[lot] < created[best] or (created[lot] == created[best] and rank[lot] < rank[best]))
                ):
                    best = lot
        if best < 0:
            break
        take = min(want, remaining[best])
        remaining[best] -= take
        want -= take
        first_expiry = min(first_expiry, expiry[best])
        n = emit(mv, n, t, c, best, kind, B_AVAILABLE, -take, src_kind, src)
    return n, want, first_expiry


@njit(cache=True)
def sweep_expired(mv, n, c, t, open_lots, n_open, remaining, pending, expiry, rank):
    """Expire every open lot whose expiry is <= t, in (expiry, lot id) order, so that movements
    come out in time order; drop emptied lots from the open list. Returns (n, n_open, next expiry)."""
    due = np.empty(n_open, np.int64)
    n_due = 0
    kept = 0
    next_expiry = NO_EXPIRY
    for j in range(n_open):
        lot = open_lots[j]
        if remaining[lot] > 0 and expiry[lot] <= t:
            due[n_due] = lot
            n_due += 1
        elif remaining[lot] > 0:
            open_lots[kept] = lot
            kept += 1
            next_expiry = min(next_expiry, expiry[lot])
    due = due[:n_due]
    due = due[np.argsort(rank[due], kind="mergesort")]
    due = due[np.argsort(expiry[due], kind="mergesort")]
    for lot in due:
        bucket = B_PENDING if pending[lot] else B_AVAILABLE
        n = emit(mv, n, expiry[lot], c, lot, K_EXPIRE, bucket, -remaining[lot], S_LOT, lot)
        remaining[lot] = 0
    return n, kept, next_expiry


def walk_ledger(events: Events, lots: Lots, orders: Orders, lines: Lines, tiers: Tiers, n_customers: int,
                cutoff: int) -> Walk:
    """Walk every event in order, growing the movement buffer until everything fits."""
    capacity = 4 * (events.customer.shape[0] + lots.created.shape[0]) + 64
    while True:
        overflow, *state = run_ledger(events, lots, orders, lines, tiers, n_customers, cutoff, capacity)
        if not overflow:
            return Walk(*state)
        capacity *= 2


@njit(cache=True, nogil=True)
def run_ledger(events, lots, orders, lines, tiers, n_cust, cutoff, capacity):
    """Apply every event in order (Events, Lots, Orders, Lines, Tiers); (overflow, *Walk fields).
    `overflow`: the movement buffer of `capacity` rows was too small (walk_ledger grows it)."""
    ev_cust, ev_time, ev_prio, ev_lot = events.customer, events.time, events.priority, events.lot
    lot_created, lot_expiry, lot_rank = lots.created, lots.expiry, lots.rank
    order_net, order_base, order_redeem, order_lot = orders.net, orders.base, orders.redeemed, orders.lot
    line_order, line_qty, line_net, line_paid = lines.order, lines.quantity, lines.net, lines.paid
    line_eligible, line_redeemed = lines.eligible, lines.redeemed
    tier_from, tier_rate = tiers.from_kopecks, tiers.rate_bp
    n_lots = lot_created.shape[0]
    n_events = ev_cust.shape[0]
    remaining = np.zeros(n_lots, np.int64)
    pending = np.zeros(n_lots, np.bool_)
    expiry = lot_expiry.copy()
    kept = line_qty.copy()
    restored = np.zeros(line_qty.shape[0], np.int64)
    order_rate = np.zeros(order_net.shape[0], np.int64)
    order_points = np.zeros(order_net.shape[0], np.int64)
    order_kept_base = order_base.copy()
    order_consumed_expiry = np.full(order_net.shape[0], NO_EXPIRY, np.int64)
    cust_spend = np.zeros(n_cust, np.int64)
    cust_debt = np.zeros(n_cust, np.int64)
    mv = np.empty((capacity, 8), np.int64)
    n_mv = 0
    xs = np.empty((n_events + 1, 3), np.int64)
    n_x = 0

    open_lots = np.empty(n_lots + 1, np.int64)  # the current customer's lots that may hold points
    n_open = 0
    next_expiry = NO_EXPIRY
    debt = 0
    spend = 0
    overflow = False

    for i in range(n_events + 1 if n_events else 0):
        if n_mv + 3 * n_open + 12 > capacity:  # an event writes at most 3 per open lot + 10
            overflow = True
            break
        # RULES 10: expiries come first at any instant; at a customer's end, those before cut-off
        closing = i == n_events or (i > 0 and ev_cust[i] != ev_cust[i - 1])
        c = ev_cust[i - 1] if closing else ev_cust[i]
        t = cutoff - 1 if closing else ev_time[i]
        if next_expiry <= t:
            n_mv, n_open, next_expiry = sweep_expired(
                mv, n_mv, c, t, open_lots, n_open, remaining, pending, expiry, lot_rank)
        if closing:
            cust_spend[c] = spend
            cust_debt[c] = debt
            n_open = 0
            next_expiry = NO_EXPIRY
            debt = 0
            spend = 0
            if i == n_events:
                break
            c = ev_cust[i]
            t = ev_time[i]

        prio = ev_prio[i]
        credit_lot = -1  # a lot credited by this event: it repays debt first (RULES 9)
        credit_src_kind = S_LOT
        credit_src = 0

        if prio == P_MATURITY:
            lot = ev_lot[i]
            if pending[lot]:
                pending[lot] = False
                if remaining[lot] > 0:
                    n_mv = emit(mv, n_mv, t, c, lot, K_MATURE, B_PENDING, -remaining[lot], S_LOT, lot)
                    n_mv = emit(mv, n_mv, t, c, lot, K_MATURE, B_AVAILABLE, remaining[lot], S_LOT, lot)
                    credit_lot, credit_src = lot, lot

        elif prio == P_BIRTHDAY:
            lot = ev_lot[i]
            remaining[lot] = events.points[i]
            n_mv = emit(mv, n_mv, t, c, lot, K_BIRTHDAY, B_AVAILABLE, events.points[i], S_LOT, lot)
            credit_lot, credit_src = lot, lot

        elif prio == P_ORDER:
            o = events.order[i]
            # RULES 7: the redemption, from available points only; what is missing becomes debt
            if order_redeem[o] > 0:
                n_mv, short, first_expiry = debit(
                    mv, n_mv, t, c, order_redeem[o], K_REDEEM, S_ORDER, o,
                    open_lots, n_open, remaining, pending, expiry, lot_created, lot_rank)
                order_consumed_expiry[o] = first_expiry
                if short > 0:
                    debt += short
                    n_mv = emit(mv, n_mv, t, c, -1, K_DEBT, B_DEBT, short, S_ORDER, o)
                    xs[n_x, 0], xs[n_x, 1], xs[n_x, 2] = X_OVERDRAFT, i, short
                    n_x += 1
            # RULES 2: the rate of the tier held just before paid_at; then spend rises
            rate = tier_rate[0]
            for k in range(tier_from.shape[0]):
                if tier_from[k] <= spend:
                    rate = tier_rate[k]
            order_rate[o] = rate
            spend += order_net[o]
            # RULES 3: one lot of pending points
            points = order_base[o] * rate // RATE_SCALE
            order_points[o] = points
            lot = ev_lot[i]
            remaining[lot] = points
            pending[lot] = True
            if points > 0:
                n_mv = emit(mv, n_mv, t, c, lot, K_EARN, B_PENDING, points, S_ORDER, o)
                open_lots[n_open] = lot
                n_open += 1
                next_expiry = min(next_expiry, expiry[lot])

        elif prio == P_RETURN:
            line = events.line[i]
            o = line_order[line]
            qty = line_qty[line]
            before = kept[line]
            returned = before if events.quantity[i] < 0 else events.quantity[i]
            if returned == 0 or returned > before:  # RULES 8: the whole row is rejected
                xs[n_x, 0], xs[n_x, 1], xs[n_x, 2] = X_RETURN_EXCEEDS, i, before
                n_x += 1
                continue
            after = before - returned
            kept[line] = after
            # RULES 8.1: spend falls by the change in the kept net amount
            spend -= round_share(line_net[line], before, qty) - round_share(line_net[line], after, qty)
            # RULES 8.2: points recomputed on what is kept; the drop is clawed back
            if line_eligible[line]:
                order_kept_base[o] += round_share(line_paid[line], after, qty) - round_share(line_paid[line], before, qty)
            kept_points = order_kept_base[o] * order_rate[o] // RATE_SCALE
            drop = order_points[o] - kept_points
            order_points[o] = kept_points
            own = order_lot[o]
            take = min(drop, remaining[own])
            if take > 0:
                remaining[own] -= take
                drop -= take
                bucket = B_PENDING if pending[own] else B_AVAILABLE
                n_mv = emit(mv, n_mv, t, c, own, K_CLAWBACK, bucket, -take, S_RETURN, i)
            if drop > 0:
                n_mv, drop, _ = debit(
                    mv, n_mv, t, c, drop, K_CLAWBACK, S_RETURN, i,
                    open_lots, n_open, remaining, pending, expiry, lot_created, lot_rank)
            if drop > 0:
                debt += drop
                n_mv = emit(mv, n_mv, t, c, -1, K_DEBT, B_DEBT, drop, S_RETURN, i)
                xs[n_x, 0], xs[n_x, 1], xs[n_x, 2] = X_DEBT, i, drop
                n_x += 1
            # RULES 8.3: points spent on the returned quantities come back, never extending validity
            target = line_redeemed[line] * (qty - after) // qty
            back = target - restored[line]
            restored[line] = target
            if back > 0:
                lot = ev_lot[i]
                consumed = order_consumed_expiry[o]
                expiry[lot] = consumed if consumed != NO_EXPIRY else expiry[own]
                remaining[lot] = back
                n_mv = emit(mv, n_mv, t, c, lot, K_RESTORE, B_AVAILABLE, back, S_RETURN, i)
                credit_lot, credit_src_kind, credit_src = lot, S_RETURN, i

        else:  # P_ADJUSTMENT (RULES 9)
            points = events.points[i]
            a = events.adjustment[i]
            if points > 0:
                lot = ev_lot[i]
                remaining[lot] = points
                n_mv = emit(mv, n_mv, t, c, lot, K_ADJUST, B_AVAILABLE, points, S_ADJUSTMENT, a)
                credit_lot, credit_src_kind, credit_src = lot, S_ADJUSTMENT, a
            else:
                n_mv, short, _ = debit(
                    mv, n_mv, t, c, -points, K_ADJUST, S_ADJUSTMENT, a,
                    open_lots, n_open, remaining, pending, expiry, lot_created, lot_rank)
                if short > 0:
                    debt += short
                    n_mv = emit(mv, n_mv, t, c, -1, K_DEBT, B_DEBT, short, S_ADJUSTMENT, a)
                    xs[n_x, 0], xs[n_x, 1], xs[n_x, 2] = X_OVERDRAFT, i, short
                    n_x += 1

        if credit_lot >= 0:
            repay = min(debt, remaining[credit_lot])
            if repay > 0:
                debt -= repay
                remaining[credit_lot] -= repay
                n_mv = emit(mv, n_mv, t, c, credit_lot, K_REPAY, B_AVAILABLE, -repay, credit_src_kind, credit_src)
                n_mv = emit(mv, n_mv, t, c, -1, K_REPAY, B_DEBT, -repay, credit_src_kind, credit_src)
            if prio != P_MATURITY and remaining[credit_lot] > 0:  # a new lot opens
                if expiry[credit_lot] <= t:  # RULES 8.3: an inherited expiry already passed
                    n_mv = emit(mv, n_mv, t, c, credit_lot, K_EXPIRE, B_AVAILABLE, -remaining[credit_lot], S_LOT, credit_lot)
                    remaining[credit_lot] = 0
                else:
                    open_lots[n_open] = credit_lot
                    n_open += 1
                    next_expiry = min(next_expiry, expiry[credit_lot])

    return (
        overflow, mv[:n_mv], remaining, pending, expiry,
        cust_spend, cust_debt, order_rate, order_points, kept, xs[:n_x],
    )
