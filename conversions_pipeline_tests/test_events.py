"""Event building rules, one small fixture per rule (conversions_pipeline.events, pure)."""

import hashlib
import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversions_pipeline.errors import PipelineError
from conversions_pipeline.events.build import build_events, event_id, parse_value
from conversions_pipeline.events.config import EventsConfig, PixelRoute
from conversions_pipeline.events.merge import merge_sessions
from conversions_pipeline.events.names import canonical_event_name

NOW = datetime(2026, 3, 15, 12, 0, 0)
T = datetime(2026, 3, 15, 9, 0, 0)
H = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
PIXEL = "111"


def call(**kw):
    row = {"id": "C1", "company_id": "COM1", "start_time": T, "duration": 120, "answered": True,
           "direction": "inbound", "first_call": True, "source": "Facebook Ads", "fbclid": None,
           "landing_page_url": None, "tracking_phone_number": "+14015550001", "session_id": None,
           "lead_status": None, "value": "", "spam": False, "ph": H("14018842310"), "fn": None, "ln": None,
           "ct": None, "st": None, "zp": None, "country": None, "region_country": None, "region_state": None,
           "is_test": False}
    row.update(kw)
    return row


def order(**kw):
    row = {"id": "O1", "created_at": T, "status": "paid", "channel": "online", "currency": "USD", "total": 99.5,
           "fbclid": None, "fbc": None, "fbp": "fb.1.1.2", "client_ip_address": "1.2.3.4",
           "client_user_agent": "Mozilla/5.0", "session_id": None, "event_source_url": "https://shop/thanks",
           "em": H("a@b.co"), "ph": None, "fn": None, "ln": None, "ct": None, "st": None, "zp": None,
           "country": None, "external_id": None, "region_country": None, "region_state": None, "is_test": False}
    row.update(kw)
    return row


def session(**kw):
    row = {"id": "S1", "started_at": T - timedelta(minutes=10), "tracking_phone_number": "+14015550001",
           "fbclid": "IwAR_AbC", "fbc": None, "fbp": "fb.1.99.123", "client_ip_address": "9.9.9.9",
           "client_user_agent": "UA/1", "landing_page_url": "https://site/lp"}
    row.update(kw)
    return row


ITEMS = pd.DataFrame([{"order_id": "O1", "line_id": "O1-1", "product_id": "P1", "sku": "S", "title": "x",
                       "quantity": 2, "unit_price": 20.0},
                      {"order_id": "O1", "line_id": "O1-2", "product_id": "P2", "sku": "S2", "title": "y",
                       "quantity": 1, "unit_price": 59.5}])


def build(calls=(), texts=(), forms=(), orders=(), sessions=(), config=None, now=NOW, suppressed=frozenset()):
    staged = {"calls": pd.DataFrame(list(calls)), "texts": pd.DataFrame(list(texts)),
              "forms": pd.DataFrame(list(forms)), "orders": pd.DataFrame(list(orders))}
    return build_events(staged, pd.DataFrame(list(sessions)), ITEMS, config or EventsConfig(), now, PIXEL, suppressed)


def only(events):
    assert len(events) == 1, events
    return events.iloc[0]


# --- names --------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("Order Completed", "Purchase"), ("order_completed", "Purchase"), ("orderCompleted", "Purchase"),
    ("ORDER-COMPLETED", "Purchase"), ("Products Searched", "Search"), ("Product Added", "AddToCart"),
    ("Checkout Started", "InitiateCheckout"), ("Signed Up", "CompleteRegistration"), ("lead", "Lead"),
    ("purchase", "Purchase"), ("Schedule", "Schedule"), ("QualifiedLead", "QualifiedLead"),
])
def test_name_map(raw, expected):
    assert canonical_event_name(raw) == expected


def test_config_canonicalizes_names_and_loads_yaml(tmp_path):
    path = tmp_path / "events.yaml"
    path.write_text("order_event: order_completed\nsend_texts: false\nqualified_event: Qualified Lead\n")
    config = EventsConfig(config_file=str(path)).resolved()
    assert config.order_event == "Purchase" and config.send_texts is False
    assert config.qualified_event == "Qualified Lead"
    (tmp_path / "bad.yaml").write_text("send_faxes: true\n")
    with pytest.raises(PipelineError, match="unknown setting\\(s\\) send_faxes"):
        EventsConfig(config_file=str(tmp_path / "bad.yaml")).resolved()


