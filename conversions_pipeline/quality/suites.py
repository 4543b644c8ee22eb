"""The expectation suites, defined in code (pure: frames in, GX expectations out).

Each function takes the partition-day's rows and returns ``(suite name, frame, expectations)``.
Structural expectations are ``critical`` (ERROR: a failure blocks what follows); coverage and
delivery expectations are ``warning`` (WARN: recorded, never blocking), with thresholds from
:class:`Thresholds`. Derived columns hold a value only for the rows a rule is about and NULL
elsewhere: GX's column expectations skip NULLs, so each share is a share of the right rows.
"""

from __future__ import annotations

from datetime import datetime

import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from ..events.build import valid_currency
from ..meta import ACTION_SOURCES, FBC_PATTERN, HASHED_KEYS, MAX_FUTURE_SECONDS, max_age_seconds
from .thresholds import Thresholds

ERROR, WARN = "critical", "warning"
HEX64 = r"^[0-9a-f]{64}$"
EVENT_NAME_REGEX = r"^[A-Za-z0-9_][A-Za-z0-9_ \-]{0,49}$"
STRONG_KEYS = ("em", "ph", "fbc", "external_id")


def _where(mask: pd.Series, values) -> pd.Series:
    """``values`` on the rows of ``mask``, NULL elsewhere (GX column expectations skip NULLs)."""
    values = pd.Series(values, index=mask.index)
    return values.astype(object).where(mask.to_numpy(), None)


