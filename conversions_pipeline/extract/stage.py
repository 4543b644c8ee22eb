"""Turn raw source rows into staged rows: customer information hashed, nothing raw kept (pure)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import identity
from ..warehouse.schema import HASHED_KEYS, PII_COLUMNS

_TEST_NAME = r"(?i)^\s*test\b|\btest\s*(?:call|lead|order|form)\b"


def _source_of(pii: dict[str, str | None], key: str) -> str | None:
    return next((col for col, k in pii.items() if k == key), None)


def stage_frame(source: str, frame: pd.DataFrame, day: date, staged: sa.Table,
                default_region: str = identity.DEFAULT_REGION) -> tuple[pd.DataFrame, pd.Series]:
    """The staged rows for ``frame`` and, per row, the ``key:reason`` list of unusable keys."""
    pii = PII_COLUMNS[source]
    out = pd.DataFrame({c.name: frame[c.name] for c in staged.columns if c.name in frame.columns and c.name not in pii})
    out.insert(0, "partition_date", day)
    for column in staged.columns:
        if isinstance(column.type, sa.Numeric) and column.name in out.columns:
            out[column.name] = _fitting_amount(out[column.name], column.type)
    keys = staged.info["keys"]
    if not keys:
        return out, pd.Series("", index=frame.index)
    country_col = _source_of(pii, "country")
    country = frame[country_col] if country_col else None
    direct = {key: frame[col] for col, key in pii.items() if key in identity.FIELDS}
    # country on every event (Meta asks for it): the record's own, else its phone number's
    hashed, reasons = identity.hash_user_data(pd.DataFrame(direct, index=frame.index), country, default_region,
                                              country_from_phone="ph" in direct)
    name_col = _source_of(pii, "name")
    if name_col:
        names = identity.split_full_name(frame[name_col])
        for key in ("fn", "ln"):
            hashed[key] = identity.hash_values(names[key])
            reasons[key] = names[f"{key}_reason"]
    dropped = pd.Series("", index=frame.index, dtype=object)
    for key in HASHED_KEYS:
        if key not in hashed.columns:
            continue
        out[key] = hashed[key].astype(object).where(hashed[key].notna(), None)
        reason = reasons[key]
        has = reason.notna() & (reason != identity.MISSING)
        dropped = dropped.where(~has, dropped + (key + ":" + reason.fillna("")) + ";")
    out["dropped_keys"] = dropped.str.rstrip(";").replace("", None)
    if country is not None:
        region = identity.country_codes(country)
        out["region_country"] = region.str.lower().astype(object).where(region.notna(), None)
    else:
        out["region_country"] = None
    state_col = _source_of(pii, "st")
    if state_col:
        st = identity.normalize("st", frame[state_col], country, default_region)
        out["region_state"] = st.astype(object).where(st.notna() & (st.str.len() <= 8), None)
    else:
        out["region_state"] = None
    out["is_test"] = _is_test(source, frame, name_col)
    return out, dropped


def _fitting_amount(values: pd.Series, kind: sa.Numeric) -> pd.Series:
    """Amounts as numbers the staged column can hold; text that is not a number, non-finite values
    and values too large for the column become NULL (the events step then skips or drops them)."""
    number = pd.to_numeric(values, errors="coerce").astype("float64")
    limit = 10.0 ** ((kind.precision or 38) - (kind.scale or 0))
    return number.where(np.isfinite(number) & (number.abs() < limit))


def _is_test(source: str, frame: pd.DataFrame, name_col: str | None) -> pd.Series:
    test = pd.Series(False, index=frame.index)
    if name_col:
        test |= frame[name_col].astype("string").str.contains(_TEST_NAME, regex=True).fillna(False).astype(bool)
    if "source" in frame.columns:
        marked = frame["source"].astype("string").str.fullmatch(r"(?i)\s*test(?:[ _]call)?\s*")
        test |= marked.fillna(False).astype(bool)
    if source == "orders":
        test |= frame["status"].astype("string").str.lower().eq("test").fillna(False).astype(bool)
    return test.astype(bool)
