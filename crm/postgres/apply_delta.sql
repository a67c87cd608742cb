-- Apply out/<D>/balances_delta.csv (stdin) to loyalty_balance as loaded from the previous published
-- snapshot, D given as the psql variable as_of: afterwards the table equals out/<D>/balances.csv.
-- All or nothing. A delta that does not fit the table (a night skipped, or applied twice) is
-- refused; load_snapshot.sql with the latest balances.csv is the way back.
--   psql "$CRM_DB" -v as_of=<D> -f crm/postgres/apply_delta.sql < out/<D>/balances_delta.csv
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE loyalty_delta_night ON COMMIT DROP AS SELECT date :'as_of' AS as_of;

-- One row per customer that differs from the previous snapshot; removed rows carry only
-- customer_id, as_of and change.
CREATE TEMP TABLE loyalty_balance_delta (
    customer_id         text PRIMARY KEY,
    as_of               date NOT NULL CHECK (as_of = date :'as_of'),
    tier                text,
    cashback_pct        integer,
    lifetime_spend      numeric(18, 2),
    next_tier           text,
    spend_to_next_tier  numeric(18, 2),
    available_points    integer,
    pending_points      integer,
    debt_points         integer,
    next_expiry_date    date,
    next_expiry_points  integer,
    expiring_30d_points integer,
    earned_points       integer,
    redeemed_points     integer,
    expired_points      integer,
    clawed_back_points  integer,
    restored_points     integer,
    birthday_points     integer,
    adjusted_points     integer,
    change              text NOT NULL CHECK (change IN ('new', 'changed', 'removed'))
) ON COMMIT DROP;
\copy loyalty_balance_delta FROM pstdin WITH (FORMAT csv, HEADER MATCH, FORCE_NULL (customer_id, tier, next_tier))

DO $$
DECLARE
    night  date := (SELECT as_of FROM loyalty_delta_night);
    loaded date := (SELECT max(as_of) FROM loyalty_balance);
    misfits bigint;
    example text;
BEGIN
    IF night <= loaded THEN
        RAISE EXCEPTION 'the delta of % is not after the loaded snapshot of %', night, loaded
            USING HINT = 'load the latest balances.csv with load_snapshot.sql, then apply later deltas';
    END IF;
    SELECT count(*), min(d.change || ' ' || d.customer_id) INTO misfits, example
    FROM loyalty_balance_delta AS d LEFT JOIN loyalty_balance AS b USING (customer_id)
    WHERE (d.change = 'new') = (b.customer_id IS NOT NULL);
    IF misfits > 0 THEN
        RAISE EXCEPTION '% rows of the delta of % do not fit the snapshot of % (new but present, or changed/removed but absent; first: %)',
            misfits, night, loaded, example
            USING HINT = 'a night was skipped: load the latest balances.csv with load_snapshot.sql';
    END IF;
END $$;

DELETE FROM loyalty_balance AS b
USING loyalty_balance_delta AS d
WHERE d.customer_id = b.customer_id AND d.change = 'removed';

INSERT INTO loyalty_balance (
    customer_id, as_of, tier, cashback_pct, lifetime_spend, next_tier, spend_to_next_tier,
    available_points, pending_points, debt_points, next_expiry_date, next_expiry_points,
    expiring_30d_points, earned_points, redeemed_points, expired_points, clawed_back_points,
    restored_points, birthday_points, adjusted_points
)
SELECT
    customer_id, as_of, tier, cashback_pct, lifetime_spend, next_tier, spend_to_next_tier,
    available_points, pending_points, debt_points, next_expiry_date, next_expiry_points,
    expiring_30d_points, earned_points, redeemed_points, expired_points, clawed_back_points,
    restored_points, birthday_points, adjusted_points
FROM loyalty_balance_delta
WHERE change IN ('new', 'changed')
ON CONFLICT (customer_id) DO UPDATE SET
    as_of = excluded.as_of,
    tier = excluded.tier,
    cashback_pct = excluded.cashback_pct,
    lifetime_spend = excluded.lifetime_spend,
    next_tier = excluded.next_tier,
    spend_to_next_tier = excluded.spend_to_next_tier,
    available_points = excluded.available_points,
    pending_points = excluded.pending_points,
    debt_points = excluded.debt_points,
    next_expiry_date = excluded.next_expiry_date,
    next_expiry_points = excluded.next_expiry_points,
    expiring_30d_points = excluded.expiring_30d_points,
    earned_points = excluded.earned_points,
    redeemed_points = excluded.redeemed_points,
    expired_points = excluded.expired_points,
    clawed_back_points = excluded.clawed_back_points,
    restored_points = excluded.restored_points,
    birthday_points = excluded.birthday_points,
    adjusted_points = excluded.adjusted_points;

UPDATE loyalty_balance
SET as_of = (SELECT as_of FROM loyalty_delta_night)
WHERE as_of <> (SELECT as_of FROM loyalty_delta_night);
COMMIT;
