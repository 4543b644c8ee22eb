"""Upload over real HTTP on loopback against the bundled Graph API emulator."""

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timezone

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from conversions_pipeline.capi.client import ConversionsApiClient, FatalApiError, _Response, classify
from conversions_pipeline.capi.emulator import EmulatorConfig, running_emulator
from conversions_pipeline.capi.upload import upload_day
from conversions_pipeline.warehouse.engine import create_schema, create_warehouse_engine
from conversions_pipeline.warehouse.io import bulk_insert, read_frame
from conversions_pipeline.warehouse.schema import capi_batches, capi_events, server_events

DAY = date(2026, 11, 20)
PIXEL = "555"
TOKEN = "EAAB-secret-token-7f3e9"


def H(s):
    return hashlib.sha256(s.encode()).hexdigest()


def put_events(engine, n, bad=(), day=DAY, age_seconds=3600, pixel=PIXEL):
    """n eligible phone-call Lead events; indexes in ``bad`` carry a phone hash Meta refuses (upper case)."""
    create_schema(engine)
    now = int(time.time())
    user_data = [json.dumps({"ph": H(str(i)).upper() if i in bad else H(str(i))}) for i in range(n)]
    rows = pd.DataFrame({
        "partition_date": day, "pixel_id": pixel, "event_id": [f"ev{i:06d}" for i in range(n)],
        "event_name": "Lead", "event_time": now - age_seconds, "action_source": "phone_call",
        "user_data": user_data, "payload_hash": [H(u) for u in user_data],
        "custom_data": None, "options": None, "event_source_url": None, "source_table": "calls",
        "source_id": [f"C{i}" for i in range(n)], "merged_session_id": None, "match_keys": "ph",
        "status": "eligible", "reason": None, "note": None, "built_at": datetime(2026, 11, 21),
    })
    with engine.begin() as conn:
        conn.execute(sa.delete(server_events).where(server_events.c.partition_date == day))
        bulk_insert(conn, server_events, rows)
    return rows


def client_for(server, token=TOKEN, **kw):
    kw.setdefault("backoff_seconds", 0.01)
    return ConversionsApiClient(server.base_url, "v25.0", token, **kw)


def stats(server):
    return httpx.get(server.base_url + "/_emulator/stats").json()


def ledger(engine):
    return read_frame(engine, sa.select(capi_events))


def test_the_emulator_answers_without_waiting_for_the_clients_delayed_ack():
    """The emulator writes an answer's headers and body separately; with Nagle's algorithm on
    its socket the body waited for the client's delayed ACK, about 40 ms per request on loopback
    (a floor of its own under every benchmark that sends to it). Without it a small request on a
    kept-alive connection takes about a millisecond; 20 ms leaves room for a busy machine."""
    import statistics
    import time

    import httpx

    with running_emulator() as server, httpx.Client(timeout=10) as http:
        times = []
        for _ in range(20):
            started = time.perf_counter()
            answer = http.post(f"{server.base_url}/v24.0/123/events", json={"data": [], "access_token": "t"})
            times.append(time.perf_counter() - started)
    assert answer.status_code == 400  # an empty data list is refused, as Meta does
    assert statistics.median(times) < 0.020, [round(t * 1000, 1) for t in times]


# --- the happy path and idempotency ---------------------------------------------------------------

def test_happy_path_sends_full_batches_and_records_every_event(engine):
    put_events(engine, 2_500)
    with running_emulator() as server, client_for(server) as client:
        result = upload_day(engine, client, DAY, batch_size=1000, max_in_flight=3)
        assert stats(server)["events"] == 2_500 and stats(server)["requests"] == 3
    led = ledger(engine)
    assert (led["status"] == "accepted").sum() == 2_500 and led["batch_id"].nunique() == 3
    batches = read_frame(engine, sa.select(capi_batches))
    assert sorted(batches["events_sent"]) == [500, 1000, 1000]
    assert (batches["events_received"] == batches["events_sent"]).all() and not batches["flagged"].any()
    assert result.sent == 2_500 and result.ledger == {"accepted": 2_500}


