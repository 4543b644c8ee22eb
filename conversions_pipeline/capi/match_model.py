"""The documented match model: how likely Meta is to find the person behind an event, from the keys
it carries. The emulator matches with it, and the reconciliation's expected-match estimate is
rendered from it into SQL, so the demo's numbers can be explained key by key.

Each key present gives an independent chance to find the person; an event matches when any of
them does:

    P(match) = 1 - product over the keys present of (1 - p[key])

The emulator decides deterministically: key k of an event matches when a SHA-256 bucket of its
value falls below p[k]. A matched event is attributed to a click when it carries an fbc whose
click time lies within the click window before the event, else to a view with probability
VIEW_RATE (a bucket of the event id). Meta's real model is not public: these weights are ours,
chosen to resemble published match rates (email and phone the strongest hashed keys, a click id
near certain).
"""

from __future__ import annotations

MATCH_PROBABILITY = {"fbc": 0.90, "em": 0.60, "ph": 0.50, "external_id": 0.15, "fbp": 0.25}
VIEW_RATE = 0.2
CLICK_WINDOW_DAYS = 7
VIEW_WINDOW_DAYS = 1


def match_probability(keys) -> float:
    """P(match) for an event carrying ``keys`` (an iterable of user_data key names)."""
    miss = 1.0
    for key in set(keys):
        miss *= 1.0 - MATCH_PROBABILITY.get(key, 0.0)
    return 1.0 - miss


def sql_match_probability(match_keys_column: str) -> str:
    """The same probability as a SQL expression over a comma-separated ``match_keys`` column
    (portable: SQLite and PostgreSQL)."""
    listed = f"(',' || COALESCE({match_keys_column}, '') || ',')"
    factors = [f"(1.0 - {p!r} * CASE WHEN {listed} LIKE '%,{key},%' THEN 1 ELSE 0 END)"
               for key, p in sorted(MATCH_PROBABILITY.items())]
    return "(1.0 - " + " * ".join(factors) + ")"


STANDARD_ACTION_TYPES = {
    "Lead": "offsite_conversion.fb_pixel_lead", "Purchase": "offsite_conversion.fb_pixel_purchase",
    "Contact": "offsite_conversion.fb_pixel_contact", "Schedule": "offsite_conversion.fb_pixel_schedule",
    "CompleteRegistration": "offsite_conversion.fb_pixel_complete_registration",
    "SubmitApplication": "offsite_conversion.fb_pixel_submit_application",
}


def action_type(event_name: str) -> str:
    """The Ads Manager action type that counts an event name (custom events: fb_pixel_custom)."""
    return STANDARD_ACTION_TYPES.get(event_name, "offsite_conversion.fb_pixel_custom")
