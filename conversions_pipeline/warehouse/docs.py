"""Render the warehouse contract (docs/warehouse.md) from the metadata, so the doc never drifts.

    uv run python -m conversions_pipeline.warehouse.docs > docs/warehouse.md
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from .schema import metadata

INTRO = """# Warehouse contract

Generated from `conversions_pipeline/warehouse/schema.py` by
`uv run python -m conversions_pipeline.warehouse.docs > docs/warehouse.md`; a test fails when it is stale.

All timestamps are UTC, stored without a time zone. The same metadata creates the tables on SQLite
and PostgreSQL (`conversions-pipeline init-db`); `WAREHOUSE_SCHEMA` puts them in a PostgreSQL schema.
Source tables have no unique constraint on `id` (exports repeat rows); `id` and the timestamp column
are indexed. Columns marked PII are read only by the extract step, which writes `stg_*` tables with
SHA-256 hashes of the Meta-normalized values instead.
"""


# Meanings of columns that recur across tables (a column's own comment wins).
COMMON = {
    "id": "the source system's id of the row; repeated rows share it",
    "company_id": "call-tracking company (location) the lead belongs to",
    "fbclid": "Facebook click id from the ad's landing URL (case-sensitive)",
    "gclid": "Google Ads click id",
    "source": "lead source as the call-tracking system attributes it",
    "medium": "marketing medium (cpc, paid_social, organic, ...)",
    "campaign": "campaign name",
    "landing_page_url": "first page of the visit that led to the lead",
    "session_id": "web session the lead came from, when the tracker knows it",
    "lead_status": "good_lead, not_a_lead, previously_marked_good_lead or empty",
    "client_user_agent": "browser user agent of the visit (sent unhashed)",
    "client_ip_address": "IP address of the visit, IPv4 or IPv6 (sent unhashed)",
    "visitor_id": "tracker's visitor (cookie) id",
    "value": "lead value as exported: \"125.00\", \"$125\", \"$1,250.50\" or empty",
    "utm_source": "utm_source of the landing URL",
    "utm_medium": "utm_medium of the landing URL",
    "utm_campaign": "utm_campaign of the landing URL",
    "tracking_phone_number": "tracking number shown to or dialled by the visitor (E.164)",
    "total": "order total in `currency`",
    "unit_price": "price of one unit in the order's currency",
    "title": "product title",
    "spam": "marked as spam by the call-tracking system",
    "sku": "stock keeping unit",
    "product_id": "catalogue product id (sent as content id)",
    "quantity": "units ordered",
    "order_id": "`orders.id` of the line",
    "line_id": "line id, unique within the order",
    "referrer": "HTTP referrer of the form page",
    "referrer_url": "HTTP referrer of the landing page",
    "form_url": "URL of the page holding the form",
    "form_name": "form's name in the tracker",
    "first_form": "first form submission from this person",
    "fbp": "Meta browser id cookie `_fbp` (fb.1.<ms>.<random>)",
    "fbc": "Meta click id cookie `_fbc` (fb.1.<click ms>.<fbclid>)",
    "event_source_url": "page where the conversion happened",
    "direction": "inbound or outbound",
    "conversation_id": "SMS conversation (thread) id",
    "answered": "the call was answered",
    "partition_date": "partition-day (in the partitions' time zone)",
    "customer_id": "shop customer id (sent hashed as external_id)",
}


def render() -> str:
    lines = [INTRO]
    for table in metadata.sorted_tables:
        lines.append(f"\n## `{table.name}`\n")
        if table.info.get("time_column"):
            lines.append(f"Partitioned by `{table.info['time_column']}`.\n")
        lines.append("| column | PostgreSQL | SQLite | null | meaning |")
        lines.append("|---|---|---|---|---|")
        for col in table.columns:
            pg = col.type.compile(dialect=postgresql.dialect())
            lite = col.type.compile(dialect=sqlite.dialect())
            comment = (col.comment or COMMON.get(col.name, "")).replace("|", "\\|")
            lines.append(f"| `{col.name}` | {pg} | {lite} | {'yes' if col.nullable else 'no'} | {comment} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