# --- basics: one event per lead, ids, action sources ---------------------------------------------

def test_a_call_becomes_a_phone_call_lead_with_a_stable_id():
    e = only(build(calls=[call()]))
    assert (e.event_name, e.action_source, e.status) == ("Lead", "phone_call", "eligible")
    assert e.event_time == int((T - datetime(1970, 1, 1)).total_seconds())
    assert e.event_id == event_id("calls", "C1", "Lead") == only(build(calls=[call()])).event_id
    assert json.loads(e.user_data) == {"ph": H("14018842310")}
    assert e.pixel_id == PIXEL and e.source_table == "calls" and e.source_id == "C1"


def test_duplicate_source_rows_collapse_and_the_good_lead_stage_wins():
    events = build(calls=[call(), call(lead_status="good_lead")],
                   config=EventsConfig(qualified_event="QualifiedLead"))
    assert sorted(events["event_name"]) == ["Lead", "QualifiedLead"]
    assert events["event_id"].is_unique


def test_texts_are_chat_contacts_and_formats_can_be_turned_off():
    text = {"id": "T1", "created_at": T, "direction": "inbound", "ph": H("14018842310"), "company_id": "COM1",
            "tracking_phone_number": None, "lead_status": None, "is_test": False}
    e = only(build(texts=[text]))
    assert (e.event_name, e.action_source) == ("Contact", "chat")
    e = only(build(texts=[text], config=EventsConfig(send_texts=False)))
    assert (e.status, e.reason) == ("skipped", "format_disabled")


def test_form_is_website_only_with_url_and_user_agent():
    form = {"id": "F1", "submitted_at": T, "form_url": "https://site/contact", "landing_page_url": None,
            "session_id": "S1", "em": H("a@b.co"), "lead_status": None, "value": "$1,250.50", "is_test": False}
    e = only(build(forms=[form], sessions=[session()]))
    assert e.action_source == "website" and e.event_source_url == "https://site/contact"
    assert json.loads(e.user_data)["client_user_agent"] == "UA/1"
    assert json.loads(e.custom_data) == {"value": 1250.5, "currency": "USD"}
    e = only(build(forms=[form]))  # no session: no user agent
    assert e.action_source == "other" and e.note == "other: no user agent known"


@pytest.mark.parametrize("channel, expected", [("online", "website"), ("in_store", "physical_store"),
                                              ("phone", "phone_call")])
def test_order_action_source_by_channel(channel, expected):
    assert only(build(orders=[order(channel=channel)])).action_source == expected


def test_purchase_payload_has_metas_documented_shape():
    e = only(build(orders=[order()]))
    custom = json.loads(e.custom_data)
    assert custom == {"value": 99.5, "currency": "USD", "order_id": "O1", "content_type": "product",
                      "content_ids": ["P1", "P2"], "num_items": 3,
                      "contents": [{"id": "P1", "quantity": 2, "item_price": 20.0},
                                   {"id": "P2", "quantity": 1, "item_price": 59.5}]}
    user = json.loads(e.user_data)
    assert user["em"] == H("a@b.co") and user["client_ip_address"] == "1.2.3.4" and user["fbp"] == "fb.1.1.2"
    assert e.event_source_url == "https://shop/thanks" and e.action_source == "website"


@pytest.mark.parametrize("kw, reason", [
    ({"status": "refunded"}, "order_refunded"), ({"status": "cancelled"}, "order_cancelled"),
    ({"status": "test"}, "test"), ({"currency": "XYZ"}, "invalid_value_or_currency"),
    ({"total": None}, "invalid_value_or_currency"),
])
def test_orders_that_are_not_purchases(kw, reason):
    e = only(build(orders=[order(**kw)]))
    assert (e.status, e.reason) == ("skipped", reason)


def test_currency_is_normalized_to_iso_upper_case():
    assert json.loads(only(build(orders=[order(currency=" usd")])).custom_data)["currency"] == "USD"


@pytest.mark.parametrize("raw, value", [("125.00", 125.0), ("$125", 125.0), ("$1,250.50", 1250.5), ("", None),
                                        (None, None), ("call me", None)])
def test_lead_values(raw, value):
    got = parse_value(pd.Series([raw], dtype=object)).iloc[0]
    assert (None if pd.isna(got) else got) == value


# --- session merge -------------------------------------------------------------------------------

