"""Reconciliation: the marts against hand-computed numbers on SQLite and PostgreSQL, Facebook's
side read from the emulator over loopback (answers and refusals), and the report as rendered."""

import json
import time
from datetime import date, datetime, timezone
from html.parser import HTMLParser

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from conversions_pipeline.capi.client import ConversionsApiClient, FatalApiError, GraphReadError
from conversions_pipeline.capi.emulator import EmulatorConfig, running_emulator
from conversions_pipeline.capi.match_model import match_probability
from conversions_pipeline.facebook.reads import read_dataset_quality, read_insights
from conversions_pipeline.sql_models import load_models, read_model, run_model
from conversions_pipeline.warehouse.engine import create_schema
from conversions_pipeline.warehouse.io import read_frame
from conversions_pipeline.warehouse.schema import (
    STAGED_TABLES,
    capi_events,
    dataset_quality,
    facebook_insights,
    facebook_reads,
    server_events,
)

D = date(2026, 11, 20)
NOW = datetime(2026, 11, 21, 3, 0)
TOKEN = "EAAB-recon-token"


def _se(source_table, source_id, name, status, keys, credited, reason=None, pixel="555"):
    return {"partition_date": D, "pixel_id": pixel, "event_id": f"{source_table}-{source_id}-{name}",
            "event_name": name, "event_time": 1_763_600_000, "action_source": "phone_call", "user_data": "{}",
            "source_table": source_table, "source_id": source_id, "match_keys": keys, "status": status,
            "reason": reason, "facebook_credited": credited, "built_at": NOW}


def _ce(row, status, reason=None):
    return {k: row[k] for k in ("partition_date", "pixel_id", "event_id", "event_name", "source_table", "source_id",
                                "match_keys")} | {"status": status, "reason": reason, "attempts": 1, "updated_at": NOW}


@pytest.fixture
def ledger(engine):
    """Calls C1 (exported twice, credited, accepted with ph+fbc), C2 (rejected), C3 (spam),
    C4 (pending); order O1 (accepted with em); Ads Manager attributes one lead and one purchase."""
    create_schema(engine)
    events = [_se("calls", "C1", "Lead", "eligible", "ph,fbc", True),
              _se("calls", "C2", "Lead", "eligible", "ph", False),
              _se("calls", "C3", "Lead", "skipped", "ph", False, "spam"),
              _se("calls", "C4", "Lead", "eligible", "em", False),
              _se("orders", "O1", "Purchase", "eligible", "em", False)]
    outcomes = [_ce(events[0], "accepted"), _ce(events[1], "rejected", "meta_error_100_2804050"),
                _ce(events[2], "skipped", "spam"), _ce(events[3], "pending"), _ce(events[4], "accepted")]
    with engine.begin() as conn:
        conn.execute(STAGED_TABLES["calls"].insert(), [{"partition_date": D, "id": i, "start_time": NOW}
                                                       for i in ("C1", "C1", "C2", "C3", "C4")])
        conn.execute(STAGED_TABLES["orders"].insert(), [{"partition_date": D, "id": "O1", "created_at": NOW}])
        conn.execute(server_events.insert(), events)
        conn.execute(capi_events.insert(), outcomes)
        conn.execute(facebook_insights.insert(), [
            {"partition_date": D, "ad_account_id": "1", "action_type": "offsite_conversion.fb_pixel_lead",
             "attribution_setting": "7d_click,1d_view", "value": 1, "read_at": NOW},
            {"partition_date": D, "ad_account_id": "1", "action_type": "offsite_conversion.fb_pixel_purchase",
             "attribution_setting": "7d_click,1d_view", "value": 1, "read_at": NOW}])
        conn.execute(dataset_quality.insert(), [{"partition_date": D, "pixel_id": "555", "event_name": "Lead",
                                                 "composite_score": 6.5, "read_at": NOW}])
    for model in load_models().values():
        run_model(engine, model, D)
    return engine


def _rows(engine, name, keys):
    frame = read_model(engine, name, D)
    return {tuple(str(r[k]) for k in keys): r for r in frame.to_dict("records")}


def test_reconciliation_daily_by_lead_type_and_credit(ledger):
    rows = _rows(ledger, "reconciliation_daily", ("lead_type", "credits_facebook"))
    assert set(rows) == {("call", "yes"), ("call", "no"), ("order", "no")}
    figures = ("source_rows", "distinct_leads", "skipped", "sent", "accepted", "rejected", "pending", "retracted")
    assert [int(rows[("call", "yes")][f]) for f in figures] == [2, 1, 0, 1, 1, 0, 0, 0]
    assert [int(rows[("call", "no")][f]) for f in figures] == [3, 3, 1, 2, 0, 1, 1, 0]
    assert [int(rows[("order", "no")][f]) for f in figures] == [1, 1, 0, 1, 1, 0, 0, 0]
    assert float(rows[("call", "yes")]["expected_matched"]) == pytest.approx(1 - 0.1 * 0.5)
    assert float(rows[("call", "yes")]["expected_matched"]) == pytest.approx(match_probability(["ph", "fbc"]))
    assert float(rows[("call", "yes")]["attributed"]) == pytest.approx(1.0)   # the only lead expected to match
    assert float(rows[("call", "no")]["attributed"]) == pytest.approx(0.0)
    assert float(rows[("order", "no")]["attributed"]) == pytest.approx(1.0)


