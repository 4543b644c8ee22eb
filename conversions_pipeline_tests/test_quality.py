"""Quality gates: real great-expectations suites run as Dagster asset checks in real runs of the job,
on SQLite and PostgreSQL; a structural defect stops the day before the upload, a WARN breach does not."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import sqlalchemy as sa

from conversions_pipeline.capi.assets import UPLOAD_KEY, build_upload_asset
from conversions_pipeline.capi.resource import ConversionsApiResource
from conversions_pipeline.definitions import DAILY_JOB, build_definitions
from conversions_pipeline.events.assets import EVENTS_KEY, build_events_asset
from conversions_pipeline.extract.assets import build_extract_assets, extract_key, source_specs
from conversions_pipeline.partitions import daily_partitions
from conversions_pipeline.quality.checks import QualityResource, build_quality_checks, evaluate
from conversions_pipeline.warehouse.io import read_frame
from conversions_pipeline.warehouse.resource import WarehouseResource
from conversions_pipeline.warehouse.schema import STAGED_TABLES, dq_results, server_events
from conversions_pipeline.warehouse.seed import seed_days

DAY = (datetime.now(timezone.utc) - timedelta(days=1)).date()


@pytest.fixture
def seeded(engine, warehouse_url, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("CAPI_DESTINATION", "emulator")
    monkeypatch.setenv("PARTITIONS_START_DATE", "2026-01-01")
    seed_days(engine, days=1, per_day=300, end_date=DAY, seed=4)
    return engine


def _run(job, run_config=None):
    return job.execute_in_process(partition_key=DAY.isoformat(), instance=dg.DagsterInstance.ephemeral(),
                                  raise_on_error=False, run_config=run_config or {})


def _evaluations(result):
    return {(e.event_specific_data.asset_key.to_user_string(), e.event_specific_data.check_name): e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def _materialized(result):
    return {m.materialization.asset_key for m in result.get_asset_materialization_events()}


def test_the_checks_are_part_of_the_definitions(seeded):
    defs = build_definitions()
    keys = {(k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    assert ("events/server_events", "structure") in keys and ("extract/calls", "structure") in keys
    assert ("upload/capi_events", "delivery") in keys and len(keys) == 13


def test_a_clean_seeded_day_passes_every_check_and_dq_results_holds_the_same_numbers(seeded):
    job = build_definitions().resolve_job_def(DAILY_JOB)
    result = _run(job)
    assert result.success
    evaluations = _evaluations(result)
    assert len(evaluations) == 13 and all(e.passed for e in evaluations.values()), \
        {k: e.description for k, e in evaluations.items() if not e.passed}
    assert UPLOAD_KEY in _materialized(result)
    stored = read_frame(seeded, sa.select(dq_results).where(dq_results.c.partition_date == DAY))
    for (asset, check), evaluation in evaluations.items():
        rows = stored[(stored["asset"] == asset) & (stored["check_name"] == check)]
        assert len(rows) == evaluation.metadata["expectations"].value
        assert int((~rows["success"].astype(bool)).sum()) == evaluation.metadata["failed"].value
        assert evaluation.metadata["day"].value == DAY.isoformat()
    calls = stored[(stored["asset"] == "extract/calls") & stored["expectation"].str.startswith("expect_table_row")]
    assert calls["observed_value"].astype(int).iloc[0] > 300  # the seeded day's rows, duplicates included


# --- structural defects, injected by an upstream asset that writes bad rows ---------------------------

def _job_with(replacement_key, corrupt):
    """The real job, with the step that makes one asset replaced by the real work followed by
    ``corrupt(engine, day)`` (the extract step makes every source: all of them are extracted)."""
    partitions = daily_partitions()
    extract_assets = build_extract_assets(partitions)
    events_asset = build_events_asset(partitions)
    assets = [*extract_assets, events_asset, build_upload_asset(partitions)]
    real = next(a for a in assets if replacement_key in a.keys)
    specs = [dg.AssetSpec(key, deps=list(real.asset_deps[key]), group_name="test") for key in real.keys]

    @dg.multi_asset(name=real.node_def.name, specs=specs, partitions_def=partitions)
    def corrupted(context: dg.AssetExecutionContext, warehouse: WarehouseResource, capi: ConversionsApiResource):
        day = context.partition_time_window.start.date()
        engine = warehouse.get_engine()
        for key in real.keys:
            if key == EVENTS_KEY:
                from conversions_pipeline.events.config import EventsConfig
                from conversions_pipeline.events.run import build_day
                build_day(engine, day, EventsConfig(), capi.default_pixel())
            else:
                from conversions_pipeline.extract.run import extract_day
                extract_day(engine, key.path[-1], day)
        corrupt(engine, day)
        for key in real.keys:
            yield dg.MaterializeResult(asset_key=key)

    assets = [corrupted if a is real else a for a in assets]
    job = dg.define_asset_job(DAILY_JOB, selection=dg.AssetSelection.assets(*assets), partitions_def=partitions)
    defs = dg.Definitions(assets=[*source_specs(), *assets], asset_checks=build_quality_checks(partitions),
                          jobs=[job], resources={"warehouse": WarehouseResource(), "capi": ConversionsApiResource(),
                                                 "quality": QualityResource()})
    return defs.resolve_job_def(DAILY_JOB)


def _update(table, values, where=None):
    def corrupt(engine, day):
        with engine.begin() as conn:
            first = conn.execute(sa.select(table.c.id if "id" in table.c else table.c.event_id)
                                 .where(table.c.partition_date == day).limit(1)).scalar_one()
            column = table.c.id if "id" in table.c else table.c.event_id
            conn.execute(sa.update(table).where(table.c.partition_date == day, column == first).values(**values))
    return corrupt


def _duplicate_event(engine, day):
    with engine.begin() as conn:
        first = sa.select(server_events).where(server_events.c.partition_date == day).limit(1)
        row = conn.execute(first).mappings().one()
        conn.execute(server_events.insert(), [dict(row)])


@pytest.mark.parametrize("key, corrupt, expectation", [
    (extract_key("calls"), _update(STAGED_TABLES["calls"], {"start_time": datetime(2020, 1, 1)}),
     "expect_column_values_to_be_between(start_time)"),
    (extract_key("calls"), _update(STAGED_TABLES["calls"], {"ph": "+1 401 555 0100"}),
     "expect_column_values_to_match_regex(ph)"),
    (EVENTS_KEY, _duplicate_event, "expect_compound_columns_to_be_unique(pixel_id, event_id)"),
    (EVENTS_KEY, _update(server_events, {"action_source": "carrier_pigeon"}),
     "expect_column_values_to_be_in_set(action_source)"),
], ids=["timestamp-outside-the-day", "unhashed-phone", "duplicated-event-id", "unknown-action-source"])
def test_a_structural_defect_fails_its_check_and_the_upload_does_not_run(seeded, key, corrupt, expectation):
    result = _run(_job_with(key, corrupt))
    assert not result.success
    evaluation = _evaluations(result)[(key.to_user_string(), "structure")]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert expectation in evaluation.description and str(DAY) in evaluation.description
    assert UPLOAD_KEY not in _materialized(result)
    assert "+1 401 555 0100" not in str(evaluation.metadata) and "401" not in evaluation.description
    stored = read_frame(seeded, sa.select(dq_results).where(dq_results.c.expectation == expectation,
                                                            dq_results.c.asset == key.to_user_string(),
                                                            dq_results.c.partition_date == DAY))
    assert len(stored) == 1 and not bool(stored["success"].iloc[0]) and int(stored["unexpected_count"].iloc[0]) >= 1


def test_a_warn_breach_is_recorded_and_the_upload_still_runs(seeded):
    job = build_definitions().resolve_job_def(DAILY_JOB)
    result = _run(job, {"resources": {"quality": {"config": {"min_strong_key_share": 1.0,
                                                             "max_duplicate_share": 0.0}}}})
    assert result.success and UPLOAD_KEY in _materialized(result)
    evaluations = _evaluations(result)
    coverage = evaluations[("events/server_events", "coverage")]
    assert not coverage.passed and coverage.severity == dg.AssetCheckSeverity.WARN
    assert "strong_key" in coverage.description
    assert not evaluations[("extract/calls", "coverage")].passed
    stored = read_frame(seeded, sa.select(dq_results).where(dq_results.c.check_name == "coverage",
                                                            dq_results.c.severity == "WARN",
                                                            dq_results.c.success.is_(False)))
    assert {"events/server_events", "extract/calls"} <= set(stored["asset"])


def test_rerunning_a_day_replaces_its_results_for_each_check(seeded):
    job = build_definitions().resolve_job_def(DAILY_JOB)
    _run(job)
    first = read_frame(seeded, sa.select(dq_results))
    _run(job)
    second = read_frame(seeded, sa.select(dq_results))
    assert len(second) == len(first) and second["run_id"].nunique() == 1


def test_a_suite_that_cannot_run_is_a_failed_check_with_its_reason():
    def broken():
        raise sa.exc.NoSuchTableError("stg_calls")
    outcomes = evaluate(broken)
    assert len(outcomes) == 1 and not outcomes[0].success and "NoSuchTableError" in outcomes[0].observed_value


def test_a_missing_staged_table_fails_the_check_in_a_real_run(seeded):
    def drop(engine, day):
        with engine.begin() as conn:
            STAGED_TABLES["calls"].drop(conn)
    result = _run(_job_with(extract_key("calls"), drop))
    evaluation = _evaluations(result)[("extract/calls", "structure")]
    assert not evaluation.passed and "could not run" in evaluation.description
    assert UPLOAD_KEY not in _materialized(result)



def test_a_validated_frame_is_not_kept_by_gx_after_its_check():
    import gc
    import weakref

    import great_expectations as gx
    import pandas as pd

    from conversions_pipeline.quality.gx_checks import _gx_context, run_suite

    frame = pd.DataFrame({"id": [f"id{i}" for i in range(1000)]})
    gone = weakref.ref(frame)
    sources = len(list(_gx_context().data_sources.all()))
    outcomes = run_suite("held", frame, [gx.expectations.ExpectColumnValuesToBeUnique(column="id")])
    assert [o.success for o in outcomes] == [True]
    del frame, outcomes
    gc.collect()
    assert gone() is None  # GX's execution engine caches each batch for its data source's life
    assert len(list(_gx_context().data_sources.all())) == sources


def test_gx_does_not_fingerprint_the_frames_it_validates():
    """GX hashes every pandas batch under 1 GB into a marker nothing here reads (twice per
    validation, a quarter of the checks' time on a large day). Not fingerprinted, a frame whose
    cells could be neither hashed nor pickled still validates."""
    import threading

    import great_expectations as gx
    import pandas as pd

    from conversions_pipeline.quality.gx_checks import run_suite

    frame = pd.DataFrame({"id": ["a", "b"], "held": [{"lock": threading.Lock()}, {}]})
    outcomes = run_suite("unhashable", frame, [gx.expectations.ExpectColumnValuesToBeUnique(column="id")])
    assert [o.success for o in outcomes] == [True]


def test_asking_for_the_gx_warm_up_never_waits_for_the_import(monkeypatch):
    """Each extract asks for great-expectations to be imported in the background; while the
    import runs it holds the context's lock, and an extract that asked again must not wait for it
    (it did: the second extract of a run stood still for the whole import)."""
    import threading

    from conversions_pipeline.quality import gx_checks

    monkeypatch.setattr(gx_checks, "_context", None)
    monkeypatch.setattr(gx_checks, "_warm_up", None)
    made = []
    monkeypatch.setattr(gx_checks, "_gx_context", lambda: made.append("import"))
    asked = []
    with gx_checks._context_lock:  # as while the import runs
        callers = [threading.Thread(target=lambda: asked.append(gx_checks.warm_up_gx())) for _ in range(2)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=5)
        assert len(asked) == 2 and not any(c.is_alive() for c in callers)
    gx_checks._warm_up.join(timeout=5)
    assert made == ["import"]  # one import, started once
