"""The one Definitions of the project: assets, jobs, schedules and resources, assembled here.

Built lazily (``@dg.definitions``) so the environment is read when Dagster loads the code
location, never at import time.
"""

from __future__ import annotations

import os

import dagster as dg

from . import settings
from .capi.assets import build_upload_asset
from .capi.resource import ConversionsApiResource
from .events.assets import build_events_asset
from .extract.assets import build_extract_assets, source_specs
from .facebook.assets import build_facebook_assets
from .ops.executors import job_executor
from .ops.progress import progress_logger
from .ops.schedules import build_schedules
from .ops.signals import build_failure_sensor
from .partitions import daily_partitions
from .quality.checks import QualityResource, build_quality_checks
from .reports.assets import build_report_asset
from .reports.model_assets import build_model_assets
from .warehouse.resource import WarehouseResource

DAILY_JOB = "daily_conversions"


def _env(name: str) -> dg.EnvVar | None:
    """An ``EnvVar`` when the variable is set (Dagster resolves it at run time and never shows its
    value), else None so the resource's own default applies."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def build_definitions() -> dg.Definitions:
    """The project's Definitions; every setting is validated first (one line naming the fix)."""
    settings.validate()
    partitions = daily_partitions()
    extract_assets = build_extract_assets(partitions)
    events_asset = build_events_asset(partitions)
    upload_asset = build_upload_asset(partitions)
    reconciliation = [*build_facebook_assets(partitions), *build_model_assets(partitions),
                      build_report_asset(partitions)]
    daily_job = dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.assets(*extract_assets, events_asset, upload_asset, *reconciliation),
        partitions_def=partitions,
        executor_def=job_executor(),
        description="The nightly run for one partition-day.",
    )
    warehouse = WarehouseResource(
        url=_env("WAREHOUSE_URL"),
        schema_name=_env("WAREHOUSE_SCHEMA"),
    )
    return dg.Definitions(
        assets=[*source_specs(), *extract_assets, events_asset, upload_asset, *reconciliation],
        asset_checks=build_quality_checks(partitions),
        jobs=[daily_job],
        schedules=build_schedules(daily_job, partitions),
        sensors=[build_failure_sensor([daily_job])],
        loggers={"console": dg.colored_console_logger, "progress": progress_logger},
        resources={"warehouse": warehouse, "capi": capi_resource(), "quality": QualityResource()},
    )


def capi_resource() -> ConversionsApiResource:
    """The destination from the environment (validated by settings.destination at load and again
    at run time); every value an EnvVar, so the token is never shown."""
    return ConversionsApiResource(
        destination=_env("CAPI_DESTINATION"), pixel_id=_env("FB_PIXEL_ID"), access_token=_env("FB_ACCESS_TOKEN"),
        base_url=_env("FB_GRAPH_BASE_URL"), api_version=_env("FB_API_VERSION"),
        test_event_code=_env("FB_TEST_EVENT_CODE"))


def daily_job() -> dg.JobDefinition:
    """The daily job, for ``dg.reconstructable``: Celery workers and step processes rebuild it
    from this module, with their own environment."""
    return build_definitions().resolve_job_def(DAILY_JOB)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
