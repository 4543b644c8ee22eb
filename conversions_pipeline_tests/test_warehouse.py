"""Warehouse contract: the same tables on SQLite and PostgreSQL, and errors that name the fix."""

from datetime import datetime

import pytest
import sqlalchemy as sa

from conversions_pipeline.errors import WarehouseError
from conversions_pipeline.warehouse.engine import create_schema, create_warehouse_engine, verify_tables
from conversions_pipeline.warehouse.schema import ALL_SOURCE_TABLES, SOURCE_TABLES, calls, metadata

CONTRACT = {
    "calls": "id company_id start_time duration answered direction first_call customer_phone_number customer_name "
             "customer_city customer_state customer_country zip_code source medium campaign fbclid gclid "
             "landing_page_url tracking_phone_number session_id lead_status value spam",
    "text_messages": "id conversation_id company_id created_at direction customer_phone_number customer_name source "
                     "medium campaign fbclid tracking_phone_number lead_status",
    "form_submissions": "id company_id submitted_at customer_name customer_email customer_phone_number form_name "
                        "form_url landing_page_url referrer source medium campaign fbclid gclid session_id "
                        "lead_status value first_form form_data",
    "web_sessions": "id visitor_id started_at last_activity_at landing_page_url referrer_url fbclid fbc fbp "
                    "client_ip_address client_user_agent utm_source utm_medium utm_campaign tracking_phone_number",
    "orders": "id created_at status channel currency total customer_id email phone first_name last_name city state "
              "postal_code country fbclid fbc fbp client_ip_address client_user_agent session_id event_source_url",
    "order_items": "order_id line_id product_id sku title quantity unit_price",
}


def test_schema_has_the_contract_columns_on_each_backend(engine):
    create_schema(engine)
    inspector = sa.inspect(engine)
    for table, columns in CONTRACT.items():
        have = [c["name"] for c in inspector.get_columns(table)]
        assert have == columns.split(), table
        indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        if table in SOURCE_TABLES:
            assert ("id",) in indexed and (SOURCE_TABLES[table].info["time_column"],) in indexed
            assert not inspector.get_unique_constraints(table)
            assert not inspector.get_pk_constraint(table)["constrained_columns"]


def test_schema_creation_is_repeatable(engine):
    create_schema(engine)
    create_schema(engine)
    assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())


def test_an_older_warehouse_gets_the_indexes_it_lacks(engine):
    create_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_server_events_day_event")
    assert ("partition_date", "pixel_id", "event_id") not in {
        tuple(ix["column_names"]) for ix in sa.inspect(engine).get_indexes("server_events")}
    create_schema(engine)
    assert ("partition_date", "pixel_id", "event_id") in {
        tuple(ix["column_names"]) for ix in sa.inspect(engine).get_indexes("server_events")}


def test_an_older_warehouses_retired_indexes_are_dropped(engine):
    create_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ix_server_events_event ON server_events (pixel_id, event_id)")
        conn.exec_driver_sql("CREATE INDEX ix_capi_events_day ON capi_events (partition_date, status)")
    assert "ix_server_events_event" in {ix["name"] for ix in sa.inspect(engine).get_indexes("server_events")}
    create_schema(engine)
    inspector = sa.inspect(engine)
    assert [ix["column_names"] for ix in inspector.get_indexes("server_events")] == [
        ["partition_date", "pixel_id", "event_id"]]
    assert sorted(ix["column_names"] for ix in inspector.get_indexes("capi_events")) == [
        ["partition_date"], ["pixel_id", "event_id"]]


