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
from ..meta import (
    INVALID_PARAMETER_CODE,
    PERMISSION_CODES,
    PIXEL_ID_PATTERN,
    SUBCODE_OBJECT_MISSING,
    THROTTLE_CODES,
    TOKEN_ERROR_CODE,
    TRANSIENT_CODES,
)

MAX_ANSWER_BYTES = 1_000_000
"""Meta's answers are a few hundred bytes; a larger one is not an answer (and is not read)."""


class FatalApiError(PipelineError):
    """Every further request would fail the same way (bad token, no permission, unknown pixel)."""


class GraphReadError(PipelineError):
    """A Graph API read (insights, dataset quality) that Meta refused or that never completed."""


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


def classify(resp: _Response, events_sent: int | None = None) -> str:
    """ok, unverified (a 2xx whose answer does not confirm the events), transient, throttle, fatal,
    redirect or invalid (a bad event inside the batch)."""
    if resp.network_error is not None:
        return "transient"
    body = resp.body if isinstance(resp.body, dict) else None
    err = body.get("error") if body else None
    err = err if isinstance(err, dict) else ({"message": str(err)} if err is not None else None)
    status = resp.status or 0
    if 300 <= status < 400:
        return "redirect"
    if 200 <= status < 300 and not err:
        if events_sent is not None and confirmed(body) != events_sent:
            return "unverified"
        return "ok"
    code = _int(err.get("code")) if err else None
    if status == 429 or code in THROTTLE_CODES:
        return "throttle"
    if code == TOKEN_ERROR_CODE or code in PERMISSION_CODES or (
            code == INVALID_PARAMETER_CODE and _int(err.get("error_subcode")) == SUBCODE_OBJECT_MISSING):
        return "fatal"
    if status >= 500 or code in TRANSIENT_CODES or (err and err.get("is_transient") is True):
        return "transient"
    if code == INVALID_PARAMETER_CODE:
        return "invalid"
    return "fatal" if err else "transient"


