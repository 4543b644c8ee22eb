"""Correct data end to end, on SQLite and PostgreSQL: timestamps however the warehouse holds them,
duplicates with different contents, values that cannot be sent, and a ledger that tells the truth
after the source changes and the day is run again."""

import json
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa
from test_upload import DAY as UPLOAD_DAY
from test_upload import client_for, put_events, stats

from conversions_pipeline.capi.emulator import running_emulator
from conversions_pipeline.capi.upload import upload_day
from conversions_pipeline.events.config import EventsConfig
from conversions_pipeline.events.run import build_day
from conversions_pipeline.extract.run import extract_day
from conversions_pipeline.extract.timestamps import parse_timestamps, shape
from conversions_pipeline.warehouse.engine import create_schema
from conversions_pipeline.warehouse.io import bulk_insert, read_frame
from conversions_pipeline.warehouse.schema import (
    SOURCE_TABLES,
    STAGED_TABLES,
    calls,
    capi_events,
    order_items,
    orders,
    server_events,
)

PIXEL = "555"
DAY = (datetime.now(timezone.utc) - timedelta(days=1)).date()


def _iso(day: date, clock: str) -> str:
    return f"{day.isoformat()}{clock}"


# --- timestamps -------------------------------------------------------------------------------------

def test_parse_accepts_iso_with_zone_and_refuses_the_rest():
    got = parse_timestamps(pd.Series(["2026-11-29 10:00:00", "2026-11-29T10:00:00Z", "2026-11-29T23:30:00-05:00",
                                      "2026-11-30T02:00:00+0500", "2026-11-29 10:00:00.123456", "2026-11-29",
                                      "2026/11/29 10:00:00", "11/29/2026 10:00", 1764410400, "", None, "garbage",
                                      "2026-02-30 10:00"], dtype=object))
    expected = ["2026-11-29 10:00:00", "2026-11-29 10:00:00", "2026-11-30 04:30:00", "2026-11-29 21:00:00",
                "2026-11-29 10:00:00.123456", "2026-11-29 00:00:00"]
    assert [str(t) for t in got.head(6)] == expected
    assert got.iloc[6:].isna().all()
    assert shape("11/29/2026 10:00") == "99/99/9999 99:99" and shape("") == "<empty>" and shape(None) == "<null>"
    assert shape("John Smith") == "aaaa aaaaa"


def _raw_calls(engine, values: list) -> None:
    """Calls whose start_time is whatever text the warehouse holds (a text column on PostgreSQL)."""
    create_schema(engine)
    loose = calls.to_metadata(sa.MetaData())  # an export table that allows a missing start time
    loose.c.start_time.nullable = True
    with engine.begin() as conn:
        calls.drop(conn)
        loose.create(conn)
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ALTER TABLE calls ALTER COLUMN start_time TYPE text"))
        conn.execute(sa.text("INSERT INTO calls (id, start_time, customer_phone_number, spam) VALUES (:i, :t, :p, :s)"),
                     [{"i": f"T{n}", "t": v, "p": f"+1401555{n:04d}", "s": False} for n, v in enumerate(values)])


def test_odd_timestamps_never_stop_a_day_and_are_counted(engine):
    d = DAY
    values = [_iso(d, " 10:00:00"), _iso(d, "T10:00:00Z"), _iso(d, "T23:30:00-05:00"),   # T2 is the next day in UTC
              _iso(d + timedelta(days=1), "T02:00:00+05:00"),                              # T3 belongs to d
              _iso(d, "T25:99:00"), d.strftime("%Y/%m/%d 10:00:00"), d.strftime("%m/%d/%Y 10:00"), "1764410400",
              "", None, "not a time"]
    _raw_calls(engine, values)
    result = extract_day(engine, "calls", d)
    staged = read_frame(engine, sa.select(STAGED_TABLES["calls"]).where(STAGED_TABLES["calls"].c.partition_date == d))
    assert sorted(staged["id"]) == ["T0", "T1", "T3"]
    assert sorted(str(t) for t in pd.to_datetime(staged["start_time"])) == [
        f"{d} 10:00:00", f"{d} 10:00:00", f"{d} 21:00:00"]
    assert result.unreadable_near_day == 1                      # T4: shaped like the day, not a time
    assert result.unreadable_in_table == 6                      # T5..T10: not shaped like a date at all (or NULL)
    assert {"9999/99/99 99:99:99", "99/99/9999 99:99", "<empty>", "<null>"} <= set(result.unreadable_shapes)
    assert not any("not a time" in s for s in result.unreadable_shapes)
    next_day = extract_day(engine, "calls", d + timedelta(days=1))
    assert next_day.rows == 1
    # the events step takes what extract staged, whatever the source held
    for source in ("text_messages", "form_submissions", "web_sessions", "orders"):
        extract_day(engine, source, d)
    events = build_day(engine, d, EventsConfig(), PIXEL)
    assert events.events == 3 and events.by_status["eligible"] == 3


