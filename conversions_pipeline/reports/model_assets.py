"""The SQL models of dbt_like_sql/ as partitioned Dagster assets, one per model, whose deps are its
refs and sources, so the UI shows the lineage from the source tables to the report. They run in
one step (as dbt models do under dagster-dbt): models that do not depend on each other run side by
side on PostgreSQL, where each model's statement keeps one server core busy. Any subset can be
materialized on its own."""
# No `from __future__ import annotations`: Dagster reads resource types from annotations.

import dagster as dg

from ..capi.assets import UPLOAD_KEY
from ..events.assets import EVENTS_KEY
from ..extract.assets import extract_key, source_key
from ..facebook.assets import DATASET_QUALITY_KEY, INSIGHTS_KEY
from ..sql_models import Model, load_models, read_model, run_model, run_models
from ..warehouse.resource import WarehouseResource
from ..warehouse.retry import retry_when_locked
from ..warehouse.schema import SOURCE_TABLES, STAGED_TABLES

SOURCE_ASSETS = {
    **{name: source_key(name) for name in SOURCE_TABLES}, "order_items": source_key("orders"),
    **{table.name: extract_key(name) for name, table in STAGED_TABLES.items()},
    "stg_order_items": extract_key("orders"),
    "server_events": EVENTS_KEY, "capi_events": UPLOAD_KEY, "capi_batches": UPLOAD_KEY, "dq_results": UPLOAD_KEY,
    "facebook_insights": INSIGHTS_KEY, "facebook_reads": INSIGHTS_KEY, "dataset_quality": DATASET_QUALITY_KEY,
}
"""The asset that writes each warehouse table a model reads."""


def model_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", name])


def _deps(model: Model) -> list[dg.AssetKey]:
    keys = [model_key(r) for r in model.refs] + [SOURCE_ASSETS[s] for s in model.sources if s in SOURCE_ASSETS]
    return list(dict.fromkeys(keys))


def build_model_assets(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    models = load_models()
    specs = [dg.AssetSpec(model_key(m.name), deps=_deps(m), group_name="marts", kinds={"sql"},
                          description=f"{m.description} (`dbt_like_sql/models/{m.path.name}`, "
                                      f"materialized as a {m.materialized})")
             for m in models.values()]

    @dg.multi_asset(name="marts", specs=specs, partitions_def=partitions, can_subset=True)
    def _marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        day = context.partition_time_window.start.date()
        engine = warehouse.get_engine()
        selected = {name: m for name, m in models.items() if model_key(name) in context.selected_asset_keys}

        def run(engine, model: Model, day) -> int:
            return retry_when_locked(lambda: run_model(engine, model, day), what=f"model {model.name} {day}",
                                     log=context.log.warning)

        for model, rows in run_models(engine, selected, day, run=run):
            meta = {"rows": dg.MetadataValue.int(rows), "materialized": model.materialized,
                    "sql": dg.MetadataValue.path(f"dbt_like_sql/models/{model.path.name}")}
            if model.materialized == "table" and rows:
                meta["preview"] = dg.MetadataValue.md(read_model(engine, model.name, day, limit=12)
                                                      .to_markdown(index=False))
            yield dg.MaterializeResult(asset_key=model_key(model.name), metadata=meta)

    return [_marts]
