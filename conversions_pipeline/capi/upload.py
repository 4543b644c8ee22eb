"""Upload one partition-day: ledger first, then full batches per pixel, several in flight."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Engine

from ..jsontext import arrow_text, json_strings
from ..meta import MAX_EVENTS_PER_REQUEST, max_age_seconds
from ..warehouse.engine import verify_tables
from ..warehouse.io import analyze
from ..warehouse.schema import capi_batches, capi_events, capi_suppression, server_events
from . import ledger
from .client import Attempt, ConversionsApiClient, FatalApiError

TOO_OLD_REASONS = ("too_old", "too_old_at_send")


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
    retracted_by_reason: dict = field(default_factory=dict)
    seconds: float = 0.0
    dry_run: bool = False
    batches_done: int = 0
    destination: str = ""
    eligible: int = 0
    skipped_at_send: int = 0
    timed_out: bool = False
    """the upload's wall-clock bound was reached: what was not sent stays pending"""
    unencodable: list = field(default_factory=list)
    """(event_id, source_table, source_id) of events whose payload could not be encoded as JSON"""

    @property
    def pending(self) -> int:
        return self.ledger.get("pending", 0)

    @property
    def too_old(self) -> int:
        """Events past Meta's window (7 days; 62 for physical_store): never sent."""
        return sum(self.skipped_by_reason.get(r, 0) for r in TOO_OLD_REASONS)

    @property
    def retracted(self) -> int:
        return self.ledger.get(ledger.RETRACTED, 0)


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


_NON_STRICT = r"NaN|Infinity"


def _true(mask: pa.Array) -> pa.Array:
    return pc.fill_null(mask, False)


