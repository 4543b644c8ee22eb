"""The marts step alone: the day's SQL models one after another against side by side.

    uv run python benchmarks/marts_benchmark.py [--calls 1000000] [--rounds 2]

Runs on the database ``scale_benchmark.py`` leaves behind (``bench_scale_<calls>``, holding a
whole day sent to the emulator: run that benchmark first; its latest day is used). Each round runs every model of
``dbt_like_sql/models`` for the day with ``run_models`` on one thread, then on ``LANES``
(``ops/lanes.py``); it prints the seconds of each and the rows every model wrote (the same both
ways). The models' tables are emptied before each run, as a first run of the day finds them
(replacing a day's rows again and again would measure the table's growing dead rows).
"""

from __future__ import annotations

import argparse
import time

import sqlalchemy as sa
from scale_benchmark import sent_day

from conversions_pipeline.ops.lanes import LANES
from conversions_pipeline.sql_models import load_models, run_models


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    engine, day = sent_day(args.calls)
    models = load_models()
    for round_ in range(1, args.rounds + 1):
        for threads in (1, LANES):
            with engine.begin() as conn:
                present = set(sa.inspect(conn).get_table_names())
                tables = ", ".join(f'"{name}"' for name in models if name in present)
                if tables:
                    conn.execute(sa.text(f"TRUNCATE {tables}"))
            started = time.perf_counter()
            rows = dict((model.name, n) for model, n in run_models(engine, models, day, threads=threads))
            seconds = time.perf_counter() - started
            print(f"round {round_}, {threads} at a time: {seconds:5.1f}s  "
                  + ", ".join(f"{name} {n:,}" for name, n in sorted(rows.items())), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