def test_rerun_sends_nothing_and_force_resends_without_double_counting(engine):
    put_events(engine, 300)
    with running_emulator() as server, client_for(server) as client:
        upload_day(engine, client, DAY)
        again = upload_day(engine, client, DAY)
        assert again.sent == 0 and stats(server)["requests"] == 1
        forced = upload_day(engine, client, DAY, force=True)
        assert forced.sent == 300
        s = stats(server)
        assert s["events"] == 300 and s["duplicates"] == 300  # Meta keeps one copy per event_id
    assert (ledger(engine)["status"] == "accepted").sum() == 300


# --- faults ------------------------------------------------------------------------------------------

def test_transient_throttling_and_dropped_connections_are_recovered(engine):
    put_events(engine, 2_000)
    config = EmulatorConfig(fail_first=("transient", "throttle", "drop", "throttle"), transient_rate=0.15,
                            throttle_rate=0.15, drop_rate=0.05, seed=3)
    with running_emulator(config) as server, client_for(server, max_attempts=12) as client:
        result = upload_day(engine, client, DAY, batch_size=250, max_in_flight=2)
        s = stats(server)
    assert s["events"] == 2_000 and s["faults"]["transient"] >= 1 and s["faults"]["throttle"] >= 2
    assert (ledger(engine)["status"] == "accepted").all()
    outcomes = read_frame(engine, sa.select(capi_batches))["outcome"].value_counts()
    assert outcomes["accepted"] == 8 and outcomes.get("throttle", 0) >= 2 and outcomes.get("transient", 0) >= 1
    assert outcomes.get("network_error", 0) >= 1
    assert result.retries >= 4


def test_exhausted_retries_leave_events_pending_not_lost(engine):
    put_events(engine, 50)
    with running_emulator(EmulatorConfig(transient_rate=1.0)) as server, client_for(server, max_attempts=3) as client:
        result = upload_day(engine, client, DAY)
    assert result.pending == 50
    led = ledger(engine)
    assert (led["status"] == "pending").all() and (led["attempts"] == 3).all()
    with running_emulator() as server, client_for(server) as client:
        assert upload_day(engine, client, DAY).ledger == {"accepted": 50}


def test_one_bad_event_in_a_batch_of_1000_is_isolated(engine):
    put_events(engine, 1_000, bad={613})
    with running_emulator() as server, client_for(server) as client:
        result = upload_day(engine, client, DAY)
        assert stats(server)["events"] == 999
    led = ledger(engine).set_index("event_id")
    assert (led["status"] == "accepted").sum() == 999
    bad = led.loc["ev000613"]
    assert bad["status"] == "rejected" and bad["error_code"] == 100 and bad["error_subcode"] == 2804017
    assert "data[0]" in bad["error_message"] and bad["fbtrace_id"]
    assert result.rejected_by_reason == {"meta_error_100_2804017": 1}
    assert result.requests <= 2 * 10 + 1  # bisection: about two requests per halving


def test_invalid_token_stops_the_run_at_once_with_a_clear_message(engine):
    put_events(engine, 3_000)
    bad_token = "EXPIRED-" + TOKEN
    with running_emulator() as server, client_for(server, token=bad_token) as client:
        with pytest.raises(FatalApiError) as err:
            upload_day(engine, client, DAY, batch_size=1000, max_in_flight=1)
        assert stats(server)["requests"] == 1
    assert "FB_ACCESS_TOKEN" in str(err.value) and bad_token not in str(err.value)
    assert (ledger(engine)["status"] == "pending").all()


def test_stale_events_are_skipped_at_send_time_not_sent(engine):
    put_events(engine, 10, age_seconds=8 * 86_400)
    with running_emulator() as server, client_for(server) as client:
        result = upload_day(engine, client, DAY)
        assert stats(server)["requests"] == 0
    assert result.skipped_by_reason == {"too_old_at_send": 10}