def test_the_ledger_leaves_room_on_each_page_for_its_outcome_update_on_postgresql(pg_database_url):
    engine = create_warehouse_engine(pg_database_url)
    try:
        create_schema(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE capi_events RESET (fillfactor)")  # as an older release left it
        create_schema(engine)
        with engine.connect() as conn:
            options = conn.exec_driver_sql("SELECT reloptions FROM pg_class WHERE relname = 'capi_events'").scalar()
        assert options == ["fillfactor=50"]
    finally:
        engine.dispose()


def test_postgres_schema_option(pg_database_url):
    engine = create_warehouse_engine(pg_database_url, schema="marketing")
    try:
        create_schema(engine, tables=list(ALL_SOURCE_TABLES))
        assert "calls" in sa.inspect(engine).get_table_names(schema="marketing")
        verify_tables(engine, [calls])
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA marketing CASCADE")
        engine.dispose()


@pytest.mark.parametrize("url, fragment", [
    ("oracle+nosuchdriver://x", "dialect 'oracle+nosuchdriver' is unknown"),
    ("foo://bar", "dialect 'foo' is unknown"),
    ("not a url", "not a valid SQLAlchemy URL"),
])
def test_bad_url_is_one_line_naming_the_fix(url, fragment):
    with pytest.raises(WarehouseError) as err:
        create_warehouse_engine(url)
    text = str(err.value)
    assert fragment in text and "postgresql://" in text and "\n" not in text


def test_unreachable_server_names_the_url_without_password():
    engine = create_warehouse_engine("postgresql://user:s3cret@127.0.0.1:1/nowhere")
    with pytest.raises(WarehouseError) as err:
        create_schema(engine)
    assert "cannot reach the warehouse" in str(err.value)
    assert "s3cret" not in str(err.value) and "***" in str(err.value)


def test_missing_table_and_missing_column(sqlite_url):
    engine = create_warehouse_engine(sqlite_url)
    with pytest.raises(WarehouseError, match="table 'calls' is missing.*init-db"):
        verify_tables(engine, [calls])
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE calls (id TEXT, start_time TIMESTAMP)")
    with pytest.raises(WarehouseError, match="table 'calls' lacks column\\(s\\) company_id"):
        verify_tables(engine, [calls])


def test_contract_doc_is_generated_from_the_metadata():
    from pathlib import Path

    from conversions_pipeline.warehouse.docs import render

    doc = Path(__file__).resolve().parents[1] / "docs" / "warehouse.md"
    assert doc.read_text() == render(), "run: uv run python -m conversions_pipeline.warehouse.docs > docs/warehouse.md"


def test_an_older_warehouse_gets_the_pipeline_columns_it_lacks(engine):
    from conversions_pipeline.warehouse.schema import STAGED_TABLES
    create_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE stg_text_messages")
        conn.exec_driver_sql("CREATE TABLE stg_text_messages (partition_date DATE NOT NULL, id VARCHAR(64))")
    create_schema(engine)
    have = [c["name"] for c in sa.inspect(engine).get_columns("stg_text_messages")]
    assert set(have) == {c.name for c in STAGED_TABLES["text_messages"].columns}
    assert "country" in have


def test_a_large_read_comes_back_in_one_piece_per_column_on_postgresql(pg_database_url, monkeypatch):
    """Read through COPY in many Arrow blocks, each text column is one contiguous array: taking
    rows by position from a column left in pieces joins every piece again on each take."""
    from conversions_pipeline.warehouse import io

    engine = create_warehouse_engine(pg_database_url)
    try:
        create_schema(engine)
        with engine.begin() as conn:
            conn.execute(sa.delete(calls))
            conn.execute(sa.insert(calls), [{"id": f"c{i:05d}", "start_time": datetime(2026, 11, 1, 12),
                                             "customer_name": f"Name {i}",
                                             "tracking_phone_number": None if i % 7 else "+15550100"}
                                            for i in range(3000)])
        monkeypatch.setattr(io, "COPY_BLOCK_BYTES", 4096)  # many blocks, as a day of visits gives
        frame = io.read_frame(engine, sa.select(calls.c.id, calls.c.customer_name, calls.c.tracking_phone_number)
                              .order_by(calls.c.id))
        assert len(frame) == 3000
        for name in frame.columns:
            assert frame[name].array._pa_array.num_chunks == 1, name
        assert frame["customer_name"].iloc[[2999, 0]].tolist() == ["Name 2999", "Name 0"]
        assert frame["tracking_phone_number"].isna().sum() == 3000 - len(range(0, 3000, 7))
        assert str(frame["id"].dtype) == "str"  # pandas' default text dtype, as a one-block read gives
        chunks = list(io.stream_frames(engine, sa.select(calls.c.id).order_by(calls.c.id), 1000))
        assert [len(c) for c in chunks] == [1000, 1000, 1000]
        assert all(c["id"].array._pa_array.num_chunks == 1 for c in chunks)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.delete(calls))
        engine.dispose()


def test_database_errors_reach_no_log_with_row_values_on_postgresql(pg_database_url):
    """PostgreSQL repeats row values in an error's DETAIL ("Key (ip)=(...)", "Failing row
    contains (...)") and CONTEXT ("COPY ..., line 1: ..."). Whatever is raised, printed as Python
    and Dagster print it (with every cause), holds the first line only: through SQLAlchemy, and
    through COPY in and out, which go around SQLAlchemy's error hook."""
    import traceback

    import pandas as pd

    from conversions_pipeline.warehouse import io

    secret = "-".join(["203.0.113", "77"])  # noqa: FLY002 - built at run time: a traceback's source lines never show it
    table = sa.Table("leak_probe", sa.MetaData(), sa.Column("id", sa.Text, primary_key=True),
                     sa.Column("ip", sa.Text, nullable=False), sa.Column("n", sa.Integer))
    engine = create_warehouse_engine(pg_database_url)

    def printed(action) -> str:
        with pytest.raises(Exception) as caught:
            action()
        return "".join(traceback.format_exception(caught.value))

    try:
        table.create(engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": secret, "ip": secret, "n": 1}])

        def insert_again():
            with engine.begin() as conn:
                conn.execute(table.insert(), [{"id": secret, "ip": secret, "n": 2}])

        def copy_again():
            with engine.begin() as conn:
                io.bulk_insert(conn, table, pd.DataFrame({"id": [secret], "ip": [secret], "n": [3]}))

        def copy_out_bad_cast():
            io.read_frame(engine, sa.select(sa.cast(table.c.ip + sa.literal("x"), sa.Integer).label("n")))

        for action in (insert_again, copy_again):
            text = printed(action)
            assert "duplicate key" in text and "DETAIL" not in text and secret not in text, text
        text = printed(copy_out_bad_cast)
        assert "invalid input syntax" in text and "CONTEXT" not in text and secret not in text, text
    finally:
        table.drop(engine, checkfirst=True)
        engine.dispose()
