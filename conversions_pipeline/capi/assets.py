"""The partitioned upload asset: one run per partition-day, in the `capi` concurrency pool.

No backfill policy on purpose: Dagster then backfills a range as one run per partition, so each
day's upload is its own run with its own ledger outcome, and the pool bounds how many run at once.
"""
# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.

import time

import dagster as dg

from ..events.assets import EVENTS_KEY
from ..ops.memory import release_memory
from ..warehouse.resource import WarehouseResource
from ..warehouse.retry import retry_when_locked
from .resource import ConversionsApiResource
from .upload import UploadResult, upload_day

UPLOAD_KEY = dg.AssetKey(["upload", "capi_events"])
POOL = "capi"
PROGRESS_EVERY_SECONDS = 5.0
"""how often a long upload says how far it got"""


class UploadConfig(dg.Config):
    force: bool = False
    """Resend events Meta already accepted (Meta deduplicates on event_id within 48 hours)."""
    dry_run: bool = False
    """Write the exact request bodies to the resource's dry_run_dir instead of sending."""


def upload_metadata(result: UploadResult) -> dict:
    return {
        "sent": dg.MetadataValue.int(result.sent),
        "accepted": dg.MetadataValue.int(result.ledger.get("accepted", 0)),
        "rejected": dg.MetadataValue.int(result.ledger.get("rejected", 0)),
        "skipped": dg.MetadataValue.int(result.ledger.get("skipped", 0)),
        "pending": dg.MetadataValue.int(result.pending),
        "requests": dg.MetadataValue.int(result.requests),
        "retries": dg.MetadataValue.int(result.retries),
        "flagged_batches": dg.MetadataValue.int(result.flagged_batches),
        "retracted": dg.MetadataValue.int(result.retracted),
        "eligible": dg.MetadataValue.int(result.eligible),
        "too_old": dg.MetadataValue.int(result.too_old),
        "unencodable": dg.MetadataValue.int(len(result.unencodable)),
        "destination": result.destination,
        "skipped_by_reason": dg.MetadataValue.json(result.skipped_by_reason),
        "retracted_by_reason": dg.MetadataValue.json(result.retracted_by_reason),
        "rejected_by_reason": dg.MetadataValue.json(result.rejected_by_reason),
        "events_per_second": dg.MetadataValue.float(round(result.sent / result.seconds, 1) if result.seconds else 0.0),
        "dry_run": dg.MetadataValue.bool(result.dry_run),
        "table": "capi_events",
    }


def too_old_message(result: UploadResult) -> str:
    return (f"{result.day}: {result.too_old:,} event(s) are older than Meta's window (7 days; 62 for physical_store) "
            "and were not sent; a backfill of older days records them but cannot deliver them")


def build_upload_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=UPLOAD_KEY,
        deps=[EVENTS_KEY],
        partitions_def=partitions,
        pool=POOL,
        group_name="upload",
        kinds={"api", "sql"},
        description="Sends the day's eligible events to the Conversions API in batches and records every "
                    "outcome in `capi_events` (per event) and `capi_batches` (per request).",
    )
    def capi_events(context: dg.AssetExecutionContext, config: UploadConfig, warehouse: WarehouseResource,
                    capi: ConversionsApiResource) -> dg.MaterializeResult:
        day = context.partition_time_window.start.date()

        last_said = [float("-inf")]

        def progress(result: UploadResult) -> None:
            # a line every PROGRESS_EVERY_SECONDS (each is a write to Dagster's event log)
            if time.monotonic() - last_said[0] >= PROGRESS_EVERY_SECONDS:
                last_said[0] = time.monotonic()
                context.log.info(f"{day}: {result.sent} events sent so far in {result.requests} requests")

        target = capi.target()
        with warehouse.day_lock(day, "upload", log=context.log.warning), capi.client() as client:
            context.log.info(f"uploading {day} to {target.describe()}")
            result = retry_when_locked(  # the ledger makes a resumed upload safe: nothing is sent twice
                lambda: upload_day(warehouse.get_engine(), client, day, batch_size=capi.batch_size,
                                   max_in_flight=capi.max_in_flight, force=config.force, dry_run=config.dry_run,
                                   progress=progress, destination=target.kind, max_seconds=capi.max_upload_seconds,
                                   log=context.log.warning),
                what=f"upload {day}", log=context.log.warning)
        release_memory()
        if result.too_old:
            context.log.warning(too_old_message(result))
        if result.pending and not result.dry_run:
            raise dg.Failure(
                description=f"{result.pending} event(s) of {day} are still pending after bounded retries "
                            "(Meta unreachable or throttling); nothing is lost: re-run the partition to finish them",
                metadata=upload_metadata(result))
        return dg.MaterializeResult(metadata=upload_metadata(result))

    return capi_events
