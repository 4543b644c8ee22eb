"""Extract one partition-day of one source into its staged table, streamed in chunks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..partitions import day_bounds_utc
from ..warehouse.engine import create_schema, verify_tables
from ..warehouse.io import DEFAULT_CHUNK_ROWS, bulk_insert, iter_day
from ..warehouse.schema import SOURCE_TABLES, STAGED_TABLES, order_items, orders, stg_order_items
from .stage import stage_frame

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

    @property
    def duplicate_rows(self) -> int:
        return self.rows - self.distinct_ids


def extract_day(engine: Engine, source: str, day: date, timezone_name: str = "UTC",
                chunk_rows: int = DEFAULT_CHUNK_ROWS, default_region: str = "US", progress=None) -> ExtractResult:
    """Replace ``stg_<source>`` for ``day`` with the day's source rows, customer information hashed.

    Delete and insert happen in one transaction: a failure leaves the previous extract in place.
    """
    table, staged = SOURCE_TABLES[source], STAGED_TABLES[source]
    verify_tables(engine, [table] + ([order_items] if source == "orders" else []))
    create_schema(engine, [staged] + ([stg_order_items] if source == "orders" else []))
    start, end = day_bounds_utc(day, timezone_name)
    result = ExtractResult(source=source, day=day)
    ids: set[str] = set()
    with engine.begin() as conn:
        conn.execute(sa.delete(staged).where(staged.c.partition_date == day))
        for chunk in iter_day(conn, table, start, end, chunk_rows):
            rows, dropped = stage_frame(source, chunk, day, staged, default_region)
            bulk_insert(conn, staged, rows)
            result.rows += len(rows)
            result.chunks += 1
            ids.update(chunk["id"].tolist())
            for item in dropped[dropped.fillna("") != ""]:
                result.dropped.update(r for r in item.rstrip(";").split(";") if r)
            for key in staged.info["keys"]:
                result.keys_present[key] += int(rows[key].notna().sum())
            if result.preview is None:
                result.preview = _preview(rows, staged.info["time_column"], staged.info["keys"])
            if progress:
                progress(result)
        if source == "orders":
            result.items = _extract_items(conn, day, start, end)
    result.distinct_ids = len(ids)
    return result


def _extract_items(conn, day: date, start, end) -> int:
    conn.execute(sa.delete(stg_order_items).where(stg_order_items.c.partition_date == day))
    day_orders = sa.select(orders.c.id).where(orders.c.created_at >= start, orders.c.created_at < end)
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