def lead_frame(*rows):
    return pd.DataFrame([{"time": t, "session_id": sid, "tracking_phone_number": num} for t, sid, num in rows])


@pytest.mark.parametrize("minutes_before, tied", [(29, True), (30, True), (31, False)])
def test_tracking_number_window(minutes_before, tied):
    merged = merge_sessions(lead_frame((T, None, "+1401")),
                            pd.DataFrame([session(started_at=T - timedelta(minutes=minutes_before),
                                                  tracking_phone_number="+1401")]),
                            pd.Timedelta(minutes=30))
    assert (merged["merged_session_id"].iloc[0] == "S1") is tied


def test_a_number_shown_to_several_visitors_in_the_window_ties_no_one():
    """A static source number (or a small pool) shown to two visitors: either could have called."""
    sessions = pd.DataFrame([session(id="OLD", started_at=T - timedelta(minutes=20)),
                             session(id="NEAR", started_at=T - timedelta(minutes=5)),
                             session(id="AFTER", started_at=T + timedelta(minutes=1))])
    merged = merge_sessions(lead_frame((T, None, "+14015550001")), sessions, pd.Timedelta(minutes=30))
    assert merged["merged_session_id"].iloc[0] is None
    assert merged["session_tie"].iloc[0] == "ambiguous_tracking_number"


def test_a_pool_number_reused_by_a_later_visitor_ties_the_one_in_the_window():
    """Visitor A saw the number 40 minutes before T, visitor B 10 minutes before: a call at T has
    only B in its window, calls before B came have only A; a call whose window holds both is ambiguous."""
    sessions = pd.DataFrame([session(id="A", started_at=T - timedelta(minutes=40)),
                             session(id="B", started_at=T - timedelta(minutes=10))])
    merged = merge_sessions(lead_frame((T, None, "+14015550001"), (T - timedelta(minutes=12), None, "+14015550001"),
                                       (T - timedelta(minutes=35), None, "+14015550001")),
                            sessions, pd.Timedelta(minutes=30))
    assert merged["merged_session_id"].tolist() == ["B", "A", "A"]
    assert merged["session_tie"].tolist() == ["tracking_number"] * 3
    both = merge_sessions(lead_frame((T - timedelta(minutes=5), None, "+14015550001")),
                          pd.DataFrame([session(id="A", started_at=T - timedelta(minutes=30)),
                                        session(id="B", started_at=T - timedelta(minutes=10))]),
                          pd.Timedelta(minutes=30))
    assert both["session_tie"].iloc[0] == "ambiguous_tracking_number"


def test_other_numbers_and_sessions_without_a_number_do_not_count():
    sessions = pd.DataFrame([session(id="MINE", started_at=T - timedelta(minutes=10)),
                             session(id="OTHER", started_at=T - timedelta(minutes=9), tracking_phone_number="+19"),
                             session(id="NONE", started_at=T - timedelta(minutes=8), tracking_phone_number=None)])
    merged = merge_sessions(lead_frame((T, None, "+14015550001"), (T, None, "+19")), sessions, pd.Timedelta(minutes=30))
    assert merged["merged_session_id"].tolist() == ["MINE", "OTHER"]


def test_visits_prepared_once_tie_every_chunk_as_a_brute_force_search_would():
    """The events step prepares the day's visits once and ties chunk after chunk to them; the
    ties must be exactly those of counting, lead by lead, the visits in its window."""
    from conversions_pipeline.events.merge import index_visits

    rng = np.random.default_rng(7)
    numbers = [f"+1401555000{i}" for i in range(6)]
    start = pd.Timestamp("2026-03-02 08:00")
    sessions = pd.DataFrame([session(id=f"S{i}", tracking_phone_number=rng.choice(numbers + [None]),
                                     started_at=start + pd.Timedelta(minutes=int(rng.integers(0, 600))))
                             for i in range(400)])
    leads = lead_frame(*[(start + pd.Timedelta(minutes=int(rng.integers(-120, 800))),
                          rng.choice(["S3", "S17", "NOSUCH", None, None, None]), rng.choice(numbers + ["+19", None]))
                         for _ in range(600)])
    window = pd.Timedelta(minutes=30)
    visits = index_visits(sessions, window)
    chunks = [merge_sessions(leads.iloc[i:i + 97], visits, window) for i in range(0, len(leads), 97)]
    merged = pd.concat(chunks)
    assert merged.equals(merge_sessions(leads, sessions, window))
    by_id = set(sessions["id"])
    for lead, got in zip(leads.itertuples(), merged.itertuples()):
        if lead.session_id in by_id:
            assert (got.merged_session_id, got.session_tie) == (lead.session_id, "session_id")
            continue
        near = sessions[(sessions["tracking_phone_number"] == lead.tracking_phone_number)
                        & (sessions["started_at"] >= lead.time - window) & (sessions["started_at"] <= lead.time)]
        if lead.tracking_phone_number is None or near.empty:
            assert (got.merged_session_id, got.session_tie) == (None, None)
        elif len(near) == 1:
            assert (got.merged_session_id, got.session_tie) == (near["id"].iloc[0], "tracking_number")
        else:
            assert (got.merged_session_id, got.session_tie) == (None, "ambiguous_tracking_number")
    assert merged["session_tie"].value_counts().to_dict().keys() >= {"session_id", "tracking_number",
                                                                      "ambiguous_tracking_number"}


