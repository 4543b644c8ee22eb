"""The upload's read of a day's events alone: streamed in the join's order (as the upload reads
them) against sorted by pixel and event id (as it read them before).

    uv run python benchmarks/upload_read_benchmark.py [--calls 1000000] [--rounds 2]

Runs on the database ``scale_benchmark.py`` leaves behind (``bench_scale_<calls>``: run that
benchmark first; its latest day is read). The day's accepted ledger rows are set back to pending
first, so the read returns every event the upload would send, and set back to accepted at the end
(the marts benchmark reads them). It prints when the first page arrived and when the last did.
"""

from __future__ import annotations

import argparse
import time

import sqlalchemy as sa
from scale_benchmark import sent_day

from conversions_pipeline.capi.ledger import to_send_query
from conversions_pipeline.warehouse.io import stream_frames
from conversions_pipeline.warehouse.schema import capi_events, server_events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    engine, day = sent_day(args.calls)
    with engine.begin() as conn:
        conn.execute(sa.update(capi_events).where(capi_events.c.partition_date == day,
                                                  capi_events.c.status == "accepted").values(status="pending"))
    unordered = to_send_query(day, destination="meta")
    ordered = unordered.order_by(server_events.c.pixel_id, server_events.c.event_id)
    for round_ in range(1, args.rounds + 1):
        for name, query in (("sorted", ordered), ("join order", unordered)):
            started = time.perf_counter()
            first, rows = None, 0
            for frame in stream_frames(engine, query, 20_000):
                first = first if first is not None else time.perf_counter() - started
                rows += len(frame)
            print(f"round {round_}, {name}: first page {first or 0:.1f}s, all {rows:,} events "
                  f"{time.perf_counter() - started:.1f}s", flush=True)
    with engine.begin() as conn:  # as the scale benchmark left it (the marts benchmark reads it)
        sent = sa.and_(capi_events.c.partition_date == day, capi_events.c.status == "pending",
                       capi_events.c.accepted_at.is_not(None))
        conn.execute(sa.update(capi_events).where(sent).values(status="accepted"))
    engine.dispose()


if __name__ == "__main__":
    main()