# --- crash safety ------------------------------------------------------------------------------------

def test_a_killed_upload_resumes_without_accepting_anything_twice(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = create_warehouse_engine(url)
    put_events(engine, 1_000)
    with running_emulator(EmulatorConfig(latency_ms=250)) as server:
        script = textwrap.dedent(f"""
            from datetime import date
            from conversions_pipeline.capi.client import ConversionsApiClient
            from conversions_pipeline.capi.upload import upload_day
            from conversions_pipeline.warehouse.engine import create_warehouse_engine
            client = ConversionsApiClient({server.base_url!r}, "v25.0", {TOKEN!r})
            upload_day(create_warehouse_engine({url!r}), client, date(2026, 11, 20), batch_size=100, max_in_flight=1)
        """)
        proc = subprocess.Popen([sys.executable, "-c", script])
        deadline = time.time() + 30
        while time.time() < deadline and (ledger(engine)["status"] == "accepted").sum() < 200:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        accepted_before = (ledger(engine)["status"] == "accepted").sum()
        assert 200 <= accepted_before < 1_000
        with client_for(server) as client:
            upload_day(engine, client, DAY, batch_size=100)
        s = stats(server)
    led = ledger(engine)
    assert (led["status"] == "accepted").sum() == 1_000 and led["event_id"].is_unique
    assert s["events"] == 1_000          # Meta holds each event once
    assert s["duplicates"] <= 100         # at most the batch that was in flight went twice, deduplicated


# --- dry run and secrecy -------------------------------------------------------------------------------

def test_dry_run_writes_exact_bodies_without_the_token_and_sends_nothing(engine, tmp_path):
    put_events(engine, 1_500)
    out = tmp_path / "dry"
    with running_emulator() as server, client_for(server, dry_run_dir=str(out)) as client:
        result = upload_day(engine, client, DAY, dry_run=True)
        assert stats(server)["requests"] == 0
    files = sorted(out.glob(f"{PIXEL}/*.json"))
    bodies = [json.loads(f.read_text()) for f in files]
    assert len(files) == 2 and sum(len(b["body"]["data"]) for b in bodies) == 1_500
    first = bodies[0]["body"]["data"][0]
    assert set(first) == {"event_name", "event_time", "event_id", "action_source", "user_data"}
    assert all(TOKEN not in f.read_text() for f in files)
    assert result.ledger == {} and result.sent == 1_500  # a dry run writes no ledger status


def test_token_never_appears_in_logs_ledger_or_metadata(engine, warehouse_url, monkeypatch, caplog, capsys):
    import logging

    import dagster as dg

    from conversions_pipeline.definitions import DAILY_JOB, build_definitions

    put_events(engine, 20, bad={3})
    with running_emulator(EmulatorConfig(fail_first=("transient",))) as server:
        monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
        monkeypatch.setenv("FB_PIXEL_ID", PIXEL)
        monkeypatch.setenv("FB_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("FB_GRAPH_BASE_URL", server.base_url)
        monkeypatch.setenv("PARTITIONS_START_DATE", "2026-01-01")
        caplog.set_level(logging.DEBUG)
        job = build_definitions().resolve_job_def(DAILY_JOB)
        upload = [k for k in job.asset_layer.executable_asset_keys if k.to_user_string() == "upload/capi_events"]
        result = job.execute_in_process(partition_key=DAY.isoformat(), asset_selection=upload,
                                        instance=dg.DagsterInstance.ephemeral(),
                                        run_config={"resources": {"capi": {"config": {"backoff_seconds": 0.01}}}})
        assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["accepted"].value == 19 and meta["rejected"].value == 1
    texts = [caplog.text, *capsys.readouterr(), str(meta)]
    texts += [str(e) for e in result.all_events]
    texts += [ledger(engine).to_string(), read_frame(engine, sa.select(capi_batches)).to_string()]
    assert all(TOKEN not in t for t in texts)


@pytest.mark.parametrize("every, lines", [(3600.0, 1), (0.0, 12)])
def test_a_long_upload_says_how_far_it_got_at_a_bounded_rate(sqlite_url, monkeypatch, every, lines):
    """A progress line at most every PROGRESS_EVERY_SECONDS (each is a write to Dagster's event
    log): the first batch always says so, then only when that much time has passed."""
    import dagster as dg

    from conversions_pipeline.capi import assets as upload_assets
    from conversions_pipeline.definitions import DAILY_JOB, build_definitions

    engine = create_warehouse_engine(sqlite_url)
    put_events(engine, 12)
    monkeypatch.setattr(upload_assets, "PROGRESS_EVERY_SECONDS", every)
    with running_emulator() as server:
        for name, value in (("WAREHOUSE_URL", sqlite_url), ("FB_PIXEL_ID", PIXEL), ("FB_ACCESS_TOKEN", TOKEN),
                            ("FB_GRAPH_BASE_URL", server.base_url), ("PARTITIONS_START_DATE", "2026-01-01")):
            monkeypatch.setenv(name, value)
        job = build_definitions().resolve_job_def(DAILY_JOB)
        upload = [k for k in job.asset_layer.executable_asset_keys if k.to_user_string() == "upload/capi_events"]
        instance = dg.DagsterInstance.ephemeral()
        result = job.execute_in_process(partition_key=DAY.isoformat(), asset_selection=upload, instance=instance,
                                        run_config={"resources": {"capi": {"config": {"batch_size": 1,
                                                                                      "max_in_flight": 1}}}})
    engine.dispose()
    assert result.success
    said = [e.user_message for e in instance.all_logs(result.run_id) if "events sent so far" in e.user_message]
    assert len(said) == lines, "\n".join(e.user_message for e in instance.all_logs(result.run_id))


def test_the_ledger_takes_in_a_day_without_scanning_itself_per_event_on_postgresql(pg_database_url):
    """A ledger emptied and vacuumed has statistics that say "no rows": the old anti-join against
    it was planned as a nested loop that read the whole (growing) ledger once per new event,
    minutes for a 100,000-event day. New events now go in through the unique index."""
    from conversions_pipeline.capi.ledger import SYNC_SPLITS, sync_day

    engine = create_warehouse_engine(pg_database_url)
    statements = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO CAPI_EVENTS"):
            statements.append(cursor.mogrify(statement, parameters).decode())

    try:
        put_events(engine, 2000)
        with engine.begin() as conn:
            conn.execute(sa.delete(capi_events))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE capi_events")
        sa.event.listen(engine, "before_cursor_execute", keep)
        sync_day(engine, DAY)
        sa.event.remove(engine, "before_cursor_execute", keep)
        assert len(ledger(engine)) == 2000 and len(statements) == SYNC_SPLITS
        with engine.begin() as conn:  # the same statements on the same statistics, planned again
            conn.execute(sa.delete(capi_events))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE capi_events")
            for statement in statements:
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement.replace("%", "%%")))
                assert "Seq Scan on capi_events" not in plan and "Anti Join" not in plan, plan
        sync_day(engine, DAY)  # a second sync of the same day adds nothing and changes no row
        assert len(ledger(engine)) == 2000
    finally:
        with engine.begin() as conn:
            conn.execute(sa.delete(capi_events))
            conn.execute(sa.delete(server_events))
        engine.dispose()


