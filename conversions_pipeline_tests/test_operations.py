"""Operations with Dagster's own parts: schedule evaluation, the run-failure sensor, one persistent
instance for the CLI and the UI, a PostgreSQL-backed instance, and a multi-day backfill launched
through the UI's GraphQL API against a real instance (dagster dev: webserver and daemon)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from conftest import PG_ADMIN_URL

from conversions_pipeline.cli import main
from conversions_pipeline.definitions import DAILY_JOB, build_definitions
from conversions_pipeline.errors import ConfigError
from conversions_pipeline.warehouse.engine import create_warehouse_engine
from conversions_pipeline.warehouse.io import read_frame
from conversions_pipeline.warehouse.schema import capi_events, run_failures, server_events

ROOT = Path(__file__).resolve().parents[1]
YESTERDAY = (datetime.now(timezone.utc) - timedelta(days=1)).date()


@pytest.fixture
def embedded(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVERSIONS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PARTITIONS_START_DATE", "2026-01-01")
    return tmp_path / "data"


# --- schedules ---------------------------------------------------------------------------------------

def _ticks(defs, name, when):
    schedule = defs.get_schedule_def(name)
    with dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def()) as context:
        return schedule, schedule.evaluate_tick(context).run_requests


def test_the_daily_schedule_runs_yesterday_and_the_late_leads_schedule_the_days_before(embedded):
    defs = build_definitions()
    when = datetime(2026, 11, 30, 3, 15, tzinfo=timezone.utc)
    daily, requests = _ticks(defs, "daily_conversions_schedule", when)
    assert daily.default_status == dg.DefaultScheduleStatus.RUNNING and daily.cron_schedule == "15 3 * * *"
    assert [r.partition_key for r in requests] == ["2026-11-29"]
    late, requests = _ticks(defs, "late_leads_schedule", when.replace(hour=4))
    assert late.default_status == dg.DefaultScheduleStatus.RUNNING
    assert [r.partition_key for r in requests] == ["2026-11-28", "2026-11-27", "2026-11-26"]
    assert len({r.run_key for r in requests}) == 3


def test_schedules_are_configuration(embedded, monkeypatch):
    monkeypatch.setenv("SCHEDULES_ENABLED", "false")
    monkeypatch.setenv("SCHEDULE_HOUR", "5")
    monkeypatch.setenv("LATE_LEAD_DAYS", "6")
    defs = build_definitions()
    daily, _ = _ticks(defs, "daily_conversions_schedule", datetime(2026, 11, 30, 5, 15, tzinfo=timezone.utc))
    assert daily.default_status == dg.DefaultScheduleStatus.STOPPED and daily.cron_schedule == "15 5 * * *"
    _, requests = _ticks(defs, "late_leads_schedule", datetime(2026, 11, 30, 6, 15, tzinfo=timezone.utc))
    assert [r.partition_key for r in requests][-1] == "2026-11-23"  # 7 days before the tick: still inside Meta's window
    monkeypatch.setenv("LATE_LEAD_DAYS", "7")
    with pytest.raises(ConfigError, match="7 days"):
        build_definitions()


def test_a_late_leads_tick_retracts_a_lead_marked_spam_two_days_later(embedded, capsys):
    """What the late-leads schedule exists for, through the tick's own run request."""
    day = YESTERDAY - timedelta(days=2)
    assert main(["seed", "--days", "1", "--per-day", "60", "--end-date", day.isoformat()]) == 0
    assert main(["run", "--date", day.isoformat()]) == 0
    engine = create_warehouse_engine(f"sqlite:///{embedded / 'warehouse.db'}")
    accepted = read_frame(engine, sa.select(capi_events).where(capi_events.c.status == "accepted",
                                                               capi_events.c.source_table == "calls"))
    spam_id = accepted["source_id"].iloc[0]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE calls SET spam = :t WHERE id = :i"), {"t": True, "i": spam_id})
    defs = build_definitions()
    _, requests = _ticks(defs, "late_leads_schedule", datetime.combine(YESTERDAY + timedelta(days=1),
                                                                       datetime.min.time(), timezone.utc))
    request = next(r for r in requests if r.partition_key == day.isoformat())
    result = defs.resolve_job_def(DAILY_JOB).execute_in_process(
        partition_key=request.partition_key, tags=request.tags, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    ledger = read_frame(engine, sa.select(capi_events)).set_index("source_id")
    assert ledger.loc[spam_id, "status"] == "retracted" and ledger.loc[spam_id, "reason"] == "retracted: spam"
    upload = next(m.materialization.metadata for m in result.get_asset_materialization_events()
                  if m.materialization.asset_key.to_user_string() == "upload/capi_events")
    assert upload["sent"].value == 0 and upload["retracted"].value == 1


# --- operator signals --------------------------------------------------------------------------------

def test_a_failed_run_is_recorded_with_its_day_step_and_cause(embedded, monkeypatch):
    from conversions_pipeline.warehouse.engine import create_schema
    from conversions_pipeline.warehouse.resource import WarehouseResource
    engine = create_warehouse_engine(f"sqlite:///{embedded / 'warehouse.db'}")
    create_schema(engine)
    with engine.begin() as conn:  # a source table the events step cannot use
        conn.execute(sa.text("DROP TABLE stg_orders"))
    defs = build_definitions()
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def(DAILY_JOB).execute_in_process(partition_key=YESTERDAY.isoformat(),
                                                                 instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    sensor = defs.get_sensor_def("record_run_failures")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=failure, dagster_instance=instance,
        dagster_run=result.dagster_run, resources={"warehouse": WarehouseResource()}).for_run_failure()
    sensor(context)
    rows = read_frame(engine, sa.select(run_failures))
    assert len(rows) >= 1 and str(rows["partition_date"].iloc[0])[:10] == YESTERDAY.isoformat()
    assert (rows["step"] == "extract").any()
    assert rows["cause"].str.contains("stg_orders").any() and rows["cause"].str.contains("init-db").any()


# --- one instance for the CLI and the UI --------------------------------------------------------------

def test_the_cli_keeps_its_runs_in_the_instance_the_ui_reads(embedded, capsys):
    assert main(["seed", "--days", "1", "--per-day", "40", "--end-date", YESTERDAY.isoformat()]) == 0
    assert main(["run", "--date", YESTERDAY.isoformat()]) == 0
    home = embedded / "dagster"
    assert (home / "dagster.yaml").exists()
    os.environ["DAGSTER_HOME"] = str(home)  # what `conversions-pipeline ui` (dagster dev) uses
    try:
        instance = dg.DagsterInstance.get()
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].tags["dagster/partition"] == YESTERDAY.isoformat()
        record = instance.fetch_materializations(dg.AssetKey(["upload", "capi_events"]), limit=1).records[0]
        assert record.asset_materialization.metadata["accepted"].value > 0
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(["events", "server_events"]), "structure"), limit=1)
        assert checks and checks[0].status.value == "SUCCEEDED"
    finally:
        os.environ.pop("DAGSTER_HOME", None)


