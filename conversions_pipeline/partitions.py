"""The daily partitions: one partition per day in the configured time zone (UTC by default)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

from . import settings
from .errors import PartitionError


def daily_partitions(start_date: str | None = None, timezone_name: str | None = None) -> dg.DailyPartitionsDefinition:
    tz = timezone_name or settings.partitions_timezone()
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise PartitionError(f"PARTITIONS_TIMEZONE '{tz}' is not an IANA time zone; "
                             "use e.g. UTC or America/New_York") from None
    return dg.DailyPartitionsDefinition(start_date=start_date or settings.partitions_start_date(), timezone=tz)


def day_bounds_utc(day: date, timezone_name: str = "UTC") -> tuple[datetime, datetime]:
    """``[start, end)`` of a local day as naive UTC datetimes (23 or 25 hours long across DST)."""
    tz = ZoneInfo(timezone_name)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return (start.astimezone(timezone.utc).replace(tzinfo=None), end.astimezone(timezone.utc).replace(tzinfo=None))


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PartitionError(f"'{text}' is not a date; write it as YYYY-MM-DD") from None


def check_partition(partitions: dg.DailyPartitionsDefinition, day: date) -> str:
    """The partition key for ``day``, or a one-line error naming the valid range."""
    key = day.isoformat()
    first = partitions.start.date()
    if day < first:
        raise PartitionError(
            f"{key} is before the first partition-day {first}; set PARTITIONS_START_DATE earlier to include it"
        )
    last = partitions.get_last_partition_key()
    if last is None or key > last:
        raise PartitionError(
            f"{key} is not a complete day yet (last partition-day is {last}); partitions end with yesterday "
            f"in {partitions.timezone}"
        )
    return key
