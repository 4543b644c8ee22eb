"""The per-event ledger (capi_events) and the per-request log (capi_batches).

Every write is a short transaction of its own, so a process killed at any moment leaves a
consistent ledger: an event is ``accepted`` only after Meta's response said so; anything in flight
stays ``pending`` and the next run sends it again with the same event_id (Meta deduplicates).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from itertools import pairwise

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ..warehouse.engine import qualified_name
from ..warehouse.io import read_frame, stream_frames
from ..warehouse.schema import capi_batches, capi_events, server_events
from .client import Attempt, EventOutcome

RETRACTED = "retracted"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def sync_day(engine: Engine, day: date) -> None:
    """Bring the day's ledger up to date with server_events, in place: the changes to rows it
    holds in one transaction, then the new events (on PostgreSQL in ``SYNC_SPLITS`` transactions
    side by side).

    Rows are updated, never deleted, so attempts and first-sent times survive every re-run:

    * a new event enters as ``pending`` (eligible) or ``skipped`` with its reason;
    * an accepted event whose source became ineligible turns ``retracted`` (reason
      ``retracted: <why>``, e.g. ``retracted: spam``), and ``retracted: deleted`` when its source
      row or event disappeared; it turns ``accepted`` again if it becomes eligible again;
    * a ``rejected`` event is final: it is sent again only when its payload changed (or with
      ``force`` at send time);
    * pending and skipped events follow server_events; one that disappeared is ``skipped``
      with reason ``deleted``.
    """
    se, ce = server_events, capi_events
    now = utcnow()
    current = sa.and_(se.c.pixel_id == ce.c.pixel_id, se.c.event_id == ce.c.event_id, se.c.partition_date == day)
    mine = ce.c.partition_date == day
    eligible, skipped = se.c.status == "eligible", se.c.status == "skipped"
    with engine.begin() as conn:
        # accepted or retracted, still produced by the source
        conn.execute(sa.update(ce).where(current, mine, ce.c.status.in_(["accepted", RETRACTED]), skipped)
                     .values(status=RETRACTED, reason=sa.literal("retracted: ") + se.c.reason, updated_at=now))
        conn.execute(sa.update(ce).where(current, mine, ce.c.status == RETRACTED, eligible)
                     .values(status="accepted", reason=None, updated_at=now))
        # not (yet) accepted: follow the events step; a rejection is final unless the payload changed
        conn.execute(sa.update(ce).where(current, mine, ce.c.status.in_(["pending", "skipped", "rejected"]), skipped)
                     .values(status="skipped", reason=se.c.reason, match_keys=se.c.match_keys,
                             event_time=se.c.event_time, updated_at=now))
        conn.execute(sa.update(ce).where(current, mine, ce.c.status == "skipped", eligible)
                     .values(status="pending", reason=None, match_keys=se.c.match_keys, event_time=se.c.event_time,
                             updated_at=now))
        conn.execute(sa.update(ce).where(current, mine, ce.c.status == "rejected", eligible,
                                         ce.c.payload_hash.is_not(None), se.c.payload_hash != ce.c.payload_hash)
                     .values(status="pending", reason="resend: payload changed since rejected",
                             match_keys=se.c.match_keys, event_time=se.c.event_time, updated_at=now))
        # gone from the source (or no longer produced)
        still_there = sa.exists(sa.select(sa.literal(1)).where(current))
        conn.execute(sa.update(ce).where(mine, ce.c.status.in_(["accepted", RETRACTED]), ~still_there)
                     .values(status=RETRACTED, reason="retracted: deleted", updated_at=now))
        conn.execute(sa.update(ce).where(mine, ce.c.status.in_(["pending", "skipped", "rejected"]), ~still_there)
                     .values(status="skipped", reason="deleted", updated_at=now))
        if engine.dialect.name != "postgresql":
            conn.execute(_insert_new(conn.dialect.name, day, now))
    if engine.dialect.name == "postgresql":
        # new events in SYNC_SPLITS transactions side by side, one per range of event ids (an
        # event's rows fall in one range, so they never meet): PostgreSQL inserts one statement
        # on one core. Nothing is sent before all of them are committed; a run stopped among
        # them leaves the rest to the next run's sync.
        ranges = _id_ranges(SYNC_SPLITS)
        with ThreadPoolExecutor(len(ranges), thread_name_prefix="ledger-sync") as pool:
            futures = [pool.submit(_run_insert, engine, day, now, low, high) for low, high in ranges]
            for future in futures:
                future.result()


SYNC_SPLITS = 2
"""transactions that insert a day's new events side by side on PostgreSQL (one per core)"""


