"""The two schedules, on by default (``SCHEDULES_ENABLED=false`` creates them stopped).

* ``daily_conversions_schedule``: every day at ``SCHEDULE_HOUR``:``SCHEDULE_MINUTE`` (3:15 by
  default) in the partitions' time zone, the day before (yesterday).
* ``late_leads_schedule``: an hour later, the ``LATE_LEAD_DAYS`` days before that (3 by default,
  never past Meta's 7-day window): late-arriving leads, post-call data and lead-status changes (a
  call marked spam or good lead days later) reach Facebook; accepted events are not resent, newly
  eligible ones are sent, and events that became ineligible are retracted in the ledger.
"""

from __future__ import annotations

import os
from datetime import timedelta

import dagster as dg

from ..errors import ConfigError
from ..meta import MAX_AGE_SECONDS

MAX_LATE_DAYS = MAX_AGE_SECONDS // 86_400 - 1  # the oldest re-run day stays inside Meta's window


def _int_env(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low} to {high} (Meta refuses events older than 7 days)"
                          if name == "LATE_LEAD_DAYS" else f"{name} must be from {low} to {high}")
    return value


def _status() -> dg.DefaultScheduleStatus:
    off = os.environ.get("SCHEDULES_ENABLED", "true").strip().lower() in ("0", "false", "no", "off")
    return dg.DefaultScheduleStatus.STOPPED if off else dg.DefaultScheduleStatus.RUNNING


def build_schedules(job, partitions: dg.DailyPartitionsDefinition) -> list[dg.ScheduleDefinition]:
    hour = _int_env("SCHEDULE_HOUR", 3, 0, 22)
    minute = _int_env("SCHEDULE_MINUTE", 15, 0, 59)
    late_days = _int_env("LATE_LEAD_DAYS", 3, 0, MAX_LATE_DAYS)
    daily = dg.build_schedule_from_partitioned_job(job, name="daily_conversions_schedule", hour_of_day=hour,
                                                   minute_of_hour=minute, default_status=_status())

    @dg.schedule(job=job, name="late_leads_schedule", cron_schedule=f"{minute} {hour + 1} * * *",
                 execution_timezone=partitions.timezone, default_status=_status(),
                 description=f"Re-runs the {late_days} day(s) before yesterday so late leads and status changes "
                             "reach Facebook (never past Meta's 7-day window).")
    def late_leads(context: dg.ScheduleEvaluationContext):
        yesterday = context.scheduled_execution_time.date() - timedelta(days=1)
        first = partitions.start.date()
        for back in range(1, late_days + 1):
            day = yesterday - timedelta(days=back)
            if day >= first:
                key = day.isoformat()
                yield dg.RunRequest(run_key=f"late-{key}-{context.scheduled_execution_time:%Y%m%d}",
                                    partition_key=key, tags={"conversions/late_leads": "true"})

    return [daily, late_leads]
