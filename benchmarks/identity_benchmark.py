"""Normalize and hash N realistic customer records with every user_data key: ours vs Meta's SDK.

    uv run --extra bench python benchmarks/identity_benchmark.py [--records 1000000] [--sdk-records N]

Both sides produce SHA-256 hashes for em, ph, fn, ln, ct, st, zp, country, ge, db and external_id.
The SDK (facebook-business, a benchmark-only extra) normalizes one value per call and raises on
values it cannot handle ("USA", "401.884.2310"); those are counted as dropped, as a caller must.
By default the SDK runs on the first 200,000 records and its rate is reported per record (it is
linear); pass --sdk-records to run it on all of them.

Each side runs --repeat times (default 3) and its best time is reported, as ``timeit`` does: on
a shared virtual machine the slower runs measure the neighbours (page-fault and scheduling
noise), not the code. Every run's time is printed too.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import pandas as pd

from conversions_pipeline import identity
from conversions_pipeline.warehouse.seed import customer_records

KEYS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "ge", "db", "external_id")


def ours(records: pd.DataFrame) -> pd.DataFrame:
    hashed, _reasons = identity.hash_user_data(records[list(KEYS)])
    return hashed


def sdk(records: pd.DataFrame) -> tuple[int, int]:
    from facebook_business.adobjects.serverside.normalize import Normalize

    sent = dropped = 0
    columns = {key: records[key].tolist() for key in KEYS}
    for key in KEYS:
        for value in columns[key]:
            if value is None or value == "":
                continue
            try:
                Normalize.normalize_field(key, value)
                sent += 1
            except Exception:  # the SDK raises on values it cannot normalize
                dropped += 1
    return sent, dropped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--sdk-records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    started = time.perf_counter()
    records = customer_records(args.records, seed=1)
    print(f"generated {len(records):,} records in {time.perf_counter() - started:.1f}s")

    ours(records.head(50_000))  # one-time warm-up outside the timing: lookup tables, DuckDB's Arrow bridge
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        hashed = ours(records)
        times.append(time.perf_counter() - started)
    ours_s, ours_median = min(times), statistics.median(times)
    sent = int(hashed.notna().sum().sum())
    ours_rate = len(records) / ours_s
    print(f"conversions_pipeline: {len(records):,} records in {ours_s:.2f}s = {ours_rate:,.0f} records/s "
          f"({sent:,} keys hashed; runs: {', '.join(f'{t:.2f}s' for t in times)})")

    sample = records.head(min(args.sdk_records, len(records)))
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        sdk_sent, sdk_dropped = sdk(sample)
        times.append(time.perf_counter() - started)
    sdk_s, sdk_median = min(times), statistics.median(times)
    sdk_rate = len(sample) / sdk_s
    print(f"facebook-business SDK Normalize: {len(sample):,} records in {sdk_s:.2f}s = {sdk_rate:,.0f} records/s "
          f"({sdk_sent:,} keys hashed, {sdk_dropped:,} raised; runs: {', '.join(f'{t:.2f}s' for t in times)})")
    print(f"speed-up: {ours_rate / sdk_rate:.1f}x best against best "
          f"({(len(records) / ours_median) / (len(sample) / sdk_median):.1f}x median against median)")


if __name__ == "__main__":
    main()
