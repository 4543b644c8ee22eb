"""Build Conversions API server events from a day's staged rows (pure pandas, no Dagster, no I/O).

Input: the ``stg_*`` rows of one partition-day (customer information already hashed), the web
sessions that can tie to them, the suppression list and the mapping config. Output: one row per
candidate event and pixel, each ``eligible`` or ``skipped`` with a reason. Nothing raw is read here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from ..identity import STRING, hash_values
from ..jsontext import arrow_text, json_strings
from ..meta import ACTION_SOURCES, HASHED_KEYS, MAX_VALUE, USER_DATA_KEYS
from ..warehouse.schema import UPDATED_AT
from .config import FORMAT_TABLES, EventsConfig
from .merge import Visits, merge_sessions

GOOD_LEAD = ("good_lead", "previously_marked_good_lead")
EVENT_COLUMNS = ("pixel_id", "event_id", "event_name", "event_time", "action_source", "user_data", "custom_data",
                 "options", "event_source_url", "source_table", "source_id", "merged_session_id", "session_tie",
                 "facebook_credited", "match_keys", "status", "reason", "note", "payload_hash")

_TIME = {"calls": "start_time", "texts": "created_at", "forms": "submitted_at", "orders": "created_at"}


def event_id(source_table: str, source_id: str, event_name: str) -> str:
    """Deterministic: the same lead gives the same id on every run and re-seed (Meta deduplicates on it)."""
    return hashlib.sha256(f"{source_table}|{source_id}|{event_name}".encode()).hexdigest()[:32]


def event_ids(source_tables: pd.Series, source_ids: pd.Series, event_names: pd.Series) -> pd.Series:
    """:func:`event_id` for many events at once (one vectorized SHA-256 pass)."""
    key = (source_tables.astype(str) + "|" + source_ids.astype(str) + "|" + event_names.astype(str)).astype(object)
    return hash_values(key).str.slice(0, 32).astype(object).to_numpy()


def parse_value(values: pd.Series) -> pd.Series:
    """Lead values as exports land them ("125.00", "$125", "$1,250.50", "") as floats; NA when not a number."""
    text = values.astype("string").str.replace(r"[\s$,]", "", regex=True).str.replace(r"^USD", "", regex=True)
    return pd.to_numeric(text.mask(text == ""), errors="coerce")


def usable_amount(values: pd.Series) -> pd.Series:
    """True where a value or total can be sent: finite, not negative, at most meta.MAX_VALUE."""
    number = pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.Series(np.isfinite(number.to_numpy()) & (number.to_numpy() >= 0) & (number.to_numpy() <= MAX_VALUE),
                     index=values.index)


ORDER_STATUS_RANK = {"refunded": 0, "cancelled": 1, "canceled": 1, "voided": 1, "test": 2, "fulfilled": 3,
                     "paid": 4}
LEAD_STATUS_RANK = {"good_lead": 0, "previously_marked_good_lead": 1}


def pick_duplicates(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per ``id``: the row that stands for the lead or order when the export repeats it.

    The rule: the latest by the export's updated-at (or load-order) column when it has one
    (``source_updated_at`` in the staged rows; a row without one counts as oldest); on a tie, or
    without such a column, the most advanced status: an order refunded beats cancelled beats
    fulfilled beats paid; a lead marked spam beats one that is not; a good lead beats any other
    lead status. Rows that are the same in every field collapse silently. The rows come back in
    order of id; only the ids that repeat are ranked."""
    repeated = rows["id"].duplicated(keep=False).to_numpy()
    if repeated.all():
        return _pick(rows)
    picked = _pick(rows[repeated]) if repeated.any() else rows.iloc[:0]
    return pd.concat([rows[~repeated], picked]).sort_values("id", kind="stable")


def _pick(rows: pd.DataFrame) -> pd.DataFrame:
    keys, ascending = ["id"], [True]
    ranked = rows.assign(
        _updated=pd.to_datetime(_col(rows, UPDATED_AT)).to_numpy(),
        _spam=(~_col(rows, "spam", False).fillna(False).astype(bool)).to_numpy(),
        _order=_col(rows, "status").astype("string").str.lower().map(ORDER_STATUS_RANK).fillna(9).to_numpy(),
        _lead=_col(rows, "lead_status").map(LEAD_STATUS_RANK).fillna(9).to_numpy())
    keys += ["_updated", "_spam", "_order", "_lead"]
    ascending += [False, True, True, True]
    ranked = ranked.sort_values(keys, ascending=ascending, kind="stable", na_position="last")
    return ranked.drop_duplicates("id").drop(columns=["_updated", "_spam", "_order", "_lead"])


