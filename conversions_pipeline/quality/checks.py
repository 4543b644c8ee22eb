"""The quality gates as Dagster asset checks (thin: the rules are in quality.suites).

Per asset, on the run's partition-day only:

* ``extract/<source>``: ``structure`` (ERROR, blocking) and ``coverage`` (WARN);
* ``events/server_events``: ``structure`` (ERROR, blocking: a failure stops the upload of that day)
  and ``coverage`` (WARN);
* ``upload/capi_events``: ``delivery`` (WARN).

They run in three steps (the extracts' ten checks, the events' two, the upload's one), a step's
checks side by side on PostgreSQL. Every expectation's result is also written to ``dq_results``
(a re-run of a day replaces that day's rows for that check). A suite that cannot run (a missing
table, a GX error) is a failed check with the reason, never a silent pass.
"""
# No `from __future__ import annotations`: Dagster reads resource types from annotations.

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field

from ..capi.assets import UPLOAD_KEY
from ..events.assets import EVENTS_KEY
from ..extract.assets import LONGEST_FIRST, extract_key
from ..ops.lanes import lanes_for, side_by_side
from ..ops.memory import release_memory
from ..partitions import day_bounds_utc
from ..warehouse.io import read_frame, stream_frames
from ..warehouse.resource import WarehouseResource
from ..warehouse.retry import retry_when_locked
from ..warehouse.schema import STAGED_TABLES, capi_batches, capi_events, dq_results, server_events
from .gx_checks import Outcome, run_suite
from .thresholds import Thresholds

STRUCTURE, COVERAGE, DELIVERY = "structure", "coverage", "delivery"


class QualityResource(dg.ConfigurableResource):
    """WARN thresholds of the quality checks (ERROR checks have none: structure is right or wrong)."""

    min_phone_normalized: float = Field(default=Thresholds.min_phone_normalized,
                                        description="share of given phones that normalize")
    min_email_normalized: float = Field(default=Thresholds.min_email_normalized,
                                        description="share of given emails that normalize")
    max_duplicate_share: float = Field(default=Thresholds.max_duplicate_share,
                                       description="share of a source's rows that repeat an id")
    min_valid_currency_share: float = Field(default=Thresholds.min_valid_currency_share,
                                            description="share of orders with an ISO 4217 currency")
    min_strong_key_share: float = Field(default=Thresholds.min_strong_key_share,
                                        description="share of eligible events with em, ph, fbc or external_id")
    min_facebook_click_id_share: float = Field(default=Thresholds.min_facebook_click_id_share,
                                               description="share of Facebook-credited leads carrying a click id")
    max_rejected_share: float = Field(default=Thresholds.max_rejected_share,
                                      description="share of sent events Meta rejected")

    def thresholds(self) -> Thresholds:
        return Thresholds(**{f: getattr(self, f) for f in Thresholds.__dataclass_fields__})


def _day(context) -> date:
    return date.fromisoformat(context.op_execution_context.partition_key)


def evaluate(suites_fn) -> list[Outcome]:
    """Run the suites ``suites_fn()`` returns; a suite that cannot run is one failed outcome."""
    try:
        outcomes = []
        for name, frame, expectations in suites_fn():
            outcomes += run_suite(name, frame, expectations)
        return outcomes
    except Exception as exc:  # noqa: BLE001 - any failure to check is a failed check, with its reason
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]
        return [Outcome(expectation="suite could not run", severity="ERROR", success=False, observed_value=reason)]


