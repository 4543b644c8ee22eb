"""Upload a 1,000,000-event day to the Graph API emulator; report events per second and peak memory.

    uv run python benchmarks/upload_benchmark.py [--events 1000000] [--url postgresql://...]

The emulator runs in its own process (`conversions-pipeline emulator`), as Meta would be remote;
events are written straight into server_events (the events step is measured elsewhere).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import sqlalchemy as sa

from conversions_pipeline.capi.client import ConversionsApiClient
from conversions_pipeline.capi.upload import upload_day
from conversions_pipeline.warehouse.engine import create_schema, create_warehouse_engine, safe_url
from conversions_pipeline.warehouse.io import bulk_insert
from conversions_pipeline.warehouse.schema import server_events

DAY = date(2026, 6, 30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_events(engine, n: int) -> None:
    now = int(time.time())
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
    chunk = 100_000
    with engine.begin() as conn:
        conn.execute(sa.delete(server_events).where(server_events.c.partition_date == DAY))
        for start in range(0, n, chunk):
            idx = np.arange(start, min(n, start + chunk))
            frame = pd.DataFrame({
                "partition_date": DAY, "pixel_id": "1000000000000001", "event_id": [f"ev{i:08d}" for i in idx],
                "event_name": "Lead", "event_time": now - 3600, "action_source": "phone_call",
                "user_data": [json.dumps({"ph": hashes[i], "country": hashes[0]}) for i in idx],
                "custom_data": '{"currency": "USD", "value": 125.0}', "options": None, "event_source_url": None,
                "source_table": "calls", "source_id": [f"C{i}" for i in idx], "merged_session_id": None,
                "match_keys": "ph,country", "status": "eligible", "reason": None, "note": None,
                "built_at": datetime(2026, 7, 1),
            })
            bulk_insert(conn, server_events, frame)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--url", help="warehouse URL (default: SQLite in a temporary folder)")
    parser.add_argument("--in-flight", type=int, default=4)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    engine = create_warehouse_engine(url)
    create_schema(engine)
    started = time.perf_counter()
    load_events(engine, args.events)
    print(f"loaded {args.events:,} events into {safe_url(url)} in {time.perf_counter() - started:.1f}s")

    port = free_port()
    emulator = subprocess.Popen([sys.executable, "-m", "conversions_pipeline.cli", "emulator", "--port", str(port)],
                                stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(base + "/_emulator/stats")
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with ConversionsApiClient(base, "v25.0", "BENCH-TOKEN", timeout_seconds=60) as client:
            started = time.perf_counter()
            result = upload_day(engine, client, DAY, max_in_flight=args.in_flight)
            took = time.perf_counter() - started
        stats = httpx.get(base + "/_emulator/stats").json()
    finally:
        emulator.terminate()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"uploaded {result.sent:,} events in {result.requests} requests in {took:.1f}s = "
          f"{result.sent / took:,.0f} events/s; accepted {result.ledger.get('accepted', 0):,}; "
          f"emulator holds {stats['events']:,}; peak RSS {peak:,.0f} MiB (before upload {rss_before / 1024:,.0f} MiB)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