def _times(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce").astype("datetime64[us]")


# --- extract/* ---------------------------------------------------------------------------------------

def extract_structure_columns(table: sa.Table) -> list[str]:
    """The staged columns :func:`extract_structure` looks at."""
    return ["partition_date", "id", table.info["time_column"], *HASHED_KEYS]


EXTRACT_COVERAGE_COLUMNS = ("id", "dropped_keys", "ph", "em", "currency")
EVENTS_STRUCTURE_COLUMNS = ("pixel_id", "event_id", "event_name", "action_source", "status", "event_time",
                            "custom_data", "user_data", "match_keys")
EVENTS_COVERAGE_COLUMNS = ("status", "match_keys", "facebook_credited", "event_name", "custom_data")


_VALID_HASH = "0" * 64


def extract_structure_rows(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    """A chunk of staged rows as :func:`extract_structure`'s expectations read them: the time as a
    timestamp, each hashed key as it is when it is not a 64-hex digest (or NULL) and one shared
    valid digest otherwise (the same verdicts and counts, a pointer per row instead of a string)."""
    time_col = table.info["time_column"]
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        if name == time_col:
            out[name] = _times(frame[name])
        elif name == "partition_date":  # one value per day: a small code per row
            out[name] = frame[name].astype("category")
        elif name in HASHED_KEYS:
            text = frame[name].astype("string[pyarrow]")
            valid = text.str.fullmatch(HEX64[1:-1]).fillna(False).astype(bool).to_numpy()
            values = frame[name].astype(object).where(frame[name].notna(), None).to_numpy(copy=True)
            values[valid] = _VALID_HASH
            # object dtype said out loud: pandas 3 would infer its str dtype and copy the digest
            # into every row (64 bytes per key and row instead of one pointer)
            out[name] = pd.Series(values, index=frame.index, dtype=object)
        else:
            out[name] = frame[name]
    return out


def extract_structure(frame, table: sa.Table, start: datetime, end: datetime, expected_rows: int | None):
    """``frame``: the day's staged rows (the columns of :func:`extract_structure_columns`), or an
    iterable of chunks of them, each reduced as it comes."""
    time_col = table.info["time_column"]
    chunks = [frame] if isinstance(frame, pd.DataFrame) else frame
    reduced = [extract_structure_rows(chunk, table) for chunk in chunks]
    frame = pd.concat(reduced, ignore_index=True) if len(reduced) > 1 else reduced[0]
    expectations = [gxe.ExpectColumnToExist(column=c.name, severity=ERROR)
                    for c in table.columns if c.name in ("partition_date", "id", time_col)]
    expectations += [
        gxe.ExpectColumnValuesToNotBeNull(column="id", severity=ERROR),
        gxe.ExpectColumnValuesToNotBeNull(column=time_col, severity=ERROR),
        gxe.ExpectColumnValuesToBeBetween(column=time_col, min_value=pd.Timestamp(start), max_value=pd.Timestamp(end),
                                          strict_max=True, severity=ERROR),
    ]
    for key in HASHED_KEYS:
        if key in table.c:
            expectations.append(gxe.ExpectColumnValuesToMatchRegex(column=key, regex=HEX64, severity=ERROR))
    if expected_rows is not None:
        expectations.append(gxe.ExpectTableRowCountToEqual(value=int(expected_rows), severity=ERROR))
    return [(f"structure_{table.name}", frame, expectations)]


def extract_coverage(frame: pd.DataFrame, table: sa.Table, thresholds: Thresholds):
    dropped = (frame["dropped_keys"].fillna("").astype(str) if "dropped_keys" in frame
               else pd.Series("", index=frame.index))
    derived = pd.DataFrame({"id": frame["id"]}, index=frame.index)
    expectations = [gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(
        column="id", min_value=1 - thresholds.max_duplicate_share, severity=WARN)]
    for key, share in (("ph", thresholds.min_phone_normalized), ("em", thresholds.min_email_normalized)):
        if key in table.c:
            attempted = frame[key].notna() | dropped.str.contains(f"(?:^|;){key}:", regex=True)
            derived[f"{key}_normalized"] = _where(attempted, frame[key].notna())
            expectations.append(gxe.ExpectColumnValuesToBeInSet(column=f"{key}_normalized", value_set=[True],
                                                                mostly=share, severity=WARN))
    if "currency" in frame:
        derived["currency_valid"] = valid_currency(frame["currency"]).notna().astype(object)
        expectations.append(gxe.ExpectColumnValuesToBeInSet(column="currency_valid", value_set=[True],
                                                            mostly=thresholds.min_valid_currency_share,
                                                            severity=WARN))
    return [(f"coverage_{table.name}", derived, expectations)]


# --- events/server_events ----------------------------------------------------------------------------

_HASHED_PAIR = r'"(' + "|".join(HASHED_KEYS) + r')": "([^"]*)"'
_BAD_HASHED_PAIR = (r'"(?:' + "|".join(HASHED_KEYS) + r')": "(?:[^"]{0,63}"|[^"]{65,}"|[^"]*[^0-9a-f"][^"]*")')


def _unhashed_key(user_data: pd.Series) -> pd.Series:
    """Per event, the first hashed key whose value is not 64 lowercase hex characters, else NULL."""
    text = user_data.astype("string[pyarrow]")
    # one RE2 pass finds the rows with a hashed key whose value is not 64 lowercase hex characters
    # (shorter, longer, or any other character); only those rows are taken apart
    suspect = text.str.contains(_BAD_HASHED_PAIR, regex=True).fillna(False).astype(bool).to_numpy()
    if not suspect.any():
        return pd.Series(None, index=user_data.index, dtype=object)
    pairs = user_data[suspect].fillna("").astype(str).str.extractall(_HASHED_PAIR)
    if pairs.empty:
        return pd.Series(None, index=user_data.index, dtype=object)
    bad = pairs[~pairs[1].str.fullmatch(HEX64[1:-1])]
    first = bad.groupby(level=0)[0].first()
    return pd.Series(first, index=user_data.index).astype(object).where(lambda s: s.notna(), None)


def events_structure(frame, now: datetime):
    """``frame``: the day's server_events columns, or an iterable of chunks of them (a day can be
    millions of events: each chunk is reduced to the compact columns the expectations read as it
    comes, so the events' JSON is never all in memory at once)."""
    chunks = [frame] if isinstance(frame, pd.DataFrame) else frame
    derived = [events_structure_rows(chunk, now) for chunk in chunks]
    if not derived:
        derived = [events_structure_rows(pd.DataFrame(columns=list(EVENTS_STRUCTURE_COLUMNS)), now)]
    derived = pd.concat(derived, ignore_index=True) if len(derived) > 1 else derived[0]
    return [("structure_server_events", derived, _events_structure_expectations())]


def _extract(values: pd.Series, pattern: str) -> pd.Series:
    """The group ``v`` of ``pattern`` in each text (RE2, over the Arrow buffer), NULL where it
    does not match or the text is NULL."""
    text = pa.array(values.astype("string[pyarrow]").array)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    found = pc.struct_field(pc.extract_regex(text.cast(pa.large_string()), pattern), [0])  # NULL where no match
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index, dtype=object)


def _shared(values: pd.Series) -> pd.Series:
    """The same strings, one Python object per distinct value (object dtype, never inferred)."""
    codes, uniques = pd.factorize(values)
    out = np.asarray(uniques, dtype=object)[codes] if len(uniques) else np.full(len(values), None, dtype=object)
    out[codes < 0] = None
    return pd.Series(out, index=values.index, dtype=object)


def events_structure_rows(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Per event, the values :func:`events_structure`'s expectations look at, compact: a valid fbc
    is replaced by one valid fbc of the chunk (the same verdicts and counts, a pointer per row)."""
    eligible = frame["status"].eq("eligible")
    age = int(now.timestamp()) - pd.to_numeric(frame["event_time"], errors="coerce")
    sources = frame["action_source"]
    limits = {s: max_age_seconds(s) for s in pd.unique(sources.dropna())}
    limit = sources.map(limits).fillna(0)
    purchase = eligible & frame["event_name"].eq("Purchase")
    value = pd.to_numeric(_extract(frame["custom_data"], r'"value": (?P<v>-?[0-9.eE+-]+)'), errors="coerce")
    currency = _extract(frame["custom_data"], r'"currency": "(?P<v>[A-Za-z]*)"')
    fbc = _extract(frame["user_data"], r'"fbc": "(?P<v>[^"]*)"')
    valid_fbc = fbc.astype("string[pyarrow]").str.contains(FBC_PATTERN, regex=True).fillna(False).astype(bool)
    if valid_fbc.any():
        fbc = fbc.where(~valid_fbc.to_numpy(), fbc[valid_fbc].iloc[0])
    derived = pd.DataFrame({
        "pixel_id": frame["pixel_id"], "event_id": frame["event_id"], "event_name": frame["event_name"],
        "action_source": frame["action_source"],
        "time_in_window": _where(eligible, (age <= limit) & (-age <= MAX_FUTURE_SECONDS)),
        "unhashed_key": _unhashed_key(frame["user_data"]),
        "fbc": fbc,
        "purchase_value_and_currency": _where(purchase, (value >= 0) & currency.astype("string")
                                              .fillna("").str.fullmatch("[A-Z]{3}").astype(bool)),
        "eligible_match_keys": _shared(frame["match_keys"].fillna("").astype(str).where(eligible.to_numpy(), None)),
    }, index=frame.index)
    return derived


def _events_structure_expectations() -> list:
    return [
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["pixel_id", "event_id"], severity=ERROR),
        gxe.ExpectColumnValuesToNotBeNull(column="event_id", severity=ERROR),
        gxe.ExpectColumnValuesToMatchRegex(column="event_name", regex=EVENT_NAME_REGEX, severity=ERROR),
        gxe.ExpectColumnValuesToBeInSet(column="action_source", value_set=sorted(ACTION_SOURCES), severity=ERROR),
        gxe.ExpectColumnValuesToBeInSet(column="time_in_window", value_set=[True], severity=ERROR),
        gxe.ExpectColumnValuesToBeNull(column="unhashed_key", severity=ERROR),
        gxe.ExpectColumnValuesToMatchRegex(column="fbc", regex=FBC_PATTERN, severity=ERROR),
        gxe.ExpectColumnValuesToBeInSet(column="purchase_value_and_currency", value_set=[True], severity=ERROR),
        gxe.ExpectColumnValueLengthsToBeBetween(column="eligible_match_keys", min_value=1, severity=ERROR),
    ]


def events_coverage(frame: pd.DataFrame, thresholds: Thresholds):
    eligible = frame["status"].eq("eligible")
    keys = "," + frame["match_keys"].fillna("").astype(str) + ","
    strong = np.logical_or.reduce([keys.str.contains(f",{k},", regex=False) for k in STRONG_KEYS])
    credited = eligible & frame["facebook_credited"].fillna(False).astype(bool) if "facebook_credited" in frame \
        else pd.Series(False, index=frame.index)
    purchase = frame["event_name"].eq("Purchase")
    derived = pd.DataFrame({
        "strong_key": _where(eligible, strong),
        "facebook_lead_click_id": _where(credited, keys.str.contains(",fbc,", regex=False)),
        "purchase_currency": _where(purchase, frame["custom_data"].fillna("").astype(str)
                                    .str.contains(r'"currency": "[A-Z]{3}"', regex=True)),
    }, index=frame.index)
    expectations = [
        gxe.ExpectColumnValuesToBeInSet(column="strong_key", value_set=[True], mostly=thresholds.min_strong_key_share,
                                        severity=WARN),
        gxe.ExpectColumnValuesToBeInSet(column="facebook_lead_click_id", value_set=[True],
                                        mostly=thresholds.min_facebook_click_id_share, severity=WARN),
        gxe.ExpectColumnValuesToBeInSet(column="purchase_currency", value_set=[True],
                                        mostly=thresholds.min_valid_currency_share, severity=WARN),
    ]
    return [("coverage_server_events", derived, expectations)]


# --- upload/capi_events ------------------------------------------------------------------------------

def upload_delivery(ledger: pd.DataFrame, batches: pd.DataFrame, thresholds: Thresholds):
    sent = ledger["status"].isin(["accepted", "rejected", "pending"])
    events = pd.DataFrame({"status": ledger["status"],
                           "rejected": _where(sent, ledger["status"].eq("rejected"))}, index=ledger.index)
    answered = pd.to_numeric(batches["http_status"], errors="coerce").between(200, 299) & \
        batches["outcome"].isin(["accepted", "unverified"])
    requests = pd.DataFrame({"events_received_equals_sent": _where(
        answered, pd.to_numeric(batches["events_received"], errors="coerce").eq(batches["events_sent"]))},
        index=batches.index)
    return [
        ("delivery_events", events, [
            gxe.ExpectColumnValuesToNotBeInSet(column="status", value_set=["pending"], severity=WARN),
            gxe.ExpectColumnValuesToBeInSet(column="rejected", value_set=[False],
                                            mostly=1 - thresholds.max_rejected_share, severity=WARN),
        ]),
        ("delivery_requests", requests, [
            gxe.ExpectColumnValuesToBeInSet(column="events_received_equals_sent", value_set=[True], severity=WARN),
        ]),
    ]
