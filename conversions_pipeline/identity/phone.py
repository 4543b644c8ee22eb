"""Phones: digits with the country code, no leading zeros (E.164 without "+"), read under the
record's region; and the country a normalized number belongs to."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from .text import (
    _LS,
    _NULL,
    STRING,
    _arrow,
    _buffers,
    _mask,
    _on_uniques,
    _replace_where,
    _result,
    _series,
    _text,
)

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
    with_code = pc.binary_join_element_wise(pa.scalar("1", _LS), national, pa.scalar("", _LS))
    value = _series(pc.if_else(pa.array(ok), with_code, _NULL), text.index)
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
    def regions_of(u: pd.Series, _region) -> pd.DataFrame:
        return _result(u.map(region_of, na_action="ignore").astype(STRING), "phone_region_unknown")

    return _on_uniques(regions_of, k_series)["value"]
