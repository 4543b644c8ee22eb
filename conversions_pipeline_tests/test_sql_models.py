"""Every model in dbt_like_sql/ runs on SQLite and PostgreSQL and returns the expected figures."""

import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from conversions_pipeline.sql_models import load_models, read_model, run_model, run_models
from conversions_pipeline.warehouse.engine import create_warehouse_engine
from conversions_pipeline.warehouse.schema import capi_events, metadata

MODELS = Path(__file__).resolve().parent.parent / "dbt_like_sql" / "models"


def _event(day, n, source, name, status, attempts=1, pixel="111"):
    return {"partition_date": day, "pixel_id": pixel, "event_id": f"{source}-{day:%m%d}-{n}",
            "event_name": name, "event_time": 1_700_000_000, "source_table": source,
            "source_id": str(n), "status": status, "reason": None, "attempts": attempts,
            "match_keys": "ph", "updated_at": datetime(2026, 11, 1, tzinfo=timezone.utc).replace(tzinfo=None)}


def materialize(engine, name, first, last=None, keys=None):
    """Run the model (and what it refers to) for each day through the runner; its rows, sorted."""
    models = load_models()
    days = [first + timedelta(days=i) for i in range(((last or first) - first).days + 1)]
    for model in models.values():
        for day in days:
            run_model(engine, model, day)
    frame = read_model(engine, name, first, last or first)
    frame = frame.sort_values(keys or [c for c in frame.columns if frame[c].dtype == object][:5]).reset_index(drop=True)
    return frame.to_dict("records")


def test_every_model_is_listed_in_the_folder_readme():
    readme = (MODELS.parent / "README.md").read_text()
    models = sorted(p.name for p in MODELS.glob("*.sql"))
    assert models, "dbt_like_sql/models holds no model"
    for name in models:
        assert f"models/{name}" in readme


def test_ledger_daily_outcomes(engine):
    metadata.create_all(engine)
    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    rows = ([_event(d1, i, "calls", "Lead", "accepted") for i in range(5)]
            + [_event(d1, 10, "calls", "Lead", "rejected", attempts=3)]
            + [_event(d1, 11, "calls", "Lead", "skipped", attempts=0)]
            + [_event(d1, 12, "calls", "Lead", "pending", attempts=2)]
            + [_event(d1, 13, "calls", "Lead", "retracted")]
            + [_event(d1, 20, "orders", "Purchase", "accepted"),
               _event(d1, 21, "orders", "Purchase", "accepted", pixel="222")]
            + [_event(d2, 30, "calls", "Lead", "skipped", attempts=0)])
    with engine.begin() as conn:
        conn.execute(capi_events.insert(), rows)
    result = materialize(engine, "ledger_daily_outcomes", d1, d2)

    table = [(str(r["partition_date"])[:10], r["pixel_id"], r["source_table"], r["event_name"],
              int(r["candidate_events"]), int(r["sent_events"]), int(r["accepted_events"]),
              int(r["rejected_events"]), int(r["skipped_events"]), int(r["pending_events"]),
              int(r["retried_events"]), int(r["retracted_events"])) for r in result]
    assert table == [
        ("2026-11-01", "111", "calls", "Lead", 9, 7, 5, 1, 1, 1, 2, 1),
        ("2026-11-01", "111", "orders", "Purchase", 1, 1, 1, 0, 0, 0, 0, 0),
        ("2026-11-01", "222", "orders", "Purchase", 1, 1, 1, 0, 0, 0, 0, 0),
        ("2026-11-02", "111", "calls", "Lead", 1, 0, 0, 0, 1, 0, 0, 0),
    ]


def _attempt(day, batch, attempt, outcome, sent, received=None, flagged=False, pixel="111", ms=100):
    return {"batch_id": batch, "partition_date": day, "pixel_id": pixel, "attempt": attempt, "events_sent": sent,
            "http_status": 200 if outcome == "accepted" else 400, "events_received": received, "flagged": flagged,
            "outcome": outcome, "duration_ms": ms, "started_at": datetime(2026, 11, 1, 3, 0)}


def test_capi_request_health(engine):
    from conversions_pipeline.warehouse.schema import capi_batches
    metadata.create_all(engine)
    d1 = date(2026, 11, 1)
    rows = [
        _attempt(d1, "b1", 1, "throttle", 1000), _attempt(d1, "b1", 2, "network_error", 1000),
        _attempt(d1, "b1", 3, "accepted", 1000, 1000),
        _attempt(d1, "b2", 1, "split", 1000), _attempt(d1, "b2", 1, "accepted", 500, 500),
        _attempt(d1, "b2", 1, "rejected", 1), _attempt(d1, "b3", 1, "accepted", 200, 199, flagged=True),
        _attempt(d1, "b4", 1, "accepted", 10, 10, pixel="222"),
    ]
    with engine.begin() as conn:
        conn.execute(capi_batches.insert(), rows)
    result = materialize(engine, "capi_request_health", d1)
    got = [{k: (str(v)[:10] if k == "partition_date" else v if k == "pixel_id" else int(v)) for k, v in r.items()}
           for r in result]
    assert got == [
        {"partition_date": "2026-11-01", "pixel_id": "111", "requests": 7, "batches": 3, "retries": 2,
         "accepted_requests": 3, "throttled_requests": 1, "transient_failures": 1, "refused_for_a_bad_event": 2,
         "flagged_requests": 1, "events_sent": 4701, "events_received": 1699, "total_duration_ms": 700},
        {"partition_date": "2026-11-01", "pixel_id": "222", "requests": 1, "batches": 1, "retries": 0,
         "accepted_requests": 1, "throttled_requests": 0, "transient_failures": 0, "refused_for_a_bad_event": 0,
         "flagged_requests": 0, "events_sent": 10, "events_received": 10, "total_duration_ms": 100},
    ]