@pytest.fixture
def dagster_pg_url():
    admin = sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg2://"),
                             isolation_level="AUTOCOMMIT")
    name = f"cp_dagster_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required")
        pytest.skip("PostgreSQL not reachable")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_partition_runs_on_a_postgresql_backed_instance(embedded, tmp_path, monkeypatch, dagster_pg_url):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url.replace("postgresql://", "postgresql+psycopg2://"))
    assert main(["seed", "--days", "1", "--per-day", "40", "--end-date", YESTERDAY.isoformat()]) == 0
    assert main(["run", "--date", YESTERDAY.isoformat()]) == 0
    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
    assert instance.fetch_materializations(dg.AssetKey(["events", "server_events"]), limit=5).records
    engine = sa.create_engine(dagster_pg_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as conn:  # stored in PostgreSQL, where a production webserver reads it
        assert conn.execute(sa.text("SELECT COUNT(*) FROM runs")).scalar_one() == 1
    engine.dispose()


# --- a multi-day backfill launched through the UI -----------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status runs(limit: 20) { runId status } } } }"""


def _start_ui(env, days):
    """Seed the days, start `conversions-pipeline ui` (webserver and daemon) on its own port."""
    cli = [sys.executable, "-m", "conversions_pipeline.cli"]
    subprocess.run([*cli, "seed", "--days", str(len(days)), "--per-day", "80", "--end-date", days[-1].isoformat()],
                   env=env, check=True, capture_output=True)
    port = _free_port()
    ui = subprocess.Popen([*cli, "ui", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
    return ui, port


def _launch(port, days, deadline):
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    params = {"selector": {"partitionSetName": f"{DAILY_JOB}_partition_set", "repositorySelector": {
        "repositoryLocationName": "conversions_pipeline.definitions", "repositoryName": "__repository__"}},
        "partitionNames": [d.isoformat() for d in days]}
    launched = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": LAUNCH, "variables": {"p": params}},
                          timeout=30).json()
    return launched["data"]["launchPartitionBackfill"]["backfillId"]


def _runs(port, backfill):
    status = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": STATUS, "variables": {"id": backfill}},
                        timeout=30).json()
    return status["data"]["partitionBackfillOrError"]["runs"]


def test_a_backfill_launched_from_the_ui_runs_days_at_once_and_sends_each_event_once(pg_database_url, tmp_path):
    """The same 3-day backfill on the embedded SQLite default and on PostgreSQL, side by side."""
    days = [YESTERDAY - timedelta(days=i) for i in range(3)][::-1]
    base = {**os.environ, "PARTITIONS_START_DATE": "2026-01-01", "CAPI_DESTINATION": "emulator"}
    base.pop("DAGSTER_HOME", None)
    pg_engine = create_warehouse_engine(pg_database_url)
    from conversions_pipeline.warehouse.schema import metadata
    metadata.drop_all(pg_engine)
    envs = {"sqlite": {**base, "CONVERSIONS_DATA_DIR": str(tmp_path / "sqlite")},
            "postgresql": {**base, "CONVERSIONS_DATA_DIR": str(tmp_path / "pg"), "WAREHOUSE_URL": pg_database_url}}
    uis = {name: _start_ui(env, days) for name, env in envs.items()}
    runs = {}
    try:
        deadline = time.monotonic() + 120
        backfills = {name: _launch(port, days, deadline) for name, (_, port) in uis.items()}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(runs) < 2:
            for name, (_, port) in uis.items():
                found = _runs(port, backfills[name])
                if len(found) == 3 and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in found):
                    runs[name] = found
            time.sleep(2)
    finally:
        for ui, _ in uis.values():
            os.killpg(ui.pid, 15)
        for ui, _ in uis.values():
            ui.wait(timeout=60)
    for name in envs:
        assert [r["status"] for r in runs[name]] == ["SUCCESS"] * 3, name
        engine = create_warehouse_engine(envs[name].get("WAREHOUSE_URL")
                                         or f"sqlite:///{tmp_path / 'sqlite' / 'warehouse.db'}")
        events = read_frame(engine, sa.select(server_events.c.partition_date, server_events.c.pixel_id,
                                              server_events.c.event_id, server_events.c.status))
        ledger = read_frame(engine, sa.select(capi_events.c.pixel_id, capi_events.c.event_id, capi_events.c.status))
        assert events["partition_date"].astype(str).str[:10].nunique() == 3, name
        assert not events.duplicated(["pixel_id", "event_id"]).any(), name
        assert not ledger.duplicated(["pixel_id", "event_id"]).any(), name
        assert (ledger["status"] == "accepted").sum() == (events["status"] == "eligible").sum() > 0, name
        engine.dispose()
    metadata.drop_all(pg_engine)
    pg_engine.dispose()


