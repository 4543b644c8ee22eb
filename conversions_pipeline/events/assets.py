"""The partitioned server-events asset (thin: the work is in events.build and events.run)."""
# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.

import warnings

import dagster as dg

from ..capi.resource import ConversionsApiResource
from ..extract.assets import extract_key
from ..ops.memory import release_memory
from ..warehouse.resource import WarehouseResource
from ..warehouse.retry import retry_when_locked
from .config import FORMAT_TABLES, EventsConfig
from .run import EventsResult, build_day

EVENTS_KEY = dg.AssetKey(["events", "server_events"])


def _metadata(result: EventsResult) -> dict:
    meta = {
        "events": dg.MetadataValue.int(result.events),
        "eligible": dg.MetadataValue.int(result.by_status.get("eligible", 0)),
        "skipped": dg.MetadataValue.int(result.by_status.get("skipped", 0)),
        "skipped_by_reason": dg.MetadataValue.json(dict(result.by_reason.most_common())),
        "by_event_name": dg.MetadataValue.json(dict(result.by_name.most_common())),
        "by_pixel": dg.MetadataValue.json(dict(result.by_pixel.most_common())),
        "eligible_by_action_source": dg.MetadataValue.json(dict(result.by_action_source.most_common())),
        "leads_tied_to_a_web_session": dg.MetadataValue.int(result.merged_sessions),
        "session_ties": dg.MetadataValue.json(dict(result.session_ties)),
        "ambiguous_tracking_number": dg.MetadataValue.int(result.session_ties.get("ambiguous_tracking_number", 0)),
        "conflicting_duplicates": dg.MetadataValue.json(dict(result.conflicting_duplicates)),
        "match_key_coverage_of_eligible": dg.MetadataValue.json(result.key_coverage),
        "table": "server_events",
    }
    if result.preview is not None and len(result.preview):
        meta["preview"] = dg.MetadataValue.md(result.preview.fillna("").to_markdown(index=False))
    return meta


def build_events_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    # Sessions that started up to the merge window before midnight belong to the previous day.
    with warnings.catch_warnings():  # the option is marked beta; the first partition has no previous day
        warnings.simplefilter("ignore", dg.BetaWarning)
        previous_and_same_day = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0,
                                                              allow_nonexistent_upstream_partitions=True)
    deps = [dg.AssetDep(extract_key(t)) for t in FORMAT_TABLES.values()]
    deps.append(dg.AssetDep(extract_key("web_sessions"), partition_mapping=previous_and_same_day))

    @dg.asset(
        key=EVENTS_KEY,
        deps=deps,
        partitions_def=partitions,
        group_name="events",
        kinds={"pandas", "sql"},
        description="One row per candidate Conversions API event and pixel for the day, in `server_events`: "
                    "eligible, or skipped with its reason. Hashed customer information only.",
    )
    def server_events(context: dg.AssetExecutionContext, config: EventsConfig,
                      warehouse: WarehouseResource, capi: ConversionsApiResource) -> dg.MaterializeResult:
        day = context.partition_time_window.start.date()
        # the pixel comes from the resource that uploads, so events and upload cannot disagree
        with warehouse.day_lock(day, "events", log=context.log.warning):
            result = retry_when_locked(
                lambda: build_day(warehouse.get_engine(), day, config, capi.default_pixel(), partitions.timezone),
                what=f"events {day}", log=context.log.warning)
        release_memory()
        context.log.info(f"{day}: {result.events} events, {dict(result.by_status)}")
        return dg.MaterializeResult(metadata=_metadata(result))

    return server_events
