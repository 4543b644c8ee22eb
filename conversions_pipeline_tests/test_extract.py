"""Extract: exactly the partition-day's rows, streamed in chunks, customer information hashed."""

import hashlib
from datetime import date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from conversions_pipeline.extract.run import extract_day
from conversions_pipeline.partitions import day_bounds_utc
from conversions_pipeline.warehouse.engine import create_schema, create_warehouse_engine
from conversions_pipeline.warehouse.io import bulk_insert
from conversions_pipeline.warehouse.schema import SOURCE_TABLES, STAGED_TABLES, calls, stg_order_items
from conversions_pipeline.warehouse.seed import generate_day, seed_days

HEX64 = r"^[0-9a-f]{64}$"


def _calls_at(times: list[datetime]) -> pd.DataFrame:
    frame = generate_day(date(2026, 1, 1), 50, seed=5)["calls"].drop_duplicates("id").head(len(times)).copy()
    frame["start_time"] = pd.to_datetime(times)
    frame["id"] = [f"EDGE{i}" for i in range(len(times))]
    return frame


def _load_calls(engine, times):
    create_schema(engine)
    with engine.begin() as conn:
        bulk_insert(conn, calls, _calls_at(times))


def _staged_ids(engine, source, day):
    table = STAGED_TABLES[source]
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(table.c.id).where(table.c.partition_date == day)).scalars())


def test_utc_day_includes_midnight_and_excludes_the_next(engine):
    _load_calls(engine, [datetime(2026, 3, 13, 23, 59, 59, 999999), datetime(2026, 3, 14, 0, 0, 0),
                         datetime(2026, 3, 14, 23, 59, 59, 999999), datetime(2026, 3, 15, 0, 0, 0)])
    result = extract_day(engine, "calls", date(2026, 3, 14))
    assert result.rows == 2
    assert _staged_ids(engine, "calls", date(2026, 3, 14)) == ["EDGE1", "EDGE2"]


def test_local_day_across_daylight_saving_start(engine):
    # 2026-03-08 in New York is 23 hours long: 05:00 UTC to 04:00 UTC next day.
    assert day_bounds_utc(date(2026, 3, 8), "America/New_York") == (datetime(2026, 3, 8, 5), datetime(2026, 3, 9, 4))
    _load_calls(engine, [datetime(2026, 3, 8, 4, 59, 59), datetime(2026, 3, 8, 5, 0, 0),
                         datetime(2026, 3, 9, 3, 59, 59), datetime(2026, 3, 9, 4, 0, 0)])
    result = extract_day(engine, "calls", date(2026, 3, 8), "America/New_York")
    assert result.rows == 2
    assert _staged_ids(engine, "calls", date(2026, 3, 8)) == ["EDGE1", "EDGE2"]


def test_local_day_across_daylight_saving_end():
    assert day_bounds_utc(date(2026, 11, 1), "America/New_York") == (datetime(2026, 11, 1, 4), datetime(2026, 11, 2, 5))


@pytest.fixture
def seeded(engine):
    seed_days(engine, days=2, per_day=400, end_date=date(2026, 3, 14), seed=9)
    return engine


def test_every_source_extracts_exactly_its_day(seeded):
    day = date(2026, 3, 14)
    frames = generate_day(day, 400, seed=9)
    for source in SOURCE_TABLES:
        result = extract_day(seeded, source, day)
        assert result.rows == len(frames[source]), source
        assert result.distinct_ids == frames[source]["id"].nunique(), source
        assert _staged_ids(seeded, source, day) == sorted(frames[source]["id"]), source
    with seeded.connect() as conn:
        staged_items = conn.execute(sa.select(sa.func.count()).select_from(stg_order_items)).scalar_one()
    assert staged_items == len(frames["order_items"])


