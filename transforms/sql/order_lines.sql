-- Order lines as the history holds them: grain [order_id, line_no], plus every rejected version.
-- The first version of a line stands (RULES 12). A later version equal in every column but
-- delivered_at is a duplicate, or the delivery update when the line had none; any other
-- difference, or a line whose customer, channel or paid_at disagrees with its order's first
-- accepted line, is ORDER_CONFLICT.
WITH versions AS (
    SELECT *, row_number() OVER (ORDER BY folder, source_file, source_row) AS arrival
    FROM staged_orders
),
order_header AS (
    SELECT order_id,
           arg_min(customer_id, arrival) AS header_customer_id,
           arg_min(channel, arrival)     AS header_channel,
           arg_min(paid_at, arrival)     AS header_paid_at
    FROM versions
    GROUP BY order_id
),
header_checked AS (
    SELECT v.*,
           (v.customer_id <> h.header_customer_id OR v.channel <> h.header_channel
            OR v.paid_at <> h.header_paid_at) AS header_conflict
    FROM versions v JOIN order_header h USING (order_id)
),
first_version AS (
    SELECT DISTINCT ON (order_id, line_no) *
    FROM header_checked
    WHERE NOT header_conflict
    ORDER BY order_id, line_no, arrival
),
compared AS (
    SELECT v.*,
           f.arrival AS first_arrival,
           v.header_conflict
           OR v.sku IS DISTINCT FROM f.sku
           OR v.quantity IS DISTINCT FROM f.quantity
           OR v.unit_price IS DISTINCT FROM f.unit_price
           OR v.discount IS DISTINCT FROM f.discount
           OR v.points_redeemed IS DISTINCT FROM f.points_redeemed
           OR v.promo_code IS DISTINCT FROM f.promo_code
           OR v.currency IS DISTINCT FROM f.currency AS content_conflict
    FROM header_checked v
    LEFT JOIN first_version f USING (order_id, line_no)
),
delivery AS (
    -- the first delivered_at any same-content version carried: set once, never changed
    SELECT order_id, line_no, arg_min(delivered_at, arrival) AS delivered_at,
           arg_min(folder, arrival) AS delivered_folder,
           arg_min(source_file, arrival) AS delivered_source_file,
           arg_min(source_row, arrival) AS delivered_source_row
    FROM compared
    WHERE NOT content_conflict AND delivered_at IS NOT NULL
    GROUP BY order_id, line_no
)
SELECT c.*,
       CASE
           WHEN c.header_conflict THEN 'customer, channel or paid_at disagrees with the order''s first accepted line'
           WHEN c.content_conflict THEN 'differs from the accepted version of this line'
           WHEN c.delivered_at IS NOT NULL AND c.delivered_at <> d.delivered_at
               THEN 'delivered_at differs from the one already recorded'
       END AS conflict,
       c.arrival = c.first_arrival AS is_first,
       d.delivered_at AS line_delivered_at,
       d.delivered_folder,
       d.delivered_source_file,
       d.delivered_source_row
FROM compared c
LEFT JOIN delivery d USING (order_id, line_no)
ORDER BY c.arrival
