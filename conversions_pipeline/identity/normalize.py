"""The public entry points: one field normalized (and hashed) with the reason each value is not
sent, and every user_data key of a frame at once."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .country import _country_table, _norm_country, _regions
from .email import _norm_email
from .hashing import hash_values
from .names import _norm_name
from .personal import _norm_dob, _norm_external_id, _norm_gender
from .phone import _nanp, _norm_phone, phone_countries
from .places import _norm_city, _norm_state, _norm_zip, _state_tables
from .text import (
    _LS,
    _NULL,
    MISSING,
    STRING,
    _arrow,
    _encode,
    _is_sha256,
    _on_uniques,
    _prepare,
    _series,
    _text,
)

FIELDS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "ge", "db", "external_id")
"""Meta user_data keys this module normalizes; all of them are sent hashed."""

DEFAULT_REGION = "US"


_BY_UNIQUE = frozenset({"fn", "ln", "ct", "st", "zp", "country", "ge", "db"})
"""Fields with few distinct values in practice: normalized (and hashed) once per distinct value."""
_REGIONAL = frozenset({"ph", "st", "zp"})
"""Fields whose rules depend on the record's country."""


def _normalize_direct(field: str, values, region: pd.Series | None) -> pd.DataFrame:
    text = _prepare(values)
    hashed = _is_sha256(text)
    work = text.mask(hashed) if hashed.any() else text
    if field == "em":
        out = _norm_email(work)
    elif field == "external_id":
        out = _norm_external_id(work)
    elif field == "ph":
        out = _norm_phone(work, region)
    elif field in ("fn", "ln"):
        out = _on_uniques(lambda u, _: _norm_name(u), work)
    elif field == "ct":
        out = _on_uniques(_norm_city, work)
    elif field == "st":
        out = _on_uniques(_norm_state, work, region)
    elif field == "zp":
        out = _on_uniques(_norm_zip, work, region)
    elif field == "country":
        out = _on_uniques(_norm_country, work)
    elif field == "ge":
        out = _on_uniques(_norm_gender, work)
    else:  # db
        out = _on_uniques(_norm_dob, work)
    value, reason, raw = _arrow(out["value"]), _arrow(out["reason"]), _arrow(text)
    if hashed.any():
        already = pa.array(hashed.to_numpy())
        value = pc.if_else(already, pc.ascii_lower(raw), value)
        reason = pc.if_else(already, _NULL, reason)
    reason = pc.if_else(pc.is_valid(raw), reason, pa.scalar(MISSING, _LS))
    reason = pc.if_else(pc.is_valid(value), _NULL, reason)
    return pd.DataFrame({"value": _series(value, text.index), "reason": _series(reason, text.index)},
                        index=text.index)


def regions(country, index, default_region: str = DEFAULT_REGION) -> pd.Series:
    """Per-record region (ISO alpha-2, upper case) from the record's country, else the default.

    Compute it once and pass it as ``region=`` when normalizing several fields of one frame.
    """
    return _regions(country, index, default_region)


def _normalize(field: str, values, country, default_region: str, hashed: bool = False,
               region: pd.Series | None = None, categorical: bool = False) -> pd.DataFrame:
    if field not in FIELDS:
        raise ValueError(f"unknown user_data field {field!r}; expected one of {', '.join(FIELDS)}")
    raw = _text(values)
    if field not in _REGIONAL:
        region = None
    elif region is None:
        region = _regions(country, raw.index, default_region)
    if field not in _BY_UNIQUE:
        out = _normalize_direct(field, raw, region)
        if hashed:
            out["value"] = hash_values(out["value"])
        return out
    codes, u_raw, u_region = _encode(raw, region)
    out = _normalize_direct(field, u_raw, u_region)
    if hashed:
        out["value"] = hash_values(out["value"])
    if categorical:  # one string per distinct hash, a small integer code per record
        distinct = pc.dictionary_encode(_arrow(out["value"]))
        record_codes = pc.fill_null(pc.take(distinct.indices, codes), -1).to_numpy(zero_copy_only=False)
        categories = pd.Index(distinct.dictionary.to_pylist(), dtype=object)
        value = pd.Series(pd.Categorical.from_codes(record_codes, categories=categories), index=raw.index)
    else:
        value = _series(pc.take(_arrow(out["value"]), codes), raw.index)
    # per-unique reasons are already empty where a value exists; records without a value are missing
    reason = pc.if_else(pc.is_valid(codes), pc.take(_arrow(out["reason"]), codes), pa.scalar(MISSING, _LS))
    return pd.DataFrame({"value": value, "reason": _series(reason, raw.index)}, index=raw.index)


