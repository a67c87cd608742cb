-- Exceptions a night reports: grain one exception row. A night reports the exceptions that
-- arrived since the last night published before it ($since, fixed when the night is first
-- published; null on a first night: everything), plus, every night while they last, the
-- recurring codes (RULES 12). `arrival`: the folder that made the exception what it is.
SELECT * EXCLUDE (arrival)
FROM found
WHERE code IN (SELECT unnest($recurring)) OR CAST($since AS DATE) IS NULL OR arrival > CAST($since AS DATE)
ORDER BY severity, code, source_file NULLS LAST, source_row NULLS LAST, entity_id, message
