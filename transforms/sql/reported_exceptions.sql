-- Exceptions a run reports: grain one exception row. A run reports what it sees for the first
-- time (first_seen = D, stable when D is re-run) plus, every night while they last, the
-- recurring codes (RULES 12). `seen` holds (exception_key, first_seen) from earlier runs.
WITH keyed AS (
    SELECT e.*,
           md5(concat_ws(chr(31), code, coalesce(source_file, ''), coalesce(CAST(source_row AS VARCHAR), ''),
                         entity_id, coalesce(customer_id, ''), message)) AS exception_key
    FROM found e
),
dated AS (
    SELECT k.*, least(coalesce(s.first_seen, $as_of), $as_of) AS first_seen
    FROM keyed k LEFT JOIN seen s USING (exception_key)
)
SELECT * EXCLUDE (first_seen, exception_key),
       exception_key,
       first_seen,
       first_seen = $as_of OR code IN (SELECT unnest($recurring)) AS reported
FROM dated
ORDER BY severity, code, source_file NULLS LAST, source_row NULLS LAST, entity_id, message
