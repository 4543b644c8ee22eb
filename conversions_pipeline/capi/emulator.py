"""A local Graph API emulator for the Conversions API: Meta's request and response shapes, its
validation, fault injection, and a simulated match-and-attribution layer with an insights endpoint.

    conversions-pipeline emulator --port 8765 [--transient-rate 0.1] [--throttle-rate 0.1] ...

Endpoints:
- ``POST /{version}/{pixel}/events``: JSON body or form fields (``data`` as a JSON string);
  ``access_token`` in the body or the query.
- ``GET /{version}/act_{ad_account}/insights?fields=actions&time_increment=1&action_breakdowns=action_type
  &action_attribution_windows=["7d_click","1d_view"]&time_range={"since":...,"until":...}``: Meta's
  shape; per day (conversion time) and action type, the events received (deduplicated on event_name
  + event_id, every dataset: the emulator has one ad account) that the documented match model
  (:mod:`.match_model`) matches and attributes to a click or a view in the window.
- ``GET /{version}/dataset_quality?dataset_id=...``: Meta's shape; per event name, the composite
  match-quality score (10 x the mean match probability), each key's coverage, dedupe-key coverage.
- GET requests take the token as ``Authorization: Bearer`` (or ``access_token`` in the query).
- ``GET /_emulator/stats``: counters for tests (requests, faults, events received, duplicates).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import orjson

from ..meta import ACTION_SOURCES as ALLOWED_ACTION_SOURCES
from ..meta import HASHED_KEYS, SUBCODE_TOO_OLD
from .match_model import (
    CLICK_WINDOW_DAYS,
    MATCH_PROBABILITY,
    VIEW_RATE,
    VIEW_WINDOW_DAYS,
    action_type,
    match_probability,
)

HASHED_FIELDS = (*HASHED_KEYS, "ge", "db")
MUST_BE_HASHED = tuple(k for k in HASHED_FIELDS if k != "external_id")  # external_id: hashing recommended only
_PATH = re.compile(r"^/(v\d+\.\d+)/([^/]+)/(events|insights)$")
_DATASET_QUALITY = re.compile(r"^/(v\d+\.\d+)/dataset_quality$")
THROTTLE_CODES = (4, 17, 32, 613, 80004)  # a sample of meta.THROTTLE_CODES the emulator answers with
FEEDBACK_KEYS = {"em": "email", "ph": "phone", "external_id": "external_id", "fbc": "click_id", "fbp": "browser_id",
                 "client_ip_address": "ip_address", "client_user_agent": "user_agent", "fn": "first_name",
                 "ln": "last_name", "ct": "city", "st": "state", "zp": "zip", "country": "country"}


@dataclass
class EmulatorConfig:
    """Faults are drawn per request from a seeded generator; ``fail_first`` faults come first."""

    valid_tokens: frozenset[str] | None = None  # None: any non-empty token not starting with "EXPIRED"
    transient_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    latency_ms: int = 0
    fail_first: tuple[str, ...] = ()  # e.g. ("transient", "throttle", "drop")
    seed: int = 0
    max_age_days: int = 7
    physical_store_max_age_days: int = 62
    max_future_seconds: int = 60


@dataclass
class _State:
    requests: int = 0
    faults: Counter = field(default_factory=Counter)
    received: set = field(default_factory=set)
    """"pixel\x1fevent_name\x1fevent_id" of every event kept (Meta deduplicates on them): a string
    per event, not the event, so a day of millions costs the emulator megabytes, not gigabytes"""
    duplicates: int = 0
    rejected_requests: int = 0
    tokens_seen: set = field(default_factory=set)
    # running aggregates, kept as events arrive, so the reads cost the same for a day of millions
    attributed: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(Counter)))
    """conversion day -> action type -> attribution window -> events"""
    quality: dict = field(default_factory=dict)
    """(pixel, event_name) -> [events, summed match probability, Counter of keys present, with event_id]"""


class GraphApiError(Exception):
    def __init__(self, http_status: int, code: int, message: str, subcode: int | None = None,
                 transient: bool = False, error_type: str = "OAuthException"):
        super().__init__(message)
        self.http_status, self.code, self.subcode = http_status, code, subcode
        self.transient, self.type = transient, error_type

    def body(self, trace: str) -> dict:
        err = {"message": self.message, "type": self.type, "code": self.code, "is_transient": self.transient,
               "fbtrace_id": trace}
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        return {"error": err}

    @property
    def message(self) -> str:
        return self.args[0]


def _bad(index: int, message: str, subcode: int | None = None) -> GraphApiError:
    return GraphApiError(400, 100, f"(#100) Invalid parameter: data[{index}]: {message}", subcode,
                         error_type="OAuthException")


def validate_events(data, now: int, config: EmulatorConfig) -> None:
    """Meta's checks: any invalid event rejects the whole request."""
    if not isinstance(data, list) or not data:
        raise GraphApiError(400, 100, "(#100) The parameter data is required")
    if len(data) > 1000:
        raise GraphApiError(400, 100, f"(#100) data may contain at most 1000 events, got {len(data)}")
    for i, event in enumerate(data):
        if not isinstance(event, dict):
            raise _bad(i, "each event must be an object")
        for required in ("event_name", "event_time", "action_source", "user_data"):
            if event.get(required) in (None, "", {}):
                raise _bad(i, f"{required} is required")
        if event["action_source"] not in ALLOWED_ACTION_SOURCES:
            raise _bad(i, f"action_source '{event['action_source']}' is not allowed")
        try:
            event_time = int(event["event_time"])
        except (TypeError, ValueError):
            raise _bad(i, "event_time must be Unix seconds") from None
        store = event["action_source"] == "physical_store"
        max_age = config.physical_store_max_age_days if store else config.max_age_days
        if now - event_time > max_age * 86_400:
            raise _bad(i, "Event Timestamp Too Old", SUBCODE_TOO_OLD)
        if event_time - now > config.max_future_seconds:
            raise _bad(i, "event_time is in the future", 2804004)
        user = event["user_data"]
        if not isinstance(user, dict):
            raise _bad(i, "user_data must be an object")
        for key in _MUST_BE_HASHED_SET.intersection(user):  # a quick pass; a doubt goes to the full check
            value = user[key]
            if not (type(value) is str and len(value) == 64 and not value.strip(_HEX)):
                _check_hashed(i, user)
                break
        if not any(map(user.get, _CUSTOMER_KEYS)):
            raise _bad(i, "not enough customer information", 2804050)
        website = event["action_source"] == "website"
        if website and not (event.get("event_source_url") and user.get("client_user_agent")):
            raise _bad(i, "website events need event_source_url and user_data.client_user_agent", 2804019)
        custom = event.get("custom_data") or {}
        if event["event_name"] == "Purchase" and ("value" not in custom or not custom.get("currency")):
            raise _bad(i, "Purchase events need custom_data.value and custom_data.currency", 2804005)


