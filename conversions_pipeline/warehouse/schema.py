"""The warehouse contract: every table the pipeline reads or writes, as SQLAlchemy Core metadata.

The same metadata creates identical tables on SQLite and PostgreSQL. Timestamps are stored as
UTC without a time zone (``TIMESTAMP WITHOUT TIME ZONE``), so both backends compare them the same
way. Source tables have no unique constraint on ``id``: real exports repeat rows (webhook stages,
overlapping syncs), so ``id`` and the timestamp column are indexed instead.

An optional PostgreSQL schema is applied at connection time through ``schema_translate_map``
(see :mod:`conversions_pipeline.warehouse.engine`), so the metadata itself stays schema-less.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

from ..meta import HASHED_KEYS

metadata = MetaData()

Money = Numeric(14, 2, asdecimal=False)


def _source_table(name: str, time_column: str, *columns: Column) -> Table:
    table = Table(name, metadata, *columns)
    Index(f"ix_{name}_id", table.c.id)
    Index(f"ix_{name}_{time_column}", table.c[time_column])
    table.info["time_column"] = time_column
    return table


# --- Source tables (CallRail-style exports and the shop) -----------------------------------

calls = _source_table(
    "calls",
    "start_time",
    Column("id", String(64), nullable=False, comment="CallRail call id"),
    Column("company_id", String(64), comment="CallRail company (location) id"),
    Column("start_time", DateTime, nullable=False, comment="call start, UTC"),
    Column("duration", Integer, comment="seconds"),
    Column("answered", Boolean),
    Column("direction", String(16), comment="inbound or outbound"),
    Column("first_call", Boolean, comment="first call from this caller"),
    Column("customer_phone_number", String(64), comment="raw, as exported (PII)"),
    Column("customer_name", String(200), comment="caller-ID name, raw (PII)"),
    Column("customer_city", String(100), comment="PII"),
    Column("customer_state", String(100), comment="PII"),
    Column("customer_country", String(100), comment="PII"),
    Column("zip_code", String(32), comment="PII"),
    Column("source", String(100)),
    Column("medium", String(100)),
    Column("campaign", String(200)),
    Column("fbclid", String(500), comment="Facebook click id, case-sensitive"),
    Column("gclid", String(500)),
    Column("landing_page_url", Text),
    Column("tracking_phone_number", String(32), comment="the number the caller dialled"),
    Column("session_id", String(64), comment="web session id when the call was tracked to a visit"),
    Column("lead_status", String(64), comment="good_lead, not_a_lead, ... or empty"),
    Column("value", String(64), comment='text as exported: "125.00", "$125", ""'),
    Column("spam", Boolean),
)

text_messages = _source_table(
    "text_messages",
    "created_at",
    Column("id", String(64), nullable=False),
    Column("conversation_id", String(64)),
    Column("company_id", String(64)),
    Column("created_at", DateTime, nullable=False, comment="UTC"),
    Column("direction", String(16)),
    Column("customer_phone_number", String(64), comment="PII"),
    Column("customer_name", String(200), comment="PII"),
    Column("source", String(100)),
    Column("medium", String(100)),
    Column("campaign", String(200)),
    Column("fbclid", String(500)),
    Column("tracking_phone_number", String(32)),
    Column("lead_status", String(64)),
)

form_submissions = _source_table(
    "form_submissions",
    "submitted_at",
    Column("id", String(64), nullable=False),
    Column("company_id", String(64)),
    Column("submitted_at", DateTime, nullable=False, comment="UTC"),
    Column("customer_name", String(200), comment="PII"),
    Column("customer_email", String(320), comment="PII"),
    Column("customer_phone_number", String(64), comment="PII"),
    Column("form_name", String(200)),
    Column("form_url", Text),
    Column("landing_page_url", Text),
    Column("referrer", Text),
    Column("source", String(100)),
    Column("medium", String(100)),
    Column("campaign", String(200)),
    Column("fbclid", String(500)),
    Column("gclid", String(500)),
    Column("session_id", String(64)),
    Column("lead_status", String(64)),
    Column("value", String(64)),
    Column("first_form", Boolean),
    Column("form_data", Text, comment="JSON text of the submitted fields (may hold PII)"),
)

web_sessions = _source_table(
    "web_sessions",
    "started_at",
    Column("id", String(64), nullable=False),
    Column("visitor_id", String(64)),
    Column("started_at", DateTime, nullable=False, comment="UTC"),
    Column("last_activity_at", DateTime, comment="UTC"),
    Column("landing_page_url", Text),
    Column("referrer_url", Text),
    Column("fbclid", String(500)),
    Column("fbc", String(600), comment="_fbc cookie, fb.1.<ms>.<fbclid>"),
    Column("fbp", String(200), comment="_fbp cookie"),
    Column("client_ip_address", String(64)),
    Column("client_user_agent", Text),
    Column("utm_source", String(100)),
    Column("utm_medium", String(100)),
    Column("utm_campaign", String(200)),
    Column("tracking_phone_number", String(32), comment="number shown to this visitor (dynamic number insertion)"),
)

orders = _source_table(
    "orders",
    "created_at",
    Column("id", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False, comment="UTC"),
    Column("status", String(32), comment="paid, fulfilled, refunded, cancelled, test"),
    Column("channel", String(16), comment="online, in_store, phone"),
    Column("currency", String(8), comment="ISO 4217 as exported"),
    Column("total", Money),
    Column("customer_id", String(64)),
    Column("email", String(320), comment="PII"),
    Column("phone", String(64), comment="PII"),
    Column("first_name", String(100), comment="PII"),
    Column("last_name", String(100), comment="PII"),
    Column("city", String(100), comment="PII"),
    Column("state", String(100), comment="PII"),
    Column("postal_code", String(32), comment="PII"),
    Column("country", String(100), comment="PII"),
    Column("fbclid", String(500)),
    Column("fbc", String(600)),
    Column("fbp", String(200)),
    Column("client_ip_address", String(64)),
    Column("client_user_agent", Text),
    Column("session_id", String(64)),
    Column("event_source_url", Text),
)

order_items = Table(
    "order_items",
    metadata,
    Column("order_id", String(64), nullable=False),
    Column("line_id", String(64), nullable=False),
    Column("product_id", String(64)),
    Column("sku", String(64)),
    Column("title", String(300)),
    Column("quantity", Integer),
    Column("unit_price", Money),
)
Index("ix_order_items_order_id", order_items.c.order_id)

UPDATED_AT = "source_updated_at"
"""Staged column holding the export's updated-at / load-order time (from UPDATED_AT_COLUMNS)."""
UPDATED_AT_COLUMNS = ("updated_at", "_loaded_at", "loaded_at", "_fivetran_synced", "_airbyte_extracted_at")
"""Optional columns of a source table, first found wins: when the export has one, the latest row
stands for a repeated id (see events.build.pick_duplicates). Not part of the required contract."""