def test_a_lead_on_a_shared_number_is_sent_without_anyones_visit_or_skipped():
    shared = [session(id="S1", started_at=T - timedelta(minutes=12)),
              session(id="S2", started_at=T - timedelta(minutes=3), fbp="fb.1.1.other", client_ip_address="8.8.8.8")]
    e = only(build(calls=[call()], sessions=shared))
    user = json.loads(e.user_data)
    assert e.status == "eligible" and e.merged_session_id is None and e.session_tie == "ambiguous_tracking_number"
    assert set(user) == {"ph"}
    nothing_of_its_own = only(build(calls=[call(ph=None)], sessions=shared))
    assert (nothing_of_its_own.status, nothing_of_its_own.reason) == ("skipped", "no_match_keys")
    assert nothing_of_its_own.user_data == "{}"


def test_session_id_beats_tracking_number_and_no_session_leaves_nothing():
    sessions = pd.DataFrame([session(id="BYID", started_at=T - timedelta(hours=3), tracking_phone_number=None),
                             session(id="BYNUM")])
    merged = merge_sessions(lead_frame((T, "BYID", "+14015550001"), (T, None, "+19999999999")), sessions,
                            pd.Timedelta(minutes=30))
    assert merged["merged_session_id"].tolist() == ["BYID", None]


def test_fbc_from_session_click_time_never_send_time_and_case_kept():
    e = only(build(calls=[call()], sessions=[session()]))
    user = json.loads(e.user_data)
    click_ms = int((T - timedelta(minutes=10) - datetime(1970, 1, 1)).total_seconds() * 1000)
    assert user["fbc"] == f"fb.1.{click_ms}.IwAR_AbC"
    assert (user["fbp"], user["client_ip_address"], user["client_user_agent"]) == ("fb.1.99.123", "9.9.9.9", "UA/1")
    assert e.merged_session_id == "S1" and e.event_source_url == "https://site/lp"


def test_session_fbc_cookie_is_kept_as_given():
    user = json.loads(only(build(calls=[call()], sessions=[session(fbc="fb.1.5.XyZ")])).user_data)
    assert user["fbc"] == "fb.1.5.XyZ"


def test_leads_own_fbclid_builds_fbc_from_the_leads_time_without_a_session():
    user = json.loads(only(build(calls=[call(fbclid="IwAR_Own", tracking_phone_number=None)])).user_data)
    assert user["fbc"] == f"fb.1.{int((T - datetime(1970, 1, 1)).total_seconds() * 1000)}.IwAR_Own"


# --- eligibility ---------------------------------------------------------------------------------

@pytest.mark.parametrize("row, config, reason", [
    (call(spam=True), EventsConfig(), "spam"),
    (call(is_test=True), EventsConfig(), "test"),
    (call(direction="outbound"), EventsConfig(), "filtered:outbound"),
    (call(first_call=False), EventsConfig(first_time_callers_only=True), "filtered:not_first_call"),
    (call(duration=20), EventsConfig(min_call_duration=30), "filtered:short_call"),
    (call(answered=False), EventsConfig(answered_only=True), "filtered:unanswered"),
    (call(lead_status="not_a_lead"), EventsConfig(good_leads_only=True), "filtered:not_good_lead"),
    (call(ph=None), EventsConfig(), "no_match_keys"),
    (call(ph=None, fn=H("john"), country=H("us")), EventsConfig(), "weak_match_keys"),
    (call(start_time=NOW - timedelta(days=8)), EventsConfig(), "too_old"),
    (call(start_time=NOW + timedelta(minutes=5)), EventsConfig(), "in_future"),
])
def test_skipped_with_reason(row, config, reason):
    e = only(build(calls=[row], config=config))
    assert (e.status, e.reason) == ("skipped", reason)