# --- scale-out on Celery ------------------------------------------------------------------------------

def _rabbitmq_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            return True
    except OSError:
        return False


def test_a_partition_runs_through_a_celery_worker_on_rabbitmq(tmp_path, monkeypatch):
    from conversions_pipeline.capi.emulator import running_emulator
    from conversions_pipeline.definitions import daily_job
    if not _rabbitmq_up():
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("RabbitMQ does not answer on 127.0.0.1:5672 (.ci/run starts it)")
        pytest.skip("RabbitMQ does not answer on 127.0.0.1:5672")
    home = tmp_path / "dagster_home"
    home.mkdir()
    queue = f"conversions-{uuid.uuid4().hex[:8]}"
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (tmp_path / "celery.yaml").write_text("broker: amqp://guest:guest@127.0.0.1:5672//\nbackend: rpc://\n")
    with running_emulator() as server:
        env = {**os.environ, "DAGSTER_HOME": str(home), "CONVERSIONS_EXECUTOR": "celery",
               "CELERY_DEFAULT_QUEUE": queue, "CAPI_DESTINATION": "emulator", "FB_GRAPH_BASE_URL": server.base_url,
               "WAREHOUSE_URL": f"sqlite:///{tmp_path / 'celery.db'}", "PARTITIONS_START_DATE": "2026-01-01"}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert main(["seed", "--days", "1", "--per-day", "60", "--end-date", YESTERDAY.isoformat()]) == 0
        worker = subprocess.Popen([sys.executable, "-m", "dagster_celery.cli", "worker", "start", "-A",
                                   "dagster_celery.app", "-y", str(tmp_path / "celery.yaml"), "-q", queue],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            instance = dg.DagsterInstance.get()
            result = dg.execute_job(dg.reconstructable(daily_job), instance=instance, raise_on_error=False,
                                    tags={"dagster/partition": YESTERDAY.isoformat()})
        finally:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=60)
        assert result.success
        engines = {"celery": create_warehouse_engine(env["WAREHOUSE_URL"])}
        # the same day in-process, into a second warehouse: the ledgers must agree
        monkeypatch.setenv("CONVERSIONS_EXECUTOR", "in_process")
        monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'inprocess.db'}")
        assert main(["seed", "--days", "1", "--per-day", "60", "--end-date", YESTERDAY.isoformat()]) == 0
        assert main(["run", "--date", YESTERDAY.isoformat()]) == 0
        engines["in_process"] = create_warehouse_engine(os.environ["WAREHOUSE_URL"])
    outcome = {name: read_frame(e, sa.select(capi_events.c.event_id, capi_events.c.status))
               .sort_values("event_id").reset_index(drop=True) for name, e in engines.items()}
    assert len(outcome["celery"]) > 50 and outcome["celery"].equals(outcome["in_process"])
    steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert {"upload__capi_events", "events__server_events"} <= steps


