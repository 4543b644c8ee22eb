"""The Dagster project loads, and the extract assets materialize a partition with useful metadata."""

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from conversions_pipeline.definitions import DAILY_JOB, build_definitions
from conversions_pipeline.warehouse.engine import create_warehouse_engine
from conversions_pipeline.warehouse.seed import generate_day, seed_days

EXTRACT_KEYS = {f"extract/{s}" for s in ("calls", "text_messages", "form_submissions", "web_sessions", "orders")}


@pytest.fixture
def env(monkeypatch, warehouse_url):
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PARTITIONS_START_DATE", "2026-01-01")
    monkeypatch.delenv("PARTITIONS_TIMEZONE", raising=False)
    for name in ("FB_PIXEL_ID", "FB_ACCESS_TOKEN", "FB_GRAPH_BASE_URL", "FB_TEST_EVENT_CODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAPI_DESTINATION", "emulator")
    return warehouse_url


def test_definitions_load_with_the_expected_assets(env):
    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert EXTRACT_KEYS <= keys
    assert {f"source/{s}" for s in ("calls", "orders")} <= keys
    job = defs.resolve_job_def(DAILY_JOB)
    assert job.partitions_def.start.date() == date(2026, 1, 1)
    assert job.partitions_def.timezone == "UTC"
    schedule = defs.resolve_schedule_def(f"{DAILY_JOB}_schedule")
    assert schedule.cron_schedule == "15 3 * * *"


def test_upload_runs_one_partition_per_run_in_the_capi_pool(env):
    defs = build_definitions()
    upload = defs.resolve_assets_def(dg.AssetKey(["upload", "capi_events"]))
    assert upload.backfill_policy is None  # Dagster backfills it as one run per partition
    assert upload.op.pool == "capi"


def test_timezone_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PARTITIONS_TIMEZONE", "America/Chicago")
    assert build_definitions().resolve_job_def(DAILY_JOB).partitions_def.timezone == "America/Chicago"


def test_workspace_module_exposes_lazy_definitions():
    import conversions_pipeline.definitions as module
    assert isinstance(module.defs(), dg.Definitions)


def test_daily_job_materializes_one_partition(env):
    engine = create_warehouse_engine(env)
    seed_days(engine, days=2, per_day=300, end_date=date(2026, 3, 14), seed=4)
    engine.dispose()
    job = build_definitions().resolve_job_def(DAILY_JOB)
    result = job.execute_in_process(partition_key="2026-03-14", instance=dg.DagsterInstance.ephemeral())
    assert result.success
    meta = {m.materialization.asset_key.to_user_string(): m.materialization.metadata
            for m in result.get_asset_materialization_events()}
    marts = {f"marts/{p.stem}" for p in (Path(__file__).resolve().parents[1] / "dbt_like_sql" / "models").glob("*.sql")}
    others = {"events/server_events", "upload/capi_events", "facebook/facebook_insights", "facebook/dataset_quality",
              "reports/reconciliation_report"}
    assert set(meta) == EXTRACT_KEYS | marts | others
    frames = generate_day(date(2026, 3, 14), 300, seed=4)
    calls = meta["extract/calls"]
    assert calls["rows"].value == len(frames["calls"])
    assert calls["distinct_ids"].value == frames["calls"]["id"].nunique()
    assert calls["duplicate_rows"].value == len(frames["calls"]) - frames["calls"]["id"].nunique()
    assert meta["extract/orders"]["order_items"].value == len(frames["order_items"])
    assert calls["keys_present"].value["ph"] > 0
    # the day is months old: every candidate event is kept, and skipped as too old (or for its own reason)
    events = meta["events/server_events"]
    assert events["eligible"].value == 0 and events["events"].value == events["skipped"].value > 0
    assert events["skipped_by_reason"].value["too_old"] > 0.8 * events["events"].value
    upload = meta["upload/capi_events"]
    assert upload["sent"].value == 0 and upload["skipped"].value == events["events"].value
    # the masked preview shows ids and which keys were usable, never a phone or a name
    preview = calls["preview"].value
    assert "CAL" in preview and "ph" in preview
    calls = frames["calls"]
    for raw in calls["customer_phone_number"].dropna().tolist() + calls["customer_name"].dropna().tolist():
        if len(raw) > 4:
            assert raw not in preview