def test_the_waterfall_walks_from_the_source_count_to_the_attributed_count(ledger):
    frame = read_model(ledger, "reconciliation_waterfall", D)
    calls = frame[(frame["lead_type"] == "call") & (frame["credits_facebook"] == "no")].sort_values("step")
    steps = {r["label"]: float(r["leads"]) for r in calls.to_dict("records")}
    assert steps["rows in the source"] == 3 and steps["duplicate rows in the export"] == 0
    assert steps["not sent: spam"] == -1 and steps["not delivered yet (pending)"] == -1
    assert steps["sent, rejected by Meta (meta_error_100_2804050)"] == -1
    assert steps["accepted by Meta"] == 0 and steps["attributed by Facebook"] == 0
    for group, part in frame.groupby(["lead_type", "credits_facebook"]):
        part = part.assign(leads=part["leads"].astype(float), is_total=part["is_total"].astype(int))
        source = part.loc[part["step"].astype(int) == 10, "leads"].iloc[0]
        accepted = part.loc[part["step"].astype(int) == 70, "leads"].iloc[0]
        attributed = part.loc[part["step"].astype(int) == 100, "leads"].iloc[0]
        losses = part[(part["is_total"] == 0) & (part["step"].astype(int) < 70)]["leads"].sum()
        gaps = part[(part["is_total"] == 0) & (part["step"].astype(int) > 70)]["leads"].sum()
        assert source + losses == pytest.approx(accepted), group
        assert accepted + gaps == pytest.approx(attributed), group


def test_match_key_coverage_beside_metas_score(ledger):
    rows = _rows(ledger, "match_key_coverage", ("event_name",))
    lead = rows[("Lead",)]
    assert int(lead["sent_events"]) == 2 and float(lead["share_ph"]) == 1.0 and float(lead["share_fbc"]) == 0.5
    assert float(lead["share_em"]) == 0.0 and float(lead["match_quality_score"]) == 6.5
    purchase = rows[("Purchase",)]
    assert int(purchase["sent_events"]) == 1 and float(purchase["share_em"]) == 1.0
    assert purchase["match_quality_score"] is None or purchase["match_quality_score"] != purchase["match_quality_score"]


def test_rerunning_a_model_replaces_the_day(ledger):
    first = len(read_model(ledger, "lead_outcomes", D))
    run_model(ledger, load_models()["lead_outcomes"], D)
    assert len(read_model(ledger, "lead_outcomes", D)) == first == 5


def test_a_lead_with_several_events_takes_its_best_outcome_and_that_outcomes_smallest_reason(engine):
    """L1: accepted beats rejected; L2: two skipped events, the smaller reason; L3: pending beats
    skipped (reason of the pending one: none); L4: an event not in the ledger yet counts pending."""
    create_schema(engine)
    events = [_se("calls", "L1", "Lead", "eligible", "ph", True),
              _se("calls", "L1", "Contact", "eligible", "ph", False),
              _se("calls", "L2", "Lead", "skipped", "ph", False, "test"),
              _se("calls", "L2", "Contact", "skipped", "ph", False, "filtered:outbound"),
              _se("calls", "L3", "Lead", "eligible", "ph", False),
              _se("calls", "L3", "Contact", "skipped", "ph", False, "spam"),
              _se("calls", "L4", "Lead", "eligible", "ph", False)]
    outcomes = [_ce(events[0], "rejected", "meta_error_100"), _ce(events[1], "accepted"),
                _ce(events[2], "skipped", "test"), _ce(events[3], "skipped", "filtered:outbound"),
                _ce(events[4], "pending"), _ce(events[5], "skipped", "spam")]
    with engine.begin() as conn:
        conn.execute(server_events.insert(), events)
        conn.execute(capi_events.insert(), outcomes)
    run_model(engine, load_models()["lead_outcomes"], D)
    rows = _rows(engine, "lead_outcomes", ("source_id",))
    got = {k[0]: (r["outcome"], None if r["reason"] is None or r["reason"] != r["reason"] else r["reason"],
                  r["credits_facebook"], r["event_name"]) for k, r in rows.items()}
    assert got == {"L1": ("accepted", None, "yes", "Contact"), "L2": ("skipped", "filtered:outbound", "no", "Contact"),
                   "L3": ("pending", None, "no", "Contact"), "L4": ("pending", None, "no", "Lead")}