def confirmed(body) -> int | None:
    """Meta's events_received when the answer is a JSON object carrying it as an integer."""
    if not isinstance(body, dict):
        return None
    value = body.get("events_received")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def describe_answer(body) -> str:
    """The shape of an answer, for a message (no values)."""
    if isinstance(body, dict):
        keys = ", ".join(sorted(str(k)[:30] for k in body)[:6])
        received = body.get("events_received")
        count = f", events_received {received!r}"[:80] if "events_received" in body else ""
        return f"an object with keys [{keys}]{count}"
    return f"a JSON {type(body).__name__ if body is not None else 'null'}"


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ConversionsApiClient:
    def __init__(self, base_url: str, api_version: str, access_token: str, *, test_event_code: str | None = None,
                 partner_agent: str | None = None, timeout_seconds: float = 10.0, max_attempts: int = 6,
                 max_retry_seconds: float = 300.0, backoff_seconds: float = 0.5, max_connections: int = 4,
                 dry_run_dir: str | None = None, seed: int | None = None, destination: str = "meta"):
        if not access_token:
            raise PipelineError("no Conversions API access token: set FB_ACCESS_TOKEN (a system-user token)")
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self._token = access_token
        self.destination = destination
        self.test_event_code = test_event_code
        self.partner_agent = partner_agent
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.dry_run_dir = Path(dry_run_dir) if dry_run_dir else None
        self.stopping = threading.Event()
        """Set to stop: retry waits end at once and no new request starts (see :meth:`stop`)."""
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
                                  limits=httpx.Limits(max_connections=max_connections,
                                                      max_keepalive_connections=max_connections),
                                  follow_redirects=False)

    # --- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def stop(self) -> None:
        self.stopping.set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def redact(self, text) -> str | None:
        """The text (anything else as JSON) with the token, wherever it appears, masked; always
        before any truncation."""
        if text is None:
            return None
        text = text if isinstance(text, str) else json.dumps(text, default=str)
        return text.replace(self._token, "***") if self._token else text

    def url(self, pixel_id: str) -> str:
        """The endpoint, safe to log: the token is never part of it, and the pixel id is digits only."""
        if not isinstance(pixel_id, str) or not PIXEL_ID_PATTERN.match(pixel_id):
            raise PipelineError(f"a pixel id must be digits only ({str(pixel_id)[:40]!r}); check FB_PIXEL_ID "
                                "and the events config's pixel_routes")
        return f"{self.base_url}/{self.api_version}/{pixel_id}/events"

    def _body(self, events: list[dict]) -> dict:
        body: dict = {"data": events}
        if self.test_event_code:
            body["test_event_code"] = self.test_event_code
        if self.partner_agent:
            body["partner_agent"] = self.partner_agent
        return body

    def _post(self, pixel_id: str, events: list) -> _Response:
        """POST the events: each a dict, or its JSON text already encoded (the upload encodes a
        whole page at once); the body is assembled around them, never decoded again."""
        texts = [e if isinstance(e, str) else json.dumps(e) for e in events]
        rest = {**self._body([]), "access_token": self._token}
        del rest["data"]
        body = '{"data": [' + ", ".join(texts) + "]" + "".join(f", {json.dumps(k)}: {json.dumps(v)}"
                                                                for k, v in rest.items()) + "}"
        return self._request("POST", self.url(pixel_id), content=body.encode("utf-8"),
                             headers={"Content-Type": "application/json"})

    def _request(self, method: str, url: str, **kwargs) -> _Response:
        """One request with a total deadline (connect, send and every byte of the answer) and a cap
        on the answer's size: a server that trickles or floods cannot hold the run."""
        started = time.perf_counter()
        deadline = time.monotonic() + self.timeout_seconds

        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            with self._http.stream(method, url, **kwargs) as resp:
                chunks, size = [], 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    chunks.append(chunk)
                    if size > MAX_ANSWER_BYTES:
                        return _Response(resp.status_code, None, dict(resp.headers), duration_ms=took(),
                                         network_error=f"answer larger than {MAX_ANSWER_BYTES:,} bytes (not read)")
                    if time.monotonic() > deadline:
                        return _Response(resp.status_code, None, dict(resp.headers), duration_ms=took(),
                                         network_error=f"no complete answer within {self.timeout_seconds:g}s")
                raw = b"".join(chunks)
                status, headers = resp.status_code, dict(resp.headers)
        except httpx.HTTPError as exc:
            return _Response(None, None, network_error=self.redact(f"{type(exc).__name__}: {exc}")[:300],
                             duration_ms=took())
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError,
                UnicodeDecodeError):  # not JSON: a proxy or gateway answered; a 2xx or 5xx one is worth retrying
            text = self.redact(raw.decode("utf-8", "replace"))
            body = {"error": {"message": f"HTTP {status}, not JSON: " + text[:200],
                              "code": None, "is_transient": status < 300 or status >= 500}}
        return _Response(status, body, headers, duration_ms=took())

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

    # --- reading ---------------------------------------------------------------------------
    def get(self, path: str, params: dict) -> dict:
        """GET a Graph API edge (``act_<id>/insights``, ``dataset_quality``) with the same deadline,
        size cap, retries and token rules as sending; the token travels in the Authorization
        header, never in the URL. Raises :class:`FatalApiError` (token, permission, redirect) or
        :class:`GraphReadError` (anything else Meta refused), with the token redacted."""
        url = f"{self.base_url}/{self.api_version}/{path}"
        started, attempt = time.monotonic(), 0
        while True:
            attempt += 1
            resp = self._request("GET", url, params=params, headers={"Authorization": f"Bearer {self._token}"})
            kind = classify(resp)
            body = resp.body if isinstance(resp.body, dict) else {}
            err = body.get("error") if isinstance(body.get("error"), dict) else {}
            if kind == "ok":
                return body
            if kind == "redirect":
                raise FatalApiError(f"the Graph API answered with a redirect (HTTP {resp.status}); "
                                    "set FB_GRAPH_BASE_URL to the final https URL")
            if kind == "fatal":
                raise FatalApiError(_fatal_message(err, path.split("/")[0], self.redact))
            if kind == "invalid":
                raise GraphReadError(f"Meta refused {path.split('/')[-1]} (code {err.get('code')}"
                                     f"{'/' + str(err.get('error_subcode')) if err.get('error_subcode') else ''}: "
                                     f"{(self.redact(err.get('message')) or '')[:200]})")
            delay = self._backoff(attempt, kind, resp.headers)
            if attempt >= self.max_attempts or time.monotonic() - started + delay > self.max_retry_seconds:
                reason = resp.network_error or (self.redact(err.get("message")) or "")[:200]
                raise GraphReadError(f"could not read {path.split('/')[-1]} after {attempt} attempts: {reason}")
            if self.stopping.wait(delay):
                raise GraphReadError("stopped")

    # --- sending ---------------------------------------------------------------------------
    def dry_run(self, pixel_id: str, events: list[tuple[str, dict]], on_attempt: Callable[[Attempt], None]) -> str:
        if self.dry_run_dir is None:
            raise PipelineError("a dry run writes request bodies to a folder: set the capi resource's dry_run_dir")
        batch_id = uuid.uuid4().hex
        folder = self.dry_run_dir / pixel_id  # url() below has checked the pixel id is digits only
        body = self._body([json.loads(p) if isinstance(p, str) else p for _, p in events])
        text = json.dumps({"url": self.url(pixel_id), "body": body}, indent=1)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{batch_id}.json").write_text(self.redact(text))
        on_attempt(Attempt(batch_id, 1, len(events), "dry_run", started_at=time.time()))
        return batch_id

    def send(self, pixel_id: str, events: list[tuple[str, dict]],
             on_attempt: Callable[[Attempt], None]) -> dict[str, EventOutcome]:
        """Send ``(event_id, payload)`` pairs as one batch; bisect it when Meta refuses an event in it.

        An event is accepted only when the answer is a JSON object whose ``events_received``
        equals the events sent; a batch whose count differs is split until each part is confirmed
        (Meta deduplicates on event_id, so a resend is safe). Returns an outcome per event id:
        accepted, rejected (with Meta's error) or pending (retries exhausted or stopped; a later run
        finishes it). Raises :class:`FatalApiError` for token, permission or redirect errors.
        """
        batch_id = uuid.uuid4().hex
        payloads = [p for _, p in events]
        started = time.monotonic()
        attempt = 0
        while True:
            if self.stopping.is_set():
                return _pending(events, batch_id, attempt, "stopped")
            attempt += 1
            resp = self._post(pixel_id, payloads)
            kind = classify(resp, len(events))
            body = resp.body if isinstance(resp.body, dict) else {}
            err = body.get("error") if isinstance(body.get("error"), dict) else {}
            received = confirmed(body)
            message = err.get("message") or resp.network_error
            if kind == "unverified":
                message = (f"HTTP {resp.status} answer did not confirm {len(events)} event(s): "
                           f"{describe_answer(resp.body)}")
            elif kind == "redirect":
                message = f"HTTP {resp.status} redirect to {resp.headers.get('location', '?')[:200]}"
            messages = body.get("messages") if kind == "ok" else None
            record = Attempt(batch_id, attempt, len(events), outcome="accepted" if kind == "ok" else kind,
                             http_status=resp.status, duration_ms=resp.duration_ms, started_at=time.time(),
                             events_received=received,
                             messages=json.loads(self.redact(json.dumps(messages, default=str)))
                             if messages is not None else None,
                             fbtrace_id=self.redact(body.get("fbtrace_id") or err.get("fbtrace_id") or None),
                             error_code=_int(err.get("code")), error_subcode=_int(err.get("error_subcode")),
                             error_message=self.redact(message)[:2000] if message else None)
            if record.fbtrace_id:
                record.fbtrace_id = record.fbtrace_id[:64]
            if kind == "invalid" and len(events) > 1:
                record.outcome = "split"
            elif kind == "invalid":
                record.outcome = "rejected"
            elif kind == "unverified" and len(events) > 1 and received is not None:
                record.outcome = "split"
            elif resp.network_error is not None:
                record.outcome = "network_error"
            on_attempt(record)
            if kind == "ok":
                return {eid: EventOutcome("accepted", batch_id, attempt, fbtrace_id=record.fbtrace_id)
                        for eid, _ in events}
            if kind == "redirect":
                raise FatalApiError(f"the Graph API answered with a redirect (HTTP {resp.status}) to "
                                    f"{self.redact(resp.headers.get('location', '?'))[:120]}; set FB_GRAPH_BASE_URL "
                                    "to the final https URL")
            if kind == "fatal":
                raise FatalApiError(_fatal_message(err, pixel_id, self.redact))
            if record.outcome == "split" or kind == "invalid":
                if len(events) == 1:
                    return {events[0][0]: EventOutcome(
                        "rejected", batch_id, attempt, reason=f"meta_error_{err.get('code')}"
                        + (f"_{err.get('error_subcode')}" if err.get("error_subcode") else ""),
                        error_code=record.error_code, error_subcode=record.error_subcode,
                        error_message=record.error_message, fbtrace_id=record.fbtrace_id)}
                mid = len(events) // 2
                out = self.send(pixel_id, events[:mid], on_attempt)
                out.update(self.send(pixel_id, events[mid:], on_attempt))
                for outcome in out.values():
                    outcome.attempts += attempt
                return out
            delay = self._backoff(attempt, kind, resp.headers)
            if attempt >= self.max_attempts or time.monotonic() - started + delay > self.max_retry_seconds:
                return _pending(events, batch_id, attempt, f"retries_exhausted:{record.outcome}", record)
            if self.stopping.wait(delay):
                return _pending(events, batch_id, attempt, "stopped", record)


def _pending(events, batch_id: str, attempts: int, reason: str, record: Attempt | None = None) -> dict:
    return {eid: EventOutcome("pending", batch_id, attempts, reason=reason,
                              error_code=record.error_code if record else None,
                              error_message=record.error_message if record else None)
            for eid, _ in events}


def _fatal_message(err: dict, pixel_id: str, redact) -> str:
    code, message = err.get("code"), (redact(err.get("message")) or "")[:300]
    if code == TOKEN_ERROR_CODE:
        return (f"Meta refused the access token (code 190: {message}); set FB_ACCESS_TOKEN to a valid, "
                "unexpired system-user token for this pixel")
    if err.get("error_subcode") == SUBCODE_OBJECT_MISSING:
        return f"pixel {pixel_id} does not exist or the token cannot use it (code 100/33); check FB_PIXEL_ID"
    return (f"Meta refused the request for pixel {pixel_id} (code {code}: {message}); grant the token's system "
            "user access to the pixel (ads_management)")
