"""The per-event ledger (capi_events) and the per-request log (capi_batches).

Every write is a short transaction of its own, so a process killed at any moment leaves a
consistent ledger: an event is ``accepted`` only after Meta's response said so; anything in flight
stays ``pending`` and the next run sends it again with the same event_id (Meta deduplicates).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..warehouse.io import bulk_insert, read_frame
from .client import Attempt, EventOutcome
from ..warehouse.schema import capi_batches, capi_events, server_events

RESEND = ("pending", "rejected")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def sync_day(engine: Engine, day: date, force: bool = False) -> None:
    """Make the day's ledger match server_events: accepted events stay accepted (unless ``force``),
    eligible events not yet accepted become pending, skipped ones are recorded with their reason."""
    cols = [server_events.c[c] for c in ("pixel_id", "event_id", "event_name", "event_time", "source_table",
                                         "source_id", "status", "reason", "match_keys")]
    built = read_frame(engine, sa.select(*cols).where(server_events.c.partition_date == day))
    with engine.begin() as conn:
        keep = set()
        if not force:
            kept = conn.execute(sa.select(capi_events.c.pixel_id, capi_events.c.event_id).where(
                capi_events.c.partition_date == day, capi_events.c.status == "accepted")).all()
            keep = {(p, e) for p, e in kept}
        delete = sa.delete(capi_events).where(capi_events.c.partition_date == day)
        if not force:
            delete = delete.where(capi_events.c.status != "accepted")
        conn.execute(delete)
        if built.empty:
            return
        fresh = built[[(p, e) not in keep for p, e in zip(built["pixel_id"], built["event_id"])]].copy()
        fresh["status"] = fresh["status"].map({"eligible": "pending"}).fillna("skipped")
        fresh.insert(0, "partition_date", day)
        fresh["attempts"] = 0
        fresh["updated_at"] = utcnow()
        bulk_insert(conn, capi_events, fresh)


def to_send(engine: Engine, day: date) -> pd.DataFrame:
    """The day's events that still have to reach Meta, with everything needed to build the payload."""
    query = (sa.select(server_events, capi_events.c.attempts.label("ledger_attempts"))
             .join(capi_events, sa.and_(capi_events.c.pixel_id == server_events.c.pixel_id,
                                        capi_events.c.event_id == server_events.c.event_id))
             .where(server_events.c.partition_date == day, capi_events.c.status.in_(RESEND))
             .order_by(server_events.c.pixel_id, server_events.c.event_time, server_events.c.event_id))
    return read_frame(engine, query)


def mark_skipped(engine: Engine, pixel_id: str, event_ids: list[str], reason: str) -> None:
    if not event_ids:
        return
    stmt = (sa.update(capi_events)
            .where(capi_events.c.pixel_id == sa.bindparam("p"), capi_events.c.event_id == sa.bindparam("e"))
            .values(status="skipped", reason=reason, updated_at=sa.bindparam("now")))
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(stmt, [{"p": pixel_id, "e": e, "now": now} for e in event_ids])


def mark_sent(engine: Engine, pixel_id: str, event_ids: list[str]) -> None:
    """Before a request goes out: the events are in flight (still pending)."""
    stmt = (sa.update(capi_events)
            .where(capi_events.c.pixel_id == sa.bindparam("p"), capi_events.c.event_id == sa.bindparam("e"))
            .values(status="pending", sent_at=sa.bindparam("now"), updated_at=sa.bindparam("now")))
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(stmt, [{"p": pixel_id, "e": e, "now": now} for e in event_ids])


def record_outcomes(engine: Engine, pixel_id: str, outcomes: dict[str, EventOutcome]) -> None:
    stmt = (sa.update(capi_events)
            .where(capi_events.c.pixel_id == sa.bindparam("p"), capi_events.c.event_id == sa.bindparam("e"))
            .values(status=sa.bindparam("status"), reason=sa.bindparam("reason"), batch_id=sa.bindparam("batch"),
                    attempts=capi_events.c.attempts + sa.bindparam("tries"), error_code=sa.bindparam("code"),
                    error_subcode=sa.bindparam("subcode"), error_message=sa.bindparam("message"),
                    fbtrace_id=sa.bindparam("trace"), updated_at=sa.bindparam("now")))
    now = utcnow()
    rows = [{"p": pixel_id, "e": eid, "status": o.status, "reason": o.reason, "batch": o.batch_id,
             "tries": o.attempts, "code": o.error_code, "subcode": o.error_subcode,
             "message": (o.error_message or None) and o.error_message[:2000], "trace": o.fbtrace_id, "now": now}
            for eid, o in outcomes.items()]
    with engine.begin() as conn:
        conn.execute(stmt, rows)


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
