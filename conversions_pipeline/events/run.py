"""Build and store one partition-day's server events (reads stg_*, replaces server_events for the day)."""

from __future__ import annotations

import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..meta import USER_DATA_KEYS
from ..partitions import day_bounds_utc
from ..warehouse.engine import verify_tables
from ..warehouse.io import BulkWriter, analyze, bulk_insert, read_frame, stream_frames
from ..warehouse.schema import STAGED_TABLES, capi_suppression, server_events, stg_order_items
from .build import build_events, conflicting_duplicates
from .config import FORMAT_TABLES, EventsConfig
from .merge import SESSION_FIELDS, index_visits


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
              now: datetime | None = None, chunk_rows: int | None = None) -> EventsResult:
    """Replace the day's server_events with the events its staged rows give, built a chunk of
    leads at a time (memory holds one chunk's events, the day's sessions and order lines)."""
    chunk_rows = chunk_rows or EVENTS_CHUNK_ROWS
    config = config.resolved()
    now = now or datetime.now(timezone.utc)
    staged_tables = [STAGED_TABLES[t] for t in FORMAT_TABLES.values()] + [STAGED_TABLES["web_sessions"]]
    verify_tables(engine, [server_events, capi_suppression, stg_order_items, *staged_tables])
    start, end = day_bounds_utc(day, timezone_name)
    sessions_t = STAGED_TABLES["web_sessions"]
    window = timedelta(minutes=config.session_window_minutes)
    # only what a tie uses: the day's visits are the one part of this step that grows with the day
    wanted = ["id", "tracking_phone_number", *SESSION_FIELDS]
    sessions = read_frame(engine, sa.select(*[sessions_t.c[c] for c in dict.fromkeys(wanted)])
                          .where(sessions_t.c.started_at >= start - window, sessions_t.c.started_at < end))
    sessions = index_visits(sessions, window)  # prepared once, for every chunk of leads
    items = read_frame(engine, sa.select(stg_order_items).where(stg_order_items.c.partition_date == day))
    suppressed = set(read_frame(engine, sa.select(capi_suppression.c.hashed_value))["hashed_value"].str.lower())
    built_at = now.astimezone(timezone.utc).replace(tzinfo=None)
    summary = _Summary(day)
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
            query = sa.select(staged_t).where(staged_t.c.partition_date == day).order_by(staged_t.c.id)
            for part, rows in enumerate(id_chunks(engine, query, chunk_rows)):
                conflicts[table] += conflicting_duplicates(rows, ignore=("partition_date",))
                staged = {f: rows if f == fmt else pd.DataFrame() for f in FORMAT_TABLES}
                lines = items[items["order_id"].isin(rows["id"])] if fmt == "orders" else items.iloc[:0]
                events = build_events(staged, sessions, lines, config, now, default_pixel, suppressed)
                del rows, staged
                if events.empty:
                    continue
                events.insert(0, "partition_date", day)
                events["built_at"] = built_at
                summary.add(events)
                if writer is not None:
                    writer.put(events)
                else:
                    path = Path(folder) / f"{fmt}_{part}.parquet"
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
    result = summary.result()
    result.conflicting_duplicates.update({k: v for k, v in conflicts.items() if v})
    return result


EVENTS_CHUNK_ROWS = 25_000
"""staged rows built into events at a time (the day's sessions and order lines stay in memory)"""


def id_chunks(engine: Engine, query: sa.Select, chunk_rows: int):
    """The staged rows of ``query`` (ordered by id) in chunks of about ``chunk_rows``, never
    splitting the rows of one id (duplicates of an id are decided together). Streamed on
    PostgreSQL; elsewhere read at once and cut."""
    streamed = stream_frames(engine, query, chunk_rows)
    if streamed is None:
        whole = read_frame(engine, query)
        streamed = (whole.iloc[i:i + chunk_rows] for i in range(0, max(len(whole), 1), chunk_rows))
    carry = None
    for frame in streamed:
        if carry is not None:
            frame = pd.concat([carry, frame], ignore_index=True)
        if frame.empty:
            carry = None
            continue
        last = frame["id"].iloc[-1]
        tail = (frame["id"] == last).to_numpy()
        carry, frame = frame[tail], frame[~tail]
        if len(frame):
            yield frame.reset_index(drop=True)
    if carry is not None and len(carry):
        yield carry.reset_index(drop=True)




class _Summary:
    """The day's event counts, added up chunk by chunk (chunks never share a lead)."""

    def __init__(self, day: date):
        self.out = EventsResult(day=day)
        self.eligible = 0
        self.with_key: Counter = Counter()

    def add(self, events: pd.DataFrame) -> None:
        result = self.out
        result.events += len(events)
        result.by_status.update(events["status"].value_counts().to_dict())
        result.by_reason.update(events["reason"].dropna().value_counts().to_dict())
        result.by_name.update(events["event_name"].value_counts().to_dict())
        result.by_pixel.update(events["pixel_id"].value_counts().to_dict())
        eligible = events[events["status"] == "eligible"]
        result.by_action_source.update(eligible["action_source"].value_counts().to_dict())
        leads = events.drop_duplicates(["source_table", "source_id"])
        result.merged_sessions += int(leads["merged_session_id"].notna().sum())
        result.session_ties.update(leads["session_tie"].dropna().value_counts().to_dict())
        if len(eligible):
            listed = ("," + eligible["match_keys"].fillna("").astype(str) + ",")
            self.eligible += len(eligible)
            self.with_key.update({key: int(listed.str.contains(f",{key},", regex=False).sum())
                                  for key in USER_DATA_KEYS})
        if result.preview is None:
            result.preview = events[["event_id", "event_name", "action_source", "source_table", "match_keys", "status",
                                     "reason"]].head(8).reset_index(drop=True)

    def result(self) -> EventsResult:
        if self.eligible:
            share = {key: self.with_key[key] / self.eligible for key in USER_DATA_KEYS}
            self.out.key_coverage = {k: round(v, 3) for k, v in sorted(share.items(), key=lambda kv: (-kv[1], kv[0]))
                                     if v > 0}
        return self.out
