"""The partitioned Facebook-side assets (thin: the work is in facebook.reads)."""
# No `from __future__ import annotations`: Dagster reads resource types from annotations.

import dagster as dg

from .. import settings
from ..capi.assets import UPLOAD_KEY
from ..capi.client import FatalApiError, GraphReadError
from ..capi.resource import ConversionsApiResource
from ..warehouse.resource import WarehouseResource
from ..warehouse.retry import retry_when_locked
from .reads import ReadResult, read_dataset_quality, read_insights, record_read

INSIGHTS_KEY = dg.AssetKey(["facebook", "facebook_insights"])
DATASET_QUALITY_KEY = dg.AssetKey(["facebook", "dataset_quality"])


def _finish(context, engine, day, source: str, read) -> dg.MaterializeResult:
    """Run ``read``; a refusal or an unreachable API is recorded and shown, never a crash or a silent zero."""
    try:
        result = read()
    except (FatalApiError, GraphReadError) as exc:
        result = ReadResult("error", str(exc))
        context.log.warning(f"{source} for {day}: {exc}")
    retry_when_locked(lambda: record_read(engine, day, source, result), what=f"{source} {day}",
                      log=context.log.warning)
    meta = {"status": result.status, "message": result.message, "rows": dg.MetadataValue.int(result.rows)}
    if result.days:
        meta["days_read"] = f"{result.days[0]} .. {result.days[1]}"
    return dg.MaterializeResult(metadata=meta)


def build_facebook_assets(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(key=INSIGHTS_KEY, deps=[UPLOAD_KEY], partitions_def=partitions, group_name="facebook",
              kinds={"api", "sql"}, pool="capi",
              description="Conversions Ads Manager attributes per day (conversion time) and action type, for "
                          "FB_AD_ACCOUNT_ID and FB_ATTRIBUTION_WINDOWS; re-reads the 28 days up to the partition-day "
                          "(Meta restates them) into `facebook_insights`.")
    def facebook_insights(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                          capi: ConversionsApiResource) -> dg.MaterializeResult:
        day = context.partition_time_window.start.date()
        engine = warehouse.get_engine()
        target = capi.target()
        account = settings.ad_account_id(target.kind)
        if account is None:
            return _finish(context, engine, day, "facebook_insights", lambda: ReadResult(
                "not_configured", "not configured: set FB_AD_ACCOUNT_ID to read what Ads Manager attributes"))
        windows = settings.attribution_windows()
        with capi.client() as client:
            return _finish(context, engine, day, "facebook_insights",
                           lambda: read_insights(engine, client, account, day, windows))

    @dg.asset(key=DATASET_QUALITY_KEY, deps=[UPLOAD_KEY], partitions_def=partitions, group_name="facebook",
              kinds={"api", "sql"}, pool="capi",
              description="Event Match Quality per event name from Meta's Dataset Quality API for the pixel, in "
                          "`dataset_quality`.")
    def dataset_quality(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                        capi: ConversionsApiResource) -> dg.MaterializeResult:
        day = context.partition_time_window.start.date()
        engine = warehouse.get_engine()
        with capi.client() as client:
            return _finish(context, engine, day, "dataset_quality",
                           lambda: read_dataset_quality(engine, client, capi.default_pixel(), day))

    return [facebook_insights, dataset_quality]
