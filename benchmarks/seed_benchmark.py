"""Seed 1,000,000 calls (with their texts, forms, sessions and orders) and time it.

    uv run python benchmarks/seed_benchmark.py                      # embedded SQLite in a temp folder
    uv run python benchmarks/seed_benchmark.py --url postgresql://postgres@127.0.0.1:5432/test

The calls are spread over days of ``--per-day`` calls, the way `conversions-pipeline seed` loads
them (each day replaced in one transaction, PostgreSQL COPY or SQLite executemany).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from conversions_pipeline.warehouse.engine import create_schema, create_warehouse_engine, safe_url
from conversions_pipeline.warehouse.seed import seed_days


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="warehouse URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--per-day", type=int, default=100_000)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    engine = create_warehouse_engine(url)
    create_schema(engine)
    days = max(1, args.calls // args.per_day)
    started = time.perf_counter()
    report = seed_days(engine, days=days, per_day=args.per_day, end_date=date(2026, 6, 30), seed=1)
    took = time.perf_counter() - started
    total = sum(report.rows.values())
    print(f"{safe_url(url)}: {report.rows['calls']:,} calls ({total:,} rows in all tables) "
          f"in {took:.1f}s = {report.rows['calls'] / took:,.0f} calls/s, {total / took:,.0f} rows/s")
    engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