def test_spam_can_be_sent_when_asked_and_filters_pass_when_met():
    assert only(build(calls=[call(spam=True)], config=EventsConfig(exclude_spam=False))).status == "eligible"
    assert only(build(calls=[call(duration=45)], config=EventsConfig(min_call_duration=30))).status == "eligible"


def test_names_with_a_location_are_enough():
    e = only(build(calls=[call(ph=None, fn=H("john"), ln=H("smith"), zp=H("02903"))]))
    assert e.status == "eligible" and e.match_keys == "fn,ln,zp"


def test_physical_store_events_have_62_days():
    old = NOW - timedelta(days=30)
    assert only(build(orders=[order(channel="in_store", created_at=old)])).status == "eligible"
    assert only(build(orders=[order(channel="online", created_at=old)])).reason == "too_old"


def test_suppressed_contacts_are_skipped():
    e = only(build(calls=[call()], suppressed={H("14018842310")}))
    assert (e.status, e.reason) == ("skipped", "suppressed")


# --- routing and privacy ----------------------------------------------------------------------------

def test_pixel_routing_by_format_and_company():
    config = EventsConfig(pixel_id="100", pixel_routes=[PixelRoute(pixel_id="200", format="orders"),
                                                          PixelRoute(pixel_id="300", company_id="COM2")])
    events = build(calls=[call(), call(id="C2", company_id="COM2")], orders=[order()], config=config)
    assert dict(zip(events["source_id"], events["pixel_id"])) == {"C1": "100", "C2": "300", "O1": "200"}


@pytest.mark.parametrize("kw", [{"pixel_id": "../../steal?"}, {"pixel_routes": [{"pixel_id": "12?x#y"}]},
                                {"call_event": "x" * 150}, {"qualified_event": "Bad/Name"}])
def test_ids_and_event_names_are_checked_where_configured(kw):
    with pytest.raises(ValueError):
        EventsConfig(**kw)


@pytest.mark.parametrize("ldu, state, country, expected", [
    ("off", "ca", "us", None),
    ("all", "ny", "us", {"data_processing_options": ["LDU"], "data_processing_options_country": 0,
                         "data_processing_options_state": 0}),
    ("california", "ca", "us", {"data_processing_options": ["LDU"], "data_processing_options_country": 1,
                                "data_processing_options_state": 1000}),
    ("california", "ny", "us", {"data_processing_options": []}),
    ("california", None, None, {"data_processing_options": ["LDU"], "data_processing_options_country": 0,
                                "data_processing_options_state": 0}),
])
def test_limited_data_use(ldu, state, country, expected):
    e = only(build(calls=[call(region_state=state, region_country=country)], config=EventsConfig(ldu=ldu)))
    assert (json.loads(e.options) if e.options else None) == expected


def test_opt_out_marks_every_event():
    assert json.loads(only(build(calls=[call()], config=EventsConfig(opt_out=True))).options) == {"opt_out": True}


def test_no_raw_customer_information_in_events():
    raw = ["(401) 884-2310", "John", "a@b.co"]
    events = build(calls=[call()], orders=[order()], sessions=[session()])
    text = events.astype(str).to_string()
    assert not any(r in text for r in raw)


# --- stored per partition-day, on both backends -------------------------------------------------------

