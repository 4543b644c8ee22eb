"""Every model in dbt_like_sql/ runs on SQLite and PostgreSQL and returns the expected figures."""

from datetime import date, datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from conversions_pipeline.warehouse.schema import capi_events, metadata

MODELS = Path(__file__).resolve().parent.parent / "dbt_like_sql" / "models"


def _event(day, n, source, name, status, attempts=1, pixel="111"):
    return {"partition_date": day, "pixel_id": pixel, "event_id": f"{source}-{day:%m%d}-{n}",
            "event_name": name, "event_time": 1_700_000_000, "source_table": source,
            "source_id": str(n), "status": status, "reason": None, "attempts": attempts,
            "match_keys": "ph", "updated_at": datetime(2026, 11, 1, tzinfo=timezone.utc).replace(tzinfo=None)}


def test_every_model_is_listed_in_the_folder_readme():
    readme = (MODELS.parent / "README.md").read_text()
    models = sorted(p.name for p in MODELS.glob("*.sql"))
    assert models, "dbt_like_sql/models holds no model"
    for name in models:
        assert f"models/{name}" in readme


def test_ledger_daily_outcomes(engine):
    metadata.create_all(engine)
    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    rows = ([_event(d1, i, "calls", "Lead", "accepted") for i in range(5)]
            + [_event(d1, 10, "calls", "Lead", "rejected", attempts=3)]
            + [_event(d1, 11, "calls", "Lead", "skipped", attempts=0)]
            + [_event(d1, 12, "calls", "Lead", "pending", attempts=2)]
            + [_event(d1, 20, "orders", "Purchase", "accepted"),
               _event(d1, 21, "orders", "Purchase", "accepted", pixel="222")]
            + [_event(d2, 30, "calls", "Lead", "skipped", attempts=0)])
    with engine.begin() as conn:
        conn.execute(capi_events.insert(), rows)
        result = conn.execute(sa.text((MODELS / "ledger_daily_outcomes.sql").read_text())).mappings().all()

    table = [(str(r["partition_date"])[:10], r["pixel_id"], r["source_table"], r["event_name"],
              int(r["candidate_events"]), int(r["sent_events"]), int(r["accepted_events"]),
              int(r["rejected_events"]), int(r["skipped_events"]), int(r["pending_events"]),
              int(r["retried_events"])) for r in result]
    assert table == [
        ("2026-11-01", "111", "calls", "Lead", 8, 6, 5, 1, 1, 1, 2),
        ("2026-11-01", "111", "orders", "Purchase", 1, 1, 1, 0, 0, 0, 0),
        ("2026-11-01", "222", "orders", "Purchase", 1, 1, 1, 0, 0, 0, 0),
        ("2026-11-02", "111", "calls", "Lead", 1, 0, 0, 0, 1, 0, 0),
    ]