SOURCE_TABLES: dict[str, Table] = {
    t.name: t for t in (calls, text_messages, form_submissions, web_sessions, orders)
}
"""Source tables that carry their own timestamp, keyed by name."""

ALL_SOURCE_TABLES: tuple[Table, ...] = (*SOURCE_TABLES.values(), order_items)


def time_column(table: Table) -> Column:
    """The UTC timestamp column that places a source row in a partition-day."""
    return table.c[table.info["time_column"]]


# --- Extract results: the day's source rows with customer information hashed ---------------
#
# The extract step is the only place raw phones, emails and names are read. It writes these
# ``stg_*`` tables, in which every customer-information column is replaced by the SHA-256 of its
# Meta-normalized form (see conversions_pipeline.identity), so nothing downstream sees raw PII.


PII_COLUMNS: dict[str, dict[str, str]] = {
    # source column -> user_data key ("name" is a full name split into fn and ln)
    "calls": {"customer_phone_number": "ph", "customer_name": "name", "customer_city": "ct",
              "customer_state": "st", "zip_code": "zp", "customer_country": "country"},
    "text_messages": {"customer_phone_number": "ph", "customer_name": "name"},
    "form_submissions": {"customer_email": "em", "customer_phone_number": "ph", "customer_name": "name",
                         "form_data": None},
    "orders": {"email": "em", "phone": "ph", "first_name": "fn", "last_name": "ln", "city": "ct",
               "state": "st", "postal_code": "zp", "country": "country", "customer_id": "external_id"},
    "web_sessions": {},
}


