"""Build and store one partition-day's server events (reads stg_*, replaces server_events for the day)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..partitions import day_bounds_utc
from ..warehouse.engine import create_schema, verify_tables
from ..warehouse.io import bulk_insert, read_frame
from ..warehouse.schema import STAGED_TABLES, capi_suppression, server_events, stg_order_items
from .build import USER_DATA_KEYS, build_events
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
    key_coverage: dict = field(default_factory=dict)
    preview: pd.DataFrame | None = None


def build_day(engine: Engine, day: date, config: EventsConfig, default_pixel: str, timezone_name: str = "UTC",
              now: datetime | None = None) -> EventsResult:
    config = config.resolved()
    now = now or datetime.now(timezone.utc)
    staged_tables = [STAGED_TABLES[t] for t in FORMAT_TABLES.values()] + [STAGED_TABLES["web_sessions"]]
    create_schema(engine, [server_events, capi_suppression, stg_order_items, *staged_tables])
    verify_tables(engine, [server_events])
    start, end = day_bounds_utc(day, timezone_name)
    staged = {fmt: read_frame(engine, sa.select(STAGED_TABLES[table]).where(STAGED_TABLES[table].c.partition_date == day))
              for fmt, table in FORMAT_TABLES.items()}
    sessions_t = STAGED_TABLES["web_sessions"]
    window = timedelta(minutes=config.session_window_minutes)
    sessions = read_frame(engine, sa.select(sessions_t).where(sessions_t.c.started_at >= start - window,
                                                             sessions_t.c.started_at < end))
    items = read_frame(engine, sa.select(stg_order_items).where(stg_order_items.c.partition_date == day))
    suppressed = set(read_frame(engine, sa.select(capi_suppression.c.hashed_value))["hashed_value"].str.lower())
    events = build_events(staged, sessions, items, config, now, default_pixel, suppressed)
    events.insert(0, "partition_date", day)
    events["built_at"] = now.astimezone(timezone.utc).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(sa.delete(server_events).where(server_events.c.partition_date == day))
        bulk_insert(conn, server_events, events)
    return _summary(day, events)


def _summary(day: date, events: pd.DataFrame) -> EventsResult:
    result = EventsResult(day=day, events=len(events))
    result.by_status.update(events["status"].value_counts().to_dict())
    result.by_reason.update(events["reason"].dropna().value_counts().to_dict())
    result.by_name.update(events["event_name"].value_counts().to_dict())
    result.by_pixel.update(events["pixel_id"].value_counts().to_dict())
    eligible = events[events["status"] == "eligible"]
    result.by_action_source.update(eligible["action_source"].value_counts().to_dict())
    result.merged_sessions = int(events.drop_duplicates(["source_table", "source_id"])["merged_session_id"].notna().sum())
    if len(eligible):
        listed = ("," + eligible["match_keys"].fillna("").astype(str) + ",")
        share = {key: float(listed.str.contains(f",{key},", regex=False).mean()) for key in USER_DATA_KEYS}
        result.key_coverage = {k: round(v, 3) for k, v in sorted(share.items(), key=lambda kv: (-kv[1], kv[0])) if v > 0}
    result.preview = events[["event_id", "event_name", "action_source", "source_table", "match_keys", "status",
                             "reason"]].head(8).reset_index(drop=True)
    return result
