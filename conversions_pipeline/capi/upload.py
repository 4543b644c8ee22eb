"""Upload one partition-day: ledger first, then full batches per pixel, several in flight."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pandas as pd
from sqlalchemy.engine import Engine

from ..warehouse.engine import create_schema
from ..warehouse.schema import capi_batches, capi_events, capi_suppression, server_events
from . import ledger
from .client import Attempt, ConversionsApiClient, FatalApiError

MAX_AGE = {"physical_store": 62 * 86_400}
DEFAULT_MAX_AGE = 7 * 86_400


@dataclass
class UploadResult:
    day: date
    sent: int = 0
    requests: int = 0
    retries: int = 0
    flagged_batches: int = 0
    outcomes: Counter = field(default_factory=Counter)
    ledger: dict = field(default_factory=dict)
    skipped_by_reason: dict = field(default_factory=dict)
    rejected_by_reason: dict = field(default_factory=dict)
    seconds: float = 0.0
    dry_run: bool = False
    batches_done: int = 0

    @property
    def pending(self) -> int:
        return self.ledger.get("pending", 0)


def payload(row) -> dict:
    """The server event exactly as Meta expects it, from a server_events row."""
    event = {"event_name": row.event_name, "event_time": int(row.event_time), "event_id": row.event_id,
             "action_source": row.action_source, "user_data": json.loads(row.user_data)}
    if isinstance(row.custom_data, str) and row.custom_data:
        event["custom_data"] = json.loads(row.custom_data)
    if isinstance(row.event_source_url, str) and row.event_source_url:
        event["event_source_url"] = row.event_source_url
    if isinstance(row.options, str) and row.options:
        event.update(json.loads(row.options))
    return event


def upload_day(engine: Engine, client: ConversionsApiClient, day: date, *, batch_size: int = 1000,
               max_in_flight: int = 4, force: bool = False, dry_run: bool = False, now: datetime | None = None,
               progress=None) -> UploadResult:
    """Send the day's eligible events that Meta has not accepted yet, and record every outcome.

    Raises :class:`FatalApiError` (token, permission, unknown pixel) after recording what happened.
    """
    started = time.perf_counter()
    create_schema(engine, [server_events, capi_events, capi_batches, capi_suppression])
    batch_size = max(1, min(1000, batch_size))
    ledger.sync_day(engine, day, force=force)
    result = UploadResult(day=day, dry_run=dry_run)
    now_s = int((now or datetime.now(timezone.utc)).timestamp())
    lock = threading.Lock()
    stop = threading.Event()
    in_flight = threading.BoundedSemaphore(max(1, max_in_flight) * 2)  # bounded queue: memory stays flat

    def on_attempt(pixel: str, attempt: Attempt) -> None:
        ledger.record_attempt(engine, day, pixel, attempt)
        with lock:
            result.requests += 1
            result.retries += attempt.attempt > 1
            result.flagged_batches += attempt.flagged

    def send(pixel: str, rows: pd.DataFrame) -> None:
        try:
            if stop.is_set():
                return
            items = [(r.event_id, payload(r)) for r in rows.itertuples(index=False)]
            if dry_run:
                client.dry_run(pixel, items, lambda a: on_attempt(pixel, a))
            else:
                try:
                    outcomes = client.send(pixel, items, lambda a: on_attempt(pixel, a))
                except FatalApiError:
                    stop.set()
                    raise
                ledger.record_outcomes(engine, pixel, outcomes)
            with lock:
                result.sent += len(items)
                if not dry_run:
                    result.outcomes.update(o.status for o in outcomes.values())
                result.batches_done += 1
            if progress:
                progress(result)
        finally:
            in_flight.release()

    futures = []
    buffers: dict[str, list[pd.DataFrame]] = {}
    with ThreadPoolExecutor(max_workers=max(1, max_in_flight), thread_name_prefix="capi-upload") as pool:
        def submit(pixel: str, rows: pd.DataFrame) -> None:
            in_flight.acquire()
            futures.append(pool.submit(send, pixel, rows))

        for page in ledger.to_send(engine, day):
            if stop.is_set():
                break
            # Meta refuses a whole request for one stale event: re-check the age at send time.
            limit = page["action_source"].map(MAX_AGE).fillna(DEFAULT_MAX_AGE)
            stale = now_s - page["event_time"].astype("int64") > limit
            for pixel, group in page[stale].groupby("pixel_id"):
                ledger.mark_skipped(engine, pixel, group["event_id"].tolist(), "too_old_at_send")
            for pixel, group in page[~stale].groupby("pixel_id", sort=True):
                buffered = pd.concat([*buffers.pop(pixel, []), group], ignore_index=True)
                while len(buffered) >= batch_size:
                    submit(pixel, buffered.iloc[:batch_size])
                    buffered = buffered.iloc[batch_size:]
                if len(buffered):
                    buffers[pixel] = [buffered]
        for pixel, rest in buffers.items():
            if not stop.is_set():
                submit(pixel, pd.concat(rest, ignore_index=True))
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        stop_error = next((f.exception() for f in done if f.exception() is not None), None)
        if stop_error is not None:
            stop.set()
            for f in futures:
                f.cancel()
    _summarize(engine, result)
    result.seconds = time.perf_counter() - started
    if stop_error is not None:
        raise stop_error
    return result


def _summarize(engine: Engine, result: UploadResult) -> None:
    status = ledger.day_status(engine, result.day)
    result.ledger = {k: int(v) for k, v in status.groupby("status")["events"].sum().items()}
    skipped = status[status["status"] == "skipped"]
    result.skipped_by_reason = {str(r): int(n) for r, n in zip(skipped["reason"], skipped["events"])}
    rejected = status[status["status"] == "rejected"]
    result.rejected_by_reason = {str(r): int(n) for r, n in zip(rejected["reason"], rejected["events"])}
