"""Conversions API client (httpx): batches, bounded retries with backoff, bisection of bad events.

The access token travels in the request body, never in a URL, and is scrubbed from any text that
leaves this module (exceptions, ledger messages); dry-run files never contain it.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ..errors import PipelineError

TRANSIENT_CODES = {1, 2}
THROTTLE_CODES = {4, 17, 32, 613, *range(80000, 80015)}
PERMISSION_CODES = {10, *range(200, 300)}


class FatalApiError(PipelineError):
    """Every further request would fail the same way (bad token, no permission, unknown pixel)."""


@dataclass
class Attempt:
    """One HTTP request: what went out and what came back (a capi_batches row)."""

    batch_id: str
    attempt: int
    events_sent: int
    outcome: str
    http_status: int | None = None
    events_received: int | None = None
    messages: list | None = None
    fbtrace_id: str | None = None
    error_code: int | None = None
    error_subcode: int | None = None
    error_message: str | None = None
    duration_ms: int = 0
    started_at: float = 0.0

    @property
    def flagged(self) -> bool:
        return self.events_received is not None and self.events_received != self.events_sent


@dataclass
class EventOutcome:
    status: str  # accepted, rejected, pending
    batch_id: str
    attempts: int
    reason: str | None = None
    error_code: int | None = None
    error_subcode: int | None = None
    error_message: str | None = None
    fbtrace_id: str | None = None


@dataclass
class _Response:
    status: int | None
    body: dict | None
    headers: dict = field(default_factory=dict)
    network_error: str | None = None
    duration_ms: int = 0


def classify(resp: _Response) -> str:
    """ok, transient, throttle, fatal or invalid (a bad event inside the batch)."""
    if resp.network_error is not None:
        return "transient"
    err = (resp.body or {}).get("error") if isinstance(resp.body, dict) else None
    if resp.status == 200 and not err:
        return "ok"
    code = err.get("code") if err else None
    if resp.status == 429 or code in THROTTLE_CODES:
        return "throttle"
    if code == 190 or code in PERMISSION_CODES or (code == 100 and err.get("error_subcode") == 33):
        return "fatal"
    if (resp.status or 0) >= 500 or code in TRANSIENT_CODES or (err and err.get("is_transient")):
        return "transient"
    if code == 100:
        return "invalid"
    return "fatal" if err else "transient"


class ConversionsApiClient:
    def __init__(self, base_url: str, api_version: str, access_token: str, *, test_event_code: str | None = None,
                 partner_agent: str | None = None, timeout_seconds: float = 10.0, max_attempts: int = 6,
                 max_retry_seconds: float = 300.0, backoff_seconds: float = 0.5, max_connections: int = 4,
                 dry_run_dir: str | None = None, seed: int | None = None):
        if not access_token:
            raise PipelineError("no Conversions API access token: set FB_ACCESS_TOKEN (a system-user token)")
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self._token = access_token
        self.test_event_code = test_event_code
        self.partner_agent = partner_agent
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.backoff_seconds = backoff_seconds
        self.dry_run_dir = Path(dry_run_dir) if dry_run_dir else None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
                                  limits=httpx.Limits(max_connections=max_connections,
                                                      max_keepalive_connections=max_connections))

    # --- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def redact(self, text: str | None) -> str | None:
        return None if text is None else text.replace(self._token, "***")

    def url(self, pixel_id: str) -> str:
        """The endpoint, safe to log: the token is never part of it."""
        return f"{self.base_url}/{self.api_version}/{pixel_id}/events"

    def _body(self, events: list[dict]) -> dict:
        body: dict = {"data": events}
        if self.test_event_code:
            body["test_event_code"] = self.test_event_code
        if self.partner_agent:
            body["partner_agent"] = self.partner_agent
        return body

    def _post(self, pixel_id: str, events: list[dict]) -> _Response:
        started = time.perf_counter()
        try:
            resp = self._http.post(self.url(pixel_id), json={**self._body(events), "access_token": self._token})
        except httpx.HTTPError as exc:
            return _Response(None, None, network_error=self.redact(f"{type(exc).__name__}: {exc}")[:300],
                             duration_ms=int((time.perf_counter() - started) * 1000))
        try:
            body = resp.json()
        except ValueError:  # not JSON: a proxy or gateway answered; a 2xx or 5xx one is worth retrying
            body = {"error": {"message": f"HTTP {resp.status_code}, not JSON: " + self.redact(resp.text[:200]),
                              "code": None, "is_transient": resp.status_code < 300 or resp.status_code >= 500}}
        return _Response(resp.status_code, body, dict(resp.headers), duration_ms=int((time.perf_counter() - started) * 1000))

    def _backoff(self, attempt: int, kind: str, headers: dict) -> float:
        with self._lock:
            jitter = self._rng.random()
        delay = min(60.0, self.backoff_seconds * (2 ** (attempt - 1))) * (0.5 + jitter)
        if kind == "throttle":
            delay *= 2
            retry_after = headers.get("retry-after") or headers.get("Retry-After")
            if retry_after and str(retry_after).replace(".", "", 1).isdigit():
                delay = max(delay, float(retry_after))
            usage = headers.get("x-business-use-case-usage") or headers.get("X-Business-Use-Case-Usage")
            if usage:
                try:
                    regain = max(int(u.get("estimated_time_to_regain_access", 0))
                                 for entries in json.loads(usage).values() for u in entries)
                    delay = max(delay, regain * 60.0)
                except (ValueError, TypeError, AttributeError):
                    pass
        return delay

    # --- sending ---------------------------------------------------------------------------
    def dry_run(self, pixel_id: str, events: list[tuple[str, dict]], on_attempt: Callable[[Attempt], None]) -> str:
        batch_id = uuid.uuid4().hex
        assert self.dry_run_dir is not None
        folder = self.dry_run_dir / pixel_id
        folder.mkdir(parents=True, exist_ok=True)
        body = self._body([payload for _, payload in events])
        (folder / f"{batch_id}.json").write_text(json.dumps({"url": self.url(pixel_id), "body": body}, indent=1))
        on_attempt(Attempt(batch_id, 1, len(events), "dry_run", started_at=time.time()))
        return batch_id

    def send(self, pixel_id: str, events: list[tuple[str, dict]],
             on_attempt: Callable[[Attempt], None]) -> dict[str, EventOutcome]:
        """Send ``(event_id, payload)`` pairs as one batch; bisect it when Meta refuses an event in it.

        Returns an outcome per event id: accepted, rejected (with Meta's error) or pending (retries
        exhausted; a later run finishes it). Raises :class:`FatalApiError` for token or permission errors.
        """
        batch_id = uuid.uuid4().hex
        payloads = [p for _, p in events]
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            resp = self._post(pixel_id, payloads)
            kind = classify(resp)
            err = (resp.body or {}).get("error") or {} if resp.body else {}
            record = Attempt(batch_id, attempt, len(events), outcome="accepted" if kind == "ok" else kind,
                             http_status=resp.status, duration_ms=resp.duration_ms, started_at=time.time(),
                             events_received=(resp.body or {}).get("events_received") if kind == "ok" else None,
                             messages=(resp.body or {}).get("messages") if kind == "ok" else None,
                             fbtrace_id=(resp.body or {}).get("fbtrace_id") or err.get("fbtrace_id"),
                             error_code=err.get("code"), error_subcode=err.get("error_subcode"),
                             error_message=self.redact(err.get("message") or resp.network_error))
            if kind == "invalid" and len(events) > 1:
                record.outcome = "split"
            elif kind == "invalid":
                record.outcome = "rejected"
            elif resp.network_error is not None:
                record.outcome = "network_error"
            on_attempt(record)
            if kind == "ok":
                return {eid: EventOutcome("accepted", batch_id, attempt, fbtrace_id=record.fbtrace_id)
                        for eid, _ in events}
            if kind == "fatal":
                raise FatalApiError(_fatal_message(err, pixel_id, self.redact))
            if kind == "invalid":
                if len(events) == 1:
                    return {events[0][0]: EventOutcome(
                        "rejected", batch_id, attempt, reason=f"meta_error_{err.get('code')}"
                        + (f"_{err.get('error_subcode')}" if err.get("error_subcode") else ""),
                        error_code=err.get("code"), error_subcode=err.get("error_subcode"),
                        error_message=record.error_message, fbtrace_id=record.fbtrace_id)}
                mid = len(events) // 2
                out = self.send(pixel_id, events[:mid], on_attempt)
                out.update(self.send(pixel_id, events[mid:], on_attempt))
                for outcome in out.values():
                    outcome.attempts += attempt
                return out
            delay = self._backoff(attempt, kind, resp.headers)
            if attempt >= self.max_attempts or time.monotonic() - started + delay > self.max_retry_seconds:
                reason = f"retries_exhausted:{record.outcome}"
                return {eid: EventOutcome("pending", batch_id, attempt, reason=reason,
                                          error_code=record.error_code, error_message=record.error_message)
                        for eid, _ in events}
            time.sleep(delay)


def _fatal_message(err: dict, pixel_id: str, redact) -> str:
    code, message = err.get("code"), redact(err.get("message") or "")
    if code == 190:
        return (f"Meta refused the access token (code 190: {message}); set FB_ACCESS_TOKEN to a valid, "
                "unexpired system-user token for this pixel")
    if err.get("error_subcode") == 33:
        return f"pixel {pixel_id} does not exist or the token cannot use it (code 100/33); check FB_PIXEL_ID"
    return (f"Meta refused the request for pixel {pixel_id} (code {code}: {message}); grant the token's system "
            "user access to the pixel (ads_management)")