def test_the_upload_streams_the_days_events_without_sorting_them_first_on_postgresql(pg_database_url):
    """Sorting a day's events before the first one is read held every request back until the last
    payload was sorted (an external sort: about 6 s at a million events)."""
    from sqlalchemy.dialects import postgresql

    from conversions_pipeline.capi.ledger import to_send, to_send_query

    engine = create_warehouse_engine(pg_database_url)
    try:
        put_events(engine, 300)
        query = to_send_query(DAY, destination="meta")
        sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql.replace("%", "%%")))
        assert "Sort" not in plan, plan
        assert sum(len(page) for page in to_send(engine, DAY, destination="meta")) == 300
    finally:
        with engine.begin() as conn:
            conn.execute(sa.delete(capi_events))
            conn.execute(sa.delete(server_events))
        engine.dispose()


@pytest.mark.parametrize("parts", [1, 2, 3, 4, 16])
def test_the_ledger_syncs_ranges_of_event_ids_that_hold_every_id_once(parts):
    """New events enter the ledger in ranges of event ids side by side: each id, hex or not, falls
    in exactly one range."""
    from conversions_pipeline.capi.ledger import _id_ranges

    ranges = _id_ranges(parts)
    assert len(ranges) == parts and ranges[0][0] is None and ranges[-1][1] is None
    for event_id in ["0" * 32, "7f" + "0" * 30, "8", "c0ffee", "f" * 32, "", "Z-custom", "~"]:
        inside = [(low, high) for low, high in ranges
                  if (low is None or event_id >= low) and (high is None or event_id < high)]
        assert len(inside) == 1, (event_id, ranges)


