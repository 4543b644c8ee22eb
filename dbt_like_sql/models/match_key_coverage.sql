-- One row per partition-day and event name: the events sent (accepted or rejected) and the share
-- of them carrying each customer-information key, beside Meta's Event Match Quality score for
-- that event name from the Dataset Quality API where there is one.
WITH sent AS (
    SELECT partition_date, event_name, ',' || COALESCE(match_keys, '') || ',' AS keys
    FROM {{ source('capi_events') }}
    WHERE partition_date = :partition_date AND status IN ('accepted', 'rejected', 'retracted')
),

scores AS (
    SELECT event_name, MAX(composite_score) AS match_quality_score
    FROM {{ source('dataset_quality') }}
    WHERE partition_date = :partition_date
    GROUP BY event_name
)

SELECT
    s.partition_date,
    s.event_name,
    COUNT(*) AS sent_events,
{%- set keys = ['em', 'ph', 'fn', 'ln', 'ct', 'st', 'zp', 'country', 'external_id',
                'fbc', 'fbp', 'client_ip_address', 'client_user_agent'] %}
{%- for key in keys %}
    AVG(CASE WHEN s.keys LIKE '%,{{ key }},%' THEN 1.0 ELSE 0.0 END) AS share_{{ key }},
{%- endfor %}
    MAX(sc.match_quality_score) AS match_quality_score
FROM sent AS s
LEFT JOIN scores AS sc ON sc.event_name = s.event_name
GROUP BY s.partition_date, s.event_name