def conflicting_duplicates(rows: pd.DataFrame, ignore: tuple[str, ...] = ()) -> int:
    """How many ids the rows repeat with different contents (what :func:`pick_duplicates` decides);
    columns in ``ignore`` do not count as contents."""
    if rows.empty:
        return 0
    repeated = rows[rows["id"].duplicated(keep=False)]
    if repeated.empty:
        return 0
    distinct = repeated.drop(columns=list(ignore), errors="ignore").astype(str).drop_duplicates()
    return int(distinct["id"].duplicated().groupby(distinct["id"]).any().sum())


def valid_currency(codes: pd.Series) -> pd.Series:
    """ISO 4217 code in upper case, NA when not one."""
    known = {c.alpha_3 for c in pycountry.currencies}
    upper = codes.astype("string").str.strip().str.upper()
    return upper.where(upper.isin(known))


def click_fbc(fbclid: pd.Series, click_time: pd.Series) -> pd.Series:
    """``fb.1.<click time ms>.<fbclid>``; the fbclid kept exactly as given (it is case-sensitive)."""
    ms = (pd.to_datetime(click_time) - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1)
    built = "fb.1." + ms.astype("Int64").astype("string") + "." + fbclid.astype("string")
    return built.where(fbclid.notna() & click_time.notna())


def _unix(times: pd.Series) -> pd.Series:
    return ((pd.to_datetime(times) - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)).astype("int64")


def _col(frame: pd.DataFrame, name: str, default=None) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series(default, index=frame.index, dtype=object)