# --- the SQLite writer: a bounded, logged wait -------------------------------------------------------

def test_a_step_waits_for_the_sqlite_writer_with_a_logged_bounded_retry(embedded, monkeypatch, tmp_path):
    import sqlite3
    import threading

    from conversions_pipeline.extract.run import extract_day
    from conversions_pipeline.warehouse import engine as engine_module
    from conversions_pipeline.warehouse.retry import retry_when_locked
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "busy.db"
    engine = create_warehouse_engine(f"sqlite:///{path}")
    from conversions_pipeline.warehouse.seed import seed_days
    seed_days(engine, days=1, per_day=50, end_date=YESTERDAY, seed=2)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database
    release = threading.Timer(2.5, lambda: other.execute("COMMIT"))
    release.start()
    said = []
    result = retry_when_locked(lambda: extract_day(engine, "calls", YESTERDAY), what="extract calls",
                               log=said.append, first_delay=0.5)
    release.join()
    other.close()
    assert result.rows > 50 and said and "busy with another writer" in said[0]
    with pytest.raises(sa.exc.OperationalError):  # bounded: it gives up when the writer never lets go
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            retry_when_locked(lambda: extract_day(engine, "calls", YESTERDAY), what="extract calls",
                              log=said.append, max_wait_seconds=1, first_delay=0.5)
        finally:
            other.execute("ROLLBACK")
            other.close()


