"""Emails: trimmed and lowercased (any script kept), refused only without the shape of an address."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .text import _NULL, _arrow, _result, _series

# Meta's rule is trim and lowercase. An address is kept when it has the structure of one, which
# is exactly what the facebook-business SDK checks (``.+@.+\..+``): letters of any script, in the
# local part and the domain alike, are kept (José.Müller@example.com, zoë@例え.jp). Only text with
# no "@", nothing before it, or no dot after it is refused. "mailto:" prefixes are dropped.
_EMAIL_RE = r"^.+@.+\..+"
# Python's str.strip() whitespace among ASCII characters (Arrow's own list differs on \x1c-\x1f).
_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def _norm_email(text: pd.Series) -> pd.DataFrame:
    raw = _arrow(text)
    ascii_rows = pc.fill_null(pc.string_is_ascii(raw), True)
    # ASCII rows in Arrow; the few others exactly as Python (and so the SDK) lowercases and trims.
    s = pc.utf8_trim(pc.ascii_lower(raw), characters=_ASCII_SPACE)
    if not pc.all(ascii_rows).as_py():
        rest = np.flatnonzero(~ascii_rows.to_numpy(zero_copy_only=False))
        fixed = [v.lower().strip() for v in pc.take(raw, pa.array(rest)).to_pylist()]
        s = pc.replace_with_mask(s, pc.invert(ascii_rows), pa.array(fixed, type=s.type))
    if pc.any(pc.starts_with(s, "mailto:")).as_py():
        s = pc.utf8_trim_whitespace(pc.replace_substring_regex(s, r"^mailto:\s*", ""))
    ok = pc.fill_null(pc.match_substring_regex(s, _EMAIL_RE), False)
    value = _series(pc.if_else(ok, s, _NULL), text.index)
    return _result(value, "invalid_email")
