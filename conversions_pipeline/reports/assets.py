"""The partitioned reconciliation report asset, and the reads the CLI's report command shares."""
# No `from __future__ import annotations`: Dagster reads resource types from annotations.

from dataclasses import dataclass
from datetime import date

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from ..sql_models import read_model
from ..warehouse.io import read_frame
from ..warehouse.resource import WarehouseResource
from ..warehouse.schema import facebook_reads
from . import report
from .model_assets import model_key

REPORT_KEY = dg.AssetKey(["reports", "reconciliation_report"])


@dataclass
class ReportData:
    first: date
    last: date
    steps: pd.DataFrame
    daily: pd.DataFrame
    coverage: pd.DataFrame
    lost: pd.DataFrame
    """leads not sent or rejected, counted by outcome and reason (aggregated in the warehouse)"""
    notes: list

    @property
    def waterfall(self) -> pd.DataFrame:
        return report.waterfall(self.steps)


LOST_OUTCOMES = ("skipped", "rejected", "retracted")


def lost_reasons(engine, first: date, last: date) -> pd.DataFrame:
    """lead_outcomes counted by outcome and reason for the leads that did not reach Meta (a day
    has a row per lead: the count is the warehouse's work, not a read of every row)."""
    leads = sa.table("lead_outcomes", sa.column("partition_date"), sa.column("outcome"), sa.column("reason"))
    query = (sa.select(leads.c.outcome, leads.c.reason, sa.func.count().label("leads"))
             .where(leads.c.partition_date.between(first, last), leads.c.outcome.in_(LOST_OUTCOMES))
             .group_by(leads.c.outcome, leads.c.reason))
    return read_frame(engine, query)


def load(engine, first: date, last: date) -> ReportData:
    """The marts' rows for the days, and what the Facebook reads said about them."""
    reads = read_frame(engine, sa.select(facebook_reads).where(facebook_reads.c.partition_date.between(first, last)))
    notes = [f"{str(r.partition_date)[:10]} {r.source}: {r.status}: {r.message}" for r in reads.itertuples()
             if r.status != "ok"]
    data = ReportData(first, last, read_model(engine, "reconciliation_waterfall", first, last),
                      read_model(engine, "reconciliation_daily", first, last),
                      read_model(engine, "match_key_coverage", first, last),
                      lost_reasons(engine, first, last), notes)
    if data.steps.empty:
        data.notes.append(f"no leads were processed from {first} to {last}: run the daily job for these days")
    if reads.empty:
        data.notes.append("Facebook's figures were not read for these days: the attributed counts are 0")
    return data


def build_report_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(key=REPORT_KEY, partitions_def=partitions, group_name="reports", kinds={"python"},
              deps=[model_key("reconciliation_waterfall"), model_key("reconciliation_daily"),
                    model_key("match_key_coverage"), model_key("lead_outcomes")],
              description="The day's CallRail-vs-Facebook waterfall: from the rows the source system counted to "
                          "what Ads Manager attributes, one step per cause, as a table and a chart.")
    def reconciliation_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        day = context.partition_time_window.start.date()
        data = load(warehouse.get_engine(), day, day)
        table = data.waterfall
        meta = {"waterfall": dg.MetadataValue.md(report.waterfall_text(table)),
                "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in data.notes) or "none")}
        if len(table):
            meta["chart"] = dg.MetadataValue.md(report.png_markdown(report.waterfall_chart(table), "waterfall"))
            totals = dict(zip(table["label"], table["leads"]))
            for label, name in (("rows in the source", "source_rows"), ("accepted by Meta", "accepted"),
                                ("attributed by Facebook", "attributed")):
                meta[name] = dg.MetadataValue.float(round(float(totals.get(label, 0.0)), 1))
        return dg.MaterializeResult(metadata=meta)

    return reconciliation_report