def test_outcomes_are_written_beside_the_sending_and_a_failed_write_stops_the_upload(engine):
    """The recorder writes Meta's answers from a thread of its own (the senders go on meanwhile):
    every answer handed to it is in the ledger after flush, and a write that fails is raised to
    the senders and by flush, never lost silently."""
    from conversions_pipeline.capi import ledger as capi_ledger
    from conversions_pipeline.capi.client import EventOutcome

    put_events(engine, 30)
    capi_ledger.sync_day(engine, DAY)
    recorder = capi_ledger.Recorder(engine, DAY, "emulator", waiting=1)
    for start in range(0, 30, 10):
        accepted = {f"ev{i:06d}": EventOutcome("accepted", f"b{start}", 1) for i in range(start, start + 10)}
        recorder.outcomes(PIXEL, accepted, {})
    recorder.flush()
    rows = ledger(engine)
    assert (rows["status"] == "accepted").all() and rows["batch_id"].nunique() == 3

    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE capi_events"))
    broken = capi_ledger.Recorder(engine, DAY, "emulator", waiting=1)
    with pytest.raises(Exception, match="capi_events"):
        for _ in range(200):  # the first answer is taken; a later one meets the writer's failure
            broken.outcomes(PIXEL, {"ev000001": EventOutcome("accepted", "b9", 1)}, {})
            time.sleep(0.01)
    with pytest.raises(Exception, match="capi_events"):
        broken.flush()
    create_schema(engine)


# --- pieces ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, error, kind", [
    (200, None, "ok"), (500, {"code": 2, "is_transient": True}, "transient"), (400, {"code": 1}, "transient"),
    (429, {"code": 80004}, "throttle"), (400, {"code": 17}, "throttle"), (400, {"code": 613}, "throttle"),
    (400, {"code": 190}, "fatal"), (403, {"code": 200}, "fatal"), (400, {"code": 100, "error_subcode": 33}, "fatal"),
    (400, {"code": 100, "error_subcode": 2804003}, "invalid"),
])
def test_error_classification(status, error, kind):
    body = {"events_received": 1} if error is None else {"error": error}
    assert classify(_Response(status, body)) == kind
    assert classify(_Response(None, None, network_error="ConnectTimeout")) == "transient"


def test_emulator_validates_like_meta():
    now = int(time.time())
    ok = {"event_name": "Lead", "event_time": now, "action_source": "phone_call", "user_data": {"ph": H("1")}}
    cases = [
        ([{**ok, "action_source": "telepathy"}], "action_source"),
        ([{**ok, "event_time": now - 8 * 86_400}], "Too Old"),
        ([{**ok, "action_source": "website"}], "event_source_url"),
        ([{**ok, "user_data": {"em": "Joe@Example.com"}}], "SHA-256"),
        ([{**ok, "event_name": "Purchase"}], "currency"),
        ([ok] * 1001, "at most 1000"),
    ]
    with running_emulator() as server:
        url = f"{server.base_url}/v25.0/{PIXEL}/events"
        for data, fragment in cases:
            resp = httpx.post(url, json={"data": data, "access_token": TOKEN})
            assert resp.status_code == 400 and fragment in resp.json()["error"]["message"], fragment
            assert resp.json()["error"]["code"] == 100 and resp.json()["error"]["fbtrace_id"]
        form = httpx.post(url, data={"data": json.dumps([ok]), "access_token": TOKEN})
        assert form.json()["events_received"] == 1 and form.json()["messages"] == []
        assert httpx.post(url, json={"data": [ok]}).json()["error"]["code"] == 190


