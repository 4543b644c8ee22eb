"""Partitioned extract assets, one per source table, made in one step (thin: the work is in extract.run)."""
# No `from __future__ import annotations` here: Dagster reads config and resource types from the
# asset functions' annotations at definition time.


import dagster as dg

from ..ops.lanes import lanes_for, side_by_side
from ..ops.memory import release_memory
from ..quality.gx_checks import warm_up_gx
from ..warehouse.resource import WarehouseResource
from ..warehouse.retry import retry_when_locked
from ..warehouse.schema import SOURCE_TABLES, STAGED_TABLES
from .run import ExtractResult, extract_day

GROUP = "extract"

SOURCE_DESCRIPTIONS = {
    "calls": "Phone calls, one row per call (CallRail-style export); duplicates possible.",
    "text_messages": "SMS conversations' messages (CallRail-style export).",
    "form_submissions": "Web-form submissions (CallRail form tracking export).",
    "web_sessions": "Website visits with click ids, cookies, IP and user agent, tied to leads.",
    "orders": "Shop orders, with their line items in order_items.",
}


class ExtractConfig(dg.Config):
    default_region: str = "US"
    """Region assumed for phone numbers (and states, ZIPs) whose record gives no country."""
    chunk_rows: int = 50_000
    """Rows read and staged at a time; memory holds one chunk whatever the size of the day."""


def source_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["source", source])


def extract_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["extract", source])


def source_specs() -> list[dg.AssetSpec]:
    """The warehouse's source tables, loaded by the user's call-tracking and shop syncs."""
    return [
        dg.AssetSpec(source_key(name), description=SOURCE_DESCRIPTIONS[name], group_name="sources",
                     metadata={"table": name, "time_column": table.info["time_column"]})
        for name, table in SOURCE_TABLES.items()
    ]


def _metadata(result: ExtractResult, timezone: str) -> dict:
    meta: dict = {
        "rows": dg.MetadataValue.int(result.rows),
        "source_rows": dg.MetadataValue.int(result.source_rows),
        "dropped_rows": dg.MetadataValue.int(result.dropped_rows),
        "distinct_ids": dg.MetadataValue.int(result.distinct_ids),
        "duplicate_rows": dg.MetadataValue.int(result.duplicate_rows),
        "chunks": dg.MetadataValue.int(result.chunks),
        "day_timezone": timezone,
        "table": STAGED_TABLES[result.source].name,
    }
    meta["unreadable_timestamps_in_table"] = dg.MetadataValue.int(result.unreadable_in_table)
    meta["unreadable_timestamps_near_day"] = dg.MetadataValue.int(result.unreadable_near_day)
    if result.unreadable_shapes:
        meta["unreadable_timestamp_shapes"] = dg.MetadataValue.json(dict(result.unreadable_shapes.most_common(10)))
    if result.updated_at_column:
        meta["updated_at_column"] = result.updated_at_column
    if result.source == "orders":
        meta["order_items"] = dg.MetadataValue.int(result.items)
    if result.keys_present:
        meta["keys_present"] = dg.MetadataValue.json(dict(result.keys_present))
    if result.dropped:
        meta["dropped_keys_by_reason"] = dg.MetadataValue.json(dict(result.dropped.most_common()))
    if result.preview is not None and len(result.preview):
        meta["preview"] = dg.MetadataValue.md(result.preview.to_markdown(index=False))
    return meta


LONGEST_FIRST = ("calls", "web_sessions", "orders", "form_submissions", "text_messages")
"""the order the sources start in (by their share of a day's rows), so the lanes finish together"""


def build_extract_assets(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """One step that extracts the selected sources of a day, side by side on PostgreSQL
    (:mod:`..ops.lanes`); each source is its own asset, with its own checks, lineage and
    metadata, and can be materialized alone."""
    specs = [
        dg.AssetSpec(extract_key(source), deps=[source_key(source)], group_name=GROUP, kinds={"sql", "pandas"},
                     description=f"The partition-day's rows of `{source}` in `stg_{source}`, customer information "
                                 "normalized and SHA-256 hashed (no raw PII past this step).")
        for source in SOURCE_TABLES
    ]

    @dg.multi_asset(name="extract", specs=specs, partitions_def=partitions, can_subset=True)
    def extract(context: dg.AssetExecutionContext, config: ExtractConfig, warehouse: WarehouseResource):
        day = context.partition_time_window.start.date()
        # The quality checks that follow need great-expectations, whose import is seconds of
        # Python: started now, it overlaps the extracts' waits on the database.
        warm_up_gx()
        engine = warehouse.get_engine()
        selected = [s for s in LONGEST_FIRST if extract_key(s) in context.selected_asset_keys]

        def piece(source: str):
            def progress(r: ExtractResult) -> None:
                context.log.info(f"{source} {day}: {r.rows} rows staged ({r.chunks} chunks)")

            def run() -> ExtractResult:
                with warehouse.day_lock(day, f"extract/{source}", log=context.log.warning):
                    return retry_when_locked(
                        lambda: extract_day(engine, source, day, partitions.timezone, chunk_rows=config.chunk_rows,
                                            default_region=config.default_region, progress=progress),
                        what=f"extract {source} {day}", log=context.log.warning)
            return run

        for source, result in side_by_side({s: piece(s) for s in selected}, lanes_for(engine), "extract"):
            if result.unreadable_in_table or result.unreadable_near_day:
                context.log.warning(
                    f"{source}: {result.unreadable_in_table} row(s) of the table and {result.unreadable_near_day} "
                    f"read around {day} have a timestamp that is not ISO 8601 (or NULL) and belong to no day; "
                    f"shapes: {dict(result.unreadable_shapes.most_common(5))}")
            yield dg.MaterializeResult(asset_key=extract_key(source), metadata=_metadata(result, partitions.timezone))
        # once all are done: it freezes what is alive (see ops.memory), which mid-step would include
        # the other lane's work in progress, whose reference cycles would then never be collected
        release_memory()

    return [extract]
