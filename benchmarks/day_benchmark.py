"""One whole partition-day through the daily job (extract, events, upload), timed step by step.

    uv run python benchmarks/day_benchmark.py [--calls 100000] [--url postgresql://...]

Seeds one day with --calls calls (plus the texts, forms, web sessions and orders the seed
generator adds in proportion) into a fresh warehouse (a temporary SQLite file unless --url),
then materializes the `daily_conversions` job for that day in-process, exactly as
`conversions-pipeline run --date D` does, against the embedded Graph API emulator. Prints each
step's duration from Dagster's own step events, the events built and accepted, and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import datetime, timedelta, timezone

# yesterday (UTC): events older than 7 days would be skipped, not sent
DAY = datetime.now(timezone.utc).date() - timedelta(days=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--url", help="warehouse URL (default: a temporary SQLite file)")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="day_benchmark_")
    os.environ["WAREHOUSE_URL"] = args.url or f"sqlite:///{tmp}/warehouse.db"
    for name in ("FB_PIXEL_ID", "FB_ACCESS_TOKEN", "FB_GRAPH_BASE_URL"):
        os.environ.pop(name, None)
    os.environ["CAPI_DESTINATION"] = "emulator"  # the embedded emulator

    import dagster as dg

    from conversions_pipeline.definitions import DAILY_JOB, build_definitions
    from conversions_pipeline.partitions import check_partition
    from conversions_pipeline.warehouse.engine import create_schema, create_warehouse_engine, safe_url
    from conversions_pipeline.warehouse.schema import metadata
    from conversions_pipeline.warehouse.seed import seed_days

    engine = create_warehouse_engine(os.environ["WAREHOUSE_URL"])
    if args.url:
        metadata.drop_all(engine)
    create_schema(engine)
    started = time.perf_counter()
    report = seed_days(engine, days=1, per_day=args.calls, end_date=DAY, seed=7)
    print(f"warehouse: {safe_url(os.environ['WAREHOUSE_URL'])}")
    print(f"seeded {sum(report.rows.values()):,} source rows in {time.perf_counter() - started:.1f}s")

    job = build_definitions().resolve_job_def(DAILY_JOB)
    key = check_partition(job.partitions_def, DAY)
    started = time.perf_counter()
    result = job.execute_in_process(partition_key=key, instance=dg.DagsterInstance.ephemeral(),
                                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
    total = time.perf_counter() - started
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            print(f"  {event.step_key:<32} {event.event_specific_data.duration_ms / 1000:6.1f}s")
    meta = {m.materialization.asset_key.to_user_string(): m.materialization.metadata
            for m in result.get_asset_materialization_events()}
    events = meta["events/server_events"]["events"].value
    upload = meta["upload/capi_events"]
    accepted = upload["accepted"].value
    print(f"day done in {total:.1f}s: {events:,} candidate events, {upload['sent'].value:,} sent, "
          f"{accepted:,} accepted; {events / total:,.0f} candidate events/s end to end")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