def _id_ranges(parts: int) -> list[tuple[str | None, str | None]]:
    """``parts`` ranges of event ids by their first hex digit; the first is open below and the
    last above, so every id falls in exactly one."""
    bounds = [None] + [format(i * 16 // parts, "x") for i in range(1, parts)] + [None]
    return list(pairwise(bounds))


def _run_insert(engine: Engine, day: date, now: datetime, low: str | None, high: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(_insert_new(conn.dialect.name, day, now, low, high))


def _insert_new(dialect: str, day: date, now: datetime, low: str | None = None, high: str | None = None):
    """The day's events the ledger does not hold yet (any day), as ``pending`` or ``skipped``; with
    ``low``/``high`` only the event ids in that range. An event the ledger already holds is left as
    it is: the unique index decides, row by row (an anti-join planned on a ledger whose statistics
    say "empty" became a nested loop that scanned the growing table once per new event: minutes at
    100k); dialects without an upsert keep the anti-join."""
    se, ce = server_events, capi_events
    rows = sa.select(
        se.c.partition_date, se.c.pixel_id, se.c.event_id, se.c.event_name, se.c.event_time, se.c.source_table,
        se.c.source_id, sa.case((se.c.status == "eligible", "pending"), else_="skipped"), se.c.reason,
        se.c.match_keys, sa.literal(0), sa.literal(now, sa.DateTime), sa.literal(now, sa.DateTime),
    ).where(se.c.partition_date == day)  # (SQLite's upsert after INSERT ... SELECT needs a WHERE)
    if low is not None:
        rows = rows.where(se.c.event_id >= low)
    if high is not None:
        rows = rows.where(se.c.event_id < high)
    columns = ["partition_date", "pixel_id", "event_id", "event_name", "event_time", "source_table", "source_id",
               "status", "reason", "match_keys", "attempts", "updated_at", "first_seen_at"]
    upsert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if upsert is not None:
        return upsert(ce).from_select(columns, rows).on_conflict_do_nothing(index_elements=["pixel_id", "event_id"])
    already = sa.select(sa.literal(1)).where(ce.c.pixel_id == se.c.pixel_id, ce.c.event_id == se.c.event_id)
    return sa.insert(ce).from_select(columns, rows.where(~sa.exists(already)))


def _to_send(force: bool, destination: str | None):
    """Which of the day's eligible events go out: never sent or pending, skipped before and
    eligible now, rejected with a changed payload, accepted by another destination (the emulator's
    acceptance never counts for Meta); with ``force`` also accepted and rejected ones. The same
    rule holds before the ledger is synced, so a dry run needs no ledger writes."""
    ce, se = capi_events, server_events
    statuses = ["pending", "skipped"] + (["accepted", "rejected"] if force else [])
    elsewhere = (sa.and_(ce.c.status == "accepted", ce.c.destination.is_not(None), ce.c.destination != destination)
                 if destination else sa.false())
    return sa.and_(se.c.status == "eligible", sa.or_(
        ce.c.status.is_(None), ce.c.status.in_(statuses), elsewhere,
        sa.and_(ce.c.status == "rejected", ce.c.payload_hash.is_not(None), ce.c.payload_hash != se.c.payload_hash)))


SENT_COLUMNS = ("pixel_id", "event_id", "event_name", "event_time", "action_source", "user_data", "custom_data",
                "options", "event_source_url", "payload_hash", "source_table", "source_id")
"""what the upload reads of an event: what it sends, the hash it was sent with, and its source row"""


def to_send(engine: Engine, day: date, force: bool = False, page_rows: int = 20_000,
            destination: str | None = None) -> Iterator[pd.DataFrame]:
    """The day's events that still have to reach Meta, page by page (keyset pagination, so memory
    stays flat and no read transaction is held open while outcomes are written). On PostgreSQL one
    statement streamed with COPY (its snapshot does not block the outcome writes), in the order the
    join gives: sorting a day's events first (an external sort of every payload, about 6 s at a
    million) held back the first request until the last event was sorted."""
    streamed = stream_frames(engine, to_send_query(day, force, destination), page_rows)
    if streamed is not None:
        for page in streamed:
            if len(page):
                yield page
        return
    last: tuple[str, str] | None = None
    while True:
        query = (to_send_query(day, force, destination)
                 .order_by(server_events.c.pixel_id, server_events.c.event_id).limit(page_rows))
        if last is not None:
            query = query.where(sa.tuple_(server_events.c.pixel_id, server_events.c.event_id) > last)
        page = read_frame(engine, query)
        if page.empty:
            return
        yield page
        last = (page["pixel_id"].iloc[-1], page["event_id"].iloc[-1])


def to_send_query(day: date, force: bool = False, destination: str | None = None) -> sa.Select:
    """The columns the upload reads of the day's events that still have to reach Meta, unordered."""
    return (sa.select(*[server_events.c[name] for name in SENT_COLUMNS])
            .outerjoin(capi_events, sa.and_(capi_events.c.pixel_id == server_events.c.pixel_id,
                                            capi_events.c.event_id == server_events.c.event_id))
            .where(server_events.c.partition_date == day, _to_send(force, destination)))


def mark_skipped(engine: Engine, pixel_id: str, event_ids: list[str], reason: str) -> None:
    """Events found unsendable at send time (too old by now, not encodable as JSON)."""
    if not event_ids:
        return
    stmt = (sa.update(capi_events)
            .where(capi_events.c.pixel_id == sa.bindparam("p"), capi_events.c.event_id == sa.bindparam("e"))
            .values(status="skipped", reason=reason, updated_at=sa.bindparam("now")))
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(stmt, [{"p": pixel_id, "e": e, "now": now} for e in event_ids])


def _update_outcomes(conn, pixel_id: str, outcomes: dict[str, EventOutcome], hashes: dict[str, str],
                     destination: str | None = None) -> None:
    """One UPDATE per distinct outcome (a whole accepted batch is one statement), then the payload
    hash each event was sent with. Attempts add up over runs; first_sent_at and accepted_at keep
    their first value."""
    groups: dict[tuple, list[str]] = {}
    for eid, o in outcomes.items():
        message = o.error_message[:2000] if o.error_message else None
        key = (o.status, o.reason, o.batch_id, o.attempts, o.error_code, o.error_subcode, message, o.fbtrace_id)
        groups.setdefault(key, []).append(eid)
    now = utcnow()
    ce = capi_events
    for (status, reason, batch, tries, code, subcode, message, trace), ids in groups.items():
        accepted_at = sa.func.coalesce(ce.c.accepted_at, now) if status == "accepted" else ce.c.accepted_at
        for start in range(0, len(ids), 1000):
            conn.execute(
                sa.update(ce)
                .where(ce.c.pixel_id == pixel_id, ce.c.event_id.in_(ids[start:start + 1000]))
                .values(status=status, reason=reason, batch_id=batch, attempts=ce.c.attempts + tries,
                        error_code=code, error_subcode=subcode, error_message=message, fbtrace_id=trace,
                        sent_at=now, updated_at=now, last_attempt_at=now,
                        first_sent_at=sa.func.coalesce(ce.c.first_sent_at, now), accepted_at=accepted_at,
                        destination=destination))
    sent = [{"p": pixel_id, "e": eid, "h": hashes[eid]} for eid in outcomes if eid in hashes]
    if sent:
        conn.execute(sa.update(ce).where(ce.c.pixel_id == sa.bindparam("p"), ce.c.event_id == sa.bindparam("e"))
                     .values(payload_hash=sa.bindparam("h")), sent)


OUTCOME_COLUMNS = ("pixel_id", "event_id", "status", "reason", "batch_id", "attempts", "error_code", "error_subcode",
                   "error_message", "fbtrace_id", "payload_hash")


def outcome_rows(pixel_id: str, outcomes: dict[str, EventOutcome], hashes: dict[str, str]) -> list[tuple]:
    """One row per event (OUTCOME_COLUMNS), for :func:`record_outcome_rows`; ``hashes`` are the
    payload hashes (server_events.payload_hash) of the events as they were sent."""
    return [(pixel_id, eid, o.status, o.reason, o.batch_id, o.attempts, o.error_code, o.error_subcode,
             o.error_message[:2000] if o.error_message else None, o.fbtrace_id, hashes.get(eid))
            for eid, o in outcomes.items()]


def record_outcome_rows(conn, rows: list[tuple], destination: str | None = None) -> None:
    """Outcomes (OUTCOME_COLUMNS rows) inside the caller's transaction. On PostgreSQL: one
    ``UPDATE ... FROM unnest(ids, hashes)`` per distinct outcome (a batch Meta accepted is one
    statement, whose event ids and payload hashes travel as two array parameters: no temporary
    table is created and dropped per batch); elsewhere :func:`_update_outcomes` (one UPDATE per
    distinct outcome and 1,000 ids). The same columns change either way."""
    if not rows:
        return
    groups: dict[tuple, tuple[list[str], list[str | None]]] = {}
    for pixel, eid, status, reason, batch, tries, code, subcode, message, trace, sent_hash in rows:
        ids, hashes = groups.setdefault((pixel, status, reason, batch, tries, code, subcode, message, trace), ([], []))
        ids.append(eid)
        hashes.append(sent_hash)
    if conn.dialect.name != "postgresql":
        for (pixel, status, reason, batch, tries, code, subcode, message, trace), (ids, hashes) in groups.items():
            outcome = EventOutcome(status, batch, tries, reason, code, subcode, message, trace)
            _update_outcomes(conn, pixel, dict.fromkeys(ids, outcome),
                             {eid: h for eid, h in zip(ids, hashes) if h is not None}, destination)
        return
    now = utcnow()
    ce = qualified_name(conn, capi_events)
    statement = (
        f"UPDATE {ce} AS ce SET status = %(status)s, reason = %(reason)s, batch_id = %(batch)s, "
        "attempts = ce.attempts + %(tries)s, error_code = %(code)s, error_subcode = %(subcode)s, "
        "error_message = %(message)s, fbtrace_id = %(trace)s, sent_at = %(now)s, updated_at = %(now)s, "
        "last_attempt_at = %(now)s, first_sent_at = coalesce(ce.first_sent_at, %(now)s), "
        "accepted_at = CASE WHEN %(status)s = 'accepted' THEN coalesce(ce.accepted_at, %(now)s) "
        "ELSE ce.accepted_at END, "
        "payload_hash = coalesce(o.payload_hash, ce.payload_hash), destination = %(destination)s "
        "FROM unnest(%(ids)s::text[], %(hashes)s::text[]) AS o(event_id, payload_hash) "
        "WHERE ce.pixel_id = %(pixel)s AND ce.event_id = o.event_id")
    for (pixel, status, reason, batch, tries, code, subcode, message, trace), (ids, hashes) in groups.items():
        conn.exec_driver_sql(statement, {"status": status, "reason": reason, "batch": batch, "tries": tries,
                                         "code": code, "subcode": subcode, "message": message, "trace": trace,
                                         "now": now, "destination": destination, "pixel": pixel, "ids": ids,
                                         "hashes": hashes})


class Recorder:
    """What an upload learns, written as it learns it, by a writer thread of its own: each batch's
    outcomes go into a short queue the moment Meta answered and are written, with the request
    rows that led to them, in one transaction (answers that arrived meanwhile share it). The
    senders go on to their next batch while PostgreSQL writes (the write was half of each
    sender's time). A killed run resends at most what was in flight or queued (at most
    ``waiting`` answers; Meta drops the copies by event_id); an interrupted or finished one
    writes everything first (:meth:`flush`). A write that fails stops the upload at the next
    answer."""

    def __init__(self, engine: Engine, day: date, destination: str | None, waiting: int = 4):
        self.engine, self.day, self.destination = engine, day, destination
        self._attempts: list[dict] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, waiting))
        self._writer: threading.Thread | None = None
        self._failure: BaseException | None = None

    def attempt(self, pixel_id: str, attempt: Attempt) -> None:
        with self._lock:
            self._attempts.append(attempt_row(self.day, pixel_id, attempt, self.destination))

    def outcomes(self, pixel_id: str, outcomes: dict[str, EventOutcome], hashes: dict[str, str]) -> None:
        """Meta's answer for a batch; ``hashes``: the payload hash each event was sent with.
        Waits while the queue is full (the writer sets the pace when the warehouse is slower)."""
        self._raise_failure()
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_queued, name="capi-ledger", daemon=True)
                self._writer.start()
        self._queue.put(outcome_rows(pixel_id, outcomes, hashes))

    def flush(self, outcomes: list[tuple] | None = None) -> None:
        """Write every queued answer and every request row, then return (raises what a write raised)."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(_DONE)
            writer.join()
        self._raise_failure()
        self._write(outcomes or [])

    def _write_queued(self) -> None:
        done = False
        while not done:
            rows = []
            item = self._queue.get()
            while True:  # what else has arrived goes into the same transaction
                if item is _DONE:
                    done = True
                    break
                rows += item
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if rows and self._failure is None:
                try:
                    self._write(rows)
                except BaseException as exc:  # noqa: BLE001 - raised in the senders and by flush
                    self._failure = exc

    def _write(self, outcomes: list[tuple]) -> None:
        with self._lock:
            attempts, self._attempts = self._attempts, []
        if not attempts and not outcomes:
            return
        with self.engine.begin() as conn:
            if attempts:
                conn.execute(capi_batches.insert(), attempts)
            if outcomes:
                record_outcome_rows(conn, outcomes, self.destination)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


_DONE = object()
"""the end of a recorder's queue"""


