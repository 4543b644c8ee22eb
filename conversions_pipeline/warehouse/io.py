"""Bulk reads and writes: partition-day reads streamed in chunks, bulk inserts, day replacement.

Writes use PostgreSQL ``COPY`` or a driver-level ``executemany``; never row-by-row ORM.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .engine import qualified_name
from .schema import time_column

DEFAULT_CHUNK_ROWS = 50_000
_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"


def iter_day(
    conn: Connection,
    table: sa.Table,
    start_utc: datetime,
    end_utc: datetime,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    time_kind: str = "timestamp",
    extra_columns: dict[str, str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the rows that can lie in ``[start_utc, end_utc)``, ``chunk_rows`` at a time.

    Bounds are naive UTC datetimes. Timestamp columns come back as the database holds them (text
    on SQLite or in a text column, datetimes from a timestamp column), never parsed by SQLAlchemy,
    so one unreadable value cannot stop a read: the caller parses them
    (:func:`conversions_pipeline.extract.timestamps.parse_timestamps`) and keeps the day's rows.
    ``time_kind`` is how the time column is stored (:func:`engine.time_kind`): a ``text`` column
    is read by date prefix, with the neighbouring dates' rows that carry a zone (``Z`` or an
    offset up to 14 hours can move them into the day); a ``timestamp`` column by exact bounds (aware
    ones for ``timestamptz``). ``extra_columns`` maps optional source columns to names to read
    them under. The result is streamed (a server-side cursor on PostgreSQL), so memory holds one
    chunk whatever the size of the table; the caller may write on the same connection between chunks.
    """
    ts = time_column(table)
    columns = [sa.type_coerce(c, sa.String).label(c.name) if isinstance(c.type, sa.DateTime) else c
               for c in table.columns]
    columns += [sa.type_coerce(sa.column(name), sa.String).label(label)
                for name, label in (extra_columns or {}).items()]
    query = sa.select(*columns).select_from(table).where(_day_filter(ts, start_utc, end_utc, time_kind))
    query = query.order_by(ts, table.c.id)
    # Per-statement options: Connection.execution_options() would change the whole connection.
    result = conn.execute(query, execution_options={"stream_results": True, "max_row_buffer": chunk_rows})
    names = list(result.keys())
    try:
        while True:
            rows = result.fetchmany(chunk_rows)
            if not rows:
                break
            yield _frame(names, rows)
    finally:
        result.close()


MAX_ZONE_OFFSET = timedelta(hours=14)


def _day_filter(ts: sa.Column, start_utc: datetime, end_utc: datetime, time_kind: str):
    if time_kind == "timestamptz":
        return sa.and_(ts >= start_utc.replace(tzinfo=timezone.utc), ts < end_utc.replace(tzinfo=timezone.utc))
    if time_kind != "text":
        return sa.and_(ts >= start_utc, ts < end_utc)
    text = sa.type_coerce(ts, sa.String)
    day = timedelta(days=1)
    first = start_utc.date()
    after = end_utc.date() + (day if end_utc.time() != datetime.min.time() else timedelta(0))
    zoned_first = (start_utc - MAX_ZONE_OFFSET).date()
    zoned_after = (end_utc + MAX_ZONE_OFFSET).date() + day
    tail = sa.func.substr(text, 11)
    has_zone = sa.or_(tail.like("%Z%"), tail.like("%+%"), tail.like("%-%"))
    return sa.or_(sa.and_(text >= first.isoformat(), text < after.isoformat()),
                  sa.and_(text >= zoned_first.isoformat(), text < zoned_after.isoformat(), has_zone))


def delete_day(conn: Connection, table: sa.Table, start_utc: datetime, end_utc: datetime) -> int:
    ts = time_column(table)
    return conn.execute(sa.delete(table).where(ts >= start_utc, ts < end_utc)).rowcount


def bulk_insert(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """Insert ``frame`` (columns named as in ``table``) in bulk inside the caller's transaction."""
    if frame.empty:
        return 0
    cols = [c.name for c in table.columns if c.name in frame.columns]
    frame = frame[cols]
    dialect = conn.dialect.name
    if dialect == "postgresql" and conn.dialect.driver == "psycopg2":
        _copy_postgres(conn, table, frame)
    elif dialect == "sqlite":
        _executemany_sqlite(conn, table, frame)
    else:
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        conn.execute(table.insert(), records)
    return len(frame)


def _copy_postgres(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False, na_rep="\\N", quoting=csv.QUOTE_MINIMAL,
                 date_format="%Y-%m-%d %H:%M:%S.%f")
    buf.seek(0)
    prep = conn.dialect.identifier_preparer
    col_list = ", ".join(prep.quote(c) for c in frame.columns)
    # Table and column names come from our own metadata, quoted by the dialect; data goes through COPY.
    sql = f"COPY {qualified_name(conn, table)} ({col_list}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.copy_expert(sql, buf)
    finally:
        cursor.close()


def _executemany_sqlite(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    out = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            text = col.dt.strftime(_SQLITE_TS)
            out[name] = text.astype(object).where(col.notna(), None)
        else:
            values = col.astype(object)
            out[name] = values.where(col.notna(), None)
    rows = list(zip(*(out[n].tolist() for n in frame.columns)))
    placeholders = ", ".join("?" for _ in frame.columns)
    col_list = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in frame.columns)
    conn.exec_driver_sql(f"INSERT INTO {qualified_name(conn, table)} ({col_list}) VALUES ({placeholders})", rows)


def read_frame(engine: Engine, query: sa.Select) -> pd.DataFrame:
    """A small query result as a DataFrame (reports, tests)."""
    with engine.connect() as conn:
        result = conn.execute(query)
        names = list(result.keys())
        rows = result.fetchall()
    return _frame(names, rows)


def _frame(names: list[str], rows) -> pd.DataFrame:
    """Rows as a DataFrame, built column-wise (about twice as fast as DataFrame.from_records on
    Row objects); no rows gives the columns, empty."""
    if not rows:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    return pd.DataFrame({name: list(values) for name, values in zip(names, zip(*rows))})

