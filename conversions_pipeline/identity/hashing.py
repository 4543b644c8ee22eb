"""SHA-256 of normalized values: DuckDB's vectorized sha256 for many values, hashlib for few;
an input that already is a SHA-256 digest passes through lowercased."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .text import STRING, _arrow, _encode, _series, _spread, _text

_DUCKDB_FROM = 20_000  # below this many distinct values hashlib is quicker than starting DuckDB


@lru_cache(maxsize=1)
def _duckdb() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for the process (its memory is reused call after call); each call
    takes its own cursor, so threads can hash at the same time."""
    return duckdb.connect(config={"arrow_large_buffer_size": True})


def _sha256_duckdb(text: pd.Series) -> pd.Series:
    with _duckdb().cursor() as con:
        con.register("v", pa.table({"v": _arrow(text)}))
        hashed = con.sql(
            "SELECT CASE WHEN length(v) = 64 AND regexp_full_match(v, '[0-9A-Fa-f]{64}') THEN lower(v) "
            "ELSE sha256(v) END AS h FROM v"
        ).to_arrow_table().column("h")
    return _series(hashed, text.index)


def _sha256_python(text: pd.Series) -> pd.Series:
    return pd.Series(
        [None if v is None or v is pd.NA else
         (v.lower() if len(v) == 64 and _HEX.fullmatch(v) else hashlib.sha256(v.encode("utf-8")).hexdigest())
         for v in text.astype(object).tolist()], index=text.index, dtype=STRING)


def hash_values(values) -> pd.Series:
    """SHA-256 hex of the UTF-8 bytes; a 64-hex input passes through lowercased; NA stays NA.

    Many values are hashed by DuckDB's vectorized, multi-threaded ``sha256`` over the Arrow buffer;
    when they repeat a lot, each distinct value is hashed once.
    """
    text = _text(values)
    if len(text) < _DUCKDB_FROM:
        return _sha256_python(text)
    sample = pc.count_distinct(_arrow(text.iloc[:10_000])).as_py()
    if sample > 5_000:
        return _sha256_duckdb(text)
    codes, uniques, _ = _encode(text)
    per_unique = _sha256_duckdb(uniques) if len(uniques) >= _DUCKDB_FROM else _sha256_python(uniques)
    return _spread(per_unique, codes, text.index)


_HEX = re.compile(r"[0-9A-Fa-f]{64}")