def _staged_table(source: Table) -> Table:
    pii = PII_COLUMNS[source.name]
    keys: list[str] = []
    for key in pii.values():
        for k in (("fn", "ln") if key == "name" else (key,) if key else ()):
            if k not in keys:
                keys.append(k)
    if "ph" in keys and "country" not in keys:
        keys.append("country")  # from the phone number's calling code (identity.phone_countries)
    columns = [Column("partition_date", Date, nullable=False, comment="partition-day (in the partitions' time zone)")]
    columns += [Column(c.name, c.type, comment=c.comment) for c in source.columns if c.name not in pii]
    columns.append(Column(UPDATED_AT, DateTime,
                          comment="the export's updated-at or load-order time when the source table has one "
                                  "(see UPDATED_AT_COLUMNS); decides which duplicate row stands for an id"))
    columns += [Column(k, String(64), comment=f"SHA-256 of the normalized {k}" + (
        " (the record's own, else its phone number's country)" if k == "country" else ""))
        for k in HASHED_KEYS if k in keys]
    if keys:
        columns += [
            Column("dropped_keys", Text, comment="key:reason;... for customer information that was not usable"),
            Column("region_country", String(2), comment="ISO alpha-2 of the record (lower case), unhashed"),
            Column("region_state", String(8), comment="state/province code (lower case), unhashed, for LDU"),
            Column("is_test", Boolean, comment="test call/order recognised in the raw row"),
        ]
    table = Table(f"stg_{source.name}", metadata, *columns)
    table.info.update(source=source.name, time_column=source.info["time_column"], keys=tuple(keys))
    Index(f"ix_stg_{source.name}_day", table.c.partition_date)
    return table


STAGED_TABLES: dict[str, Table] = {name: _staged_table(t) for name, t in SOURCE_TABLES.items()}

stg_order_items = Table(
    "stg_order_items",
    metadata,
    Column("partition_date", Date, nullable=False),
    *[Column(c.name, c.type) for c in order_items.columns],
)
Index("ix_stg_order_items_day", stg_order_items.c.partition_date)


# --- Events: one row per candidate Conversions API event and pixel, per partition-day -----------

server_events = Table(
    "server_events",
    metadata,
    Column("partition_date", Date, nullable=False, comment="partition-day the source row belongs to"),
    Column("pixel_id", String(64), nullable=False, comment="Meta pixel (dataset) id the event goes to"),
    Column("event_id", String(64), nullable=False,
           comment="deterministic id from source table, source id and event name (Meta deduplicates on it)"),
    Column("event_name", String(100), nullable=False, comment="Meta standard or custom event name"),
    Column("event_time", BigInteger, nullable=False, comment="Unix seconds, UTC, of the lead or order"),
    Column("action_source", String(32), nullable=False, comment="one of Meta's allowed action sources"),
    Column("user_data", Text, nullable=False,
           comment="JSON: hashed em, ph, fn, ln, ct, st, zp, country, external_id; unhashed fbc, fbp, IP, UA"),
    Column("custom_data", Text, comment="JSON: value, currency, order_id, contents, ..."),
    Column("options", Text, comment="JSON: opt_out, data_processing_options and their country/state"),
    Column("event_source_url", Text, comment="page of the conversion (website events)"),
    Column("source_table", String(64), nullable=False, comment="warehouse table the event came from, e.g. calls"),
    Column("source_id", String(64), nullable=False, comment="id of the row in source_table"),
    Column("merged_session_id", String(64), comment="web session tied to the lead (by id or tracking number)"),
    Column("session_tie", String(32),
           comment="session_id or tracking_number (how the visit was tied), ambiguous_tracking_number (several "
                   "visits showed the number: not tied), empty (nothing to tie by)"),
    Column("facebook_credited", Boolean,
           comment="the source system credits Facebook (source, medium or campaign say so, "
                   "or a click id came with it)"),
    Column("match_keys", String(200), comment="comma-separated user_data keys present"),
    Column("status", String(16), nullable=False, comment="eligible, or skipped"),
    Column("reason", String(100), comment="why skipped (spam, test, too_old, no_match_keys, ...)"),
    Column("note", String(200), comment="why an eligible event looks the way it does (e.g. action_source other)"),
    Column("payload_hash", String(64), comment="SHA-256 of the payload fields; changes when the event would"),
    Column("built_at", DateTime, nullable=False, comment="when the events step built this row, UTC"),
)
# (day, pixel, event): the upload pages through a day in (pixel_id, event_id) order straight off this
# index, and every join to the ledger is within a day. One index only: each costs the day's write.
Index("ix_server_events_day_event", server_events.c.partition_date, server_events.c.pixel_id, server_events.c.event_id)

