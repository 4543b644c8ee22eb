"""Tie leads to the web session they came from (pure pandas).

A lead is tied by its own ``session_id`` when the tracker recorded one; otherwise by the tracking
number the session showed, when the lead started within the window after the session started (the
nearest earlier session wins). This is the call-tracking merge that gives a phone call the click id,
cookies, IP and user agent of the visit.
"""

from __future__ import annotations

import pandas as pd

SESSION_FIELDS = ("fbclid", "fbc", "fbp", "client_ip_address", "client_user_agent", "landing_page_url", "started_at")


def merge_sessions(leads: pd.DataFrame, sessions: pd.DataFrame, window: pd.Timedelta) -> pd.DataFrame:
    """For each lead (columns ``time``, ``session_id``, ``tracking_phone_number``), the tied session.

    Returns a frame aligned with ``leads`` with ``merged_session_id`` and ``session_<field>`` for
    each of :data:`SESSION_FIELDS`; all missing where no session matched.
    """
    out = pd.DataFrame(index=leads.index)
    out["merged_session_id"] = pd.Series(None, index=leads.index, dtype=object)
    for f in SESSION_FIELDS:
        out[f"session_{f}"] = None
    if sessions.empty or leads.empty:
        return out
    sess = sessions.drop_duplicates("id").set_index("id", drop=False)

    # a hash lookup of each lead's session id in the sessions' index (isin on Arrow strings is slow)
    position = sess.index.astype(object).get_indexer(leads["session_id"].astype(object))
    by_id = pd.Series(position >= 0, index=leads.index) & leads["session_id"].notna()
    if by_id.any():
        hit = sess.loc[leads.loc[by_id, "session_id"]]
        out.loc[by_id, "merged_session_id"] = hit["id"].to_numpy()
        for f in SESSION_FIELDS:
            out.loc[by_id, f"session_{f}"] = hit[f].to_numpy()

    rest = leads[~by_id & leads["tracking_phone_number"].notna()]
    candidates = sess[sess["tracking_phone_number"].notna()]
    if not rest.empty and not candidates.empty:
        left = pd.DataFrame({"lead": rest.index, "time": pd.to_datetime(rest["time"]).astype("datetime64[us]"),
                             "number": rest["tracking_phone_number"].astype(str)}).sort_values("time")
        right = pd.DataFrame({"sid": candidates["id"].to_numpy(),
                              "time": pd.to_datetime(candidates["started_at"]).astype("datetime64[us]").to_numpy(),
                              "number": candidates["tracking_phone_number"].astype(str).to_numpy()}).sort_values("time")
        matched = pd.merge_asof(left, right, on="time", by="number", direction="backward", tolerance=window,
                                allow_exact_matches=True)
        matched = matched[matched["sid"].notna()]
        if not matched.empty:
            hit = sess.loc[matched["sid"]]
            idx = matched["lead"].to_numpy()
            out.loc[idx, "merged_session_id"] = hit["id"].to_numpy()
            for f in SESSION_FIELDS:
                out.loc[idx, f"session_{f}"] = hit[f].to_numpy()
    return out.astype(object).where(out.notna(), None)
