"""The per-event ledger (capi_events) and the per-request log (capi_batches).

Every write is a short transaction of its own, so a process killed at any moment leaves a
consistent ledger: an event is ``accepted`` only after Meta's response said so; anything in flight
stays ``pending`` and the next run sends it again with the same event_id (Meta deduplicates).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timezone

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..warehouse.io import read_frame
from .client import Attempt, EventOutcome
from ..warehouse.schema import capi_batches, capi_events, server_events

RESEND = ("pending", "rejected")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def sync_day(engine: Engine, day: date, force: bool = False) -> None:
    """Make the day's ledger match server_events, in SQL: accepted events stay accepted (unless
    ``force``), eligible events not yet accepted become pending, skipped ones keep their reason."""
    se, ce = server_events, capi_events
    with engine.begin() as conn:
        delete = sa.delete(ce).where(ce.c.partition_date == day)
        if not force:
            delete = delete.where(ce.c.status != "accepted")
        conn.execute(delete)
        already = sa.select(sa.literal(1)).where(ce.c.pixel_id == se.c.pixel_id, ce.c.event_id == se.c.event_id)
        rows = sa.select(
            se.c.partition_date, se.c.pixel_id, se.c.event_id, se.c.event_name, se.c.event_time, se.c.source_table,
            se.c.source_id, sa.case((se.c.status == "eligible", "pending"), else_="skipped"), se.c.reason,
            se.c.match_keys, sa.literal(0), sa.literal(utcnow(), sa.DateTime),
        ).where(se.c.partition_date == day, ~sa.exists(already))
        conn.execute(sa.insert(ce).from_select(
            ["partition_date", "pixel_id", "event_id", "event_name", "event_time", "source_table", "source_id",
             "status", "reason", "match_keys", "attempts", "updated_at"], rows))


def to_send(engine: Engine, day: date, page_rows: int = 20_000) -> Iterator[pd.DataFrame]:
    """The day's events that still have to reach Meta, page by page (keyset pagination, so memory
    stays flat and no read transaction is held open while outcomes are written)."""
    last: tuple[str, str] | None = None
    while True:
        query = (sa.select(server_events)
                 .join(capi_events, sa.and_(capi_events.c.pixel_id == server_events.c.pixel_id,
                                            capi_events.c.event_id == server_events.c.event_id))
                 .where(server_events.c.partition_date == day, capi_events.c.status.in_(RESEND))
                 .order_by(server_events.c.pixel_id, server_events.c.event_id)
                 .limit(page_rows))
        if last is not None:
            query = query.where(sa.tuple_(server_events.c.pixel_id, server_events.c.event_id) > last)
        page = read_frame(engine, query)
        if page.empty:
            return
        yield page
        last = (page["pixel_id"].iloc[-1], page["event_id"].iloc[-1])


def mark_skipped(engine: Engine, pixel_id: str, event_ids: list[str], reason: str) -> None:
    if not event_ids:
        return
    stmt = (sa.update(capi_events)
            .where(capi_events.c.pixel_id == sa.bindparam("p"), capi_events.c.event_id == sa.bindparam("e"))
            .values(status="skipped", reason=reason, updated_at=sa.bindparam("now")))
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(stmt, [{"p": pixel_id, "e": e, "now": now} for e in event_ids])


def record_outcomes(engine: Engine, pixel_id: str, outcomes: dict[str, EventOutcome]) -> None:
    """One UPDATE per distinct outcome (a whole accepted batch is one statement), in one transaction."""
    groups: dict[tuple, list[str]] = {}
    for eid, o in outcomes.items():
        message = o.error_message[:2000] if o.error_message else None
        key = (o.status, o.reason, o.batch_id, o.attempts, o.error_code, o.error_subcode, message, o.fbtrace_id)
        groups.setdefault(key, []).append(eid)
    now = utcnow()
    with engine.begin() as conn:
        for (status, reason, batch, tries, code, subcode, message, trace), ids in groups.items():
            for start in range(0, len(ids), 1000):
                conn.execute(
                    sa.update(capi_events)
                    .where(capi_events.c.pixel_id == pixel_id, capi_events.c.event_id.in_(ids[start:start + 1000]))
                    .values(status=status, reason=reason, batch_id=batch, attempts=capi_events.c.attempts + tries,
                            error_code=code, error_subcode=subcode, error_message=message, fbtrace_id=trace,
                            sent_at=now, updated_at=now))


def record_attempt(engine: Engine, day: date, pixel_id: str, attempt: Attempt) -> None:
    row = {"batch_id": attempt.batch_id, "partition_date": day, "pixel_id": pixel_id, "attempt": attempt.attempt,
           "events_sent": attempt.events_sent, "http_status": attempt.http_status,
           "events_received": attempt.events_received, "flagged": attempt.flagged, "outcome": attempt.outcome,
           "messages": json.dumps(attempt.messages) if attempt.messages is not None else None,
           "fbtrace_id": attempt.fbtrace_id, "error_code": attempt.error_code,
           "error_subcode": attempt.error_subcode, "error_message": attempt.error_message,
           "duration_ms": attempt.duration_ms,
           "started_at": datetime.fromtimestamp(attempt.started_at or 0, timezone.utc).replace(tzinfo=None)}
    with engine.begin() as conn:
        conn.execute(capi_batches.insert(), [row])


def day_status(engine: Engine, day: date) -> pd.DataFrame:
    """Counts of the day's ledger by status and reason."""
    query = (sa.select(capi_events.c.status, capi_events.c.reason, sa.func.count().label("events"))
             .where(capi_events.c.partition_date == day)
             .group_by(capi_events.c.status, capi_events.c.reason))
    return read_frame(engine, query)