def normalize_with_reasons(field: str, values, country=None, default_region: str = DEFAULT_REGION,
                           region: pd.Series | None = None) -> pd.DataFrame:
    """Columns ``value`` (normalized, unhashed; NA where not sendable) and ``reason`` (why dropped).

    ``country`` is the record's own country as the source gave it (a Series aligned with
    ``values``, one string, or None); it picks the phone region and the state and ZIP rules.
    A value that already is a SHA-256 hex digest passes through lowercased.
    """
    return _normalize(field, values, country, default_region, region=region)


def hash_with_reasons(field: str, values, country=None, default_region: str = DEFAULT_REGION,
                      region: pd.Series | None = None) -> pd.DataFrame:
    """Like :func:`normalize_with_reasons`, with ``value`` the SHA-256 of the normalized value.

    The faster path for sending: fields with few distinct values are hashed once per value.
    """
    return _normalize(field, values, country, default_region, hashed=True, region=region)


def normalize(field: str, values, country=None, default_region: str = DEFAULT_REGION) -> pd.Series:
    """Normalized, unhashed strings (Arrow-backed), missing wherever the value must not be sent."""
    return normalize_with_reasons(field, values, country, default_region)["value"]


def hash_user_data(records: pd.DataFrame, country=None, default_region: str = DEFAULT_REGION,
                   threads: int = 2, country_from_phone: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hash every user_data key column of ``records`` (columns named em, ph, fn, ...).

    Returns ``(hashed, reasons)``: SHA-256 hex per key (NA where not sendable) and why each
    missing key was dropped. Keys with few distinct values (names, city, state, ZIP, country,
    gender, birth date) come back as pandas ``Categorical`` columns of hex strings: one string per
    distinct hash, so a million records do not carry a million copies of the same 64 characters.
    ``country`` defaults to the frame's own ``country`` column. Keys run on ``threads`` threads:
    the Arrow and DuckDB kernels release the GIL.

    ``country_from_phone``: where the record gives no usable country, send the country of its
    normalized phone number (Meta asks for country on every event; the phone's calling code is
    evidence, the default region alone is not).
    """
    from concurrent.futures import ThreadPoolExecutor

    keys = [k for k in FIELDS if k in records.columns]
    if country is None and "country" in records.columns:
        country = records["country"]
    region = _regions(country, records.index, default_region)
    _nanp(), _state_tables(), _country_table()  # build the shared lookup tables before threads start

    fill_country = country_from_phone and "ph" in keys

    def run(key: str) -> pd.DataFrame:
        if key == "ph" and fill_country:  # the unhashed number is needed once more, for its country
            out = _normalize(key, records[key], None, default_region, region=region)
            out["country"] = phone_countries(out["value"])
            out["value"] = hash_values(out["value"])
            return out
        return _normalize(key, records[key], None, default_region, hashed=True, region=region, categorical=True)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = dict(zip(keys, pool.map(run, keys)))
    if fill_country:
        own = results["country"] if "country" in results else pd.DataFrame(
            {"value": pd.Series(pd.NA, index=records.index, dtype=STRING),
             "reason": pd.Series(MISSING, index=records.index, dtype=STRING)})
        own_value = own["value"].astype(object)
        derived = hash_values(results["ph"]["country"])
        fill = own_value.isna().to_numpy() & derived.notna().to_numpy()
        value = own_value.where(~fill, derived.astype(object))
        results["country"] = pd.DataFrame({"value": value.astype(STRING), "reason": own["reason"].mask(fill)})
        if "country" not in keys:
            keys.append("country")
    hashed = pd.DataFrame({k: results[k]["value"] for k in keys}, index=records.index)
    reasons = pd.DataFrame({k: results[k]["reason"] for k in keys}, index=records.index)
    return hashed, reasons
