"""Operator signals: every failed run of the daily job recorded in the warehouse (``run_failures``)
with its day, step and a one-line cause, and logged, so a nightly failure is found in the morning."""
# No `from __future__ import annotations`: Dagster reads resource types from annotations.

from datetime import date, datetime, timezone

import dagster as dg

from ..warehouse.resource import WarehouseResource
from ..warehouse.schema import run_failures


def _cause(error) -> str:
    while error is not None and error.cause is not None and error.cls_name in (
            "DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"):
        error = error.cause
    if error is None:
        return "unknown"
    lines = (error.message or "").strip().splitlines()
    return f"{error.cls_name}: {lines[0] if lines else ''}"[:500]


def failure_rows(context: dg.RunFailureSensorContext) -> list[dict]:
    run = context.dagster_run
    key = run.tags.get("dagster/partition")
    day = date.fromisoformat(key) if key else None
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    steps = context.get_step_failure_events()
    if not steps:
        return [{"run_id": run.run_id, "job_name": run.job_name, "partition_date": day, "step": None,
                 "cause": (context.failure_event.message or "the run failed")[:500], "failed_at": now}]
    return [{"run_id": run.run_id, "job_name": run.job_name, "partition_date": day, "step": e.step_key,
             "cause": _cause(e.step_failure_data.error), "failed_at": now} for e in steps]


def build_failure_sensor(jobs) -> dg.SensorDefinition:
    @dg.run_failure_sensor(name="record_run_failures", monitored_jobs=jobs,
                           default_status=dg.DefaultSensorStatus.RUNNING,
                           description="Records each failed run (day, step, one-line cause) in `run_failures`.")
    def record_run_failures(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
        rows = failure_rows(context)
        with warehouse.get_engine().begin() as conn:
            conn.execute(run_failures.insert(), rows)
        for row in rows:
            context.log.error(f"{row['job_name']} {row['partition_date']} failed at {row['step']}: {row['cause']}")

    return record_run_failures
