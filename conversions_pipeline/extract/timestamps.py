"""Source timestamps, read the same way on every warehouse (pure pandas).

Accepted, in a text or timestamp column alike:

* ISO 8601 dates and times: ``YYYY-MM-DD``, then optionally ``T`` or a space and ``HH:MM``,
  ``HH:MM:SS`` or ``HH:MM:SS.ffffff`` (up to nanoseconds);
* optionally followed by ``Z`` or an offset (``+02:00``, ``-0500``, ``+02``): converted to UTC;
* without a zone the value is taken as UTC (the warehouse contract stores UTC);
* native timestamp values (``timestamp`` and ``timestamptz`` columns on PostgreSQL).

Anything else (``2026/11/29 10:00``, ``11/29/2026``, an epoch number, an empty string, NULL, a date
that does not exist) belongs to no partition-day: it is never extracted, and it is counted, with
the shape of the value (digits as 9, letters as a; never the value itself), in the extract
metadata.
"""

from __future__ import annotations

import pandas as pd

ISO_PATTERN = (r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
               r"(?:Z|[+-]\d{2}(?::?\d{2})?)?")
"""The accepted text shape (checked with a full match after trimming)."""


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Naive UTC ``datetime64[us]``; NaT where the value is not an accepted timestamp."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values if getattr(values.dt, "tz", None) is None else values.dt.tz_convert("UTC").dt.tz_localize(None)
        return out.astype("datetime64[us]")
    text = values.astype("string").str.strip()
    text = text.where(text.str.fullmatch(ISO_PATTERN).fillna(False).astype(bool))
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    return parsed.dt.tz_localize(None).astype("datetime64[us]")


def shape(value) -> str:
    """What an unreadable value looks like without what it says: ``99/99/9999 99:99``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "<null>"
    text = str(value)
    if not text.strip():
        return "<empty>"
    out = "".join("9" if c.isdigit() else "a" if c.isalpha() else c for c in text[:40])
    return out + ("..." if len(text) > 40 else "")
