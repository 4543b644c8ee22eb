"""Normalize and hash customer information exactly the way Meta matches it.

Meta finds the person behind an event only when our SHA-256 of a phone, email or name is
byte-identical to the one it computes from its own profile, so every rule here follows Meta's
documented normalization (see ``shared/capi-facts.md`` and Meta's "Customer Information
Parameters" page), not the behaviour of any SDK.

Public API (pure functions, vectorized over pandas; no Dagster):

- :func:`normalize` - normalized, unhashed strings; missing where a value must not be sent.
- :func:`normalize_with_reasons` - the same plus the reason each value was dropped.
- :func:`split_full_name` - ``fn``/``ln`` from "First Last" and caller-ID "LAST,FIRST" names.
- :func:`hash_values` - SHA-256 hex; 64-hex inputs pass through lowercased, never hashed twice.
- :func:`country_codes` - ISO 3166-1 alpha-2 (upper case) from codes and names, for regions.
- :func:`hash_user_data` - every user_data key of a frame, hashed, with reasons.
- :func:`phone_countries` - the country of each normalized phone number.

One module per concern: ``text`` (shared Arrow string helpers, junk values, reasons), ``email``,
``phone``, ``names``, ``places`` (city, state, ZIP), ``country``, ``personal`` (gender, date of
birth, external id), ``hashing``, and ``normalize`` (the entry points that dispatch to them).

Speed: string work runs on Arrow-backed strings; low-cardinality fields (state, city, ZIP,
country, gender, names) are normalized once per distinct value; phones take a vectorized
North-American fast path validated against libphonenumber's own metadata, and only the rest go
through ``phonenumbers.parse``.
"""

from .country import country_codes
from .hashing import hash_values
from .names import split_full_name
from .normalize import (
    DEFAULT_REGION,
    FIELDS,
    hash_user_data,
    hash_with_reasons,
    normalize,
    normalize_with_reasons,
    regions,
)
from .phone import phone_countries
from .text import MISSING, STRING

__all__ = [
    "DEFAULT_REGION", "FIELDS", "MISSING", "STRING", "country_codes", "hash_user_data", "hash_values",
    "hash_with_reasons", "normalize", "normalize_with_reasons", "phone_countries", "regions", "split_full_name",
]
