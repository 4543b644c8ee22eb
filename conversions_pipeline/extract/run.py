"""Extract one partition-day of one source into its staged table, streamed in chunks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..partitions import day_bounds_utc
from ..warehouse.engine import reflect_columns, time_kind, verify_tables
from ..warehouse.io import DEFAULT_CHUNK_ROWS, BulkWriter, iter_day
from ..warehouse.schema import (
    SOURCE_TABLES,
    STAGED_TABLES,
    UPDATED_AT,
    UPDATED_AT_COLUMNS,
    order_items,
    stg_order_items,
    time_column,
)
from .stage import stage_frame
from .timestamps import parse_timestamps, shape

PREVIEW_ROWS = 5


@dataclass
class ExtractResult:
    source: str
    day: date
    rows: int = 0
    distinct_ids: int = 0
    chunks: int = 0
    items: int = 0
    dropped: Counter = field(default_factory=Counter)
    keys_present: Counter = field(default_factory=Counter)
    preview: pd.DataFrame | None = None
    updated_at_column: str | None = None
    unreadable_near_day: int = 0
    """rows read around the day whose timestamp is not an accepted timestamp (in no day)"""
    unreadable_in_table: int = 0
    """rows of the whole table whose timestamp is NULL or not shaped like a date (in no day)"""
    unreadable_shapes: Counter = field(default_factory=Counter)
    source_rows: int = 0
    """the source's rows whose timestamp lies in the day"""

    @property
    def dropped_rows(self) -> int:
        """rows of the day that were not staged (none by design: bad values are staged as NULL)"""
        return self.source_rows - self.rows

    @property
    def duplicate_rows(self) -> int:
        return self.rows - self.distinct_ids


def extract_day(engine: Engine, source: str, day: date, timezone_name: str = "UTC",
                chunk_rows: int = DEFAULT_CHUNK_ROWS, default_region: str = "US", progress=None) -> ExtractResult:
    """Replace ``stg_<source>`` for ``day`` with the day's source rows, customer information hashed.

    Delete and insert happen in one transaction: a failure leaves the previous extract in place.
    Timestamps are parsed here, the same way on every warehouse (see :mod:`.timestamps`); a value
    that is not a timestamp never lands in a day and is counted.
    """
    table, staged = SOURCE_TABLES[source], STAGED_TABLES[source]
    verify_tables(engine, [table, staged] + ([order_items, stg_order_items] if source == "orders" else []))
    start, end = day_bounds_utc(day, timezone_name)
    present = reflect_columns(engine, table)
    time_col = table.info["time_column"]
    kind = time_kind(engine, present.get(time_col))
    updated = next((c for c in UPDATED_AT_COLUMNS if c in present), None)
    result = ExtractResult(source=source, day=day, updated_at_column=updated)
    ids: list[pa.Array] = []  # the day's ids in Arrow (a Python string per id left the heap fragmented)
    with engine.begin() as conn, BulkWriter(conn, staged) as writer:
        conn.execute(sa.delete(staged).where(staged.c.partition_date == day))
        for chunk in iter_day(conn, table, start, end, chunk_rows, time_kind=kind,
                              extra_columns={updated: UPDATED_AT} if updated else None):
            raw_time = chunk[time_col]
            chunk = _parse_times(chunk, table)
            when = chunk[time_col]
            unreadable = when.isna()
            if unreadable.any():
                result.unreadable_near_day += int(unreadable.sum())
                result.unreadable_shapes.update(shape(v) for v in raw_time[unreadable].head(1000))
            chunk = chunk[~unreadable & (when >= start) & (when < end)]
            result.source_rows += len(chunk)
            if chunk.empty:
                continue
            rows, dropped = stage_frame(source, chunk, day, staged, default_region)
            writer.put(rows)
            result.rows += len(rows)
            result.chunks += 1
            ids.append(pc.cast(pa.array(chunk["id"], from_pandas=True), pa.string()))
            for item in dropped[dropped.fillna("") != ""]:
                result.dropped.update(r for r in item.rstrip(";").split(";") if r)
            for key in staged.info["keys"]:
                result.keys_present[key] += int(rows[key].notna().sum())
            if result.preview is None:
                result.preview = _preview(rows, time_col, staged.info["keys"])
            if progress:
                progress(result)
        writer.close()
        if source == "orders":
            result.items = _extract_items(conn, day)
    result.distinct_ids = len(pc.unique(pa.chunked_array(ids, pa.string()))) if ids else 0
    result.unreadable_in_table, examples = unreadable_times(engine, table, kind)
    result.unreadable_shapes.update(examples)
    return result


def _parse_times(chunk: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    """Every timestamp column of the chunk as naive UTC; unreadable values become NaT."""
    names = [c.name for c in table.columns if isinstance(c.type, sa.DateTime)]
    if UPDATED_AT in chunk.columns:
        names.append(UPDATED_AT)
    return chunk.assign(**{name: parse_timestamps(chunk[name]) for name in names})


def unreadable_times(engine: Engine, table: sa.Table, kind: str, examples: int = 5) -> tuple[int, list[str]]:
    """Rows of the whole table whose timestamp is NULL or not even shaped like a date (so they
    belong to no partition-day), and the shapes of a few of them (never the values)."""
    ts = time_column(table)
    text = sa.type_coerce(ts, sa.String)
    if kind != "text":
        bad = ts.is_(None)
    elif engine.dialect.name == "sqlite":
        bad = sa.or_(ts.is_(None), sa.func.typeof(ts) != "text",
                     sa.not_(text.op("GLOB")("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*")))
    elif engine.dialect.name == "postgresql":
        bad = sa.or_(ts.is_(None), text.op("!~")(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"))
    else:
        bad = ts.is_(None)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(table).where(bad)).scalar_one()
        sample = conn.execute(sa.select(text).where(bad).limit(examples)).scalars().all() if count else []
    return int(count), [shape(v) for v in sample]


def _extract_items(conn, day: date) -> int:
    """The line items of the orders staged for the day."""
    conn.execute(sa.delete(stg_order_items).where(stg_order_items.c.partition_date == day))
    day_orders = sa.select(STAGED_TABLES["orders"].c.id).where(STAGED_TABLES["orders"].c.partition_date == day)
    select_items = sa.select(sa.literal(day, sa.Date).label("partition_date"), *order_items.c).where(
        order_items.c.order_id.in_(day_orders))
    insert = sa.insert(stg_order_items).from_select(["partition_date", *order_items.c.keys()], select_items)
    return conn.execute(insert).rowcount


def _preview(rows: pd.DataFrame, time_column: str, keys) -> pd.DataFrame:
    """A few rows a person can read: ids, times, and which keys were usable, never the values."""
    head = rows.head(PREVIEW_ROWS)
    out = pd.DataFrame({"id": head["id"], time_column: head[time_column].astype(str)})
    if keys:
        present = [head[k].notna().map({True: k, False: ""}) for k in keys]
        out["keys"] = pd.concat(present, axis=1).agg(lambda r: ",".join(x for x in r if x), axis=1)
        out["dropped"] = head["dropped_keys"].fillna("")
    for col in ("source", "status", "channel"):
        if col in head.columns:
            out[col] = head[col].astype(str)
    return out.reset_index(drop=True)