def record(engine, day: date, asset: dg.AssetKey, check: str, outcomes: list[Outcome], run_id: str) -> None:
    """Replace the day's dq_results rows for this check with ``outcomes``."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [{"partition_date": day, "asset": asset.to_user_string(), "check_name": check, "expectation": o.expectation,
             "severity": o.severity, "success": o.success, "observed_value": o.observed_value,
             "unexpected_count": o.unexpected_count, "unexpected_percent": o.unexpected_percent,
             "examples": ", ".join(o.examples) or None, "run_id": run_id, "checked_at": now} for o in outcomes]
    with engine.begin() as conn:
        conn.execute(sa.delete(dq_results).where(dq_results.c.partition_date == day,
                                                 dq_results.c.asset == asset.to_user_string(),
                                                 dq_results.c.check_name == check))
        if rows:
            conn.execute(dq_results.insert(), rows)


def to_result(day: date, outcomes: list[Outcome], severity: dg.AssetCheckSeverity,
              key: dg.AssetCheckKey | None = None) -> dg.AssetCheckResult:
    failed = [o for o in outcomes if not o.success]
    table = pd.DataFrame([{"expectation": o.expectation, "severity": o.severity, "ok": o.success,
                           "observed": o.observed_value or "", "unexpected": o.unexpected_count or 0,
                           "unexpected %": o.unexpected_percent or 0.0, "examples": ", ".join(o.examples)}
                          for o in outcomes])
    meta = {
        "day": day.isoformat(),
        "expectations": dg.MetadataValue.int(len(outcomes)),
        "failed": dg.MetadataValue.int(len(failed)),
        "results": dg.MetadataValue.md(table.to_markdown(index=False) if len(table) else "no expectations"),
        "failed_expectations": dg.MetadataValue.json([o.line() for o in failed]),
    }
    description = (f"{day}: " + "; ".join(o.line() for o in failed[:3])) if failed else f"{day}: all expectations met"
    where = {"asset_key": key.asset_key, "check_name": key.name} if key is not None else {}
    return dg.AssetCheckResult(passed=not failed, severity=severity, metadata=meta, description=description[:1000],
                               **where)


@dataclass(frozen=True)
class Check:
    """One quality gate: the asset it checks, its name, whether a failure blocks what follows
    (ERROR) or only warns (WARN), and the suites it runs (``suites_for(context, engine, day,
    thresholds)`` returns ``(name, frame, expectations)`` triples)."""

    asset: dg.AssetKey
    name: str
    blocking: bool
    description: str
    suites_for: Callable

    @property
    def key(self) -> dg.AssetCheckKey:
        return dg.AssetCheckKey(self.asset, self.name)

    @property
    def severity(self) -> dg.AssetCheckSeverity:
        return dg.AssetCheckSeverity.ERROR if self.blocking else dg.AssetCheckSeverity.WARN


def _checks_step(step: str, checks: list[Check], side_by_side_ok: bool = True) -> dg.AssetChecksDefinition:
    """One step that runs the selected ``checks``, side by side on PostgreSQL when
    ``side_by_side_ok`` (each reads its own rows and runs its own GX validation; :mod:`..ops.lanes`),
    started in the order given. Each is still its own asset check, blocking or not, with its own
    result and dq_results rows."""
    by_key = {c.key: c for c in checks}
    specs = [dg.AssetCheckSpec(c.name, asset=c.asset, blocking=c.blocking, description=c.description) for c in checks]

    @dg.multi_asset_check(name=step, specs=specs, can_subset=True)
    def _run(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, quality: QualityResource):
        day = _day(context)
        engine = warehouse.get_engine()
        thresholds = quality.thresholds()

        def piece(check: Check):
            def run() -> list[Outcome]:
                outcomes = evaluate(lambda: check.suites_for(context, engine, day, thresholds))
                asset = check.asset
                try:
                    retry_when_locked(lambda: record(engine, day, asset, check.name, outcomes, context.run.run_id),
                                      what=f"dq_results {asset.to_user_string()} {day}", log=context.log.warning)
                except sa.exc.SQLAlchemyError as exc:  # the check's answer still stands; say why it is not stored
                    context.log.warning(f"dq_results not written ({type(exc).__name__}); "
                                        "run `conversions-pipeline init-db`")
                return outcomes
            return run

        selected = {key: piece(check) for key, check in by_key.items() if key in context.selected_asset_check_keys}
        for key, outcomes in side_by_side(selected, lanes_for(engine) if side_by_side_ok else 1, "check"):
            yield to_result(day, outcomes, by_key[key].severity, key)
        release_memory()  # once all are done (see the extract step)

    return _run


def _chunks(engine, query, rows: int):
    """``query``'s rows in chunks of ``rows``: streamed on PostgreSQL, read at once elsewhere."""
    streamed = stream_frames(engine, query, rows)
    return streamed if streamed is not None else [read_frame(engine, query)]


def _latest_metadata(context, key: dg.AssetKey, partition: str) -> dict:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
    return records[0].asset_materialization.metadata if records else {}


class _Suites:
    """quality.suites, imported on first use (it imports great-expectations, which takes seconds):
    loading the Definitions stays fast, and only a run that checks pays for GX."""

    def __getattr__(self, name):
        from . import suites as module
        return getattr(module, name)


