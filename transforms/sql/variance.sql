-- Variance against the operational system's balances for D (RULES 11): grain one exception row.
-- Three buckets, as datacompy names them: mismatched (one row per differing bucket), left-only
-- (recomputed, non-zero, absent from the file) and right-only (in the file, non-zero, unknown here).
WITH operational AS (
    SELECT DISTINCT ON (customer_id) *
    FROM reported
    ORDER BY customer_id, source_file DESC, source_row DESC   -- the latest row of D's files stands
),
compared AS (
    SELECT coalesce(r.customer_id, o.customer_id) AS customer_id,
           r.customer_id IS NOT NULL AS recomputed, o.customer_id IS NOT NULL AS operational,
           r.available_points AS r_available, r.pending_points AS r_pending,
           o.available_points AS o_available, o.pending_points AS o_pending,
           o.source_file, o.source_row
    FROM recomputed r FULL OUTER JOIN operational o USING (customer_id)
)
SELECT 'BALANCE_MISMATCH' AS code, customer_id, source_file, source_row, bucket,
       recomputed_points, operational_points
FROM compared,
     LATERAL (VALUES ('available', r_available, o_available), ('pending', r_pending, o_pending))
         AS b(bucket, recomputed_points, operational_points)
WHERE recomputed AND operational AND recomputed_points <> operational_points
UNION ALL
SELECT 'MISSING_IN_OPERATIONAL', customer_id, NULL, NULL, NULL, r_available + r_pending, NULL
FROM compared
WHERE recomputed AND NOT operational AND (r_available <> 0 OR r_pending <> 0)
UNION ALL
SELECT 'MISSING_IN_RECOMPUTED', customer_id, source_file, source_row, NULL, NULL, o_available + o_pending
FROM compared
WHERE operational AND NOT recomputed AND (o_available <> 0 OR o_pending <> 0)
ORDER BY customer_id, code, bucket