capi_suppression = Table(
    "capi_suppression",
    metadata,
    Column("key", String(16), nullable=False, comment="em or ph"),
    Column("hashed_value", String(64), nullable=False, comment="SHA-256 of the normalized email or phone"),
    Column("reason", String(200), comment="why (opt-out request, legal hold, ...)"),
    Column("added_at", DateTime, comment="UTC"),
)
Index("ix_capi_suppression_value", capi_suppression.c.hashed_value)


# --- Upload ledger: what happened to every event, and every request ------------------------------

capi_events = Table(
    "capi_events",
    metadata,
    Column("partition_date", Date, nullable=False, comment="partition-day of the event"),
    Column("pixel_id", String(64), nullable=False, comment="pixel (dataset) the event is for"),
    Column("event_id", String(64), nullable=False, comment="deterministic event id (server_events.event_id)"),
    Column("event_name", String(100), nullable=False, comment="Meta event name"),
    Column("event_time", BigInteger, comment="Unix seconds, UTC"),
    Column("source_table", String(64), nullable=False, comment="warehouse table the event came from, e.g. calls"),
    Column("source_id", String(64), nullable=False, comment="id of the row in source_table"),
    Column("status", String(16), nullable=False,
           comment="accepted (Meta received it), rejected (Meta refused it), skipped (never sent), pending, "
                   "or retracted (accepted, then its source became ineligible or disappeared)"),
    Column("reason", String(100), comment="why skipped or rejected (skip reason, or Meta's error)"),
    Column("batch_id", String(40), comment="last request (capi_batches.batch_id) that carried the event"),
    Column("attempts", Integer, nullable=False, default=0, comment="requests that carried the event"),
    Column("match_keys", String(200), comment="user_data keys sent"),
    Column("error_code", Integer, comment="Meta error code when rejected"),
    Column("error_subcode", Integer, comment="Meta error subcode when rejected"),
    Column("error_message", Text, comment="Meta's message when rejected"),
    Column("fbtrace_id", String(64), comment="Meta trace id of the request that settled the event"),
    Column("sent_at", DateTime, comment="UTC time the event was last sent"),
    Column("updated_at", DateTime, nullable=False, comment="UTC time of the last change"),
    Column("first_seen_at", DateTime, comment="UTC time the ledger first saw the event"),
    Column("first_sent_at", DateTime, comment="UTC time the event was first sent"),
    Column("last_attempt_at", DateTime, comment="UTC time of the last request that carried the event"),
    Column("accepted_at", DateTime, comment="UTC time the destination accepted it (kept when retracted)"),
    Column("payload_hash", String(64), comment="payload_hash of the event as last sent"),
    Column("destination", String(16), comment="meta or emulator: who accepted or rejected it"),
)
Index("ux_capi_events_event", capi_events.c.pixel_id, capi_events.c.event_id, unique=True)
# By day only: an indexed status would make every outcome an index insert (PostgreSQL cannot update
# a row in place, "HOT", when an indexed column changes); see also warehouse.engine.STORAGE_OPTIONS.
Index("ix_capi_events_partition", capi_events.c.partition_date)