# --- Facebook's side, from the emulator over loopback ----------------------------------------------

def _send(server, pixel, n, click=True):
    now = int(time.time())
    events = [{"event_name": "Lead", "event_time": now - 60, "event_id": f"e{i}", "action_source": "phone_call",
               "user_data": {"ph": f"{i:064x}", **({"fbc": f"fb.1.{(now - 3600) * 1000}.IwAR{i}"} if click else {})}}
              for i in range(n)]
    body = {"data": events, "access_token": TOKEN}
    httpx.post(f"{server.base_url}/v25.0/{pixel}/events", json=body).raise_for_status()
    return datetime.fromtimestamp(now - 60, timezone.utc).date()


def test_insights_are_read_in_metas_shape_and_replace_the_window(engine):
    create_schema(engine)
    with running_emulator() as server, ConversionsApiClient(server.base_url, "v25.0", TOKEN) as client:
        day = _send(server, "555", 200)
        result = read_insights(engine, client, "42", day, ("7d_click", "1d_view"))
        again = read_insights(engine, client, "42", day, ("7d_click", "1d_view"))
    rows = read_frame(engine, sa.select(facebook_insights))
    assert result.status == again.status == "ok" and len(rows) == 1  # the second read replaced the first
    row = rows.iloc[0]
    assert row["action_type"] == "offsite_conversion.fb_pixel_lead" and row["attribution_setting"] == "7d_click,1d_view"
    by_window = json.loads(row["value_by_window"])
    expected = sum(1 for i in range(200) if match_probability(["ph", "fbc"]) > 0)  # every event can match
    assert 0.85 * 200 < int(row["value"]) <= expected and by_window["7d_click"] == int(row["value"])


def test_dataset_quality_per_event_name(engine):
    create_schema(engine)
    with running_emulator() as server, ConversionsApiClient(server.base_url, "v25.0", TOKEN) as client:
        day = _send(server, "555", 10, click=False)
        result = read_dataset_quality(engine, client, "555", day)
    rows = read_frame(engine, sa.select(dataset_quality))
    assert result.status == "ok" and list(rows["event_name"]) == ["Lead"]
    assert float(rows["composite_score"].iloc[0]) == pytest.approx(10 * match_probability(["ph"]), abs=0.05)
    feedback = {f["identifier"]: f["coverage"]["percentage"] for f in json.loads(rows["match_key_feedback"].iloc[0])}
    assert feedback["phone"] == 100.0 and feedback["email"] == 0.0


def test_refusals_are_clear_errors_with_the_token_redacted(engine):
    create_schema(engine)
    with running_emulator(EmulatorConfig(valid_tokens=frozenset({"other"}))) as server, \
            ConversionsApiClient(server.base_url, "v25.0", TOKEN) as client:
        with pytest.raises(FatalApiError, match="code 190"):
            read_insights(engine, client, "42", D, ("7d_click",))
    with running_emulator() as server, ConversionsApiClient(server.base_url, "v25.0", TOKEN) as client:
        with pytest.raises(GraphReadError, match="2044055"):
            read_dataset_quality(engine, client, "not-a-dataset", D)


