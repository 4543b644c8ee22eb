"""Safe under misuse and faults: each attack against a loopback stand-in for the Graph API that
misbehaves on purpose, or two real concurrent runs of the same day."""

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import sqlalchemy as sa
from test_upload import DAY, TOKEN, put_events

from conversions_pipeline.capi.client import ConversionsApiClient, FatalApiError
from conversions_pipeline.capi.emulator import EmulatorConfig, running_emulator
from conversions_pipeline.capi.upload import upload_day
from conversions_pipeline.cli import main
from conversions_pipeline.errors import PipelineError
from conversions_pipeline.warehouse.io import read_frame
from conversions_pipeline.warehouse.locks import LockTimeout, day_lock
from conversions_pipeline.warehouse.schema import capi_batches, capi_events, server_events

YESTERDAY = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()


# --- a Graph API stand-in that misbehaves ---------------------------------------------------------

class Misbehave:
    def __init__(self, answer):
        self.answer = answer  # (handler, body) -> None: writes the response
        self.requests = 0


@contextmanager
def misbehaving(answer):
    state = Misbehave(answer)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            state.requests += 1
            try:
                state.answer(self, body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def reply(handler, status, body: bytes, content_type="application/json", headers=()):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    for k, v in headers:
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def client(base, **kw):
    kw.setdefault("backoff_seconds", 0.01)
    kw.setdefault("max_attempts", 2)
    return ConversionsApiClient(base, "v25.0", TOKEN, **kw)


def ledger(engine):
    return read_frame(engine, sa.select(capi_events))


# --- answers are checked before anything is accepted ------------------------------------------------

@pytest.mark.parametrize("answer", [b"{}", b"null", b'{"events_received": 0}', b"[1, 2]", b'"ok"',
                                    b'{"events_received": "5", "fbtrace_id": {"x": 1}}',
                                    b'{"events_received": true, "messages": 7, "fbtrace_id": 12}'])
def test_an_answer_that_does_not_confirm_the_events_accepts_nothing(engine, answer):
    put_events(engine, 5)
    with misbehaving(lambda h, b: reply(h, 200, answer)) as (base, state), client(base) as c:
        result = upload_day(engine, c, DAY)
    assert result.ledger == {"pending": 5}
    batches = read_frame(engine, sa.select(capi_batches))
    assert set(batches["outcome"]) <= {"unverified", "split"} and "unverified" in set(batches["outcome"])
    assert batches["error_message"].str.contains("did not confirm").all()


def test_a_partial_count_is_split_until_each_part_is_confirmed(engine):
    put_events(engine, 4)

    def answer(h, body):  # counts one event short whenever more than one is sent
        n = len(body["data"])
        reply(h, 200, json.dumps({"events_received": n - 1 if n > 1 else n, "fbtrace_id": "T"}).encode())

    with misbehaving(answer) as (base, state), client(base) as c:
        result = upload_day(engine, c, DAY)
    assert result.ledger == {"accepted": 4} and state.requests == 1 + 2 + 4


def test_a_huge_answer_is_not_read(engine):
    put_events(engine, 2)
    huge = b'{"events_received": 2, "pad": "' + b"x" * 5_000_000 + b'"}'
    with misbehaving(lambda h, b: reply(h, 200, huge)) as (base, _), client(base) as c:
        result = upload_day(engine, c, DAY)
    assert result.ledger == {"pending": 2}
    assert read_frame(engine, sa.select(capi_batches))["error_message"].str.contains("larger than").all()


# --- bounded waits ---------------------------------------------------------------------------------

def test_a_server_that_trickles_cannot_hold_the_run(engine):
    put_events(engine, 3)

    def trickle(h, body):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()
        for ch in b'{"events_received": 3}':
            h.wfile.write(bytes([ch]))
            h.wfile.flush()
            time.sleep(0.4)

    started = time.monotonic()
    with misbehaving(trickle) as (base, _), client(base, timeout_seconds=1.0) as c:
        result = upload_day(engine, c, DAY)
    assert time.monotonic() - started < 8
    assert result.ledger == {"pending": 3}
    assert read_frame(engine, sa.select(capi_batches))["error_message"].str.contains("no complete answer").all()


def test_the_whole_upload_has_a_wall_clock_bound(engine):
    put_events(engine, 30)
    with misbehaving(lambda h, b: reply(h, 503, b"busy", "text/plain")) as (base, _):
        with client(base, max_attempts=50, backoff_seconds=0.5, max_retry_seconds=300) as c:
            started = time.monotonic()
            result = upload_day(engine, c, DAY, batch_size=10, max_seconds=1.0)
    assert time.monotonic() - started < 6 and result.timed_out and result.ledger == {"pending": 30}


# --- secrets ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["json", "html", "ok"])
def test_a_token_echoed_in_every_field_is_stored_nowhere(engine, tmp_path, kind):
    put_events(engine, 3)

    def echo(h, body):
        token = body["access_token"]
        if kind == "html":
            reply(h, 502, (f"<html><body><h1>Bad gateway</h1>{'x' * 190}<p>token={token}</p></body></html>").encode(),
                  "text/html")
        elif kind == "json":
            reply(h, 400, json.dumps({"error": {"message": f"Invalid token {token}", "code": 1, "is_transient": True,
                                                "fbtrace_id": token, "error_user_msg": token}}).encode())
        else:
            reply(h, 200, json.dumps({"events_received": 3, "messages": [f"seen {token}"],
                                      "fbtrace_id": f"trace-{token}"}).encode())

    with misbehaving(echo) as (base, _), client(base, dry_run_dir=str(tmp_path)) as c:
        upload_day(engine, c, DAY)
        upload_day(engine, c, DAY, dry_run=True, force=True)
    stored = ledger(engine).to_json() + read_frame(engine, sa.select(capi_batches)).to_json()
    stored += "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert TOKEN not in stored and TOKEN[:12] not in stored


def test_a_redirect_names_the_base_url_not_permissions(engine):
    put_events(engine, 2)
    answer = lambda h, b: reply(h, 301, b"", headers=[("Location", "https://elsewhere.example/v25.0/555/events")])  # noqa: E731
    with misbehaving(answer) as (base, _), client(base) as c:
        with pytest.raises(FatalApiError, match="redirect .*FB_GRAPH_BASE_URL"):
            upload_day(engine, c, DAY)


def test_pixel_ids_never_reach_a_url_or_a_path_unchecked(tmp_path):
    c = client("http://127.0.0.1:9", dry_run_dir=str(tmp_path / "dry"))
    for bad in ("../../steal?", "12?x=1#y", "", "555/../../x"):
        with pytest.raises(PipelineError, match="digits only"):
            c.url(bad)
        with pytest.raises(PipelineError):
            c.dry_run(bad, [("e", {"event_name": "Lead"})], lambda a: None)
    assert not any(tmp_path.rglob("*.json")) and not (tmp_path.parent / "steal").exists()
    with pytest.raises(PipelineError, match="dry_run_dir"):
        client("http://127.0.0.1:9").dry_run("555", [("e", {})], lambda a: None)


# --- fail closed: settings checked before any work -------------------------------------------------

@pytest.fixture
def warehouse_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVERSIONS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PARTITIONS_START_DATE", "2026-01-01")
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    assert main(["seed", "--days", "1", "--per-day", "30", "--end-date", YESTERDAY]) == 0
    return tmp_path


@pytest.mark.parametrize("env, fragment", [
    ({"FB_ACCESS_TOKEN": TOKEN}, "FB_PIXEL_ID is not"),
    ({"FB_GRAPH_BASE_URL": "https://graph.example.com"}, "set FB_PIXEL_ID and FB_ACCESS_TOKEN"),
    ({"FB_PIXEL_ID": "555"}, "FB_ACCESS_TOKEN is not"),
    ({}, "set FB_PIXEL_ID and FB_ACCESS_TOKEN to send to Meta, or CAPI_DESTINATION=emulator"),
    ({"FB_PIXEL_ID": "../../steal?", "FB_ACCESS_TOKEN": TOKEN}, "digits only"),
    ({"FB_PIXEL_ID": "555", "FB_ACCESS_TOKEN": TOKEN, "FB_API_VERSION": "../x"}, "not a Graph API version"),
    ({"FB_PIXEL_ID": "555", "FB_ACCESS_TOKEN": TOKEN, "FB_GRAPH_BASE_URL": "http://graph.example.com"}, "plain http"),
    ({"FB_PIXEL_ID": "555", "FB_ACCESS_TOKEN": TOKEN, "FB_GRAPH_BASE_URL": "graph.facebook.com"}, "no http(s) scheme"),
    ({"CAPI_DESTINATION": "prod"}, "CAPI_DESTINATION must be meta or emulator"),
    ({"CAPI_DESTINATION": "emulator", "PARTITIONS_START_DATE": "2024/01/01"}, "PARTITIONS_START_DATE '2024/01/01'"),
])
def test_a_deployment_missing_or_misspelling_a_setting_fails_before_any_work(warehouse_env, monkeypatch, capsys,
                                                                             env, fragment):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    assert main(["run", "--date", YESTERDAY]) == 2
    out, err = capsys.readouterr()
    assert fragment in err and err.count("\n") == 1 and err.startswith("error: ") and " done in " not in out
    assert TOKEN not in out + err
    engine = sa.create_engine(os.environ["WAREHOUSE_URL"])
    with engine.connect() as conn:  # no step ran: nothing staged, built or sent
        assert conn.execute(sa.select(sa.func.count()).select_from(server_events)).scalar_one() == 0


def test_the_emulator_is_used_only_when_asked_and_every_run_says_where(warehouse_env, monkeypatch, capsys):
    monkeypatch.setenv("CAPI_DESTINATION", "emulator")
    assert main(["run", "--date", YESTERDAY]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("destination: emulator (the embedded emulator), pixel ")
    engine = sa.create_engine(os.environ["WAREHOUSE_URL"])
    led = read_frame(engine, sa.select(capi_events.c.status, capi_events.c.destination))
    assert set(led.loc[led["status"] == "accepted", "destination"]) == {"emulator"}
    assert set(read_frame(engine, sa.select(capi_batches.c.destination))["destination"]) == {"emulator"}


def test_events_accepted_by_the_emulator_are_sent_to_meta_when_it_becomes_the_destination(engine):
    put_events(engine, 4)
    with running_emulator() as server:
        with ConversionsApiClient(server.base_url, "v25.0", TOKEN, destination="emulator") as c:
            upload_day(engine, c, DAY, destination="emulator")
        with ConversionsApiClient(server.base_url, "v25.0", TOKEN, destination="meta") as c:
            again = upload_day(engine, c, DAY, destination="meta")
    assert again.sent == 4 and set(ledger(engine)["destination"]) == {"meta"}


# --- one run per day and step ----------------------------------------------------------------------

def test_a_second_holder_waits_then_stops_with_a_clear_message(engine):
    with day_lock(engine, DAY, "upload", wait_seconds=1):
        with pytest.raises(LockTimeout, match="another run is working on upload"):
            with day_lock(engine, DAY, "upload", wait_seconds=0.5):
                pass
        with day_lock(engine, DAY, "events", wait_seconds=0.5):  # another step of the day is free
            pass
    with day_lock(engine, DAY, "upload", wait_seconds=0.5):  # released
        pass


def test_two_concurrent_runs_of_one_day_send_everything_once(warehouse_url, tmp_path):
    day = (datetime.now(timezone.utc) - timedelta(days=1)).date()
    env = {**os.environ, "WAREHOUSE_URL": warehouse_url, "CAPI_DESTINATION": "emulator",
           "PARTITIONS_START_DATE": "2026-01-01", "CONVERSIONS_DATA_DIR": str(tmp_path / "data")}
    env.pop("DAGSTER_HOME", None)
    cli = [sys.executable, "-m", "conversions_pipeline.cli"]
    subprocess.run([*cli, "seed", "--days", "1", "--per-day", "400", "--end-date", day.isoformat()], env=env,
                   check=True, capture_output=True)
    with running_emulator(EmulatorConfig(latency_ms=30)) as server:
        env["FB_GRAPH_BASE_URL"] = server.base_url
        runs = [subprocess.Popen([*cli, "run", "--date", day.isoformat()], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [r.communicate(timeout=240) for r in runs]
        stats = httpx.get(server.base_url + "/_emulator/stats").json()
    assert [r.returncode for r in runs] == [0, 0], outputs
    engine = sa.create_engine(warehouse_url.replace("postgresql://", "postgresql+psycopg2://"))
    events = read_frame(engine, sa.select(server_events.c.event_id, server_events.c.status))
    assert not events["event_id"].duplicated().any()
    eligible = int((events["status"] == "eligible").sum())
    assert stats["events"] == eligible and stats["duplicates"] == 0
    led = read_frame(engine, sa.select(capi_events.c.status))
    assert int((led["status"] == "accepted").sum()) == eligible
    engine.dispose()


def test_sigterm_stops_a_run_within_seconds_and_loses_nothing(tmp_path):
    day = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    url = f"sqlite:///{tmp_path / 'w.db'}"
    env = {**os.environ, "WAREHOUSE_URL": url, "CAPI_DESTINATION": "emulator", "PARTITIONS_START_DATE": "2026-01-01"}
    env.pop("DAGSTER_HOME", None)
    cli = [sys.executable, "-m", "conversions_pipeline.cli"]
    subprocess.run([*cli, "seed", "--days", "1", "--per-day", "3000", "--end-date", day], env=env, check=True,
                   capture_output=True)
    engine = sa.create_engine(url)
    with running_emulator(EmulatorConfig(latency_ms=2500)) as server:
        env["FB_GRAPH_BASE_URL"] = server.base_url
        run = subprocess.Popen([*cli, "run", "--date", day], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the upload has started sending
            with engine.connect() as conn:
                if sa.inspect(conn).has_table("capi_batches") and conn.execute(
                        sa.select(sa.func.count()).select_from(capi_events)).scalar_one():
                    break
            time.sleep(0.1)
        time.sleep(0.3)
        signalled = time.monotonic()
        run.send_signal(__import__("signal").SIGTERM)
        out, err = run.communicate(timeout=60)
        stopped_in = time.monotonic() - signalled
        received = httpx.get(server.base_url + "/_emulator/stats").json()["events"]
    assert run.returncode == 130 and "interrupted" in err and stopped_in < 12, (out, err[-3000:])
    led = read_frame(engine, sa.select(capi_events.c.status))["status"].value_counts().to_dict()
    eligible = read_frame(engine, sa.select(server_events.c.status))["status"].eq("eligible").sum()
    assert led.get("pending", 0) > 0 and led.get("accepted", 0) + led.get("pending", 0) == eligible
    assert led.get("accepted", 0) <= received  # nothing is marked accepted that the API did not receive


def test_database_errors_never_carry_row_values(engine):
    put_events(engine, 1)
    with pytest.raises(sa.exc.IntegrityError) as caught:
        with engine.begin() as conn:
            conn.execute(capi_events.insert(), [{"partition_date": DAY, "pixel_id": "555", "event_id": "e",
                                                 "event_name": "Lead", "source_table": "calls", "source_id": "x",
                                                 "status": "pending", "updated_at": None,
                                                 "error_message": "203.0.113.77"}])
    assert "203.0.113.77" not in str(caught.value)