def payload_texts(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Every row's event as JSON text, exactly what :func:`payload` encodes, assembled column by
    column from the JSON server_events already holds (user_data, custom_data and options are
    strict JSON written by the events step) and joined in one pass by Arrow; and, per row, whether
    it cannot be encoded as strict JSON (those are named and skipped, never sent). Rows whose
    stored JSON mentions NaN or Infinity, or is not an object, go through :func:`payload` and a
    strict encode one by one."""
    user, custom, options, url = (arrow_text(rows[c]) for c in ("user_data", "custom_data", "options",
                                                                  "event_source_url"))
    has_custom = _true(pc.not_equal(custom, ""))
    has_options = _true(pc.not_equal(options, ""))
    suspect = pc.fill_null(pc.invert(pc.starts_with(user, "{")), True)
    for part in (user, custom, options):
        suspect = pc.or_(suspect, _true(pc.match_substring_regex(part, _NON_STRICT)))
    shaped = _true(pc.and_(pc.starts_with(options, "{"), pc.ends_with(options, "}")))
    suspect = pc.or_(suspect, pc.and_(has_options, pc.invert(shaped)))
    inner = pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(options, 1, -1))
    event_time = pc.cast(pa.array(rows["event_time"].astype("int64").to_numpy()), pa.string())
    text = pc.binary_join_element_wise(
        '{"event_name": ', json_strings(arrow_text(rows["event_name"])),
        ', "event_time": ', event_time,
        ', "event_id": ', json_strings(arrow_text(rows["event_id"])),
        ', "action_source": ', json_strings(arrow_text(rows["action_source"])),
        ', "user_data": ', pc.fill_null(user, "{}"),
        pc.if_else(has_custom, pc.binary_join_element_wise(', "custom_data": ', custom, ""), ""),
        pc.if_else(_true(pc.not_equal(url, "")),
                   pc.binary_join_element_wise(', "event_source_url": ', json_strings(url), ""), ""),
        pc.if_else(pc.and_(has_options, _true(pc.not_equal(inner, ""))),
                   pc.binary_join_element_wise(", ", inner, ""), ""),
        "}", "")
    out = pd.Series(text.to_numpy(zero_copy_only=False), index=rows.index, dtype=object)
    bad = pd.Series(False, index=rows.index)
    for i in np.flatnonzero(suspect.to_numpy(zero_copy_only=False)):
        try:
            out.iat[i] = json.dumps(payload(rows.iloc[i]), allow_nan=False)
        except (TypeError, ValueError):
            out.iat[i] = None
            bad.iat[i] = True
    return out, bad


def upload_day(engine: Engine, client: ConversionsApiClient, day: date, *, batch_size: int = 1000,
               max_in_flight: int = 4, force: bool = False, dry_run: bool = False, now: datetime | None = None,
               progress=None, destination: str = "meta", log=None, max_seconds: float = 3600.0) -> UploadResult:
    """Send the day's eligible events that Meta has not accepted yet, and record every outcome.

    A dry run writes the request bodies and changes no ledger status. Raises
    :class:`FatalApiError` (token, permission, unknown pixel) after recording what happened.
    """
    started = time.perf_counter()
    verify_tables(engine, [server_events, capi_events, capi_batches, capi_suppression])
    batch_size = max(1, min(MAX_EVENTS_PER_REQUEST, batch_size))
    if not dry_run:
        ledger.sync_day(engine, day)
        analyze(engine, capi_events)
    result = UploadResult(day=day, dry_run=dry_run, destination="dry_run" if dry_run else destination)
    now_s = int((now or datetime.now(timezone.utc)).timestamp())
    lock = threading.Lock()
    stop = threading.Event()
    in_flight = threading.BoundedSemaphore(max(1, max_in_flight) * 2)  # bounded queue: memory stays flat

    recorder = ledger.Recorder(engine, day, result.destination, waiting=max(1, max_in_flight))

    def on_attempt(pixel: str, attempt: Attempt) -> None:
        recorder.attempt(pixel, attempt)
        with lock:
            result.requests += 1
            result.retries += attempt.attempt > 1
            result.flagged_batches += attempt.flagged

    def send(pixel: str, rows: pd.DataFrame) -> None:
        try:
            if stop.is_set():
                return
            ok = ~rows["unencodable"].to_numpy()
            items = list(zip(rows["event_id"][ok], rows["payload"][ok]))
            bad = rows["event_id"][~ok].tolist()
            if bad:
                where = rows.set_index("event_id").loc[bad, ["source_table", "source_id"]]
                with lock:
                    result.unencodable += [(e, t, i) for e, (t, i) in zip(bad, where.itertuples(index=False))]
                if not dry_run:
                    ledger.mark_skipped(engine, pixel, bad, "unencodable_payload")
                if log:
                    log(f"{len(bad)} event(s) of {day} cannot be encoded as JSON and were not sent: "
                        + ", ".join(f"{e} ({t} {i})" for e, (t, i) in zip(bad[:5], where.itertuples(index=False))))
            if not items:
                return
            if dry_run:
                client.dry_run(pixel, items, lambda a: on_attempt(pixel, a))
            else:
                try:
                    outcomes = client.send(pixel, items, lambda a: on_attempt(pixel, a))
                except FatalApiError:
                    stop.set()
                    raise
                recorder.outcomes(pixel, outcomes, dict(zip(rows["event_id"][ok], rows["payload_hash"][ok])))
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
    deadline = time.monotonic() + max_seconds
    stop_error: BaseException | None = None
    pool = ThreadPoolExecutor(max_workers=max(1, max_in_flight), thread_name_prefix="capi-upload")

    def submit(pixel: str, rows: pd.DataFrame) -> None:
        in_flight.acquire()
        futures.append(pool.submit(send, pixel, rows))

    try:
        for page in ledger.to_send(engine, day, force=force, destination=None if dry_run else destination):
            if stop.is_set():
                break
            if time.monotonic() > deadline:
                result.timed_out = True
                break
            # Meta refuses a whole request for one stale event: re-check the age at send time.
            limit = page["action_source"].map(max_age_seconds)
            stale = now_s - page["event_time"].astype("int64") > limit
            for pixel, group in page[stale].groupby("pixel_id"):
                result.skipped_at_send += len(group)
                if not dry_run:
                    ledger.mark_skipped(engine, pixel, group["event_id"].tolist(), "too_old_at_send")
            page = page[~stale]
            page = page.assign(payload=None, unencodable=False)
            if len(page):
                texts, bad = payload_texts(page)
                page["payload"], page["unencodable"] = texts, bad
            for pixel, group in page.groupby("pixel_id", sort=True):
                buffered = pd.concat([*buffers.pop(pixel, []), group], ignore_index=True)
                while len(buffered) >= batch_size:
                    submit(pixel, buffered.iloc[:batch_size])
                    buffered = buffered.iloc[batch_size:]
                if len(buffered):
                    buffers[pixel] = [buffered]
        for pixel, rest in buffers.items():
            if not stop.is_set() and not result.timed_out:
                submit(pixel, pd.concat(rest, ignore_index=True))
        pending = set(futures)
        while pending:  # wait in short steps, so the upload's wall-clock bound holds
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            stop_error = next((f.exception() for f in done if f.exception() is not None), None)
            if stop_error is not None:
                break
            if time.monotonic() > deadline and not result.timed_out:
                result.timed_out = True
                client.stop()  # retry waits end; what is in flight finishes within its request deadline
    except BaseException:  # SIGINT/SIGTERM (KeyboardInterrupt, Dagster's interrupt): stop cleanly
        stop.set()
        client.stop()
        client.close()  # in-flight requests end now; their events stay pending (Meta deduplicates a resend)
        pool.shutdown(wait=True, cancel_futures=True)
        recorder.flush()  # what Meta confirmed is recorded before the run ends
        raise
    if stop_error is not None:
        stop.set()
        client.stop()
    pool.shutdown(wait=True, cancel_futures=True)
    recorder.flush()
    if not dry_run and result.sent:
        # the statistics taken after the sync saw every event pending: the delivery check and the
        # marts read the outcomes next, and were planned for "no event accepted"
        analyze(engine, capi_events)
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
    retracted = status[status["status"] == ledger.RETRACTED]
    result.retracted_by_reason = {str(r): int(n) for r, n in zip(retracted["reason"], retracted["events"])}
    result.eligible = ledger.eligible_count(engine, result.day)
