"""Tie leads to the web session they came from (pure pandas).

The rules, in one place:

* **By session id.** A lead whose tracker recorded a ``session_id`` is tied to that session.
* **By tracking number, only when certain.** A lead without a (known) session id is tied to a
  session by the tracking number it dialled or texted only when **exactly one** visit showed that
  number in the window before the lead (``started_at`` in ``[lead time - window, lead time]``, both
  ends included). That is a dynamic-pool number assigned to one visitor. When two or more visits
  showed it in the window (a static source number shown to everyone, a pool too small for the
  traffic, a pool number reused by a later visitor), the lead is **not** tied and is counted as
  ``ambiguous_tracking_number``: a visit's click id, cookies, IP and user agent belong to that
  visitor only, and sending a stranger's identifiers credits the lead to the wrong profile.
* Visits that started after the lead, or more than the window before it, never tie.

The window is the events config's ``session_window_minutes`` (30 by default).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SESSION_FIELDS = ("fbclid", "fbc", "fbp", "client_ip_address", "client_user_agent", "landing_page_url", "started_at")

TIED_BY_SESSION_ID = "session_id"
TIED_BY_TRACKING_NUMBER = "tracking_number"
AMBIGUOUS_TRACKING_NUMBER = "ambiguous_tracking_number"
"""Values of the ``session_tie`` column: how (or why not) a lead was tied to a visit."""


def merge_sessions(leads: pd.DataFrame, sessions: pd.DataFrame, window: pd.Timedelta) -> pd.DataFrame:
    """For each lead (columns ``time``, ``session_id``, ``tracking_phone_number``), the tied session.

    Returns a frame aligned with ``leads`` with ``merged_session_id``, ``session_tie`` (see the
    module docstring; None when the lead had nothing to tie by or no visit matched) and
    ``session_<field>`` for each of :data:`SESSION_FIELDS`; all missing where no session is tied.
    """
    out = pd.DataFrame(index=leads.index)
    out["merged_session_id"] = pd.Series(None, index=leads.index, dtype=object)
    out["session_tie"] = pd.Series(None, index=leads.index, dtype=object)
    for f in SESSION_FIELDS:
        out[f"session_{f}"] = None
    if sessions.empty or leads.empty:
        return out
    sess = sessions.drop_duplicates("id").set_index("id", drop=False)

    # a hash lookup of each lead's session id in the sessions' index (isin on Arrow strings is slow)
    position = sess.index.astype(object).get_indexer(leads["session_id"].astype(object))
    by_id = pd.Series(position >= 0, index=leads.index) & leads["session_id"].notna()
    if by_id.any():
        _tie(out, by_id.to_numpy().nonzero()[0], sess.iloc[position[by_id.to_numpy()]], TIED_BY_SESSION_ID)

    rest = leads[~by_id & leads["tracking_phone_number"].notna()]
    candidates = sess[sess["tracking_phone_number"].notna() & sess["started_at"].notna()]
    if rest.empty or candidates.empty:
        return out.astype(object).where(out.notna(), None)

    # Visits per number, sorted by (number, start); each lead's window is a slice of that order.
    numbers = pd.Index(pd.unique(candidates["tracking_phone_number"].astype(str)))
    s_code = numbers.get_indexer(candidates["tracking_phone_number"].astype(str))
    s_time = _ms(candidates["started_at"])
    l_code = numbers.get_indexer(rest["tracking_phone_number"].astype(str))
    l_time = _ms(rest["time"])
    known = (l_code >= 0) & (l_time != _NAT)
    origin = min(s_time.min(), l_time[known].min() if known.any() else s_time.min())
    span = int(max(s_time.max(), l_time[known].max() if known.any() else s_time.max()) - origin) + 1
    width = int(window / pd.Timedelta(milliseconds=1))
    order = np.lexsort((s_time, s_code))
    key = s_code[order].astype(np.int64) * span + (s_time[order] - origin)
    lead_key = l_code.astype(np.int64) * span + (l_time - origin)
    first = np.searchsorted(key, lead_key - np.minimum(width, l_time - origin), side="left")
    last = np.searchsorted(key, lead_key, side="right")
    visits = np.where(known, last - first, 0)

    rows = np.flatnonzero(~by_id.to_numpy() & leads["tracking_phone_number"].notna().to_numpy())
    one = visits == 1
    if one.any():
        _tie(out, rows[one], candidates.iloc[order[first[one]]], TIED_BY_TRACKING_NUMBER)
    out.iloc[rows[visits > 1], out.columns.get_loc("session_tie")] = AMBIGUOUS_TRACKING_NUMBER
    return out.astype(object).where(out.notna(), None)


_NAT = np.iinfo(np.int64).min


def _ms(times: pd.Series) -> np.ndarray:
    """Milliseconds since the epoch (NaT stays the int64 minimum)."""
    values = pd.to_datetime(times).astype("datetime64[ms]").to_numpy()
    return values.view(np.int64)


def _tie(out: pd.DataFrame, positions: np.ndarray, hit: pd.DataFrame, how: str) -> None:
    out.iloc[positions, out.columns.get_loc("merged_session_id")] = hit["id"].to_numpy()
    out.iloc[positions, out.columns.get_loc("session_tie")] = how
    for f in SESSION_FIELDS:
        out.iloc[positions, out.columns.get_loc(f"session_{f}")] = hit[f].to_numpy()