@pytest.mark.parametrize("user, named", [
    ({"em": [H("a"), H("b")]}, None),  # a list of digests is allowed
    ({"em": [H("a"), "B" * 64]}, "user_data.em"),
    ({"ph": H("1")[:63]}, "user_data.ph"),
    ({"ph": 12345}, "user_data.ph"),
    ({"ph": H("1").upper(), "em": "joe@example.com"}, "user_data.em"),  # the first in Meta's order is named
    ({"ln": "ZZ" + H("1")[2:], "fn": H("x")}, "user_data.ln"),
    ({"external_id": "crm-42"}, None),  # external_id: hashing recommended, not required
])
def test_the_emulator_checks_every_hashed_value(user, named):
    from conversions_pipeline.capi.emulator import GraphApiError, validate_events

    now = int(time.time())
    data = [{"event_name": "Lead", "event_time": now, "action_source": "phone_call", "user_data": {"ph": H("2")}},
            {"event_name": "Lead", "event_time": now, "action_source": "phone_call", "user_data": user}]
    if named is None:
        validate_events(data, now, EmulatorConfig())
        return
    with pytest.raises(GraphApiError) as raised:
        validate_events(data, now, EmulatorConfig())
    assert f"data[1]: {named} must be a lowercase SHA-256" in raised.value.message


def test_the_emulator_counts_every_event_it_received_in_quality_and_insights():
    """Match quality per event name (mean match probability, each key's coverage, dedupe-key
    coverage) and Ads Manager's attributed counts add up over requests; a duplicate adds nothing."""
    from conversions_pipeline.capi.emulator import Emulator
    from conversions_pipeline.capi.match_model import match_probability

    now = int(time.time())
    click = f"fb.1.{(now - 60) * 1000}.AbC"
    leads = [{"event_name": "Lead", "event_time": now, "event_id": f"l{i}", "action_source": "phone_call",
              "user_data": {"ph": H(str(i)), "fbp": "", **({"fbc": click} if i % 2 else {}),
                            **({"em": H(f"{i}@x")} if i < 3 else {})}}
             for i in range(6)]
    buys = [{"event_name": "Purchase", "event_time": now, "action_source": "physical_store",
             "custom_data": {"value": 1, "currency": "USD"}, "user_data": {"em": H(f"b{i}")}} for i in range(3)]
    emulator = Emulator()
    for data in (leads[:4], leads[4:] + buys, leads[:1]):
        emulator.post_events(PIXEL, {"data": data, "access_token": TOKEN}, {}, "t")
    quality = {q["event_name"]: q for q in emulator.dataset_quality({"dataset_id": PIXEL})["web"]}
    coverage = {f["identifier"]: f["coverage"]["percentage"]
                for f in quality["Lead"]["event_match_quality"]["match_key_feedback"]}
    assert coverage["phone"] == 100.0 and coverage["click_id"] == 50.0 and coverage["email"] == 50.0
    assert coverage["browser_id"] == 0.0  # an empty value is not a key sent
    expected = sum(match_probability([k for k, v in e["user_data"].items() if v]) for e in leads) / 6
    assert quality["Lead"]["event_match_quality"]["composite_score"] == round(10 * expected, 1)
    assert quality["Lead"]["dedupe_key_feedback"][0]["coverage"]["percentage"] == 100.0
    assert quality["Purchase"]["dedupe_key_feedback"][0]["coverage"]["percentage"] == 0.0
    assert emulator.state.duplicates == 1
    day = datetime.fromtimestamp(now, timezone.utc).date().isoformat()
    actions = {a["action_type"]: a for a in emulator.insights("act_1", {})["data"][0]["actions"]}
    attributed = [emulator.attribution(e) for e in leads]
    assert int(actions["offsite_conversion.fb_pixel_lead"]["7d_click"]) == attributed.count("7d_click") >= 1
    assert int(actions["offsite_conversion.fb_pixel_lead"].get("1d_view", 0)) == attributed.count("1d_view")
    assert emulator.insights("act_1", {})["data"][0]["date_start"] == day


