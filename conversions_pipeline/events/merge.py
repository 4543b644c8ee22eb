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

from dataclasses import dataclass

import numpy as np
import pandas as pd

SESSION_FIELDS = ("fbclid", "fbc", "fbp", "client_ip_address", "client_user_agent", "landing_page_url", "started_at")

TIED_BY_SESSION_ID = "session_id"
TIED_BY_TRACKING_NUMBER = "tracking_number"
AMBIGUOUS_TRACKING_NUMBER = "ambiguous_tracking_number"
"""Values of the ``session_tie`` column: how (or why not) a lead was tied to a visit."""


@dataclass
class Visits:
    """A day's web sessions prepared once for :func:`merge_sessions` (the events step ties every
    chunk of leads to the same visits): one row per session id, hash-indexed by id, and the
    positions of the visits that showed a tracking number sorted by (number, start) for the
    window searches. Nothing is copied but the ids (a day holds hundreds of thousands of visits)."""

    window: pd.Timedelta
    by_id: pd.DataFrame
    ids: pd.Index
    candidates: np.ndarray
    """positions in ``by_id`` of the visits with a tracking number and a start time"""
    numbers: pd.Index
    order: np.ndarray
    key: np.ndarray
    origin: int
    span: int

    @property
    def empty(self) -> bool:
        return self.by_id.empty


def index_visits(sessions: pd.DataFrame, window: pd.Timedelta) -> Visits:
    """Prepare ``sessions`` (columns ``id``, ``tracking_phone_number`` and :data:`SESSION_FIELDS`)."""
    window = pd.Timedelta(window)
    sess = sessions.drop_duplicates("id") if sessions["id"].duplicated().any() else sessions
    sess = sess.reset_index(drop=True)
    ids = pd.Index(sess["id"].astype(object))
    candidates = np.flatnonzero((sess["tracking_phone_number"].notna() & sess["started_at"].notna()).to_numpy())
    shown = sess["tracking_phone_number"].iloc[candidates].astype(str)
    numbers = pd.Index(pd.unique(shown))
    s_code = numbers.get_indexer(shown).astype(np.int64)
    s_time = _ms(sess["started_at"].iloc[candidates])
    width = int(window / pd.Timedelta(milliseconds=1))
    origin = int(s_time.min()) if len(s_time) else 0
    # every visit's start lies in [origin, origin + span - width - 1]: a lead time clipped into
    # [origin - 1, origin + span - 1] finds the same visits in its window as the exact time
    span = (int(s_time.max()) - origin if len(s_time) else 0) + width + 2
    order = np.lexsort((s_time, s_code))
    key = s_code[order] * span + (s_time[order] - origin)
    return Visits(window, sess, ids, candidates, numbers, order, key, origin, span)


def merge_sessions(leads: pd.DataFrame, sessions: pd.DataFrame | Visits, window: pd.Timedelta) -> pd.DataFrame:
    """For each lead (columns ``time``, ``session_id``, ``tracking_phone_number``), the tied session.

    Returns a frame aligned with ``leads`` with ``merged_session_id``, ``session_tie`` (see the
    module docstring; None when the lead had nothing to tie by or no visit matched) and
    ``session_<field>`` for each of :data:`SESSION_FIELDS`; all missing where no session is tied.
    ``sessions`` may be prepared once with :func:`index_visits` (for the same ``window``).
    """
    out = pd.DataFrame(index=leads.index)
    out["merged_session_id"] = pd.Series(None, index=leads.index, dtype=object)
    out["session_tie"] = pd.Series(None, index=leads.index, dtype=object)
    for f in SESSION_FIELDS:
        out[f"session_{f}"] = None
    if sessions.empty or leads.empty:
        return out
    visits = sessions if isinstance(sessions, Visits) else index_visits(sessions, window)
    if visits.window != pd.Timedelta(window):
        raise ValueError(f"visits were prepared for a {visits.window} window, not {window}")

    # a hash lookup of each lead's session id in the sessions' index (isin on Arrow strings is slow)
    position = visits.ids.get_indexer(leads["session_id"].astype(object))
    by_id = pd.Series(position >= 0, index=leads.index) & leads["session_id"].notna()
    if by_id.any():
        _tie(out, by_id.to_numpy().nonzero()[0], visits.by_id.iloc[position[by_id.to_numpy()]], TIED_BY_SESSION_ID)

    rest = leads[~by_id & leads["tracking_phone_number"].notna()]
    if rest.empty or not len(visits.candidates):
        return out.astype(object).where(out.notna(), None)

    # Visits per number, sorted by (number, start); each lead's window is a slice of that order.
    l_code = visits.numbers.get_indexer(rest["tracking_phone_number"].astype(str)).astype(np.int64)
    l_time = _ms(rest["time"])
    known = (l_code >= 0) & (l_time != _NAT)
    width = int(window / pd.Timedelta(milliseconds=1))
    relative = np.clip(l_time - visits.origin, -1, visits.span - 1)
    lead_key = l_code * visits.span + relative
    first = np.searchsorted(visits.key, l_code * visits.span + np.maximum(relative - width, 0), side="left")
    last = np.searchsorted(visits.key, lead_key, side="right")
    counted = np.where(known, last - first, 0)

    rows = np.flatnonzero(~by_id.to_numpy() & leads["tracking_phone_number"].notna().to_numpy())
    one = counted == 1
    if one.any():
        _tie(out, rows[one], visits.by_id.iloc[visits.candidates[visits.order[first[one]]]], TIED_BY_TRACKING_NUMBER)
    out.iloc[rows[counted > 1], out.columns.get_loc("session_tie")] = AMBIGUOUS_TRACKING_NUMBER
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
