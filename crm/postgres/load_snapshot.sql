-- Replace the whole of loyalty_balance with one night's out/<D>/balances.csv, read from stdin:
-- the first load, and the way back after a missed night or a refused delta. All or nothing;
-- readers wait (TRUNCATE's lock) until it commits.
--   psql "$CRM_DB" -f crm/postgres/load_snapshot.sql < out/<D>/balances.csv
\set ON_ERROR_STOP on
BEGIN;
TRUNCATE loyalty_balance;
\copy loyalty_balance FROM pstdin WITH (FORMAT csv, HEADER MATCH, FORCE_NULL (customer_id, tier, next_tier))
DO $$
BEGIN
    IF (SELECT count(DISTINCT as_of) FROM loyalty_balance) > 1 THEN
        RAISE EXCEPTION 'balances.csv holds more than one as_of: it is not one snapshot';
    END IF;
END $$;
COMMIT;
