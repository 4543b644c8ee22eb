"""Progress of a run on the terminal while it works: one line per finished step (with its counts)
and per failed check, from Dagster's own events, through a Dagster logger."""

from __future__ import annotations

import logging
import sys

import dagster as dg

COUNTS = ("rows", "events", "sent", "accepted", "rows_read")


class _ProgressHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None:
            return
        kind = event.event_type_value
        line = None
        if kind == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            values = materialization.metadata
            counts = ", ".join(f"{k} {values[k].value:,}" for k in COUNTS if k in values
                               and isinstance(values[k].value, (int, float)))
            line = f"      {materialization.asset_key.to_user_string():<34} {counts}"
        elif kind == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed:
            data = event.event_specific_data
            line = f"      check {data.asset_key.to_user_string()}:{data.check_name} failed"
        elif kind == "STEP_FAILURE":
            line = f"      {event.step_key} failed"
        if line:
            print(line, file=sys.stdout, flush=True)


@dg.logger(description="One line per materialized asset (with its counts) and per failed check or step.")
def progress_logger(_init_context) -> logging.Logger:
    logger = logging.getLogger("conversions_pipeline.progress")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(_ProgressHandler())
    return logger