suites = _Suites()


def build_quality_checks(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    """Three steps of checks: the extracts' (ten), the events' (two) and the upload's (one)."""
    def staged(engine, source: str, day: date, columns) -> pd.DataFrame:
        """The day's staged rows, only the columns the suite looks at (a day can be millions of rows)."""
        table = STAGED_TABLES[source]
        return read_frame(engine, sa.select(*[table.c[c] for c in columns if c in table.c])
                          .where(table.c.partition_date == day))

    def staged_chunks(engine, source: str, day: date, columns):
        """The same rows in chunks (the suite reduces each as it comes)."""
        table = STAGED_TABLES[source]
        query = sa.select(*[table.c[c] for c in columns if c in table.c]).where(table.c.partition_date == day)
        return _chunks(engine, query, 200_000)

    structure_checks, coverage_checks = [], []
    for source in LONGEST_FIRST:
        table, key = STAGED_TABLES[source], extract_key(source)

        def structure(context, engine, day, thresholds, source=source, table=table, key=key):
            start, end = day_bounds_utc(day, partitions.timezone)
            meta = _latest_metadata(context, key, day.isoformat())
            expected = (meta["source_rows"].value - meta["dropped_rows"].value) if "source_rows" in meta else None
            return suites.extract_structure(staged_chunks(engine, source, day, suites.extract_structure_columns(table)),
                                            table, start, end, expected)

        def coverage(context, engine, day, thresholds, source=source, table=table):
            return suites.extract_coverage(staged(engine, source, day, suites.EXTRACT_COVERAGE_COLUMNS), table,
                                           thresholds)

        structure_checks.append(Check(key, STRUCTURE, True, f"stg_{source} for the day: required columns, ids, "
                                      "timestamps inside the day, hashed columns 64-hex, row count equal to the "
                                      "source's", structure))
        coverage_checks.append(Check(key, COVERAGE, False, "share of phones and emails that normalize, duplicate "
                                     "ids, valid currencies (WARN thresholds in the quality resource)", coverage))

    def events_chunks(engine, day, columns):
        """The day's events in chunks (streamed on PostgreSQL), each reduced by the suite as it comes."""
        query = sa.select(*[server_events.c[c] for c in columns]).where(server_events.c.partition_date == day)
        return _chunks(engine, query, 50_000)  # rows of ~1 kB of JSON: a small chunk

    def events_frame(engine, day, columns):
        return read_frame(engine, sa.select(*[server_events.c[c] for c in columns])
                          .where(server_events.c.partition_date == day))

    events_checks = [
        Check(EVENTS_KEY, STRUCTURE, True, "unique event ids per pixel, allowed names and action sources, event_time "
              "in Meta's window, hashed keys 64-hex, fbc shape, Purchase value and currency, a match key on every "
              "eligible event; a failure stops the day's upload",
              lambda c, e, d, t: suites.events_structure(events_chunks(e, d, suites.EVENTS_STRUCTURE_COLUMNS),
                                                         datetime.now(timezone.utc))),
        Check(EVENTS_KEY, COVERAGE, False, "share of eligible events with a strong key, of Facebook-credited leads "
              "with a click id, of Purchases with a currency",
              lambda c, e, d, t: suites.events_coverage(events_frame(e, d, suites.EVENTS_COVERAGE_COLUMNS), t)),
    ]

    def delivery(context, engine, day, thresholds):
        ledger = read_frame(engine, sa.select(capi_events.c.status).where(capi_events.c.partition_date == day))
        batches = read_frame(engine, sa.select(capi_batches).where(capi_batches.c.partition_date == day))
        return suites.upload_delivery(ledger, batches, thresholds)

    delivery_checks = [Check(UPLOAD_KEY, DELIVERY, False, "nothing left pending, rejected share under the threshold, "
                             "events_received equal to events sent for every answered request", delivery)]
    # the longest first (the calls' structure), so the lanes finish together
    return [_checks_step("extract_checks", structure_checks + coverage_checks),
            # one at a time: each holds columns of every event of the day (side by side, the 1M-call
            # day's peak went from about 1.5 to 1.96 GB to save about 3 s)
            _checks_step("events_checks", events_checks, side_by_side_ok=False),
            _checks_step("upload_checks", delivery_checks)]