def _leads(fmt: str, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per source id, in a shape common to every format."""
    if rows.empty:
        return pd.DataFrame()
    rows = pick_duplicates(rows)
    lead = pd.DataFrame({
        "format": fmt, "source_table": FORMAT_TABLES[fmt], "source_id": rows["id"].astype(str),
        "time": pd.to_datetime(rows[_TIME[fmt]]), "company_id": _col(rows, "company_id"),
        "lead_status": _col(rows, "lead_status"), "session_id": _col(rows, "session_id"),
        "tracking_phone_number": _col(rows, "tracking_phone_number"), "fbclid": _col(rows, "fbclid"),
        "own_fbc": _col(rows, "fbc"), "own_fbp": _col(rows, "fbp"), "own_ip": _col(rows, "client_ip_address"),
        "own_ua": _col(rows, "client_user_agent"),
        "own_url": _col(rows, "event_source_url") if fmt == "orders" else
                   (_col(rows, "form_url").fillna(_col(rows, "landing_page_url")) if fmt == "forms" else None),
        "direction": _col(rows, "direction"), "duration": _col(rows, "duration"),
        "answered": _col(rows, "answered"), "first_call": _col(rows, "first_call"),
        "spam": _col(rows, "spam", False), "is_test": _col(rows, "is_test", False),
        "value_text": _col(rows, "value"), "order_status": _col(rows, "status"), "channel": _col(rows, "channel"),
        "currency": _col(rows, "currency"), "total": _col(rows, "total"),
        "region_country": _col(rows, "region_country"), "region_state": _col(rows, "region_state"),
        "attribution": _attribution_text(rows),
    })
    for key in HASHED_KEYS:
        lead[key] = _col(rows, key)
    return lead.reset_index(drop=True)


FACEBOOK_PATTERN = r"(?i)facebook|instagram|\bfb\b|\bmeta\b|\big\b"
"""Source, medium or campaign text that says a lead came from Facebook (or Instagram) ads."""


def _attribution_text(rows: pd.DataFrame) -> pd.Series:
    text = pd.Series("", index=rows.index, dtype=object)
    for name in ("source", "medium", "campaign", "utm_source", "utm_medium"):
        if name in rows.columns:
            text = text + " " + rows[name].fillna("").astype(str)
    return text.to_numpy()


def _contents(items: pd.DataFrame) -> dict[str, dict]:
    """Per order id: content_ids, contents (id, quantity, item_price) and num_items.

    A line whose quantity is missing or below 1 is left out (``dropped_lines``); an item price
    that is not a usable amount is left off its line."""
    if items is None or items.empty:
        return {}
    items = items.drop_duplicates(["order_id", "line_id"])
    ids = items["product_id"].fillna(items["sku"]).astype(str).tolist()
    quantity = pd.to_numeric(items["quantity"], errors="coerce")
    good_quantity = (np.isfinite(quantity.to_numpy(dtype="float64", na_value=np.nan))
                     & (quantity.to_numpy(dtype="float64", na_value=np.nan) >= 1)).tolist()
    quantity = quantity.fillna(0).clip(upper=1e9).astype("int64").tolist()
    price_ok = usable_amount(items["unit_price"]).tolist()
    price = pd.to_numeric(items["unit_price"], errors="coerce").astype("float64").tolist()
    out: dict[str, dict] = {}
    for order_id, pid, q, q_ok, p, p_ok in zip(items["order_id"].tolist(), ids, quantity, good_quantity, price,
                                               price_ok):
        entry = out.setdefault(order_id, {"contents": [], "content_ids": [], "num_items": 0})
        if not q_ok:
            entry["dropped_lines"] = entry.get("dropped_lines", 0) + 1
            continue
        entry["contents"].append({"id": pid, "quantity": q, "item_price": round(p, 2)} if p_ok
                                 else {"id": pid, "quantity": q})
        if pid not in entry["content_ids"]:
            entry["content_ids"].append(pid)
        entry["num_items"] += q
    for entry in out.values():
        if not entry["contents"]:
            del entry["contents"], entry["content_ids"], entry["num_items"]
    return out


def _first_reason(conditions: list[tuple[pd.Series, str]], index) -> pd.Series:
    reason = pd.Series(None, index=index, dtype=object)
    for mask, why in conditions:
        mask = pd.Series(mask, index=index).fillna(False).astype(bool)
        reason = reason.where(reason.notna() | ~mask, why)
    return reason


def _strong_keys(present: pd.DataFrame) -> pd.Series:
    """Enough to find a person: Meta refuses e.g. fn+ge, db+user agent or only location keys."""
    p = {k: present[k] if k in present else pd.Series(False, index=present.index) for k in USER_DATA_KEYS}
    identifying = p["em"] | p["ph"] | p["external_id"] | p["fbc"] | p["fbp"]
    browser = p["client_ip_address"] & p["client_user_agent"]
    named = p["fn"] & p["ln"] & (p["zp"] | p["ct"] | p["st"])
    return identifying | browser | named


def build_events(staged: dict[str, pd.DataFrame], sessions: pd.DataFrame | Visits, items: pd.DataFrame | None,
                 config: EventsConfig, now: datetime, default_pixel: str,
                 suppressed: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """Candidate events for one day: ``staged`` maps a format (calls, texts, forms, orders) to its rows."""
    frames = [_leads(fmt, rows) for fmt, rows in staged.items() if rows is not None and not rows.empty]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    leads = pd.concat(frames, ignore_index=True)
    now_s = int(now.replace(tzinfo=timezone.utc).timestamp() if now.tzinfo is None else now.timestamp())

    # web session merge
    merged = merge_sessions(leads, sessions, pd.Timedelta(minutes=config.session_window_minutes))
    leads = pd.concat([leads, merged], axis=1)
    session_fbc = leads["session_fbc"].where(leads["session_fbc"].notna(),
                                             click_fbc(leads["session_fbclid"], leads["session_started_at"]))
    own_click = click_fbc(leads["fbclid"].where(leads["merged_session_id"].isna()), leads["time"])
    leads["fbc"] = leads["own_fbc"].where(leads["own_fbc"].notna(), session_fbc)
    leads["fbc"] = leads["fbc"].where(leads["fbc"].notna(), own_click)
    leads["fbp"] = leads["own_fbp"].where(leads["own_fbp"].notna(), leads["session_fbp"])
    leads["client_ip_address"] = leads["own_ip"].where(leads["own_ip"].notna(), leads["session_client_ip_address"])
    leads["client_user_agent"] = leads["own_ua"].where(leads["own_ua"].notna(), leads["session_client_user_agent"])
    leads["event_source_url"] = leads["own_url"].where(leads["own_url"].notna(), leads["session_landing_page_url"])
    # the source system credits Facebook: its source/medium/campaign say so, or a click id came with the lead
    says_facebook = pd.Series(leads["attribution"], index=leads.index).astype(str).str.contains(FACEBOOK_PATTERN)
    leads["facebook_credited"] = (says_facebook | leads["fbclid"].notna() | leads["own_fbc"].notna()
                                  | leads["session_fbclid"].notna()).astype(bool)

    # action_source and its note
    fmt, channel = leads["format"], leads["channel"].astype("string").str.lower()
    web_ready = leads["event_source_url"].notna() & leads["client_user_agent"].notna()
    web_like = (fmt == "forms") | ((fmt == "orders") & (channel == "online"))
    source = np.select(
        [fmt == "calls", fmt == "texts", web_like & web_ready, web_like,
         (fmt == "orders") & (channel == "in_store"), (fmt == "orders") & (channel == "phone")],
        ["phone_call", "chat", "website", "other", "physical_store", "phone_call"], default="other")
    leads["action_source"] = source
    leads["note"] = np.where(web_like & ~web_ready,
                             np.where(leads["event_source_url"].isna(), "other: no page URL known",
                                      "other: no user agent known"), None)

    # custom_data
    lead_value = parse_value(leads["value_text"])
    currency = valid_currency(leads["currency"])
    total = pd.to_numeric(leads["total"], errors="coerce")
    contents = _contents(items)

    # one event per lead, plus the qualified event for good leads
    formats = pd.unique(leads["format"])
    events = leads.assign(event_name=leads["format"].map({f: config.event_name(f) for f in formats}).astype(object),
                          qualified=False)
    if config.qualified_event:
        good = leads[(leads["format"] != "orders") & leads["lead_status"].isin(["good_lead"])]
        events = pd.concat([events, good.assign(event_name=config.qualified_event, qualified=True)])
    events = events.reset_index(drop=False).rename(columns={"index": "lead_row"})
    lead_ok = usable_amount(lead_value)
    total_ok = usable_amount(total)
    lv = lead_value.where(lead_ok).reindex(events["lead_row"]).to_numpy()
    cur = currency.reindex(events["lead_row"]).to_numpy()
    tot = total.where(total_ok).reindex(events["lead_row"]).to_numpy()
    is_order = (events["format"] == "orders").to_numpy()
    # orders: a dict per order (its lines); leads: value and currency, encoded once per distinct value
    custom_json = np.full(len(events), None, dtype=object)
    notes = np.full(len(events), None, dtype=object)
    has_value = np.zeros(len(events), dtype=bool)
    has_currency = np.zeros(len(events), dtype=bool)
    order_rows = np.flatnonzero(is_order)
    source_ids = events["source_id"].to_numpy()
    for i in order_rows:
        data = {"value": None if pd.isna(tot[i]) else round(float(tot[i]), 2),
                "currency": None if pd.isna(cur[i]) else cur[i], "order_id": source_ids[i],
                "content_type": "product"}
        data.update(contents.get(source_ids[i], {}))
        dropped = data.pop("dropped_lines", 0)
        if dropped:
            notes[i] = f"{dropped} order line(s) left out: quantity missing or below 1"
        data = {k: v for k, v in data.items() if v is not None}
        has_value[i], has_currency[i] = "value" in data and data["value"] >= 0, "currency" in data
        custom_json[i] = _json_or_none(data)
    lead_rows = np.flatnonzero(~is_order & ~pd.isna(lv))
    if len(lead_rows):
        codes, uniques = pd.factorize(lv[lead_rows])
        currency_part = {} if config.default_currency is None else {"currency": config.default_currency}
        texts = np.array([_json_or_none({**currency_part, "value": round(float(v), 2)}) for v in uniques], dtype=object)
        custom_json[lead_rows] = texts[codes]
        has_value[lead_rows] = np.array([round(float(v), 2) >= 0 for v in uniques])[codes]
        has_currency[lead_rows] = bool(currency_part)
    value_dropped = (~lead_ok & lead_value.notna()).reindex(events["lead_row"]).to_numpy() & ~is_order
    events["value_note"] = np.where(value_dropped, "value left out: not a finite amount between 0 and the cap", notes)

    events["note"] = _join_notes(events["note"], events["value_note"])
    events["custom_data"] = custom_json

    # user_data and match keys
    present = pd.DataFrame({k: events[k].notna() for k in USER_DATA_KEYS})
    listed = pc.binary_join_element_wise(*[pc.if_else(pa.array(present[k].to_numpy()), f"{k},", "")
                                           for k in USER_DATA_KEYS], "")
    events["match_keys"] = pd.Series(pc.utf8_rtrim(listed, ",").to_numpy(zero_copy_only=False), index=events.index,
                                     dtype=object)
    events["user_data"] = _user_data_json(events, present)

    # eligibility: the first reason that applies is kept
    e = events
    age = now_s - _unix(e["time"])
    max_age = np.where(e["action_source"] == "physical_store", config.physical_store_max_age_days,
                       config.max_age_days) * 86_400
    purchase = e["event_name"] == "Purchase"
    purchase_ok = pd.Series(has_value & has_currency, index=e.index)
    hashed_contact = e["em"].isin(suppressed) | e["ph"].isin(suppressed) if suppressed else False
    order_status = e["order_status"].astype("string").str.lower()
    is_call, is_text = e["format"] == "calls", e["format"] == "texts"
    reason = _first_reason([
        (~e["format"].map({f: config.enabled(f) for f in formats}).astype(bool), "format_disabled"),
        (e["is_test"].fillna(False).astype(bool) | (order_status == "test"), "test"),
        (config.exclude_spam & e["spam"].fillna(False).astype(bool), "spam"),
        (order_status == "refunded", "order_refunded"),
        (order_status.isin(["cancelled", "canceled", "voided"]), "order_cancelled"),
        (config.inbound_only & (is_call | is_text) & (e["direction"].astype("string").str.lower() == "outbound"),
         "filtered:outbound"),
        (config.first_time_callers_only & is_call & ~e["first_call"].fillna(False).astype(bool),
         "filtered:not_first_call"),
        (is_call & (pd.to_numeric(e["duration"], errors="coerce").fillna(0) < config.min_call_duration),
         "filtered:short_call"),
        (config.answered_only & is_call & ~e["answered"].fillna(False).astype(bool), "filtered:unanswered"),
        (config.good_leads_only & (e["format"] != "orders") & ~e["lead_status"].isin(GOOD_LEAD),
         "filtered:not_good_lead"),
        (purchase & ~purchase_ok, "invalid_value_or_currency"),
        (~present.any(axis=1), "no_match_keys"),
        (~_strong_keys(present), "weak_match_keys"),
        (hashed_contact, "suppressed"),
        (e["custom_data"].eq(_UNENCODABLE), "unencodable_custom_data"),
        (age > max_age, "too_old"),
        (-age > config.max_future_seconds, "in_future"),
    ], e.index)
    e["status"] = np.where(reason.isna(), "eligible", "skipped")
    e["reason"] = reason

    # routing, ids, options
    e["pixel_id"] = _route(e, config, default_pixel)
    e["event_id"] = event_ids(e["source_table"], e["source_id"], e["event_name"])
    e["event_time"] = _unix(e["time"])
    e["custom_data"] = e["custom_data"].mask(e["custom_data"].eq(_UNENCODABLE), None)
    e["options"] = _options(e, config)
    e["payload_hash"] = payload_hash(e)
    out = e[list(EVENT_COLUMNS)].copy()
    assert set(out["action_source"]) <= ACTION_SOURCES
    return out.sort_values(["source_table", "source_id", "event_name", "pixel_id"]).reset_index(drop=True)


_UNENCODABLE = "\x00unencodable"


def _json_or_none(data: dict) -> str | None:
    """custom_data as strict JSON (no NaN or Infinity, which Meta's parser refuses)."""
    if not data:
        return None
    try:
        return json.dumps(data, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return _UNENCODABLE


def _join_notes(*columns: pd.Series) -> pd.Series:
    out = pd.Series(None, index=columns[0].index, dtype=object)
    for col in columns:
        col = pd.Series(col, index=out.index, dtype=object)
        out = out.where(col.isna(), out.where(out.isna(), out + "; ").fillna("") + col.fillna(""))
    return out


PAYLOAD_FIELDS = ("event_name", "event_time", "action_source", "user_data", "custom_data", "options",
                  "event_source_url")


def payload_hash(events: pd.DataFrame) -> pd.Series:
    """SHA-256 of what an event sends: a changed hash means Meta would now receive something else
    (the ledger resends a rejected event only when it changed)."""
    fields = [pc.fill_null(arrow_text(events[name], large=True), _ls(""))  # str() of each value
              for name in PAYLOAD_FIELDS]
    # "\x1f" before every field, as the text was always built (the hashes in ledgers stay valid)
    text = pc.binary_join_element_wise(_ls(""), *fields, _ls("\x1f"))
    return hash_values(pd.Series(pd.array(text, dtype=STRING), index=events.index))


def _user_data_json(events: pd.DataFrame, present: pd.DataFrame) -> pd.Series:
    """user_data as JSON text (keys sorted, json.dumps' separators and escapes), assembled column
    by column in Arrow: hashed keys are 64 hex characters (nothing to escape); free-text keys
    (user agent, cookies, IP) are quoted as they are unless a character needs escaping.

    Each key contributes ``, "key": value`` or "" and the leading separator is cut at the end.
    (pyarrow 26's ``binary_join_element_wise(null_handling="skip")`` drops rows whose inputs are
    all null, so nulls are never handed to it.)"""
    pieces = []
    for key in sorted(USER_DATA_KEYS):
        if not present[key].any():
            continue
        values = events[key]
        if key in HASHED_KEYS:
            piece = pc.binary_join_element_wise(_ls(f', "{key}": "'), arrow_text(values, large=True), _ls('"'), _ls(""))
        elif pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            piece = pc.binary_join_element_wise(_ls(f', "{key}": '), json_strings(arrow_text(values, large=True),
                                                                                 ensure_ascii=True), _ls(""))
        else:  # not text (never from the staged tables): json.dumps of each distinct value
            codes, uniques = pd.factorize(values.astype(object).where(present[key].to_numpy(), None))
            quoted = pa.array([f', "{key}": {json.dumps(u)}' for u in uniques], type=pa.large_string())
            piece = pc.take(quoted, pa.array(codes, mask=codes < 0))
        pieces.append(pc.fill_null(piece, _ls("")))
    if not pieces:
        return pd.Series("{}", index=events.index, dtype=STRING)
    body = pc.utf8_slice_codeunits(pc.binary_join_element_wise(*pieces, _ls("")), 2)
    out = pc.binary_join_element_wise(_ls("{"), body, _ls("}"), _ls(""))
    if len(out) != len(events):  # never expected; a guard against the kernel quirk above
        raise RuntimeError(f"user_data assembly produced {len(out)} rows for {len(events)} events")
    return pd.Series(pd.array(out, dtype=STRING), index=events.index)


def _ls(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _route(events: pd.DataFrame, config: EventsConfig, default_pixel: str) -> pd.Series:
    pixel = pd.Series(None, index=events.index, dtype=object)
    for route in config.pixel_routes:
        match = pd.Series(True, index=events.index)
        if route.format:
            match &= events["format"] == route.format
        if route.company_id:
            match &= events["company_id"] == route.company_id
        pixel = pixel.where(pixel.notna() | ~match, route.pixel_id)
    return pixel.fillna(config.pixel_id or default_pixel)


def _options(events: pd.DataFrame, config: EventsConfig) -> list[str | None]:
    """opt_out and Limited Data Use, per event, as JSON."""
    state = events["region_state"].astype("string")
    country = events["region_country"].astype("string")
    if not config.opt_out and config.ldu not in ("all", "california"):
        return [None] * len(events)
    # the options depend only on the (state, country) pair: encoded once per distinct pair
    pairs = pd.MultiIndex.from_arrays([state.fillna("\x00"), country.fillna("\x00")])
    codes, uniques = pd.factorize(pairs)
    distinct = [(None if st == "\x00" else st, None if co == "\x00" else co) for st, co in uniques]
    return list(np.array(_options_for(distinct, config), dtype=object)[codes])


def _options_for(pairs: list[tuple], config: EventsConfig) -> list[str | None]:
    out = []
    for st, co in pairs:
        opts: dict = {}
        if config.opt_out:
            opts["opt_out"] = True
        if config.ldu == "all":
            opts.update(data_processing_options=["LDU"], data_processing_options_country=0,
                        data_processing_options_state=0)
        elif config.ldu == "california":
            if st is pd.NA or st is None:  # unknown location: let Meta geolocate
                opts.update(data_processing_options=["LDU"], data_processing_options_country=0,
                            data_processing_options_state=0)
            elif st == "ca" and (co is pd.NA or co is None or co == "us"):
                opts.update(data_processing_options=["LDU"], data_processing_options_country=1,
                            data_processing_options_state=1000)
            else:
                opts["data_processing_options"] = []
        out.append(json.dumps(opts, sort_keys=True) if opts else None)
    return out