def test_build_day_stores_events_and_rerunning_replaces_the_day(engine):
    import sqlalchemy as sa

    from conversions_pipeline.events.run import build_day
    from conversions_pipeline.extract.run import extract_day
    from conversions_pipeline.warehouse.io import read_frame
    from conversions_pipeline.warehouse.schema import SOURCE_TABLES, capi_suppression, server_events
    from conversions_pipeline.warehouse.seed import seed_days

    day = datetime(2026, 3, 14).date()
    seed_days(engine, days=2, per_day=300, end_date=day, seed=6)
    for source in SOURCE_TABLES:
        extract_day(engine, source, day)
    now = datetime(2026, 3, 15, 12)
    first = build_day(engine, day, EventsConfig(), "PIX", now=now)
    assert first.by_status["eligible"] > 0.6 * first.events
    assert first.merged_sessions > 0
    stored = read_frame(engine, sa.select(server_events))
    assert len(stored) == first.events and stored["event_id"].is_unique
    assert set(stored["partition_date"].astype(str)) == {"2026-03-14"}

    # opt-out list: one eligible phone is suppressed on the next run, and the day is replaced, not appended
    victim = stored[(stored["status"] == "eligible") & stored["user_data"].str.contains('"ph"')].iloc[0]
    with engine.begin() as conn:
        conn.execute(capi_suppression.insert(), [{"key": "ph", "hashed_value": json.loads(victim["user_data"])["ph"]}])
    second = build_day(engine, day, EventsConfig(), "PIX", now=now)
    again = read_frame(engine, sa.select(server_events))
    assert len(again) == second.events == first.events
    assert second.by_reason["suppressed"] >= 1
    assert again.set_index("event_id").loc[victim["event_id"], "reason"] == "suppressed"


def test_a_day_built_in_small_chunks_equals_the_day_built_at_once(engine):
    """Chunks are cut between ids (an id's duplicate rows are decided together), order lines follow
    their orders: every stored event and the day's counts are the same whatever the chunk size."""
    import sqlalchemy as sa

    from conversions_pipeline.events.run import build_day, id_chunks
    from conversions_pipeline.extract.run import extract_day
    from conversions_pipeline.warehouse.io import read_frame
    from conversions_pipeline.warehouse.schema import SOURCE_TABLES, STAGED_TABLES, server_events
    from conversions_pipeline.warehouse.seed import seed_days

    day = datetime(2026, 3, 14).date()
    seed_days(engine, days=1, per_day=400, end_date=day, seed=8)
    for source in SOURCE_TABLES:
        extract_day(engine, source, day)
    staged = STAGED_TABLES["calls"]
    chunks = list(id_chunks(engine, sa.select(staged).order_by(staged.c.id), 7))
    ids = [set(c["id"]) for c in chunks]
    assert len(chunks) > 20 and all(not (a & b) for i, a in enumerate(ids) for b in ids[i + 1:])
    assert sum(len(c) for c in chunks) == len(read_frame(engine, sa.select(staged)))

    now = datetime(2026, 3, 15, 12)
    once = build_day(engine, day, EventsConfig(), "PIX", now=now, chunk_rows=1_000_000)
    first = read_frame(engine, sa.select(server_events)).sort_values(["pixel_id", "event_id"]).reset_index(drop=True)
    small = build_day(engine, day, EventsConfig(), "PIX", now=now, chunk_rows=7)
    second = read_frame(engine, sa.select(server_events)).sort_values(["pixel_id", "event_id"]).reset_index(drop=True)
    assert once.conflicting_duplicates and once.conflicting_duplicates == small.conflicting_duplicates
    assert (once.events, once.by_status, once.by_reason, once.merged_sessions, once.key_coverage) == \
        (small.events, small.by_status, small.by_reason, small.merged_sessions, small.key_coverage)
    pd.testing.assert_frame_equal(first.drop(columns=["built_at"]), second.drop(columns=["built_at"]))


def test_repeated_ids_are_decided_and_every_id_comes_back_once_in_order():
    """Only the ids an export repeats are ranked; the rest pass through; one row per id, by id."""
    from conversions_pipeline.events.build import pick_duplicates

    rows = pd.DataFrame({"id": ["O3", "O1", "O2", "O1", "O4", "O2"],
                         "status": ["paid", "paid", "refunded", "refunded", "paid", "fulfilled"],
                         "total": [3.0, 1.0, 2.0, 1.5, 4.0, 2.5]})
    picked = pick_duplicates(rows)
    assert picked["id"].tolist() == ["O1", "O2", "O3", "O4"]
    assert picked["status"].tolist() == ["refunded", "refunded", "paid", "paid"]
    assert picked["total"].tolist() == [1.5, 2.0, 3.0, 4.0]
    assert pick_duplicates(rows[rows["id"].isin(["O3", "O4"])])["id"].tolist() == ["O3", "O4"]


