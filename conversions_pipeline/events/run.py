"""Build and store one partition-day's server events (reads stg_*, replaces server_events for the day)."""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..partitions import day_bounds_utc
from ..warehouse.engine import verify_tables
from ..warehouse.io import BulkWriter, analyze, bulk_insert, read_frame
from ..warehouse.schema import STAGED_TABLES, capi_suppression, server_events, stg_order_items
from ..meta import USER_DATA_KEYS
from .build import build_events, conflicting_duplicates
from .config import FORMAT_TABLES, EventsConfig


@dataclass
class EventsResult:
    day: date
    events: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_reason: Counter = field(default_factory=Counter)
    by_name: Counter = field(default_factory=Counter)
    by_pixel: Counter = field(default_factory=Counter)
    by_action_source: Counter = field(default_factory=Counter)
    merged_sessions: int = 0
    session_ties: Counter = field(default_factory=Counter)
    """leads by how they were tied to a visit: session_id, tracking_number, ambiguous_tracking_number"""
    conflicting_duplicates: Counter = field(default_factory=Counter)
    """per source table: ids the export repeats with different contents"""
    key_coverage: dict = field(default_factory=dict)
    preview: pd.DataFrame | None = None


def build_day(engine: Engine, day: date, config: EventsConfig, default_pixel: str, timezone_name: str = "UTC",
              now: datetime | None = None) -> EventsResult:
    config = config.resolved()
    now = now or datetime.now(timezone.utc)
    staged_tables = [STAGED_TABLES[t] for t in FORMAT_TABLES.values()] + [STAGED_TABLES["web_sessions"]]
    verify_tables(engine, [server_events, capi_suppression, stg_order_items, *staged_tables])
    start, end = day_bounds_utc(day, timezone_name)
    sessions_t = STAGED_TABLES["web_sessions"]
    window = timedelta(minutes=config.session_window_minutes)
    sessions = read_frame(engine, sa.select(sessions_t).where(sessions_t.c.started_at >= start - window,
                                                             sessions_t.c.started_at < end))
    items = read_frame(engine, sa.select(stg_order_items).where(stg_order_items.c.partition_date == day))
    suppressed = set(read_frame(engine, sa.select(capi_suppression.c.hashed_value))["hashed_value"].str.lower())
    built_at = now.astimezone(timezone.utc).replace(tzinfo=None)
    slim = []
    conflicts: Counter = Counter()
    # One format at a time (each source row becomes its own events): memory holds one format's
    # events. On PostgreSQL they are written as they are built, in one transaction that replaces
    # the day (the server ingests one format while the next is built); elsewhere they are parked
    # in Parquet files and written at the end, so the write transaction stays short (SQLite has
    # one writer at a time, and a backfill runs several days at once).
    streaming = engine.dialect.name == "postgresql"
    with tempfile.TemporaryDirectory(prefix="server_events_") as folder, ExitStack() as stack:
        writer = None
        if streaming:
            conn = stack.enter_context(engine.begin())
            conn.execute(sa.delete(server_events).where(server_events.c.partition_date == day))
            writer = stack.enter_context(BulkWriter(conn, server_events))
        parked = []
        for fmt, table in FORMAT_TABLES.items():
            staged_t = STAGED_TABLES[table]
            rows = read_frame(engine, sa.select(staged_t).where(staged_t.c.partition_date == day))
            conflicts[table] = conflicting_duplicates(rows.drop(columns=["partition_date"], errors="ignore"))
            staged = {f: rows if f == fmt else pd.DataFrame() for f in FORMAT_TABLES}
            events = build_events(staged, sessions, items if fmt == "orders" else items.iloc[:0], config, now,
                                  default_pixel, suppressed)
            del rows, staged
            if events.empty:
                continue
            events.insert(0, "partition_date", day)
            events["built_at"] = built_at
            slim.append(events[[c for c in _SUMMARY_COLUMNS if c in events.columns]])
            if writer is not None:
                writer.put(events)
            else:
                path = Path(folder) / f"{fmt}.parquet"
                events.to_parquet(path, index=False)
                parked.append(path)
            del events
        if writer is not None:
            writer.close()
        else:
            with engine.begin() as conn:
                conn.execute(sa.delete(server_events).where(server_events.c.partition_date == day))
                for path in parked:
                    bulk_insert(conn, server_events, pd.read_parquet(path))
    analyze(engine, server_events)  # the upload's and the marts' joins are planned on these rows
    events = pd.concat(slim, ignore_index=True) if slim else pd.DataFrame(columns=list(_SUMMARY_COLUMNS))
    result = _summary(day, events)
    result.conflicting_duplicates.update({k: v for k, v in conflicts.items() if v})
    return result


_SUMMARY_COLUMNS = ("event_id", "event_name", "action_source", "source_table", "source_id", "merged_session_id",
                    "session_tie", "match_keys", "status", "reason", "pixel_id")


def _summary(day: date, events: pd.DataFrame) -> EventsResult:
    result = EventsResult(day=day, events=len(events))
    result.by_status.update(events["status"].value_counts().to_dict())
    result.by_reason.update(events["reason"].dropna().value_counts().to_dict())
    result.by_name.update(events["event_name"].value_counts().to_dict())
    result.by_pixel.update(events["pixel_id"].value_counts().to_dict())
    eligible = events[events["status"] == "eligible"]
    result.by_action_source.update(eligible["action_source"].value_counts().to_dict())
    leads = events.drop_duplicates(["source_table", "source_id"])
    result.merged_sessions = int(leads["merged_session_id"].notna().sum())
    result.session_ties.update(leads["session_tie"].dropna().value_counts().to_dict())
    if len(eligible):
        listed = ("," + eligible["match_keys"].fillna("").astype(str) + ",")
        share = {key: float(listed.str.contains(f",{key},", regex=False).mean()) for key in USER_DATA_KEYS}
        result.key_coverage = {k: round(v, 3) for k, v in sorted(share.items(), key=lambda kv: (-kv[1], kv[0])) if v > 0}
    result.preview = events[["event_id", "event_name", "action_source", "source_table", "match_keys", "status",
                             "reason"]].head(8).reset_index(drop=True)
    return result
