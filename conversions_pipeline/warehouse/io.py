"""Bulk reads and writes: partition-day reads streamed in chunks, bulk inserts, day replacement.

Writes use PostgreSQL ``COPY`` or a driver-level ``executemany``; never row-by-row ORM.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .engine import qualified_name, scrub_database_error
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
    if copy_capable(conn):
        # COPY ... TO STDOUT on a connection of its own (the caller writes on ``conn`` meanwhile),
        # parsed by Arrow's CSV reader: no Python object per value.
        with conn.engine.connect() as reader:
            yield from _copy_frames(reader, query, text_numerics=True, chunk_rows=chunk_rows)
        return
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
    if copy_capable(conn):
        _copy_postgres(conn, table, frame)
    elif dialect == "sqlite":
        _executemany_sqlite(conn, table, frame)
    else:
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        conn.execute(table.insert(), records)
    return len(frame)


class BulkWriter:
    """:func:`bulk_insert` of one frame after another into ``table`` on the caller's connection
    (inside its transaction). On PostgreSQL the COPYs run in a background thread, so the server
    ingests one chunk while this process prepares the next (two cores busy instead of one); at
    most ``depth`` chunks wait. Elsewhere each frame is written at once. ``close()`` waits for
    the last write and raises the first error a write met."""

    def __init__(self, conn: Connection, table: sa.Table, depth: int = 2):
        import queue

        self.conn, self.table, self.rows = conn, table, 0
        self._error: BaseException | None = None
        self._thread = None
        if copy_capable(conn):
            self._queue: queue.Queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(target=self._drain, name=f"copy-{table.name}", daemon=True)
            self._thread.start()

    def _drain(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._error is None:
                try:
                    bulk_insert(self.conn, self.table, frame)
                except BaseException as exc:  # noqa: BLE001 - raised by close() in the caller's thread
                    self._error = exc

    def put(self, frame: pd.DataFrame) -> None:
        if self._error is not None:
            self.close()
        self.rows += len(frame)
        if self._thread is None:
            bulk_insert(self.conn, self.table, frame)
        else:
            self._queue.put(frame)

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> "BulkWriter":
        return self

    def __exit__(self, kind, value, trace) -> None:
        if kind is None:
            self.close()
        elif self._thread is not None and self._thread.is_alive():
            self._error = self._error or value
            self._queue.put(None)
            self._thread.join()


def copy_frame(conn: Connection, table_sql: str, frame: pd.DataFrame) -> None:
    """COPY ``frame`` into ``table_sql`` (a name our code made, never user input), on PostgreSQL."""
    _copy_into(conn, table_sql, frame)


def _copy_postgres(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    _copy_into(conn, qualified_name(conn, table), frame)


def _copy_into(conn: Connection, target: str, frame: pd.DataFrame) -> None:
    """COPY ``frame`` in: written as CSV by Arrow (strings quoted, NULL as an unquoted empty field,
    exactly PostgreSQL's CSV rules), or by pandas for a column Arrow cannot type."""
    try:
        buf = io.BytesIO()
        pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buf,
                        pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        null = ""
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        buf = io.BytesIO()
        text = io.TextIOWrapper(buf, encoding="utf-8", newline="")
        frame.to_csv(text, index=False, header=False, na_rep="\\N", quoting=csv.QUOTE_MINIMAL,
                     date_format="%Y-%m-%d %H:%M:%S.%f")
        text.flush()
        text.detach()
        null = "\\N"
    buf.seek(0)
    prep = conn.dialect.identifier_preparer
    col_list = ", ".join(prep.quote(c) for c in frame.columns)
    # Table and column names come from our own metadata, quoted by the dialect; data goes through COPY.
    sql = f"COPY {target} ({col_list}) FROM STDIN WITH (FORMAT csv, NULL '{null}')"
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.copy_expert(sql, buf, size=1 << 20)
    except conn.dialect.dbapi.Error as exc:  # COPY goes around the engine's error hook: no DETAIL or CONTEXT
        scrub_database_error(exc)
        raise
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


def analyze(engine: Engine, *tables: sa.Table) -> None:
    """Refresh PostgreSQL's planner statistics of tables a step has just filled: with a day of
    hundreds of thousands of new rows unknown to the planner, it picks nested loops (measured: the
    lead_outcomes model 5.6 s before, 2.9 s after, on a 100,000-call day). Elsewhere nothing."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {qualified_name(conn, table)}")


def stream_frames(engine: Engine, query: sa.Select, chunk_rows: int) -> Iterator[pd.DataFrame] | None:
    """``query``'s rows in frames of ``chunk_rows``, streamed with COPY on PostgreSQL (one
    statement, one batch in memory; a connection of its own, so the caller may write meanwhile);
    None where the warehouse cannot stream this way (the caller pages instead)."""
    if not copy_capable(engine):
        return None
    if _arrow_types(query, text_numerics=False) is None:
        return None

    def frames() -> Iterator[pd.DataFrame]:
        with engine.connect() as conn:
            yield from _copy_frames(conn, query, text_numerics=False, chunk_rows=chunk_rows)

    return frames()


def read_frame(engine: Engine, query: sa.Select) -> pd.DataFrame:
    """A query result as a DataFrame (on PostgreSQL through COPY and Arrow when every column has a
    plain type: the same values and dtypes as the row-by-row read, several times faster)."""
    with engine.connect() as conn:
        if copy_capable(conn) and _arrow_types(query, text_numerics=False) is not None:
            frames = list(_copy_frames(conn, query, text_numerics=False))
            return contiguous(pd.concat(frames, ignore_index=True)) if len(frames) > 1 else frames[0]
        result = conn.execute(query)
        names = list(result.keys())
        rows = result.fetchall()
    return _frame(names, rows)


def contiguous(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each Arrow-backed column in one piece, a column at a time (memory holds one
    column twice at most). A frame concatenated from many reads keeps every piece: taking rows by
    position from such a column joins all its pieces again on every take (50 times slower on a
    day's 850,000 visits), which the events step does for each chunk of leads."""
    for name in frame.columns:
        values = frame[name].array
        if isinstance(values, pd.arrays.ArrowExtensionArray):
            chunked = values._pa_array
            if chunked.num_chunks > 1:
                frame[name] = pd.Series(pd.array(chunked.combine_chunks(), dtype=values.dtype), index=frame.index,
                                        name=name)
    return frame