def attempt_row(day: date, pixel_id: str, attempt: Attempt, destination: str | None = None) -> dict:
    return {"destination": destination, "batch_id": attempt.batch_id, "partition_date": day, "pixel_id": pixel_id,
            "attempt": attempt.attempt, "events_sent": attempt.events_sent, "http_status": attempt.http_status,
            "events_received": attempt.events_received, "flagged": attempt.flagged, "outcome": attempt.outcome,
            "messages": json.dumps(attempt.messages) if attempt.messages is not None else None,
            "fbtrace_id": attempt.fbtrace_id, "error_code": attempt.error_code,
            "error_subcode": attempt.error_subcode, "error_message": attempt.error_message,
            "duration_ms": attempt.duration_ms,
            "started_at": datetime.fromtimestamp(attempt.started_at or 0, timezone.utc).replace(tzinfo=None)}


def day_status(engine: Engine, day: date) -> pd.DataFrame:
    """Counts of the day's ledger by status and reason."""
    query = (sa.select(capi_events.c.status, capi_events.c.reason, sa.func.count().label("events"))
             .where(capi_events.c.partition_date == day)
             .group_by(capi_events.c.status, capi_events.c.reason))
    return read_frame(engine, query)


def eligible_count(engine: Engine, day: date) -> int:
    """The day's eligible events in server_events (what the ledger's accepted can at most reach)."""
    query = (sa.select(sa.func.count()).select_from(server_events)
             .where(server_events.c.partition_date == day, server_events.c.status == "eligible"))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
