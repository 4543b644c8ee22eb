"""JSON text put together in Arrow, a column at a time (events' user_data, the upload's request bodies).

Pure functions over Arrow arrays: no Dagster, no I/O. A value goes through ``json.dumps`` only
where a character in it needs escaping; the rest are quoted as they are.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
"""what json.dumps(ensure_ascii=False) escapes: control characters, the quote and the backslash"""
_NEEDS_ESCAPE_ASCII = r'[^\x20-\x7e]|["\\]'
"""what json.dumps (ensure_ascii=True, its default) escapes: also DEL and every non-ASCII character"""


def arrow_text(values: pd.Series, large: bool = False) -> pa.Array:
    """A column as one Arrow string array, missing values null (no copy through Python objects
    for pandas' Arrow-backed text)."""
    kind = pa.large_string() if large else pa.string()
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        text = pa.array(values.array)
        text = text.cast(kind) if text.type != kind else text
    else:
        text = pa.array(values.astype("string"), type=kind)
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def json_strings(text: pa.Array, ensure_ascii: bool = False) -> pa.Array:
    """Each text as a JSON string literal (null stays null): quoted as it is when nothing in it
    needs escaping, through ``json.dumps`` otherwise. With ``ensure_ascii`` every literal is what
    ``json.dumps`` writes, byte for byte; without, a text whose only special characters are
    non-ASCII keeps them as UTF-8 (valid JSON, shorter)."""
    escape = pc.fill_null(pc.match_substring_regex(text, _NEEDS_ESCAPE_ASCII if ensure_ascii else _NEEDS_ESCAPE),
                          False)
    quote = pa.scalar('"', text.type)
    quoted = pc.binary_join_element_wise(quote, text, quote, pa.scalar("", text.type))
    if not pc.any(escape).as_py():
        return quoted
    escaped = [json.dumps(v) for v in text.filter(escape).to_pylist()]
    return pc.replace_with_mask(quoted, escape, pa.array(escaped, type=text.type))
