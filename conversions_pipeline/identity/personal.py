"""Gender (f or m), date of birth (YYYYMMDD) and external id."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .text import (
    _NULL,
    MISSING,
    STRING,
    _arrow,
    _fold,
    _mask,
    _rest_from,
    _result,
    _series,
)

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