def test_timestamptz_columns_are_read_in_utc(warehouse_url, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("timestamptz is PostgreSQL's")
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE calls ALTER COLUMN start_time TYPE timestamptz "
                             "USING start_time AT TIME ZONE 'UTC'"))
        conn.execute(sa.text("SET TIME ZONE 'America/New_York'"))
        conn.execute(sa.text("INSERT INTO calls (id, start_time) VALUES ('Z1', :a), ('Z2', :b)"),
                     {"a": _iso(DAY, "T23:30:00+00:00"), "b": _iso(DAY, "T23:30:00-05:00")})
    extract_day(engine, "calls", DAY)
    staged = read_frame(engine, sa.select(STAGED_TABLES["calls"]))
    assert staged["id"].tolist() == ["Z1"] and str(pd.Timestamp(staged["start_time"].iloc[0])) == f"{DAY} 23:30:00"


# --- duplicates with different contents -----------------------------------------------------------

def _order(order_id, status, total=50.0, **kw):
    row = {"id": order_id, "created_at": datetime.combine(DAY, datetime.min.time()) + timedelta(hours=10),
           "status": status, "channel": "online", "currency": "USD", "total": total, "email": "a@b.co",
           "client_user_agent": "UA", "event_source_url": "https://shop/thanks"}
    row.update(kw)
    return row


def _load(engine, table, rows):
    create_schema(engine)
    frame = pd.DataFrame(rows)
    if "quantity" in frame:
        frame["quantity"] = frame["quantity"].astype("Int64")
    with engine.begin() as conn:
        bulk_insert(conn, table, frame)


def _events(engine, day=DAY, config=None):
    for source in SOURCE_TABLES:
        extract_day(engine, source, day)
    result = build_day(engine, day, config or EventsConfig(), PIXEL)
    frame = read_frame(engine, sa.select(server_events).where(server_events.c.partition_date == day))
    return result, frame.set_index("source_id")


def test_a_refund_beats_the_paid_row_of_the_same_order_and_is_counted(engine):
    _load(engine, orders, [_order("O1", "paid"), _order("O1", "refunded"), _order("O2", "paid"),
                           _order("O2", "paid")])
    result, events = _events(engine)
    assert events.loc["O1", "reason"] == "order_refunded" and events.loc["O2", "status"] == "eligible"
    assert result.conflicting_duplicates == {"orders": 1}


def test_the_latest_row_wins_when_the_export_has_an_updated_at_column(engine):
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE orders ADD COLUMN updated_at " +
                             ("TIMESTAMP" if engine.dialect.name == "postgresql" else "DATETIME")))
    _load(engine, orders, [_order("O1", "refunded"), _order("O1", "paid", total=75.0)])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE orders SET updated_at = :t WHERE status = 'refunded'"),
                     {"t": datetime.combine(DAY, datetime.min.time()) + timedelta(hours=11)})
        conn.execute(sa.text("UPDATE orders SET updated_at = :t WHERE status = 'paid'"),
                     {"t": datetime.combine(DAY, datetime.min.time()) + timedelta(hours=12)})
    _, events = _events(engine)
    assert events.loc["O1", "status"] == "eligible" and json.loads(events.loc["O1", "custom_data"])["value"] == 75.0


# --- values -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("total", [float("inf"), 1e309, -5.0, 5e12])
def test_an_unusable_order_total_skips_that_order_only(engine, total):
    create_schema(engine)
    with engine.begin() as conn:  # Numeric(14, 2) cannot hold these: an export would keep them as text
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ALTER TABLE orders ALTER COLUMN total TYPE double precision"))
    _load(engine, orders, [_order("BAD", "paid", total=total), _order("OK", "paid")])
    _, events = _events(engine)
    assert events.loc["BAD", "reason"] == "invalid_value_or_currency"
    assert events.loc["OK", "status"] == "eligible"


def test_lines_without_a_usable_quantity_are_left_out(engine):
    _load(engine, orders, [_order("O1", "paid")])
    _load(engine, order_items, [
        {"order_id": "O1", "line_id": "1", "product_id": "P1", "quantity": 2, "unit_price": 10.0},
        {"order_id": "O1", "line_id": "2", "product_id": "P2", "quantity": 0, "unit_price": 10.0},
        {"order_id": "O1", "line_id": "3", "product_id": "P3", "quantity": -3, "unit_price": 10.0},
        {"order_id": "O1", "line_id": "4", "product_id": "P4", "quantity": None, "unit_price": 10.0}])
    _, events = _events(engine)
    custom = json.loads(events.loc["O1", "custom_data"])
    assert custom["contents"] == [{"id": "P1", "quantity": 2, "item_price": 10.0}] and custom["num_items"] == 2
    assert "3 order line(s) left out" in events.loc["O1", "note"]


