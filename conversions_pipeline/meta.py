"""Meta's Conversions API rules, in one place: every stage (events, upload, emulator, checks) imports
them from here and keeps no copy of its own. Sources: Meta's developer documentation, summarized in
the project's CAPI facts (``../shared/capi-facts.md`` at development time)."""

from __future__ import annotations

import math
import re

# --- server events ------------------------------------------------------------------------------

ACTION_SOURCES = frozenset({"email", "website", "app", "phone_call", "chat", "physical_store",
                            "system_generated", "business_messaging", "other"})

HASHED_KEYS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "external_id")
"""user_data keys sent as SHA-256 of their normalized form."""
UNHASHED_KEYS = ("fbc", "fbp", "client_ip_address", "client_user_agent")
USER_DATA_KEYS = HASHED_KEYS + UNHASHED_KEYS

MAX_EVENTS_PER_REQUEST = 1000
MAX_AGE_SECONDS = 7 * 86_400
"""An event older than this makes Meta refuse the whole request (error 100/2804003)."""
PHYSICAL_STORE_MAX_AGE_SECONDS = 62 * 86_400
MAX_FUTURE_SECONDS = 60


def max_age_seconds(action_source: str) -> int:
    return PHYSICAL_STORE_MAX_AGE_SECONDS if action_source == "physical_store" else MAX_AGE_SECONDS


MAX_VALUE = 1_000_000_000.0
"""Largest value or order total sent; anything above is treated as a data error, not a sale."""

EVENT_NAME_MAX_LENGTH = 50
_EVENT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ \-]{0,49}$")

FBC_PATTERN = r"^fb\.[0-9]\.[0-9]{10,16}\.\S+$"
"""``fb.<subdomain index>.<click time ms>.<fbclid>`` (we build ``fb.1.``)."""


def usable_value(value: float | None) -> bool:
    """A value or total Meta can take: a finite number between 0 and :data:`MAX_VALUE`."""
    return value is not None and not (isinstance(value, float) and math.isnan(value)) \
        and math.isfinite(value) and 0 <= value <= MAX_VALUE


def check_event_name(name: str) -> str | None:
    """None when ``name`` is a name Meta takes, else why not."""
    if not isinstance(name, str) or not name.strip():
        return "is empty"
    if len(name) > EVENT_NAME_MAX_LENGTH:
        return f"is {len(name)} characters long; Meta allows at most {EVENT_NAME_MAX_LENGTH}"
    if not _EVENT_NAME.match(name):
        return "may hold only letters, digits, spaces, '_' and '-'"
    return None


# --- the Graph API --------------------------------------------------------------------------------

PIXEL_ID_PATTERN = re.compile(r"^[0-9]{1,32}$")
API_VERSION_PATTERN = re.compile(r"^v[0-9]{1,3}\.[0-9]{1,2}$")

TRANSIENT_CODES = frozenset({1, 2})
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
TOKEN_ERROR_CODE = 190
INVALID_PARAMETER_CODE = 100
SUBCODE_TOO_OLD = 2804003
SUBCODE_NOT_ENOUGH_CUSTOMER_INFO = 2804050
SUBCODE_OBJECT_MISSING = 33