def test_chunks_stream_and_give_the_same_rows(seeded):
    day = date(2026, 3, 14)
    one = extract_day(seeded, "calls", day, chunk_rows=100_000)
    many = extract_day(seeded, "calls", day, chunk_rows=37)
    assert one.chunks == 1 and many.chunks == -(-many.rows // 37)
    assert one.rows == many.rows and one.keys_present == many.keys_present and one.dropped == many.dropped


def test_re_extracting_a_day_replaces_it(seeded):
    day = date(2026, 3, 14)
    extract_day(seeded, "calls", day)
    first = _staged_ids(seeded, "calls", day)
    extract_day(seeded, "calls", day)
    assert _staged_ids(seeded, "calls", day) == first


def test_staged_rows_hold_hashes_not_raw_customer_information(seeded):
    day = date(2026, 3, 14)
    extract_day(seeded, "calls", day)
    extract_day(seeded, "orders", day)
    staged = STAGED_TABLES["calls"]
    assert not {"customer_phone_number", "customer_name", "customer_city", "zip_code"} & set(staged.c.keys())
    with seeded.connect() as conn:
        got = pd.read_sql(sa.select(staged).where(staged.c.partition_date == day), conn)
        raw = pd.read_sql(sa.select(calls), conn)
        staged_orders = pd.read_sql(sa.select(STAGED_TABLES["orders"]), conn)
    for key in ("ph", "fn", "ln", "ct", "st", "zp", "country"):
        assert got[key].dropna().str.fullmatch(HEX64).all(), key
        assert got[key].notna().mean() > 0.3, key
    assert staged_orders["em"].dropna().str.fullmatch(HEX64).all() and staged_orders["em"].notna().mean() > 0.5
    # no raw phone or name appears anywhere in the staged table
    everything = set(got.astype(str).to_numpy().ravel())
    assert not everything & set(raw["customer_phone_number"].dropna()) - {""}
    assert not everything & set(raw["customer_name"].dropna()) - {""}
    # a known E.164 phone hashes to the SHA-256 of its digits
    of_day = raw[raw["id"].isin(got["id"])]
    e164 = of_day[of_day["customer_phone_number"].str.fullmatch(r"\+1\d{10}").fillna(False)].iloc[0]
    row = got[got["id"] == e164["id"]].iloc[0]
    assert row["ph"] == hashlib.sha256(e164["customer_phone_number"][1:].encode()).hexdigest()


def test_drop_reasons_are_counted(seeded):
    result = extract_day(seeded, "calls", date(2026, 3, 14))
    assert result.dropped["fn:name_placeholder"] > 0
    keys = STAGED_TABLES["calls"].info["keys"]
    assert all(":" in reason and reason.split(":")[0] in keys for reason in result.dropped)
    assert result.keys_present["ph"] > 0.7 * result.rows


def test_a_failed_extract_keeps_the_previous_one(sqlite_url):
    engine = create_warehouse_engine(sqlite_url)
    seed_days(engine, days=1, per_day=100, end_date=date(2026, 3, 14), seed=2)
    extract_day(engine, "calls", date(2026, 3, 14))
    before = _staged_ids(engine, "calls", date(2026, 3, 14))

    def boom(_result):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        extract_day(engine, "calls", date(2026, 3, 14), progress=boom)
    assert _staged_ids(engine, "calls", date(2026, 3, 14)) == before


def test_country_comes_from_the_record_else_from_its_phone(sqlite_url):
    from conversions_pipeline.extract.stage import stage_frame
    from conversions_pipeline.warehouse.schema import text_messages
    sha = lambda v: hashlib.sha256(v.encode()).hexdigest()  # noqa: E731
    day = date(2026, 3, 14)
    frame = generate_day(day, 10, seed=3)["calls"].drop_duplicates("id").head(4).copy()
    frame["customer_phone_number"] = ["(401) 884-2310", "+44 20 7946 0018", "+1 613 555 0123", None]
    frame["customer_country"] = ["", None, "United States", ""]
    staged, _ = stage_frame("calls", frame, day, STAGED_TABLES["calls"])
    assert staged["country"].tolist() == [sha("us"), sha("gb"), sha("us"), None]  # the record's own wins
    texts = generate_day(day, 10, seed=3)["text_messages"].drop_duplicates("id").head(2).copy()
    texts["customer_phone_number"] = ["+44 20 7946 0018", "junk"]
    assert "country" in STAGED_TABLES["text_messages"].c and "customer_country" not in text_messages.c
    staged, _ = stage_frame("text_messages", texts, day, STAGED_TABLES["text_messages"])
    assert staged["country"].tolist() == [sha("gb"), None]