def test_one_unencodable_event_is_named_and_the_rest_of_the_day_is_sent(engine):
    rows = put_events(engine, 30)
    with engine.begin() as conn:
        conn.execute(sa.update(server_events).where(server_events.c.event_id == "ev000007")
                     .values(custom_data='{"value": Infinity, "currency": "USD"}'))
    logged = []
    with running_emulator() as server, client_for(server) as client:
        result = upload_day(engine, client, rows["partition_date"].iloc[0], log=logged.append)
        assert stats(server)["events"] == 29
    assert result.unencodable == [("ev000007", "calls", "C7")] and "ev000007 (calls C7)" in logged[0]
    assert result.ledger == {"accepted": 29, "skipped": 1}


# --- the ledger after re-runs ------------------------------------------------------------------------

def _call(call_id, hour, **kw):
    row = {"id": call_id, "start_time": datetime.combine(DAY, datetime.min.time()) + timedelta(hours=hour),
           "customer_phone_number": f"+1401555{hour:04d}", "direction": "inbound", "spam": False, "duration": 60}
    row.update(kw)
    return row


def _run(engine, server, **kw):
    _events(engine)
    with client_for(server) as client:
        return upload_day(engine, client, DAY, **kw)


def _ledger(engine):
    return read_frame(engine, sa.select(capi_events)).set_index("source_id")


def test_changes_in_the_source_are_retracted_never_hidden_or_deleted(engine):
    _load(engine, calls, [_call("A", 1), _call("B", 2), _call("C", 3), _call("D", 4)])
    with running_emulator() as server:
        first = _run(engine, server)
        assert first.ledger == {"accepted": 4}
        before = _ledger(engine)
        with engine.begin() as conn:
            conn.execute(sa.update(calls).where(calls.c.id == "A").values(spam=True))
            conn.execute(sa.delete(calls).where(calls.c.id == "B"))
        second = _run(engine, server)
        led = _ledger(engine)
        assert (led.loc["A", "status"], led.loc["A", "reason"]) == ("retracted", "retracted: spam")
        assert (led.loc["B", "status"], led.loc["B", "reason"]) == ("retracted", "retracted: deleted")
        assert led.loc["A", "accepted_at"] == before.loc["A", "accepted_at"]
        assert second.ledger == {"accepted": 2, "retracted": 2} and second.sent == 0
        assert second.ledger["accepted"] <= second.eligible + second.retracted and second.eligible == 2
        # the spam mark is lifted: accepted again, nothing resent
        with engine.begin() as conn:
            conn.execute(sa.update(calls).where(calls.c.id == "A").values(spam=False))
        third = _run(engine, server)
        assert _ledger(engine).loc["A", "status"] == "accepted" and third.sent == 0
        assert stats(server)["events"] == 4


def test_a_new_lead_is_sent_and_attempts_and_first_seen_survive_re_runs(engine):
    _load(engine, calls, [_call("A", 1)])
    with running_emulator() as server:
        _run(engine, server)
        first = _ledger(engine).loc["A"]
        _load(engine, calls, [_call("E", 5)])
        again = _run(engine, server)
        led = _ledger(engine)
        assert again.sent == 1 and led.loc["E", "status"] == "accepted"
        assert led.loc["A", "first_seen_at"] == first["first_seen_at"] and led.loc["A", "attempts"] == 1
        assert led.loc["A", "first_sent_at"] == first["first_sent_at"]


def test_a_rejected_event_is_final_until_its_payload_changes(engine):
    put_events(engine, 10, bad={4})
    day = UPLOAD_DAY
    with running_emulator() as server, client_for(server) as client:
        upload_day(engine, client, day)
        requests = stats(server)["requests"]
        again = upload_day(engine, client, day)
        assert again.sent == 0 and stats(server)["requests"] == requests
        assert _ledger(engine).loc["C4", "status"] == "rejected"
        sent_hashes = read_frame(engine, sa.select(server_events.c.source_id, server_events.c.payload_hash))
        # the ledger keeps the hash of the payload each event was sent with
        assert _ledger(engine)["payload_hash"].to_dict() == dict(zip(sent_hashes["source_id"],
                                                                     sent_hashes["payload_hash"]))
        fixed = json.dumps({"ph": "a" * 64})
        with engine.begin() as conn:
            conn.execute(sa.update(server_events).where(server_events.c.event_id == "ev000004")
                         .values(user_data=fixed, payload_hash="b" * 64))
        resent = upload_day(engine, client, day)
        assert resent.sent == 1 and _ledger(engine).loc["C4", "status"] == "accepted"


def test_a_forced_dry_run_changes_no_status(engine, tmp_path):
    put_events(engine, 5)
    day = UPLOAD_DAY
    with running_emulator() as server:
        with client_for(server) as client:
            upload_day(engine, client, day)
        with client_for(server, dry_run_dir=str(tmp_path)) as client:
            dry = upload_day(engine, client, day, force=True, dry_run=True)
    assert dry.sent == 5 and set(_ledger(engine)["status"]) == {"accepted"}


def test_days_past_metas_window_say_so(engine):
    put_events(engine, 3, age_seconds=9 * 86_400)
    day = UPLOAD_DAY
    with running_emulator() as server, client_for(server) as client:
        result = upload_day(engine, client, day)
    assert result.too_old == 3 and result.sent == 0