def test_a_gateway_answering_html_is_retried_and_a_wrong_url_stops_the_run():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    replies = [(502, "text/html", "<html>Bad Gateway</html>"), (200, "text/html", "<html>captive portal</html>"),
               (200, "application/json", '{"events_received": 1, "messages": [], "fbtrace_id": "T"}')]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            status, kind, text = replies.pop(0) if replies else (404, "text/html", "<html>Not Found</html>")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    event = ("e1", {"event_name": "Lead", "event_time": int(time.time()), "action_source": "phone_call",
                    "user_data": {"ph": H("14018842310")}})
    attempts = []
    try:
        with ConversionsApiClient(base, "v25.0", TOKEN, backoff_seconds=0.01, seed=1) as client:
            outcomes = client.send(PIXEL, [event], attempts.append)
            assert outcomes["e1"].status == "accepted"
            assert [a.outcome for a in attempts] == ["transient", "transient", "accepted"]
            with pytest.raises(FatalApiError, match="HTTP 404"):
                client.send(PIXEL, [event], attempts.append)
    finally:
        server.shutdown()


# --- events encoded a page at a time ---------------------------------------------------------------------

def test_page_encoding_sends_exactly_what_the_event_by_event_payload_would():
    """The vectorized encoder and payload() agree on every shape a stored event can take: no
    custom_data, a URL that needs escaping, LDU options merged at the top level, Unicode, and a
    row whose stored JSON holds NaN (flagged, never sent)."""
    from conversions_pipeline.capi.upload import payload, payload_texts

    ua = 'Mozilla/5.0 "quoted" \\ back\u00e9'
    rows = pd.DataFrame({
        "event_name": ["Lead", "Purchase", "Contact", "Lead", "Lead"],
        "event_time": [1_790_000_000, 1_790_000_001, 1_790_000_002, 1_790_000_003, 1_790_000_004],
        "event_id": ["a1", "b2", "c3", "d4", "e5"],
        "action_source": ["phone_call", "website", "chat", "other", "phone_call"],
        "user_data": ['{"ph": "' + "a" * 64 + '"}', json.dumps({"client_user_agent": ua, "em": "b" * 64},
                                                                 sort_keys=True), "{}",
                      '{"fn": "' + "c" * 64 + '"}', '{"ph": "' + "d" * 64 + '"}'],
        "custom_data": [None, '{"currency": "EUR", "value": 12.5}', "", '{"value": 1e+20}', '{"value": NaN}'],
        "event_source_url": [None, 'https://shop.example/p?q="x"\n\u00fc', "", "https://a.example/", None],
        "options": [None, '{"data_processing_options": ["LDU"], "data_processing_options_country": 1, '
                          '"data_processing_options_state": 1000}', '{"opt_out": true}', "", None],
    })
    texts, bad = payload_texts(rows)
    assert bad.tolist() == [False, False, False, False, True] and texts.iloc[4] is None
    for i in range(4):
        assert json.loads(texts.iloc[i]) == payload(rows.iloc[i]), i
    assert json.loads(texts.iloc[1])["data_processing_options_state"] == 1000
    assert "custom_data" not in json.loads(texts.iloc[2]) and "event_source_url" not in json.loads(texts.iloc[2])
