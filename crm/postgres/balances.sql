-- loyalty_balance: the CRM's copy of Perfone's nightly out/<D>/balances.csv, one row per customer
-- (grain: customer_id), columns in the file's order. Run once, before the first snapshot load.
-- Points are integer: a value beyond 2,147,483,647 fails the load rather than wrapping.
\set ON_ERROR_STOP on
CREATE TABLE loyalty_balance (
    customer_id         text PRIMARY KEY,
    as_of               date NOT NULL,            -- the snapshot's date, the same on every row
    tier                text NOT NULL,
    cashback_pct        integer NOT NULL,
    lifetime_spend      numeric(18, 2) NOT NULL,  -- RUB
    next_tier           text,                     -- null at the top tier
    spend_to_next_tier  numeric(18, 2),           -- RUB; null at the top tier
    available_points    integer NOT NULL,
    pending_points      integer NOT NULL,
    debt_points         integer NOT NULL,
    next_expiry_date    date,                     -- null when no points are due to expire
    next_expiry_points  integer,
    expiring_30d_points integer NOT NULL,
    earned_points       integer NOT NULL,         -- this and the rest: lifetime totals
    redeemed_points     integer NOT NULL,
    expired_points      integer NOT NULL,
    clawed_back_points  integer NOT NULL,
    restored_points     integer NOT NULL,
    birthday_points     integer NOT NULL,
    adjusted_points     integer NOT NULL          -- may be negative
);