def _frame(names: list[str], rows) -> pd.DataFrame:
    """Rows as a DataFrame, built column-wise (about twice as fast as DataFrame.from_records on
    Row objects); no rows gives the columns, empty."""
    if not rows:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    return pd.DataFrame({name: list(values) for name, values in zip(names, zip(*rows))})



# --- PostgreSQL: COPY (query) TO STDOUT, parsed by Arrow -------------------------------------------

COPY_BLOCK_BYTES = 8 << 20
"""bytes of CSV Arrow parses at a time: one batch of rows in memory (about 20,000 to 60,000 rows)"""


def copy_capable(bind: Connection | Engine) -> bool:
    """PostgreSQL through psycopg2: COPY in and out is available."""
    return bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg2"


def _arrow_types(query: sa.Select, text_numerics: bool) -> dict[str, pa.DataType] | None:
    """The Arrow type to parse each selected column as, or None when one has no plain mapping
    (the caller then reads row by row). Decimals keep their declared precision (Python Decimal
    values, as the driver returns them); with ``text_numerics`` they stay text (a source table may
    hold NaN or Infinity, which the caller turns into NULL)."""
    types: dict[str, pa.DataType] = {}
    for column in query.selected_columns:
        kind = getattr(column, "type", None)
        if not isinstance(getattr(column, "name", None), str):
            return None
        if isinstance(kind, sa.Boolean):
            arrow = pa.bool_()
        elif isinstance(kind, sa.Integer):
            arrow = pa.int64()
        elif isinstance(kind, sa.Float):
            arrow = pa.float64()
        elif isinstance(kind, sa.Numeric):
            if text_numerics:
                arrow = pa.string()
            elif not kind.asdecimal:
                arrow = pa.float64()
            elif kind.precision and kind.scale is not None and kind.precision <= 38:
                arrow = pa.decimal128(kind.precision, kind.scale)
            else:
                return None
        elif isinstance(kind, sa.DateTime):
            if getattr(kind, "timezone", False):
                return None
            arrow = pa.timestamp("us")
        elif isinstance(kind, sa.Date):
            arrow = pa.date32()
        elif isinstance(kind, (sa.String, sa.Text)):
            arrow = pa.string()
        else:
            return None
        if column.name in types:
            return None
        types[column.name] = arrow
    return types if types and len(types) == len(query.selected_columns) else None


def _copy_frames(conn: Connection, query: sa.Select, text_numerics: bool,
                 chunk_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """Stream ``query``'s rows as DataFrames, one Arrow batch at a time.

    The statement is compiled by SQLAlchemy and its parameters bound by the driver (``mogrify``,
    the same quoting psycopg2 applies to every query); a thread copies the result into a pipe
    that Arrow's streaming CSV reader parses, so memory holds one batch whatever the result size."""
    types = _arrow_types(query, text_numerics)
    if types is None:
        raise ValueError("query has columns without an Arrow mapping")
    names = list(types)
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    cursor = conn.connection.driver_connection.cursor()
    sql = cursor.mogrify(str(compiled), compiled.params).decode()
    read_fd, write_fd = os.pipe()
    source, sink = os.fdopen(read_fd, "rb", buffering=1 << 20), os.fdopen(write_fd, "wb", buffering=1 << 20)
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", sink, size=1 << 20)
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            if isinstance(exc, conn.dialect.dbapi.Error):
                scrub_database_error(exc)  # COPY goes around the engine's error hook
            failure.append(exc)
        finally:
            try:
                sink.close()
            except OSError:
                pass

    producer = threading.Thread(target=produce, name="copy-to-stdout", daemon=True)
    producer.start()
    empty = True
    try:
        try:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(column_names=names, block_size=COPY_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                                     quoted_strings_can_be_null=False, true_values=["t"],
                                                     false_values=["f"]))
        except pa.ArrowInvalid as exc:
            if "Empty CSV" not in str(exc):
                raise
            reader = None
        for table in _rebatched(reader or (), chunk_rows):
            empty = False
            yield (table.combine_chunks() if chunk_rows else table).to_pandas(date_as_object=True)
    finally:
        source.close()  # a reader that stopped early ends the copy (broken pipe)
        producer.join()
        cursor.close()
    if failure and not isinstance(failure[0], (BrokenPipeError,)):
        raise failure[0]
    if empty:
        yield pd.DataFrame({name: pd.Series(dtype=object) for name in names})


def _rebatched(batches, rows: int | None) -> Iterator[pa.Table]:
    """Arrow's batches as tables of exactly ``rows`` rows (the last one shorter), or as they come."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        if rows is None:
            yield pa.Table.from_batches([batch])
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if pending and count:
        yield pa.Table.from_batches(pending)