def test_the_assets_record_not_configured_and_errors_instead_of_crashing(engine, warehouse_url, monkeypatch):
    from conversions_pipeline.definitions import build_definitions
    from conversions_pipeline.facebook.assets import DATASET_QUALITY_KEY, INSIGHTS_KEY
    create_schema(engine)
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PARTITIONS_START_DATE", "2026-01-01")
    with running_emulator(EmulatorConfig(valid_tokens=frozenset({"other"}))) as server:
        monkeypatch.setenv("FB_PIXEL_ID", "555")
        monkeypatch.setenv("FB_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("FB_GRAPH_BASE_URL", server.base_url)
        defs = build_definitions()
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(partition_key=D.isoformat(), instance=dg.DagsterInstance.ephemeral(),
                                        asset_selection=[INSIGHTS_KEY, DATASET_QUALITY_KEY])
    assert result.success
    reads = read_frame(engine, sa.select(facebook_reads)).set_index("source")
    assert reads.loc["facebook_insights", "status"] == "not_configured"
    assert "FB_AD_ACCOUNT_ID" in reads.loc["facebook_insights", "message"]
    assert reads.loc["dataset_quality", "status"] == "error" and "190" in reads.loc["dataset_quality", "message"]
    assert TOKEN not in reads.to_string()


# --- the report --------------------------------------------------------------------------------------

class _Html(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.cells, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append(self._cell.strip())
            self._cell = None


def test_the_demo_prints_each_days_waterfall_and_writes_an_html_report_with_charts(tmp_path, monkeypatch, capsys):
    from conversions_pipeline.cli import main
    monkeypatch.setenv("CONVERSIONS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PARTITIONS_START_DATE", "2026-01-01")
    assert main(["demo", "--days", "2", "--per-day", "200"]) == 0
    out = capsys.readouterr().out
    assert out.count("CallRail vs Facebook, 20") == 2 and out.count("| attributed by Facebook") == 2
    path = next(line for line in out.splitlines() if line.startswith("report: ")).removeprefix("report: ")
    parser = _Html()
    parser.feed(open(path).read())
    figures = [attrs.get("id") for tag, attrs in parser.tags if tag == "figure"]
    assert figures == ["chart-waterfall", "chart-trend", "chart-coverage"]
    assert sum(1 for tag, _ in parser.tags if tag == "svg") == 3
    from conversions_pipeline.warehouse.engine import create_warehouse_engine
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}")
    daily = read_frame(engine, sa.text("SELECT * FROM reconciliation_daily"))
    cells = parser.cells
    attributed = float(cells[cells.index("attributed by Facebook") + 1].replace(",", ""))
    assert attributed == pytest.approx(daily["attributed"].astype(float).sum(), abs=0.05) and attributed > 0
    accepted = float(cells[cells.index("accepted by Meta") + 1].replace(",", ""))
    assert accepted == daily["accepted"].astype(int).sum()


def test_a_range_without_runs_says_so(engine, warehouse_url, monkeypatch, capsys, tmp_path):
    from conversions_pipeline.cli import main
    create_schema(engine)
    for model in load_models().values():
        run_model(engine, model, D)
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    assert main(["report", "--from", D.isoformat(), "--out", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert "no leads were processed" in out and "were not read" in out
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_a_large_model_day_is_analyzed_for_the_models_that_read_it(pg_database_url, monkeypatch):
    from conversions_pipeline import sql_models
    from conversions_pipeline.warehouse.engine import create_warehouse_engine

    engine = create_warehouse_engine(pg_database_url)
    try:
        create_schema(engine)
        events = [_se("calls", f"A{i}", "Lead", "eligible", "ph", False) for i in range(30)]
        with engine.begin() as conn:
            conn.execute(server_events.insert(), events)
        monkeypatch.setattr(sql_models, "ANALYZE_FROM_ROWS", 20)
        run_model(engine, load_models()["lead_outcomes"], D)
        with engine.connect() as conn:
            total = conn.exec_driver_sql("SELECT count(*) FROM lead_outcomes").scalar()
            tuples = conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'lead_outcomes'::regclass").scalar()
        assert total >= 30 and tuples == total  # not analyzed: -1, or the count before these rows
    finally:
        from conversions_pipeline.warehouse.schema import metadata
        metadata.drop_all(engine)  # as the engine fixture leaves the shared test database
        engine.dispose()


def test_on_sqlite_a_large_model_day_is_analyzed_so_readers_do_not_loop_over_its_day_index(tmp_path,
                                                                                         monkeypatch):
    """reconciliation_daily joins the day's source rows to lead_outcomes: planned without statistics,
    SQLite read every lead_outcomes row of the day once per source row (minutes at 100k calls)."""
    from conversions_pipeline import sql_models
    from conversions_pipeline.warehouse.engine import create_warehouse_engine
    from conversions_pipeline.warehouse.schema import STAGED_TABLES

    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    create_schema(engine)
    monkeypatch.setattr(sql_models, "ANALYZE_FROM_ROWS", 20)
    with engine.begin() as conn:
        conn.execute(server_events.insert(),
                     [_se("calls", f"A{i}", "Lead", "eligible", "ph", False) for i in range(60)])
        conn.execute(STAGED_TABLES["calls"].insert(), [{"partition_date": D, "id": f"A{i}"} for i in range(60)])
    run_model(engine, load_models()["lead_outcomes"], D)
    with engine.connect() as conn:
        plan = [row[-1] for row in conn.execute(
            sa.text("EXPLAIN QUERY PLAN " + sql_models.render(load_models()["reconciliation_daily"], engine)),
            {"partition_date": D})]
        assert not any(step.startswith("SEARCH lo USING INDEX ix_lead_outcomes_day") for step in plan), plan
        assert conn.exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE tbl = 'lead_outcomes'").scalars().all()
    engine.dispose()


def test_a_model_table_is_indexed_by_day_and_counts_the_rows_it_inserted(ledger):
    indexes = {tuple(ix["column_names"]) for ix in sa.inspect(ledger).get_indexes("lead_outcomes")}
    assert ("partition_date",) in indexes
    assert run_model(ledger, load_models()["lead_outcomes"], D) == 5
