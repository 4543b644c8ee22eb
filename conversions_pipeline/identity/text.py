"""Text helpers every field shares: raw values as trimmed Arrow strings (junk such as "N/A" read
as missing), work done once per distinct value, and results as value plus the reason it is not sent."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

STRING = pd.StringDtype("pyarrow")

# Reasons a value is not sent (the ledger and the reports show these).
MISSING = "missing"

_SHA256_RE = r"^[0-9A-Fa-f]{64}$"
_JUNK = {"nan", "none", "null", "n/a", "na", "-", "--", "undefined", "unknown", "?", "0"}


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
