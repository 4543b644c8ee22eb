"""A small adapter from great-expectations (GX Core 1.x) to Dagster asset checks.

No maintained integration runs GX 1.x as asset checks (dagster-ge stops at GX < 1), so this one
is ours: a suite is a list of GX expectations defined in code, each with GX's own ``severity``
(``critical`` blocks, ``warning`` does not); it runs on an ephemeral GX context over a pandas frame
of the partition-day's rows; the validation result becomes plain :class:`Outcome` rows (for the
``dq_results`` table) and one Dagster ``AssetCheckResult`` per check, whose metadata lists every
expectation with its observed value, unexpected count and percent and at most three unexpected
values, masked (ids as they are, anything else as its shape: ``99/99/9999``, never a value).

GX is imported on first use: loading the Definitions stays fast.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass

import pandas as pd

ID_COLUMNS = frozenset({"id", "event_id", "source_id", "pixel_id", "batch_id", "order_id"})
SHOWN_VALUES = 3

_context = None
_context_lock = threading.Lock()


@dataclass
class Outcome:
    """One expectation's result, as stored in dq_results and shown in the check's metadata."""

    expectation: str
    severity: str  # ERROR or WARN
    success: bool
    observed_value: str | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    examples: tuple = ()

    def line(self) -> str:
        status = "ok" if self.success else "FAILED"
        parts = [f"{status} [{self.severity}] {self.expectation}"]
        if self.observed_value is not None:
            parts.append(f"observed {self.observed_value}")
        if self.unexpected_count:
            parts.append(f"{self.unexpected_count} unexpected ({self.unexpected_percent:.2f}%)")
        if self.examples:
            parts.append("e.g. " + ", ".join(self.examples))
        return "; ".join(parts)


def _gx_context():
    global _context
    with _context_lock:
        if _context is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig
            from great_expectations.execution_engine import pandas_execution_engine

            # GX fingerprints every pandas batch under 1 GB (an md5 over pandas' hash of every row
            # and column, twice per validation: once for the batch, once for its validator); the
            # fingerprint is a batch marker nothing here reads. Frames are never fingerprinted.
            pandas_execution_engine.HASH_THRESHOLD = 0
            _context = gx.get_context(mode="ephemeral")
            _context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        return _context


_warm_up: threading.Thread | None = None
_warm_up_lock = threading.Lock()


def warm_up_gx() -> None:
    """Import great-expectations and make its context in a background thread (once per process).
    Never waits: the import holds the context's lock while it runs (the next extract asked for the
    warm-up again and waited for the whole import)."""
    global _warm_up
    with _warm_up_lock:
        if _context is not None or _warm_up is not None:
            return
        _warm_up = threading.Thread(target=_gx_context, name="gx-import", daemon=True)
    _warm_up.start()


def mask(column: str | None, value) -> str:
    """An unexpected value as it may be shown: ids as they are, anything else as its shape."""
    if value is None or (not isinstance(value, (list, dict, tuple)) and pd.isna(value)):
        return "<null>"
    if isinstance(value, bool):
        return str(value)
    text = str(value)
    if column in ID_COLUMNS:
        return text[:64]
    out = "".join("9" if c.isdigit() else "a" if c.isalpha() else c for c in text[:24])
    return out + ("..." if len(text) > 24 else "")


def run_suite(name: str, frame: pd.DataFrame, expectations: list) -> list[Outcome]:
    """Validate ``frame`` against ``expectations`` (GX expectation objects) on GX's ephemeral context."""
    import great_expectations as gx

    context = _gx_context()
    # A data source of its own per validation, deleted after it: GX's execution engine caches every
    # batch it validated (the frame included) for the life of its data source, which kept every
    # check's frame of the day in memory to the end of the run.
    source_name = f"pandas_{name}_{uuid.uuid4().hex}"
    with _context_lock:  # GX's context registry is not thread-safe
        source = context.data_sources.add_pandas(source_name)
        batch_definition = source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole")
        suite = gx.ExpectationSuite(name=f"{name}_{id(frame)}")
        for expectation in expectations:
            suite.add_expectation(expectation)
    try:
        result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, result_format={"result_format": "BASIC", "partial_unexpected_count": SHOWN_VALUES})
    finally:
        with _context_lock:
            context.data_sources.delete(source_name)
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        res = item.result or {}
        observed = res.get("observed_value")
        column = config.kwargs.get("column")
        outcomes.append(Outcome(
            expectation=describe(config),
            severity="ERROR" if str(config.severity).lower().endswith("critical") else "WARN",
            success=bool(item.success),
            observed_value=None if observed is None else _short(observed),
            unexpected_count=None if res.get("unexpected_count") is None else int(res["unexpected_count"]),
            unexpected_percent=None if res.get("unexpected_percent") is None else round(
                float(res["unexpected_percent"]), 4),
            examples=tuple(mask(column, v) for v in (res.get("partial_unexpected_list") or [])[:SHOWN_VALUES]),
        ))
        if item.exception_info and item.exception_info.get("raised_exception"):
            outcomes[-1].success = False
            outcomes[-1].observed_value = "could not run: " + str(item.exception_info.get("exception_message"))[:200]
    return outcomes


def describe(config) -> str:
    """``expect_column_values_to_match_regex(ph)``: the expectation and what it looks at."""
    kwargs = config.kwargs
    target = kwargs.get("column") or kwargs.get("column_list") or (
        f"{kwargs.get('column_A')}, {kwargs.get('column_B')}" if "column_A" in kwargs else "")
    if isinstance(target, list):
        target = ", ".join(target)
    return f"{config.type}({target})" if target else config.type


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:200]