_HEX = "0123456789abcdef"
_MUST_BE_HASHED_SET = frozenset(MUST_BE_HASHED)
_CUSTOMER_KEYS = (*HASHED_FIELDS, "fbc", "fbp", "client_ip_address", "client_user_agent")


def _check_hashed(i: int, user: dict) -> None:
    """Every hashed key of event ``i`` holds lowercase SHA-256 hex digests (a list of them is
    allowed); the first key, in Meta's order, that does not is named."""
    for key in MUST_BE_HASHED:
        if key in user:
            values = user[key] if isinstance(user[key], list) else (user[key],)
            if not all(_is_hex64(v) for v in values):
                raise _bad(i, f"user_data.{key} must be a lowercase SHA-256 hex digest", 2804017)


def _is_hex64(value) -> bool:
    """64 lowercase hex characters (str.strip with a character set: no regex per value)."""
    return isinstance(value, str) and len(value) == 64 and not value.strip(_HEX)


def _event_from_text(event):
    if not isinstance(event, str):
        return event
    try:
        return orjson.loads(event)
    except orjson.JSONDecodeError:
        raise GraphApiError(400, 100, "(#100) data is not valid JSON") from None


def _bucket(text: str) -> float:
    """The first 32 bits of the text's SHA-256 as a share of 2**32 - 1 (deterministic)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 0xFFFFFFFF


_MATCH_KEYS = tuple(MATCH_PROBABILITY.items())


@lru_cache(maxsize=1024)
def _match_probability(keys: tuple[str, ...]) -> float:
    """:func:`match_probability` of one combination of keys (a day sees a few dozen)."""
    return match_probability(keys)


@lru_cache(maxsize=4096)
def _day(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * 86_400, timezone.utc).date().isoformat()


def _day_of(event_time: int) -> str:
    """The UTC date of a Unix time, ISO formatted (one formatting per day, not per event)."""
    return _day(event_time // 86_400)


class Emulator:
    def __init__(self, config: EmulatorConfig | None = None):
        self.config = config or EmulatorConfig()
        self.state = _State()
        self.lock = threading.Lock()
        self.rng = random.Random(self.config.seed)
        self.pending_faults = list(self.config.fail_first)

    # --- faults ---------------------------------------------------------------------------
    def _fault(self) -> str | None:
        with self.lock:
            if self.pending_faults:
                return self.pending_faults.pop(0)
            r = self.rng.random()
        c = self.config
        if r < c.drop_rate:
            return "drop"
        if r < c.drop_rate + c.transient_rate:
            return "transient"
        if r < c.drop_rate + c.transient_rate + c.throttle_rate:
            return "throttle"
        return None

    # --- requests -------------------------------------------------------------------------
    def post_events(self, pixel: str, body: dict, query: dict, trace: str) -> tuple[int, dict, dict]:
        self.check_token(body.get("access_token") or query.get("access_token"))
        data = body.get("data")
        if isinstance(data, str):
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise GraphApiError(400, 100, "(#100) data is not valid JSON") from None
        if isinstance(data, list) and any(isinstance(e, str) for e in data):
            data = [_event_from_text(e) for e in data]  # the SDK sends each event as its own JSON string
        now = int(time.time())
        try:
            validate_events(data, now, self.config)
        except GraphApiError:
            with self.lock:
                self.state.rejected_requests += 1
            raise
        with self.lock:
            fresh = []
            for event in data:
                key = f'{pixel}\x1f{event["event_name"]}\x1f{event.get("event_id") or uuid.uuid4()}'
                if key in self.state.received:
                    self.state.duplicates += 1  # Meta drops a copy with the same event_name and event_id
                else:
                    self.state.received.add(key)
                    fresh.append(event)
        self._aggregate(pixel, fresh)
        return 200, {"events_received": len(data), "messages": [], "fbtrace_id": trace}, {}

    def check_token(self, token: str | None) -> None:
        if not token:
            raise GraphApiError(400, 190, "An access token is required to request this resource.")
        valid = self.config.valid_tokens
        if (valid is not None and token not in valid) or token.startswith("EXPIRED"):
            raise GraphApiError(400, 190, "Error validating access token: Session has expired or is invalid.", 463)

    def _aggregate(self, pixel: str, events: list[dict]) -> None:
        """Add newly received events to the aggregates the insights and dataset-quality reads use."""
        attributed: Counter = Counter()
        quality: dict[str, list] = {}
        for event in events:
            user = event.get("user_data", {})
            keys = tuple(k for k, v in user.items() if v)
            how = self.attribution(event)
            if how:
                attributed[(_day_of(int(event["event_time"])), action_type(event["event_name"]), how)] += 1
            entry = quality.get(event["event_name"])
            if entry is None:
                entry = quality[event["event_name"]] = [[], Counter(), 0]
            entry[0].append(_match_probability(keys))
            entry[1][keys] += 1
            entry[2] += bool(event.get("event_id"))
        with self.lock:
            for (day, kind, how), n in attributed.items():
                self.state.attributed[day][kind][how] += n
            for name, (probabilities, combinations, ids) in quality.items():
                entry = self.state.quality.setdefault((pixel, name), [0, 0.0, Counter(), 0])
                entry[0] += len(probabilities)
                for probability in probabilities:  # added one by one, in order, as before
                    entry[1] += probability
                for keys, count in combinations.items():
                    for key in keys:
                        entry[2][key] += count
                entry[3] += ids

    def insights(self, account: str, query: dict) -> dict:
        """Ads Manager's insights for the emulator's one ad account (every dataset it received)."""
        try:
            window = json.loads(query.get("time_range") or "{}")
            windows = json.loads(query.get("action_attribution_windows") or '["7d_click", "1d_view"]')
        except json.JSONDecodeError:
            raise GraphApiError(400, 100, "(#100) time_range and action_attribution_windows must be JSON") from None
        since, until = window.get("since", "0000-00-00"), window.get("until", "9999-99-99")
        with self.lock:
            rows = {day: {kind: Counter(counts) for kind, counts in kinds.items()}
                    for day, kinds in self.state.attributed.items() if since <= day <= until}
        data = []
        for day in sorted(rows):
            actions = []
            for kind, counts in sorted(rows[day].items()):
                entry = {"action_type": kind, "value": str(sum(counts[w] for w in windows if w in counts))}
                entry.update({w: str(counts.get(w, 0)) for w in windows})
                actions.append(entry)
            data.append({"date_start": day, "date_stop": day, "account_id": account.removeprefix("act_"),
                         "actions": actions})
        return {"data": data, "paging": {"cursors": {"before": "MAZDZD", "after": "MAZDZD"}}}

    def dataset_quality(self, query: dict) -> dict:
        dataset = query.get("dataset_id") or ""
        if not dataset.isdigit():
            raise GraphApiError(400, 100, "(#100) Dataset not found or no permission", 2044055)
        with self.lock:
            by_name = {name: (n, total, Counter(keys), ids) for (pixel, name), (n, total, keys, ids)
                       in self.state.quality.items() if pixel == dataset}
        web = []
        for name, (n, total, keys, ids) in sorted(by_name.items()):
            score = total / n
            feedback = [{"identifier": label, "coverage": {"percentage": round(100 * keys[k] / n, 1)}}
                        for k, label in FEEDBACK_KEYS.items()]
            web.append({"event_name": name,
                        "event_match_quality": {"composite_score": round(10 * score, 1),
                                                "match_key_feedback": feedback},
                        "event_coverage": {"percentage": 100.0, "goal_percentage": 75.0},
                        "dedupe_key_feedback": [{"dedupe_key": "event_id", "coverage": {"percentage": round(
                            100 * ids / n, 1)}}],
                        "data_freshness": {"upload_frequency": "real_time"}})
        return {"web": web}

    def attribution(self, event: dict) -> str | None:
        """``7d_click``, ``1d_view`` or None, deterministically (see :mod:`.match_model`)."""
        user = event.get("user_data", {})
        for key, p in _MATCH_KEYS:
            if user.get(key) and _bucket(f"{key}:{user[key]}") < p:
                break
        else:
            return None
        fbc = user.get("fbc")
        if fbc:
            try:
                click_ms = int(str(fbc).split(".")[2])
            except (IndexError, ValueError):
                click_ms = None
            if click_ms is not None and 0 <= int(event["event_time"]) - click_ms // 1000 <= CLICK_WINDOW_DAYS * 86_400:
                return "7d_click"
        if VIEW_WINDOW_DAYS and _bucket("view:" + str(event.get("event_id"))) < VIEW_RATE:
            return "1d_view"
        return None


def _handler(emulator: Emulator):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in two writes: with Nagle's algorithm the body waited for the
        # client's delayed ACK of the headers (about 40 ms per request on loopback)
        disable_nagle_algorithm = True

        def log_message(self, *args):  # quiet; never print query strings (they may hold a token)
            return

        def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self):
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path == "/_emulator/stats":
                s = emulator.state
                with emulator.lock:
                    self._send(200, {"requests": s.requests, "faults": dict(s.faults), "events": len(s.received),
                                     "duplicates": s.duplicates, "rejected_requests": s.rejected_requests})
                return
            trace = uuid.uuid4().hex[:22]
            bearer = self.headers.get("Authorization", "")
            token = bearer[7:] if bearer.startswith("Bearer ") else query.get("access_token")
            m, dq = _PATH.match(url.path), _DATASET_QUALITY.match(url.path)
            try:
                emulator.check_token(token)
                if m and m.group(3) == "insights" and m.group(2).startswith("act_"):
                    self._send(200, emulator.insights(m.group(2), query))
                elif dq:
                    self._send(200, emulator.dataset_quality(query))
                else:
                    self._send(404, {"error": {"message": "Unknown path", "code": 803, "type": "OAuthException"}})
            except GraphApiError as err:
                self._send(err.http_status, err.body(trace))

        def do_POST(self):
            trace = uuid.uuid4().hex[:22]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with emulator.lock:
                emulator.state.requests += 1
            url = urlparse(self.path)
            m = _PATH.match(url.path)
            if not m or m.group(3) != "events":
                self._send(404, {"error": {"message": "Unknown path", "code": 803, "type": "OAuthException"}})
                return
            if emulator.config.latency_ms:
                time.sleep(emulator.config.latency_ms / 1000)
            fault = emulator._fault()
            if fault:
                with emulator.lock:
                    emulator.state.faults[fault] += 1
            if fault == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault == "transient":
                err = GraphApiError(500, 2, "An unexpected error has occurred. Please retry your request later.",
                                    transient=True)
                self._send(500, err.body(trace))
                return
            if fault == "throttle":
                code = THROTTLE_CODES[emulator.rng.randrange(len(THROTTLE_CODES))]
                err = GraphApiError(429 if code == 80004 else 400, code, "(#%d) User request limit reached" % code,
                                    transient=True)
                usage = json.dumps({"act": [{"type": "ads_management", "call_count": 100,
                                             "estimated_time_to_regain_access": 0}]})
                self._send(err.http_status, err.body(trace), {"X-Business-Use-Case-Usage": usage, "Retry-After": "0"})
                return
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            ctype = self.headers.get("Content-Type", "")
            try:
                if "application/json" in ctype:
                    body = orjson.loads(raw or b"{}")  # strict, as Meta's parser: NaN and Infinity refused
                else:
                    body = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
            except (json.JSONDecodeError, UnicodeDecodeError):
                self._send(400, GraphApiError(400, 100, "(#100) Malformed request body").body(trace))
                return
            try:
                status, payload, headers = emulator.post_events(m.group(2), body, query, trace)
            except GraphApiError as err:
                self._send(err.http_status, err.body(trace))
                return
            self._send(status, payload, headers)

    return Handler


class EmulatorServer:
    """The emulator on a loopback port, served from a background thread."""

    def __init__(self, config: EmulatorConfig | None = None, port: int = 0, host: str = "127.0.0.1"):
        self.emulator = Emulator(config)
        self.httpd = ThreadingHTTPServer((host, port), _handler(self.emulator))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="graph-api-emulator", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "EmulatorServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def running_emulator(config: EmulatorConfig | None = None, port: int = 0):
    server = EmulatorServer(config, port).start()
    try:
        yield server
    finally:
        server.stop()
