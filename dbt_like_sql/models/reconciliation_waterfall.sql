-- The walk from what the source system counted to what Ads Manager attributes, per partition-day,
-- lead type and whether the source credits Facebook: one row per step, in order, each with a
-- plain-language label and the leads it adds (the first and the totals) or removes (negative).
WITH reasons AS (
    SELECT
        partition_date, lead_type, credits_facebook, outcome,
        CASE
            WHEN outcome = 'retracted' THEN 'sent, then withdrawn: ' || REPLACE(reason, 'retracted: ', '')
            WHEN outcome = 'rejected' THEN 'sent, rejected by Meta (' || reason || ')'
            WHEN outcome = 'pending' THEN 'not delivered yet (pending)'
            WHEN reason = 'spam' THEN 'not sent: spam'
            WHEN reason = 'test' THEN 'not sent: test lead'
            WHEN reason IN ('no_match_keys', 'weak_match_keys') THEN 'not sent: no usable customer information'
            WHEN reason IN ('too_old', 'too_old_at_send') THEN 'not sent: older than Meta''s 7-day window'
            WHEN reason = 'order_refunded' THEN 'not sent: refunded'
            WHEN reason = 'order_cancelled' THEN 'not sent: cancelled'
            WHEN reason = 'invalid_value_or_currency' THEN 'not sent: no usable value or currency'
            WHEN reason = 'suppressed' THEN 'not sent: on the suppression list'
            WHEN reason = 'format_disabled' THEN 'not sent: lead type turned off'
            WHEN reason = 'deleted' THEN 'not sent: deleted from the source'
            WHEN reason LIKE 'filtered:%' THEN 'not sent: filtered out (' || SUBSTR(reason, 10) || ')'
            ELSE 'not sent: ' || COALESCE(reason, 'unknown')
        END AS label
    FROM {{ ref('lead_outcomes') }}
    WHERE partition_date = :partition_date AND outcome <> 'accepted'
),

losses AS (
    SELECT partition_date, lead_type, credits_facebook,
           CASE outcome WHEN 'skipped' THEN 30 WHEN 'retracted' THEN 40 WHEN 'rejected' THEN 50 ELSE 60 END AS step,
           label, -COUNT(*) * 1.0 AS leads
    FROM reasons
    GROUP BY partition_date, lead_type, credits_facebook, outcome, label
),

d AS (
    SELECT * FROM {{ ref('reconciliation_daily') }} WHERE partition_date = :partition_date
)

SELECT partition_date, lead_type, credits_facebook, 10 AS step, 'rows in the source' AS label,
       source_rows * 1.0 AS leads, 1 AS is_total FROM d
UNION ALL
SELECT partition_date, lead_type, credits_facebook, 20, 'duplicate rows in the export',
       -(source_rows - distinct_leads) * 1.0, 0 FROM d
UNION ALL
SELECT partition_date, lead_type, credits_facebook, step, label, leads, 0 FROM losses
UNION ALL
SELECT partition_date, lead_type, credits_facebook, 70, 'accepted by Meta', accepted * 1.0, 1 FROM d
UNION ALL
SELECT partition_date, lead_type, credits_facebook, 80, 'sent, not matched to a Facebook profile (estimate)',
       -(accepted - expected_matched), 0 FROM d
UNION ALL
SELECT partition_date, lead_type, credits_facebook, 90, 'matched, no ad interaction in the attribution window',
       -(expected_matched - attributed), 0 FROM d
UNION ALL
SELECT partition_date, lead_type, credits_facebook, 100, 'attributed by Facebook', attributed, 1 FROM d