def test_the_multiprocess_executor_runs_each_step_in_a_process_of_its_own_on_sqlite(embedded, monkeypatch, tmp_path):
    from conversions_pipeline.definitions import daily_job
    from conversions_pipeline.extract.assets import extract_key
    from conversions_pipeline.warehouse.schema import SOURCE_TABLES
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("CONVERSIONS_EXECUTOR", "multiprocess")
    assert main(["seed", "--days", "1", "--per-day", "300", "--end-date", YESTERDAY.isoformat()]) == 0
    instance = dg.DagsterInstance.get()
    result = dg.execute_job(dg.reconstructable(daily_job), instance=instance, raise_on_error=False,
                            tags={"dagster/partition": YESTERDAY.isoformat()},
                            asset_selection=[extract_key(s) for s in SOURCE_TABLES])
    assert result.success
    logs = instance.all_logs(result.run_id)
    starts = {e.step_key: e.dagster_event.pid for e in logs
              if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"}
    run_pid = next(e.dagster_event.pid for e in logs
                   if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_START")
    # the extract step (every source), then the step of their ten quality checks
    assert set(starts) == {"extract", "extract_checks"}
    assert len({run_pid, *starts.values()}) == 3  # each step in a process of its own
    checked = [e for e in logs if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(checked) == 10 and all(e.dagster_event.event_specific_data.passed for e in checked)


def test_after_the_demo_a_plain_dagster_dev_here_opens_the_demos_instance(embedded, tmp_path, capsys):
    assert main(["demo", "--days", "1", "--per-day", "40"]) == 0
    home = (embedded / "dagster").resolve()
    assert (tmp_path / ".env").read_text() == f"DAGSTER_HOME={home}\n"  # `dagster dev` loads ./.env
    assert f"DAGSTER_HOME={home}" in capsys.readouterr().out
    from conversions_pipeline.ops.instance import dagster_home
    assert dagster_home() == home  # the CLI reads it back the same way
    assert main(["demo", "--days", "1", "--per-day", "40"]) == 0
    assert (tmp_path / ".env").read_text().count("DAGSTER_HOME") == 1


_HEAP_PROBE = """
import ctypes, ctypes.util, sys
import numpy as np
from conversions_pipeline.ops.memory import steady_heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "steady":
    steady_heap()
np.ones(1 << 18).sum()  # a 2 MiB block, mapped, then freed: glibc raises its threshold past it
held = [np.ones(1 << 17) for _ in range(50)]  # 50 blocks of 1 MiB
print(libc.mallinfo2().hblkhd >> 20)  # MiB in blocks mapped on their own
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_column_sized_blocks_keep_pages_of_their_own_that_go_back_when_freed():
    """glibc raises its mmap threshold each time a large mapped block is freed, so later
    column-sized arrays land inside the heap, where small live objects pin them and the process
    keeps a step's peak for the rest of the run. steady_heap fixes the threshold: every block of
    128 KiB and up is mapped on its own (and unmapped when freed)."""
    def mapped(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _HEAP_PROBE, mode], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    assert mapped("steady") >= 50
    assert mapped("glibc default") < 10  # what the pipeline process did before


def test_release_memory_collects_a_steps_cycles_and_freezes_what_lives_on():
    import gc
    import weakref

    from conversions_pipeline.ops.memory import release_memory

    class Node:
        pass

    long_lived = [Node() for _ in range(10)]
    cycle = Node()
    cycle.me = cycle  # garbage only the cyclic collector can free
    gone = weakref.ref(cycle)
    del cycle
    try:
        release_memory()
        assert gone() is None
        frozen = gc.get_freeze_count()
        assert frozen >= len(long_lived)
        again = Node()
        again.me = again
        gone = weakref.ref(again)
        del again
        release_memory()  # what was made after the freeze is still collected
        assert gone() is None
    finally:
        gc.unfreeze()