def test_dq_latest(engine):
    from conversions_pipeline.warehouse.schema import dq_results
    metadata.create_all(engine)
    day, at = date(2026, 11, 1), datetime(2026, 11, 2, 3, 0)

    def row(asset, check, expectation, severity, success):
        return {"partition_date": day, "asset": asset, "check_name": check, "expectation": expectation,
                "severity": severity, "success": success, "run_id": "r1", "checked_at": at}

    rows = [row("extract/calls", "structure", "a", "ERROR", True),
            row("extract/calls", "structure", "b", "ERROR", True),
            row("events/server_events", "structure", "a", "ERROR", False),
            row("events/server_events", "coverage", "a", "WARN", False),
            row("events/server_events", "coverage", "b", "WARN", True)]
    with engine.begin() as conn:
        conn.execute(dq_results.insert(), rows)
    result = materialize(engine, "dq_latest", day)
    table = [(r["asset"], r["check_name"], int(r["expectations"]), int(r["failed_expectations"]),
              int(r["failed_blocking"]), r["outcome"]) for r in result]
    assert table == [("events/server_events", "coverage", 2, 1, 0, "warned"),
                     ("events/server_events", "structure", 1, 1, 1, "failed"),
                     ("extract/calls", "structure", 2, 0, 0, "passed")]


# --- the runner: refs first, independent models side by side on PostgreSQL --------------------------

def _models_folder(folder: Path, **sql: str) -> dict:
    folder.mkdir()
    for name, text in sql.items():
        (folder / f"{name}.sql").write_text(text)
    return load_models(folder)


def test_models_run_after_their_refs_and_side_by_side_on_postgresql(engine, tmp_path):
    day = date(2026, 11, 1)
    models = _models_folder(
        tmp_path / "models",
        a="SELECT :partition_date AS partition_date, 1 AS n",
        b="SELECT :partition_date AS partition_date, 2 AS n",
        c="SELECT partition_date, n FROM {{ ref('a') }} WHERE partition_date = :partition_date")
    spans = {}

    def run(engine, model, day):
        start = time.monotonic()
        time.sleep(0.3)
        rows = run_model(engine, model, day)
        spans[model.name] = (start, time.monotonic())
        return rows

    done = [(model.name, rows) for model, rows in run_models(engine, models, day, run=run)]
    assert sorted(done) == [("a", 1), ("b", 1), ("c", 1)]
    assert spans["c"][0] >= spans["a"][1]  # c reads a: it starts once a is done
    side_by_side = spans["a"][0] < spans["b"][1] and spans["b"][0] < spans["a"][1]
    assert side_by_side == (engine.dialect.name == "postgresql")  # SQLite has one writer


def test_a_failing_model_stops_the_models_that_read_it_and_is_raised(engine, tmp_path):
    day = date(2026, 11, 1)
    models = _models_folder(
        tmp_path / "models",
        broken="SELECT :partition_date AS partition_date, n FROM no_such_table",
        reads_broken="SELECT partition_date FROM {{ ref('broken') }} WHERE partition_date = :partition_date")
    finished = []
    with pytest.raises(sa.exc.DBAPIError):
        for model, _ in run_models(engine, models, day):
            finished.append(model.name)
    assert finished == []
    assert not sa.inspect(engine).has_table("reads_broken")


def test_one_mart_materializes_on_its_own(tmp_path):
    import dagster as dg

    from conversions_pipeline.partitions import daily_partitions
    from conversions_pipeline.reports.model_assets import build_model_assets, model_key
    from conversions_pipeline.warehouse.resource import WarehouseResource

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = create_warehouse_engine(url)
    metadata.create_all(engine)
    marts = build_model_assets(daily_partitions(start_date="2026-10-01"))
    result = dg.materialize(marts, selection=[model_key("ledger_daily_outcomes")], partition_key="2026-11-01",
                            resources={"warehouse": WarehouseResource(url=url)})
    assert result.success
    assert [m.materialization.asset_key for m in result.get_asset_materialization_events()] == \
        [model_key("ledger_daily_outcomes")]
    tables = set(sa.inspect(engine).get_table_names())
    assert "ledger_daily_outcomes" in tables and "lead_outcomes" not in tables
