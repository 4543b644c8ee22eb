"""Seed generator: deterministic, shaped like real exports, and re-seeding replaces a day."""

from datetime import date, datetime, timedelta

import pandas as pd
import pandas.testing as pdt
import sqlalchemy as sa

from conversions_pipeline.warehouse.engine import create_warehouse_engine
from conversions_pipeline.warehouse.schema import ALL_SOURCE_TABLES, calls
from conversions_pipeline.warehouse.seed import generate_day, seed_days

DAY = date(2026, 3, 14)


def day_frames():
    return generate_day(DAY, 2_000, seed=7)


def test_same_seed_and_day_give_identical_rows():
    a, b = generate_day(DAY, 500, seed=7), generate_day(DAY, 500, seed=7)
    for name in a:
        pdt.assert_frame_equal(a[name], b[name])


def test_other_seed_or_day_differ():
    base = generate_day(DAY, 500, seed=7)["calls"]
    assert not base["id"].equals(generate_day(DAY, 500, seed=8)["calls"]["id"])
    assert not base["id"].equals(generate_day(DAY + timedelta(days=1), 500, seed=7)["calls"]["id"])


def test_rows_stay_inside_their_day():
    start, end = pd.Timestamp(DAY), pd.Timestamp(DAY + timedelta(days=1))
    frames = day_frames()
    for name, col in [("calls", "start_time"), ("text_messages", "created_at"),
                      ("form_submissions", "submitted_at"), ("web_sessions", "started_at"), ("orders", "created_at")]:
        times = frames[name][col]
        assert times.min() >= start and times.max() < end, name


def _share(mask) -> float:
    return float(pd.Series(mask).fillna(False).astype(bool).mean())


def test_phones_come_in_every_export_shape():
    phones = day_frames()["calls"]["customer_phone_number"].astype("string")
    shapes = {
        "e164": r"^\+1\d{10}$", "display": r"^\(\d{3}\) \d{3}-\d{4}$", "dots": r"^\d{3}\.\d{3}\.\d{4}$",
        "extension": r" x\d+$", "float": r"^\d{10}\.0$", "foreign": r"^\+(?:44|52|49) ", "trunk": r"^1-\d{3}-",
    }
    for shape, pattern in shapes.items():
        assert _share(phones.str.contains(pattern, regex=True)) > 0.003, shape


def test_names_emails_and_places_are_messy_like_exports():
    frames = day_frames()
    c, f = frames["calls"], frames["form_submissions"]
    names = c["customer_name"].astype("string")
    assert _share(names == "WIRELESS CALLER") > 0
    assert _share(names.str.fullmatch(r"[A-Z'. -]+,[A-Z'. -]+")) > 0.1          # SMITH,JOHN
    assert _share(names.str.contains(r"[éëóñüÁÖ]", regex=True)) > 0               # accents
    emails = f["customer_email"].astype("string")
    assert _share(emails.str.contains(r"[A-Z]", regex=True)) > 0.05
    assert _share(emails.str.startswith(" ")) > 0.02
    assert _share(emails.isin(["n/a", "asdf", "test@"])) > 0
    states = c["customer_state"].astype("string")
    assert {"RI", "California", "N.Y.", "ny"} <= set(states.dropna())              # codes, names, dots, case
    zips = c["zip_code"].astype("string")
    assert _share(zips.str.fullmatch(r"\d{5}-\d{4}")) > 0.05                   # ZIP+4
    assert _share(zips.str.fullmatch(r"\d{4}")) > 0                            # lost leading zero
    assert {"US", "USA", "United States", ""} <= set(c["customer_country"].dropna())


def test_duplicates_spam_tests_and_sources():
    c = day_frames()["calls"]
    assert c["id"].duplicated().sum() >= 0.015 * c["id"].nunique()
    assert 0.01 < c["spam"].mean() < 0.06
    assert (c["customer_name"] == "TEST CALL").sum() > 0
    fb = c["source"].isin(["Facebook Ads", "facebook"])
    assert 0.2 < fb.mean() < 0.45
    test_call = c["source"] == "Test Call"
    assert c.loc[fb, "fbclid"].notna().all() and c.loc[~fb & ~test_call, "fbclid"].isna().all()
    assert c["value"].astype("string").str.startswith("$").any() and (c["value"] == "").any()


def test_web_sessions_tie_to_calls_by_id_and_by_tracking_number():
    frames = day_frames()
    c, s = frames["calls"].drop_duplicates("id"), frames["web_sessions"]
    by_id = c["session_id"].isin(s["id"])
    assert by_id.mean() > 0.15
    untied = c[c["session_id"].isna()]
    pairs = untied.merge(s, on="tracking_phone_number")
    gap = (pairs["start_time"] - pairs["started_at"]).dt.total_seconds()
    assert ((gap > 0) & (gap <= 30 * 60)).sum() > 0.1 * len(c)   # inside the 30-minute window
    assert ((gap > 30 * 60) & (gap <= 40 * 60)).sum() > 0         # just outside it


def test_orders_currencies_items_refunds_and_tests():
    frames = day_frames()
    o, items = frames["orders"], frames["order_items"]
    assert {"USD", "CAD", "EUR", "GBP"} <= set(o["currency"])
    assert {"refunded", "cancelled", "test"} <= set(o["status"])
    assert {"online", "in_store", "phone"} <= set(o["channel"])
    assert set(items["order_id"]) <= set(o["id"]) and len(items) >= len(o.drop_duplicates("id"))


def test_reseeding_a_day_replaces_it(warehouse_url):
    engine = create_warehouse_engine(warehouse_url)
    end = date(2026, 3, 10)
    seed_days(engine, days=2, per_day=300, end_date=end, seed=3)
    counts = _counts(engine)
    seed_days(engine, days=1, per_day=300, end_date=end, seed=3)
    assert _counts(engine) == counts
    with engine.connect() as conn:
        first_day = conn.execute(sa.select(sa.func.count()).select_from(calls).where(
            calls.c.start_time < datetime(2026, 3, 10))).scalar_one()
        ids = conn.execute(sa.select(calls.c.id).order_by(calls.c.start_time, calls.c.id)).scalars().all()
    expected = pd.concat([generate_day(date(2026, 3, 9), 300, 3)["calls"], generate_day(end, 300, 3)["calls"]])
    assert first_day == len(generate_day(date(2026, 3, 9), 300, 3)["calls"])
    assert sorted(ids) == sorted(expected["id"])
    engine.dispose()


def test_seeded_values_round_trip(warehouse_url):
    engine = create_warehouse_engine(warehouse_url)
    seed_days(engine, days=1, per_day=200, end_date=DAY, seed=1)
    expected = generate_day(DAY, 200, 1)["calls"].sort_values(["id", "lead_status"], na_position="first")
    with engine.connect() as conn:
        got = pd.read_sql(sa.select(calls), conn)
    got = got.sort_values(["id", "lead_status"], na_position="first")
    assert got["customer_phone_number"].tolist() == expected["customer_phone_number"].tolist()
    assert got["value"].tolist() == expected["value"].tolist()
    assert (pd.to_datetime(got["start_time"]).to_numpy() == expected["start_time"].to_numpy()).all()
    engine.dispose()


def _counts(engine):
    with engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in ALL_SOURCE_TABLES}
