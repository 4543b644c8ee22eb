"""Places: city (letters only), state or province (two-letter code in the US and Canada), ZIP
(five digits in the US, compacted elsewhere)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from .text import (
    _JUNK,
    _NULL,
    STRING,
    _arrow,
    _fold,
    _letters_only,
    _mask,
    _rest_from,
    _result,
    _series,
)


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