capi_batches = Table(
    "capi_batches",
    metadata,
    Column("batch_id", String(40), nullable=False, comment="one row per request attempt"),
    Column("partition_date", Date, nullable=False),
    Column("pixel_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False, comment="1 for the first try of this batch, then retries"),
    Column("events_sent", Integer, nullable=False),
    Column("http_status", Integer, comment="HTTP status; empty when no response came back"),
    Column("events_received", Integer, comment="Meta's events_received"),
    Column("flagged", Boolean, nullable=False, default=False, comment="events_received differs from events_sent"),
    Column("outcome", String(16), nullable=False,
           comment="accepted; split (refused for a bad event, bisected); rejected (a single bad event); "
                   "throttle, transient or network_error (retried); fatal (token, permission)"),
    Column("messages", Text, comment="JSON list of Meta's messages"),
    Column("fbtrace_id", String(64)),
    Column("error_code", Integer),
    Column("error_subcode", Integer),
    Column("error_message", Text),
    Column("duration_ms", Integer),
    Column("started_at", DateTime, nullable=False, comment="UTC"),
    Column("destination", String(16), comment="meta, emulator or dry_run"),
)
Index("ix_capi_batches_day", capi_batches.c.partition_date)


# --- Quality: every expectation evaluated by the asset checks, per partition-day -------------------

dq_results = Table(
    "dq_results",
    metadata,
    Column("partition_date", Date, nullable=False, comment="partition-day the check ran on"),
    Column("asset", String(64), nullable=False, comment="asset key, e.g. extract/calls or events/server_events"),
    Column("check_name", String(64), nullable=False, comment="Dagster asset check: structure, coverage or delivery"),
    Column("expectation", String(200), nullable=False, comment="GX expectation and the column(s) it looks at"),
    Column("severity", String(8), nullable=False, comment="ERROR (blocks what follows) or WARN"),
    Column("success", Boolean, nullable=False),
    Column("observed_value", Text, comment="GX's observed value (a count, a share), or why the suite could not run"),
    Column("unexpected_count", BigInteger),
    Column("unexpected_percent", Numeric(9, 4, asdecimal=False)),
    Column("examples", Text, comment="at most three unexpected values, masked (ids, or shapes such as 999-9999)"),
    Column("run_id", String(64), comment="Dagster run id"),
    Column("checked_at", DateTime, nullable=False, comment="UTC"),
)
Index("ix_dq_results_day", dq_results.c.partition_date, dq_results.c.asset, dq_results.c.check_name)

# --- Facebook's side: what Ads Manager and Events Manager report back -----------------------------

facebook_insights = Table(
    "facebook_insights",
    metadata,
    Column("partition_date", Date, nullable=False, comment="day of the conversion (action_report_time=conversion)"),
    Column("ad_account_id", String(32), nullable=False),
    Column("action_type", String(100), nullable=False, comment="e.g. offsite_conversion.fb_pixel_lead"),
    Column("attribution_setting", String(64), nullable=False, comment="windows summed in value, e.g. 7d_click,1d_view"),
    Column("value", BigInteger, nullable=False, comment="conversions Ads Manager attributes (sum of the windows)"),
    Column("value_by_window", Text, comment="JSON: the count per attribution window"),
    Column("read_at", DateTime, nullable=False, comment="UTC; Meta restates a day for up to 28 days, so it is re-read"),
)
Index("ix_facebook_insights_day", facebook_insights.c.partition_date)

dataset_quality = Table(
    "dataset_quality",
    metadata,
    Column("partition_date", Date, nullable=False, comment="day the figures were read for"),
    Column("pixel_id", String(64), nullable=False),
    Column("event_name", String(100), nullable=False),
    Column("composite_score", Numeric(4, 1, asdecimal=False), comment="Event Match Quality, 0 to 10"),
    Column("match_key_feedback", Text, comment="JSON: per key (email, phone, ...), coverage percentage"),
    Column("event_coverage_percentage", Numeric(6, 2, asdecimal=False)),
    Column("dedupe_key_feedback", Text, comment="JSON, as Meta returns it"),
    Column("upload_frequency", String(32), comment="data freshness"),
    Column("read_at", DateTime, nullable=False),
)
Index("ix_dataset_quality_day", dataset_quality.c.partition_date)

facebook_reads = Table(
    "facebook_reads",
    metadata,
    Column("partition_date", Date, nullable=False),
    Column("source", String(32), nullable=False, comment="facebook_insights or dataset_quality"),
    Column("status", String(16), nullable=False, comment="ok, empty, not_configured or error"),
    Column("message", Text, comment="what was read, or why not (token redacted)"),
    Column("read_at", DateTime, nullable=False),
)
Index("ix_facebook_reads_day", facebook_reads.c.partition_date, facebook_reads.c.source)

run_failures = Table(
    "run_failures",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("job_name", String(100), nullable=False),
    Column("partition_date", Date, comment="the run's partition-day"),
    Column("step", String(200), comment="the step that failed"),
    Column("cause", Text, comment="one line: the error's class and first line"),
    Column("failed_at", DateTime, nullable=False, comment="UTC"),
)
Index("ix_run_failures_day", run_failures.c.partition_date)

PIPELINE_TABLES: tuple[Table, ...] = (*STAGED_TABLES.values(), stg_order_items, server_events, capi_suppression,
                                      capi_events, capi_batches, dq_results, facebook_insights, dataset_quality,
                                      facebook_reads, run_failures)
"""The tables the pipeline writes (created and migrated by ``init-db``, never by a run)."""
