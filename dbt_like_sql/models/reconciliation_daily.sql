-- One row per partition-day, lead type (call, text, form, order) and whether the source system
-- credits Facebook: rows in the source, distinct leads, skipped, sent, accepted, rejected,
-- pending, retracted, the expected number Meta matches (the match model over the keys sent),
-- and the conversions Ads Manager attributes, allocated to the groups of an action type in
-- proportion to their expected matches (Ads Manager counts per action type, not per lead type).
WITH source_rows AS (
    SELECT 'calls' AS source_table, id FROM {{ source('stg_calls') }} WHERE partition_date = :partition_date
    UNION ALL
    SELECT 'text_messages', id FROM {{ source('stg_text_messages') }} WHERE partition_date = :partition_date
    UNION ALL
    SELECT 'form_submissions', id FROM {{ source('stg_form_submissions') }} WHERE partition_date = :partition_date
    UNION ALL
    SELECT 'orders', id FROM {{ source('stg_orders') }} WHERE partition_date = :partition_date
),

rows_per_group AS (
    SELECT lo.lead_type, lo.credits_facebook, COUNT(*) AS source_rows
    FROM source_rows AS sr
    JOIN {{ ref('lead_outcomes') }} AS lo
        ON lo.source_table = sr.source_table AND lo.source_id = sr.id AND lo.partition_date = :partition_date
    GROUP BY lo.lead_type, lo.credits_facebook
),

groups AS (
    SELECT
        partition_date, lead_type, credits_facebook, action_type,
        COUNT(*)                                                    AS distinct_leads,
        SUM(CASE WHEN outcome = 'skipped' THEN 1 ELSE 0 END)        AS skipped,
        SUM(CASE WHEN outcome IN ('accepted', 'rejected', 'pending', 'retracted') THEN 1 ELSE 0 END) AS sent,
        SUM(CASE WHEN outcome = 'accepted' THEN 1 ELSE 0 END)       AS accepted,
        SUM(CASE WHEN outcome = 'rejected' THEN 1 ELSE 0 END)       AS rejected,
        SUM(CASE WHEN outcome = 'pending' THEN 1 ELSE 0 END)        AS pending,
        SUM(CASE WHEN outcome = 'retracted' THEN 1 ELSE 0 END)      AS retracted,
        SUM(match_chance)                                           AS expected_matched
    FROM {{ ref('lead_outcomes') }}
    WHERE partition_date = :partition_date
    GROUP BY partition_date, lead_type, credits_facebook, action_type
),

per_action AS (
    SELECT action_type, SUM(expected_matched) AS expected_total FROM groups GROUP BY action_type
),

attributed AS (
    SELECT action_type, SUM(value) AS attributed
    FROM {{ source('facebook_insights') }}
    WHERE partition_date = :partition_date
    GROUP BY action_type
)

SELECT
    g.partition_date,
    g.lead_type,
    g.credits_facebook,
    COALESCE(MAX(r.source_rows), 0)                                 AS source_rows,
    SUM(g.distinct_leads)                                           AS distinct_leads,
    SUM(g.skipped)                                                  AS skipped,
    SUM(g.sent)                                                     AS sent,
    SUM(g.accepted)                                                 AS accepted,
    SUM(g.rejected)                                                 AS rejected,
    SUM(g.pending)                                                  AS pending,
    SUM(g.retracted)                                                AS retracted,
    SUM(g.expected_matched)                                         AS expected_matched,
    SUM(CASE WHEN pa.expected_total > 0
             THEN COALESCE(a.attributed, 0) * g.expected_matched / pa.expected_total ELSE 0.0 END) AS attributed
FROM groups AS g
JOIN per_action AS pa ON pa.action_type = g.action_type
LEFT JOIN attributed AS a ON a.action_type = g.action_type
LEFT JOIN rows_per_group AS r ON r.lead_type = g.lead_type AND r.credits_facebook = g.credits_facebook
GROUP BY g.partition_date, g.lead_type, g.credits_facebook
