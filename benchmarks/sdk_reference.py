"""The reference a user would write instead of this project: a plain facebook-business SDK script.

    uv run python benchmarks/sdk_reference.py --url postgresql://... --date 2026-11-29 --graph http://127.0.0.1:8765

Reads the day's calls, texts, form submissions and orders with a server-side cursor, builds each
event row by row with the SDK's UserData / CustomData / Event (the SDK normalizes and hashes),
posts batches of 1,000 with EventRequest.execute(). No ledger, no session merge, no checks, no
retries: what a careful first script does. Used by `scale_benchmark.py --sdk` as the baseline.
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import date, datetime, timedelta, timezone

import psycopg2
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event
from facebook_business.adobjects.serverside.event_request import EventRequest
from facebook_business.adobjects.serverside.user_data import UserData
from facebook_business.api import FacebookAdsApi
from facebook_business.session import FacebookSession

logging.getLogger("facebook_business").setLevel(logging.ERROR)

QUERIES = {
    # source: (SQL, event name, action source)
    "calls": ("SELECT id, start_time, customer_phone_number, customer_name, customer_city, customer_state, "
              "zip_code, customer_country, value FROM calls WHERE start_time >= %s AND start_time < %s",
              "Lead", ActionSource.PHONE_CALL),
    "texts": ("SELECT id, created_at, customer_phone_number, customer_name FROM text_messages "
              "WHERE created_at >= %s AND created_at < %s", "Contact", ActionSource.CHAT),
    "forms": ("SELECT id, submitted_at, customer_phone_number, customer_name, customer_email, landing_page_url, value "
              "FROM form_submissions WHERE submitted_at >= %s AND submitted_at < %s", "Lead", ActionSource.OTHER),
    "orders": ("SELECT id, created_at, phone, first_name, last_name, email, city, state, postal_code, country, "
               "customer_id, total, currency, client_ip_address, client_user_agent, fbc, fbp, event_source_url "
               "FROM orders WHERE created_at >= %s AND created_at < %s", "Purchase", ActionSource.WEBSITE),
}


def _split(name):
    parts = (name or "").split()
    return (parts[0], parts[-1]) if len(parts) >= 2 else (None, None)


def _value(text):
    try:
        return float(str(text).replace("$", "").replace(",", ""))
    except (TypeError, ValueError):
        return None


def _s(text):
    """Empty text as None (the SDK would send an empty value as null, which Meta refuses)."""
    text = (text or "").strip() if isinstance(text, str) or text is None else str(text)
    return text or None


def _country(text):
    """The SDK hashes a country only as a two-letter code (anything else would be sent as null)."""
    text = (text or "").strip()
    return text if len(text) == 2 and text.isalpha() else None


FIELDS = {
    # source: UserData setter per column position (name: a full name split into first and last)
    "calls": {2: "phone", 3: "name", 4: "city", 5: "state", 6: "zip_code", 7: "country_code"},
    "texts": {2: "phone", 3: "name"},
    "forms": {2: "phone", 3: "name", 4: "email"},
    "orders": {2: "phone", 3: "first_name", 4: "last_name", 5: "email", 6: "city", 7: "state", 8: "zip_code",
               9: "country_code", 10: "external_id", 13: "client_ip_address", 14: "client_user_agent", 15: "fbc",
               16: "fbp"},
}


def _user(source: str, r) -> UserData | None:
    """UserData field by field: a value the SDK's setter refuses loses that field, not the event."""
    values = {}
    for position, setter in FIELDS[source].items():
        if setter == "name":
            values["first_name"], values["last_name"] = _split(r[position])
        elif setter == "country_code":
            values[setter] = _country(r[position])
        else:
            values[setter] = _s(r[position])
    u = UserData()
    kept = 0
    for setter, value in values.items():
        if value is None:
            continue
        try:
            setattr(u, setter, value)
            kept += 1
        except Exception:  # noqa: BLE001 - e.g. an email the SDK's setter refuses
            pass
    return u if kept else None


def build(source: str, r, event_name: str, action_source: str) -> Event | None:
    when = r[1] if isinstance(r[1], datetime) else datetime.fromisoformat(str(r[1]))
    custom = None
    if source == "orders":
        if r[11] is None or not r[12]:
            return None
        custom = CustomData(value=float(r[11]), currency=str(r[12]).lower(), order_id=r[0])
    elif source in ("calls", "forms"):
        v = _value(r[-1])
        if v is not None:
            custom = CustomData(value=v, currency="usd")
    user = _user(source, r)
    if user is None:
        return None
    event = Event(event_name=event_name, event_time=int(when.replace(tzinfo=timezone.utc).timestamp()),
                  event_id=f"{source}-{r[0]}", action_source=action_source, user_data=user,
                  custom_data=custom)
    if source == "forms" and r[5]:
        event.event_source_url = r[5]
    if source == "orders":  # website needs the page and the browser; anything else is "other"
        if r[17] and r[14]:
            event.event_source_url = r[17]
        else:
            event.action_source = ActionSource.OTHER
    try:
        event.normalize()  # the SDK hashes here; an event it refuses is left out
    except Exception:  # noqa: BLE001
        return None
    return event


def run(url: str, day: date, graph: str, pixel: str, token: str) -> dict:
    FacebookSession.GRAPH = graph.rstrip("/")
    FacebookAdsApi.init(access_token=token, crash_log=False)
    start = datetime.combine(day, datetime.min.time())
    end = start + timedelta(days=1)
    started = time.perf_counter()
    counts = {"built": 0, "sent": 0, "refused": 0, "requests": 0}
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        for source, (sql, name, action_source) in QUERIES.items():
            with conn.cursor(name=f"day_{source}") as cur:  # server-side cursor
                cur.itersize = 5000
                cur.execute(sql, (start, end))
                batch = []
                for row in cur:
                    event = build(source, row, name, action_source)
                    if event is None:
                        counts["refused"] += 1
                        continue
                    counts["built"] += 1
                    batch.append(event)
                    if len(batch) == 1000:
                        EventRequest(events=batch, pixel_id=pixel).execute()
                        counts["sent"] += len(batch)
                        counts["requests"] += 1
                        batch = []
                if batch:
                    EventRequest(events=batch, pixel_id=pixel).execute()
                    counts["sent"] += len(batch)
                    counts["requests"] += 1
    finally:
        conn.close()
    counts["seconds"] = round(time.perf_counter() - started, 2)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--date", required=True)
    parser.add_argument("--graph", required=True, help="Graph API base URL (the emulator)")
    parser.add_argument("--pixel", default="1234567890")
    parser.add_argument("--token", default="sdk-benchmark-token")
    args = parser.parse_args()
    print(run(args.url, date.fromisoformat(args.date), args.graph, args.pixel, args.token), flush=True)


if __name__ == "__main__":
    main()
