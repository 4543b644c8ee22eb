"""Read Ads Manager insights and the Dataset Quality API, and store them per day (pure parsing,
plus the reads through the Conversions API client, so the same deadline, retry and token rules hold).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..capi.client import ConversionsApiClient
from ..warehouse.schema import dataset_quality, facebook_insights, facebook_reads

RESTATEMENT_DAYS = 28
"""Meta restates a day's figures for up to 28 days: each read covers the 28 days up to the partition-day."""

DATASET_QUALITY_FIELDS = ("web{event_name,event_match_quality{composite_score,match_key_feedback{identifier,"
                          "coverage{percentage}}},event_coverage{percentage,goal_percentage},dedupe_key_feedback,"
                          "data_freshness{upload_frequency}}")


@dataclass
class ReadResult:
    status: str  # ok, empty, not_configured, error
    message: str
    rows: int = 0
    days: tuple[date, date] | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def insights_rows(body: dict, account: str, windows: tuple[str, ...], read_at: datetime) -> pd.DataFrame:
    """Meta's insights answer (``data`` of per-day ``actions``) as facebook_insights rows."""
    rows = []
    for entry in body.get("data") or []:
        if not isinstance(entry, dict) or not entry.get("date_start"):
            continue
        for action in entry.get("actions") or []:
            if not isinstance(action, dict) or not action.get("action_type"):
                continue
            by_window = {w: int(float(action.get(w) or 0)) for w in windows}
            value = int(float(action.get("value") or sum(by_window.values())))
            rows.append({"partition_date": date.fromisoformat(str(entry["date_start"])[:10]), "ad_account_id": account,
                         "action_type": str(action["action_type"])[:100], "attribution_setting": ",".join(windows),
                         "value": value, "value_by_window": json.dumps(by_window), "read_at": read_at})
    return pd.DataFrame(rows, columns=[c.name for c in facebook_insights.columns])


def read_insights(engine: Engine, client: ConversionsApiClient, account: str, day: date,
                  windows: tuple[str, ...]) -> ReadResult:
    """Re-read the 28 days up to ``day`` and replace what was read for them before."""
    first = day - timedelta(days=RESTATEMENT_DAYS - 1)
    params = {"fields": "actions", "time_increment": "1", "action_breakdowns": "action_type",
              "action_attribution_windows": json.dumps(list(windows)), "action_report_time": "conversion",
              "time_range": json.dumps({"since": first.isoformat(), "until": day.isoformat()}), "level": "account"}
    body = client.get(f"act_{account}/insights", params)
    rows = insights_rows(body, account, windows, _now())
    with engine.begin() as conn:
        conn.execute(sa.delete(facebook_insights).where(facebook_insights.c.ad_account_id == account,
                                                        facebook_insights.c.partition_date.between(first, day)))
        if len(rows):
            conn.execute(facebook_insights.insert(), rows.to_dict("records"))
    if rows.empty:
        return ReadResult("empty", f"Ads Manager attributes no conversions to act_{account} from {first} to {day} "
                                   f"({','.join(windows)})", 0, (first, day))
    return ReadResult("ok", f"{int(rows['value'].sum())} conversions over {rows['partition_date'].nunique()} day(s) "
                            f"from {first} to {day} ({','.join(windows)})", len(rows), (first, day))


def dataset_quality_rows(body: dict, pixel: str, day: date, read_at: datetime) -> pd.DataFrame:
    rows = []
    for entry in body.get("web") or []:
        if not isinstance(entry, dict) or not entry.get("event_name"):
            continue
        emq = entry.get("event_match_quality") or {}
        coverage = entry.get("event_coverage") or {}
        rows.append({"partition_date": day, "pixel_id": pixel, "event_name": str(entry["event_name"])[:100],
                     "composite_score": emq.get("composite_score"),
                     "match_key_feedback": json.dumps(emq.get("match_key_feedback") or []),
                     "event_coverage_percentage": coverage.get("percentage"),
                     "dedupe_key_feedback": json.dumps(entry.get("dedupe_key_feedback") or []),
                     "upload_frequency": (entry.get("data_freshness") or {}).get("upload_frequency"),
                     "read_at": read_at})
    return pd.DataFrame(rows, columns=[c.name for c in dataset_quality.columns])


def read_dataset_quality(engine: Engine, client: ConversionsApiClient, pixel: str, day: date,
                         agent: str = "conversions_pipeline") -> ReadResult:
    body = client.get("dataset_quality", {"dataset_id": pixel, "agent_name": agent, "fields": DATASET_QUALITY_FIELDS})
    rows = dataset_quality_rows(body, pixel, day, _now())
    with engine.begin() as conn:
        conn.execute(sa.delete(dataset_quality).where(dataset_quality.c.partition_date == day,
                                                      dataset_quality.c.pixel_id == pixel))
        if len(rows):
            conn.execute(dataset_quality.insert(), rows.to_dict("records"))
    if rows.empty:
        return ReadResult("empty", f"Events Manager reports no match quality for pixel {pixel} yet")
    scores = ", ".join(f"{r.event_name} {r.composite_score}" for r in rows.itertuples())
    return ReadResult("ok", f"match quality for pixel {pixel}: {scores}", len(rows))


def record_read(engine: Engine, day: date, source: str, result: ReadResult) -> None:
    """What the day's read found (or why there is nothing), for the report to say it."""
    with engine.begin() as conn:
        conn.execute(sa.delete(facebook_reads).where(facebook_reads.c.partition_date == day,
                                                     facebook_reads.c.source == source))
        conn.execute(facebook_reads.insert(), [{"partition_date": day, "source": source, "status": result.status,
                                                "message": result.message[:2000], "read_at": _now()}])
