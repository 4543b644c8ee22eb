-- One row per partition-day and pixel: how the requests to the Conversions API went. A request
-- is one attempt of one batch (capi_batches); "flagged" attempts are those where Meta's
-- events_received differed from the number of events sent.
SELECT
    partition_date,
    pixel_id,
    COUNT(*)                                                        AS requests,
    COUNT(DISTINCT batch_id)                                        AS batches,
    SUM(CASE WHEN attempt > 1 THEN 1 ELSE 0 END)                    AS retries,
    SUM(CASE WHEN outcome = 'accepted' THEN 1 ELSE 0 END)           AS accepted_requests,
    SUM(CASE WHEN outcome = 'throttle' THEN 1 ELSE 0 END)           AS throttled_requests,
    SUM(CASE WHEN outcome IN ('transient', 'network_error') THEN 1 ELSE 0 END) AS transient_failures,
    SUM(CASE WHEN outcome IN ('split', 'rejected') THEN 1 ELSE 0 END) AS refused_for_a_bad_event,
    SUM(CASE WHEN flagged THEN 1 ELSE 0 END)                        AS flagged_requests,
    SUM(events_sent)                                                AS events_sent,
    SUM(CASE WHEN outcome = 'accepted' THEN events_received ELSE 0 END) AS events_received,
    SUM(duration_ms)                                                AS total_duration_ms
FROM {{ source('capi_batches') }}
WHERE partition_date = :partition_date
GROUP BY partition_date, pixel_id
ORDER BY partition_date, pixel_id
