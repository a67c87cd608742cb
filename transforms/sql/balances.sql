-- Balances as of D: grain [customer_id], one row per customer known by D (RULES 13).
-- Buckets and lifetime totals come from the movements (coded, by customer_index); expiries from
-- the lots still holding points; the tier from lifetime spend. Amounts stay in kopecks here
-- ($as_of, $window bound).
WITH totals AS (
    SELECT customer_index,
           coalesce(sum(points) FILTER (WHERE bucket = 'available'), 0) AS available_points,
           coalesce(sum(points) FILTER (WHERE bucket = 'pending'), 0) AS pending_points,
           coalesce(sum(points) FILTER (WHERE bucket = 'debt'), 0) AS debt_points,
           coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0) AS earned_points,
           coalesce(-sum(points) FILTER (WHERE kind = 'redeem'), 0)
             + coalesce(sum(points) FILTER (WHERE kind = 'debt' AND source_kind = 'order'), 0) AS redeemed_points,
           coalesce(-sum(points) FILTER (WHERE kind = 'expire'), 0) AS expired_points,
           coalesce(-sum(points) FILTER (WHERE kind = 'clawback'), 0)
             + coalesce(sum(points) FILTER (WHERE kind = 'debt' AND source_kind = 'return'), 0) AS clawed_back_points,
           coalesce(sum(points) FILTER (WHERE kind = 'restore'), 0) AS restored_points,
           coalesce(sum(points) FILTER (WHERE kind = 'birthday'), 0) AS birthday_points,
           coalesce(sum(points) FILTER (WHERE kind = 'adjust'), 0)
             - coalesce(sum(points) FILTER (WHERE kind = 'debt' AND source_kind = 'adjustment'), 0) AS adjusted_points
    FROM movements
    GROUP BY customer_index
),
open_lots AS (
    SELECT customer_id, expiry_date, remaining
    FROM lots
    WHERE remaining > 0
),
next_expiry AS (
    SELECT customer_id, min(expiry_date) AS next_expiry_date
    FROM open_lots
    GROUP BY customer_id
),
next_expiry_points AS (
    SELECT o.customer_id, n.next_expiry_date, sum(o.remaining) AS next_expiry_points
    FROM open_lots o JOIN next_expiry n ON o.customer_id = n.customer_id AND o.expiry_date = n.next_expiry_date
    GROUP BY o.customer_id, n.next_expiry_date
),
expiring AS (
    SELECT customer_id, sum(remaining) AS expiring_30d_points
    FROM open_lots
    WHERE expiry_date > $as_of AND expiry_date <= $as_of + $window
    GROUP BY customer_id
),
ranked_tiers AS (
    SELECT *, lead(name) OVER (ORDER BY from_kopecks) AS next_tier,
              lead(from_kopecks) OVER (ORDER BY from_kopecks) AS next_from_kopecks
    FROM tiers
)
SELECT c.customer_id,
       $as_of AS as_of,
       t.name AS tier,
       t.cashback_pct,
       c.spend_kop AS lifetime_spend_kop,
       t.next_tier,
       t.next_from_kopecks - c.spend_kop AS spend_to_next_tier_kop,
       coalesce(m.available_points, 0) AS available_points,
       coalesce(m.pending_points, 0) AS pending_points,
       coalesce(m.debt_points, 0) AS debt_points,
       e.next_expiry_date,
       e.next_expiry_points,
       coalesce(x.expiring_30d_points, 0) AS expiring_30d_points,
       coalesce(m.earned_points, 0) AS earned_points,
       coalesce(m.redeemed_points, 0) AS redeemed_points,
       coalesce(m.expired_points, 0) AS expired_points,
       coalesce(m.clawed_back_points, 0) AS clawed_back_points,
       coalesce(m.restored_points, 0) AS restored_points,
       coalesce(m.birthday_points, 0) AS birthday_points,
       coalesce(m.adjusted_points, 0) AS adjusted_points,
       c.debt_points AS kernel_debt_points
FROM customers c
ASOF JOIN ranked_tiers t ON c.spend_kop >= t.from_kopecks
LEFT JOIN totals m ON m.customer_index = c.customer_index
LEFT JOIN next_expiry_points e USING (customer_id)
LEFT JOIN expiring x USING (customer_id)
ORDER BY c.customer_id
