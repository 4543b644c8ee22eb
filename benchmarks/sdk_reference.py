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
               "customer_id, total, currency, client_ip_address, client_user_agent, fbc, fbp FROM orders "
               "WHERE created_at >= %s AND created_at < %s", "Purchase", ActionSource.WEBSITE),
}


def _split(name):
    parts = (name or "").split()
    return (parts[0], parts[-1]) if len(parts) >= 2 else (None, None)


def _value(text):
    try:
        return float(str(text).replace("$", "").replace(",", ""))
    except (TypeError, ValueError):
        return None


def _country(text):
    """The SDK hashes a country only as a two-letter code (anything else would be sent as null)."""
    text = (text or "").strip()
    return text if len(text) == 2 and text.isalpha() else None


def _user(source: str, r) -> UserData:
    u = UserData()
    try:
        if source == "calls":
            fn, ln = _split(r[3])
            u = UserData(phone=r[2], first_name=fn, last_name=ln, city=r[4], state=r[5], zip_code=r[6],
                         country_code=_country(r[7]))
        elif source == "texts":
            fn, ln = _split(r[3])
            u = UserData(phone=r[2], first_name=fn, last_name=ln)
        elif source == "forms":
            fn, ln = _split(r[3])
            u = UserData(phone=r[2], first_name=fn, last_name=ln, email=r[4])
        else:
            u = UserData(phone=r[2], first_name=r[3], last_name=r[4], email=r[5], city=r[6], state=r[7],
                         zip_code=r[8], country_code=_country(r[9]), external_id=r[10], client_ip_address=r[13],
                         client_user_agent=r[14], fbc=r[15], fbp=r[16])
    except Exception:  # noqa: BLE001 - the SDK's setters raise on some values; a script keeps going
        pass
    return u


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
    event = Event(event_name=event_name, event_time=int(when.replace(tzinfo=timezone.utc).timestamp()),
                  event_id=f"{source}-{r[0]}", action_source=action_source, user_data=_user(source, r),
                  custom_data=custom)
    if source == "forms" and r[5]:
        event.event_source_url = r[5]
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
