-- One row per partition-day and lead (a source row id): its lead type, whether the source system
-- credits Facebook, what became of it (the best outcome among its events: accepted, then
-- retracted, rejected, pending, skipped), why, the Ads Manager action type that counts it, and
-- the chance Meta matches it to a person (the documented match model, from the keys sent).
WITH events AS (
    SELECT
        se.partition_date,
        se.source_table,
        se.source_id,
        se.event_name,
        CASE WHEN se.facebook_credited THEN 1 ELSE 0 END              AS credited,
        COALESCE(ce.status, CASE WHEN se.status = 'eligible' THEN 'pending' ELSE 'skipped' END) AS outcome,
        COALESCE(ce.reason, se.reason)                                AS reason,
        CASE WHEN ce.status = 'accepted' THEN {{ match_probability('ce.match_keys') }} ELSE 0.0 END AS match_chance
    FROM {{ source('server_events') }} AS se
    LEFT JOIN {{ source('capi_events') }} AS ce
        ON ce.pixel_id = se.pixel_id AND ce.event_id = se.event_id
    WHERE se.partition_date = :partition_date
),

ranked AS (
    SELECT
        events.*,
        CASE outcome WHEN 'accepted' THEN 1 WHEN 'retracted' THEN 2 WHEN 'rejected' THEN 3
                     WHEN 'pending' THEN 4 ELSE 5 END                  AS outcome_rank
    FROM events
),

-- the best outcome and, among that outcome's events, the smallest reason, in one pass: the rank
-- is one digit, so the smallest "<rank><reason>" text starts with the best rank and carries the
-- smallest reason of the events that have it
best AS (
    SELECT partition_date, source_table, source_id, MAX(credited) AS credited,
           MIN(event_name) AS event_name, MAX(match_chance) AS match_chance,
           MIN(CAST(outcome_rank AS VARCHAR(1)) || COALESCE(reason, ''))   AS rank_reason
    FROM ranked
    GROUP BY partition_date, source_table, source_id
)

SELECT
    best.partition_date,
    CASE best.source_table WHEN 'calls' THEN 'call' WHEN 'text_messages' THEN 'text'
                           WHEN 'form_submissions' THEN 'form' WHEN 'orders' THEN 'order'
                           ELSE best.source_table END                  AS lead_type,
    best.source_table,
    best.source_id,
    CASE WHEN best.credited = 1 THEN 'yes' ELSE 'no' END               AS credits_facebook,
    CASE SUBSTR(best.rank_reason, 1, 1) WHEN '1' THEN 'accepted' WHEN '2' THEN 'retracted' WHEN '3' THEN 'rejected'
                                        WHEN '4' THEN 'pending' ELSE 'skipped' END AS outcome,
    NULLIF(SUBSTR(best.rank_reason, 2), '')                            AS reason,
    best.event_name,
    {{ action_type('best.event_name') }}                               AS action_type,
    best.match_chance
FROM best
