"""What a run of the daily job costs before it does any work: the floor under every day's time.

    uv run python benchmarks/run_floor_benchmark.py [--repeat 3]

Builds, from the asset-graph snapshot (``conversions_pipeline_tests/snapshots/asset_graph.json``),
a job of the same shape as ``daily_conversions`` (the same assets, steps, dependencies, daily
partitions and asset checks, blocking where ours block) whose steps do nothing, without importing
this package. Each variant runs as a process of its own, timed from launch to exit like
``scale_benchmark.py`` times ``conversions-pipeline run``: the interpreter, Dagster's import, the
definitions, a fresh instance (SQLite storage in a temporary DAGSTER_HOME), the in-process run of
every step and the exit. Then, apart, what importing great_expectations adds (the quality checks
need it; a run imports it in a background thread while the extracts work).
Our own empty day (``scale_benchmark.py --calls 0``) is the same run with this package's code in
each step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "conversions_pipeline_tests" / "snapshots" / "asset_graph.json"

CHILD = r'''
import graphlib, json, sys
import dagster as dg
graph = json.loads(open(sys.argv[1]).read())
job_assets = set(graph["jobs"]["daily_conversions"]["assets"])
partitions = dg.DailyPartitionsDefinition(start_date="2026-01-01")
steps = {}
for key, asset in graph["assets"].items():
    if key in job_assets:
        steps.setdefault(asset["step"], []).append((key, asset))
defs_assets, checks = [], []
for step, members in steps.items():
    specs = [dg.AssetSpec(dg.AssetKey(key.split("/")), deps=[dg.AssetKey(d.split("/")) for d in a["deps"]],
                          partitions_def=partitions) for key, a in members]

    def make(specs=specs, step=step):
        @dg.multi_asset(name=step, specs=specs, can_subset=True)
        def _noop(context: dg.AssetExecutionContext):
            order = graphlib.TopologicalSorter({s.key: [d.asset_key for d in s.deps] for s in specs})
            for key in [k for k in order.static_order() if k in context.selected_asset_keys]:
                yield dg.MaterializeResult(asset_key=key, metadata={"rows": 0})
        return _noop
    defs_assets.append(make())
check_steps = {}
for name, c in graph["checks"].items():
    asset, check = name.split(":")
    if asset in job_assets:
        check_steps.setdefault(c["step"], []).append(
            dg.AssetCheckSpec(check, asset=dg.AssetKey(asset.split("/")), blocking=c["blocking"]))
for step, specs in check_steps.items():
    def make_checks(specs=specs, step=step):
        @dg.multi_asset_check(name=step, specs=specs, can_subset=True)
        def _checks(context: dg.AssetCheckExecutionContext):
            for spec in specs:
                if spec.key in context.selected_asset_check_keys:
                    yield dg.AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=True)
        return _checks
    checks.append(make_checks())
keys = [k for a in defs_assets for k in a.keys]
job = dg.define_asset_job("daily_conversions", selection=dg.AssetSelection.assets(*keys), partitions_def=partitions)
defs = dg.Definitions(assets=defs_assets, asset_checks=checks, jobs=[job])
with dg.DagsterInstance.get() as instance:
    result = defs.resolve_job_def("daily_conversions").execute_in_process(
        instance=instance, partition_key="2026-11-30", raise_on_error=True)
    steps_run = len(instance.get_run_step_stats(result.run_id))
print(json.dumps({"steps": steps_run}))
'''


GX_IMPORT = """
import time
import dagster, pandas  # noqa: F401 - already imported in a run
started = time.perf_counter()
import great_expectations  # noqa: F401
print(time.perf_counter() - started)
"""


def floor_run() -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="run_floor_") as home:
        env = {**os.environ, "DAGSTER_HOME": home}
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, str(SNAPSHOT)], env=env, check=True,
                             capture_output=True, text=True)
        took = time.perf_counter() - started
    return took, json.loads(out.stdout.strip().splitlines()[-1])["steps"]


def gx_import() -> float:
    out = subprocess.run([sys.executable, "-c", GX_IMPORT], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [floor_run() for _ in range(args.repeat)]
    times = [t for t, _ in runs]
    print(f"the daily job's shape, {runs[0][1]} steps, no work, Dagster only: median {statistics.median(times):.2f}s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)})", flush=True)
    imports = [gx_import() for _ in range(args.repeat)]
    print(f"import great_expectations after Dagster and pandas: median {statistics.median(imports):.2f}s "
          f"(runs: {', '.join(f'{t:.2f}' for t in imports)})", flush=True)


if __name__ == "__main__":
    main()
