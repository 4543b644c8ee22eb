-- One row per partition-day, pixel, source table and event name: what the ledger says
-- happened to that day's candidate events. "sent" counts events that reached Meta in at
-- least one request (accepted, rejected or retracted: accepted, then its source became
-- ineligible); skipped events were never sent.
SELECT
    partition_date,
    pixel_id,
    source_table,
    event_name,
    COUNT(*)                                                      AS candidate_events,
    SUM(CASE WHEN status IN ('accepted', 'rejected', 'retracted') THEN 1 ELSE 0 END) AS sent_events,
    SUM(CASE WHEN status = 'accepted' THEN 1 ELSE 0 END)          AS accepted_events,
    SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END)          AS rejected_events,
    SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END)           AS skipped_events,
    SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END)           AS pending_events,
    SUM(CASE WHEN status = 'retracted' THEN 1 ELSE 0 END)         AS retracted_events,
    SUM(CASE WHEN attempts > 1 THEN 1 ELSE 0 END)                 AS retried_events
FROM {{ source('capi_events') }}
WHERE partition_date = :partition_date
GROUP BY partition_date, pixel_id, source_table, event_name
ORDER BY partition_date, pixel_id, source_table, event_name
