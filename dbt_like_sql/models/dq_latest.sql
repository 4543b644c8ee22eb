-- One row per partition-day, asset and check: the latest quality result (dq_results keeps
-- only the latest run of each check for a day, so this is a summary of its expectations).
SELECT
    partition_date,
    asset,
    check_name,
    MAX(checked_at)                                               AS checked_at,
    MAX(run_id)                                                   AS run_id,
    COUNT(*)                                                      AS expectations,
    SUM(CASE WHEN success THEN 0 ELSE 1 END)                      AS failed_expectations,
    SUM(CASE WHEN NOT success AND severity = 'ERROR' THEN 1 ELSE 0 END) AS failed_blocking,
    CASE WHEN SUM(CASE WHEN success THEN 0 ELSE 1 END) = 0 THEN 'passed'
         WHEN SUM(CASE WHEN NOT success AND severity = 'ERROR' THEN 1 ELSE 0 END) > 0 THEN 'failed'
         ELSE 'warned' END                                        AS outcome
FROM {{ source('dq_results') }}
WHERE partition_date = :partition_date
GROUP BY partition_date, asset, check_name
ORDER BY partition_date, asset, check_name