def test_user_data_is_sorted_json_with_free_text_escaped():
    ua = 'Mozilla/5.0 "quoted" \\ back\u00e9 \t tab'
    form = {"id": "F1", "submitted_at": T, "form_url": "https://site/contact", "landing_page_url": None,
            "session_id": "S1", "em": H("a@b.co"), "lead_status": None, "value": None, "is_test": False}
    e = only(build(forms=[form], sessions=[session(client_user_agent=ua)]))
    user = json.loads(e.user_data)
    assert user["client_user_agent"] == ua and user["em"] == H("a@b.co")
    assert e.user_data == json.dumps(user, sort_keys=True)


def test_events_without_any_key_keep_their_row_and_an_empty_user_data():
    calls = [call(id="C1"), call(id="C2", ph=None, tracking_phone_number=None),
             call(id="C3", ph=None, fn=H("mary")), call(id="C4", ph=None, tracking_phone_number=None)]
    events = build(calls=calls).set_index("source_id")
    assert list(events.index) == ["C1", "C2", "C3", "C4"]
    assert json.loads(events.loc["C1", "user_data"]) == {"ph": H("14018842310")}
    assert events.loc["C2", "user_data"] == "{}" and events.loc["C4", "user_data"] == "{}"
    assert json.loads(events.loc["C3", "user_data"]) == {"fn": H("mary")}
    assert (events.loc["C2", "status"], events.loc["C2", "reason"]) == ("skipped", "no_match_keys")


def test_day_summary_counts_and_key_coverage():
    from datetime import date as _date

    from conversions_pipeline.events.run import _Summary
    events = pd.DataFrame({
        "status": ["eligible", "eligible", "eligible", "eligible", "skipped"],
        "reason": [None, None, None, None, "spam"],
        "event_name": ["Lead", "Lead", "Purchase", "Contact", "Lead"],
        "pixel_id": ["1"] * 5, "action_source": ["phone_call", "phone_call", "website", "chat", "phone_call"],
        "match_keys": ["ph,fn", "ph", "em,ph,client_user_agent", "", "ph"],
        "source_table": ["calls", "calls", "orders", "text_messages", "calls"],
        "source_id": ["1", "2", "3", "4", "5"], "merged_session_id": [None, "S1", None, None, None],
        "session_tie": [None, "tracking_number", None, None, "ambiguous_tracking_number"],
        "event_id": list("abcde"),
    })
    whole = _Summary(_date(2026, 11, 1))
    whole.add(events)
    result = whole.result()
    split = _Summary(_date(2026, 11, 1))  # chunk by chunk (chunks never share a lead): the same counts
    split.add(events.iloc[:2])
    split.add(events.iloc[2:])
    parts = split.result()
    for name in ("events", "by_status", "by_reason", "by_name", "by_action_source", "merged_sessions",
                 "session_ties", "key_coverage"):
        assert getattr(parts, name) == getattr(result, name), name
    assert result.by_status == {"eligible": 4, "skipped": 1} and result.by_reason == {"spam": 1}
    assert result.by_name == {"Lead": 3, "Purchase": 1, "Contact": 1}
    assert result.by_action_source == {"phone_call": 2, "website": 1, "chat": 1}
    assert result.key_coverage == {"ph": 0.75, "client_user_agent": 0.25, "em": 0.25, "fn": 0.25}
    assert result.merged_sessions == 1
    assert result.session_ties == {"tracking_number": 1, "ambiguous_tracking_number": 1}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=40),
                          st.sampled_from(["Mozilla/5.0 \"q\" \\ \t\x7f", "fb.1.1700000000000.AbC", "2001:db8::1",
                                           "Ünïcode ☃", "\ud7ff\ue000", "plain"])), min_size=1, max_size=20))
def test_json_text_in_arrow_is_what_json_dumps_writes(values):
    """user_data's free-text values are quoted in Arrow: with ensure_ascii the text is json.dumps'
    byte for byte (stored events and their payload hashes depend on it); without, it reads back as
    the same value."""
    import pyarrow as pa

    from conversions_pipeline.jsontext import arrow_text, json_strings

    for large in (False, True):
        for series in (pd.Series(values, dtype=object), pd.Series(values, dtype="string[pyarrow]")):
            text = arrow_text(series, large=large)
            assert text.type == (pa.large_string() if large else pa.string())
            exact = json_strings(text, ensure_ascii=True).to_pylist()
            assert exact == [None if v is None else json.dumps(v) for v in values]
            short = json_strings(text).to_pylist()
            assert [None if s is None else json.loads(s) for s in short] == values
