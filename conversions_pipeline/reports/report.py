"""The CallRail-vs-Facebook report (pure: mart rows in, tables, charts and HTML out).

The waterfall walks from the rows the source system counted to the conversions Ads Manager
attributes, one step per cause (``dbt_like_sql/models/reconciliation_waterfall.sql``). Charts are
drawn with matplotlib: PNG for the Dagster UI, inline SVG for the standalone HTML file (it opens
without a network).
"""

from __future__ import annotations

import base64
import html
import io
from datetime import date

import pandas as pd


class _Pyplot:
    """matplotlib.pyplot, imported on first use (it takes about a second: runs that draw no chart,
    and every process that only loads the Definitions, do not pay for it)."""

    def __getattr__(self, name):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot

        return getattr(pyplot, name)


plt = _Pyplot()

TREND_COLUMNS = ("source_rows", "sent", "accepted", "attributed")
KEYS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "external_id", "fbc", "fbp", "client_ip_address",
        "client_user_agent")


def waterfall(steps: pd.DataFrame) -> pd.DataFrame:
    """The waterfall summed over lead types and days: step, label, leads (totals and changes)."""
    if steps.empty:
        return pd.DataFrame(columns=["step", "label", "leads", "is_total"])
    out = (steps.assign(leads=pd.to_numeric(steps["leads"]), is_total=pd.to_numeric(steps["is_total"]))
           .groupby(["step", "label"], as_index=False).agg(leads=("leads", "sum"), is_total=("is_total", "max"))
           .sort_values(["step", "leads"], ascending=[True, True]))
    return out[out["is_total"].astype(bool) | (out["leads"].round(1) != 0)].reset_index(drop=True)


def waterfall_text(table: pd.DataFrame) -> str:
    """The waterfall as an aligned text table (terminal and markdown alike)."""
    if table.empty:
        return "no leads for these days"
    rows = pd.DataFrame({"step": table["label"],
                         "leads": [f"{v:,.0f}" if t else f"{v:+,.1f}" if abs(v - round(v)) > 1e-9 else f"{v:+,.0f}"
                                   for v, t in zip(table["leads"], table["is_total"])]})
    return rows.to_markdown(index=False, colalign=("left", "right"))


def _figure_bytes(fig, fmt: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def waterfall_chart(table: pd.DataFrame, fmt: str = "png") -> bytes:
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(4, len(table)) + 1))
    running = 0.0
    labels = list(table["label"])[::-1]
    bars = []
    for value, total in zip(table["leads"], table["is_total"]):
        if total:
            bars.append((0.0, value, "#3b6ea8"))
            running = value
        else:
            start = running + min(value, 0)
            bars.append((start, abs(value), "#c8553d" if value < 0 else "#5a9e6f"))
            running += value
    for i, (left, width, color) in enumerate(bars[::-1]):
        ax.barh(i, width, left=left, color=color)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("leads")
    ax.set_title("From the source system's count to Facebook's")
    ax.grid(axis="x", alpha=0.3)
    return _figure_bytes(fig, fmt)


def trend_chart(daily: pd.DataFrame, fmt: str = "png") -> bytes:
    per_day = daily.groupby("partition_date")[list(TREND_COLUMNS)].sum().sort_index()
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for column in TREND_COLUMNS:
        ax.plot([str(d)[:10] for d in per_day.index], per_day[column], marker="o", label=column.replace("_", " "))
    ax.set_ylabel("leads")
    ax.set_title("Source vs sent vs accepted vs attributed, per day")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _figure_bytes(fig, fmt)


def coverage_chart(coverage: pd.DataFrame, fmt: str = "png") -> bytes:
    shares = key_shares(coverage)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.bar(shares.index, shares.values * 100, color="#3b6ea8")
    ax.set_ylabel("% of sent events")
    ax.set_ylim(0, 100)
    ax.set_title("Match keys carried by the events sent")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    return _figure_bytes(fig, fmt)


def key_shares(coverage: pd.DataFrame) -> pd.Series:
    """Share of sent events carrying each key, weighted by events, over the rows given."""
    if coverage.empty:
        return pd.Series(0.0, index=list(KEYS))
    weights = pd.to_numeric(coverage["sent_events"])
    return pd.Series({k: float((pd.to_numeric(coverage[f"share_{k}"]) * weights).sum() / max(weights.sum(), 1))
                      for k in KEYS})


def top_reasons(lost: pd.DataFrame, n: int = 8) -> pd.DataFrame:
    """The most frequent reasons leads were not sent or were rejected, from counts by outcome and
    reason (``lost_reasons``)."""
    if lost.empty:
        return pd.DataFrame(columns=["outcome", "reason", "leads"])
    counts = lost.assign(leads=pd.to_numeric(lost["leads"]))
    return (counts.groupby(["outcome", "reason"], dropna=False)["leads"].sum().reset_index()
            .sort_values("leads", ascending=False, kind="stable").head(n).reset_index(drop=True))


def png_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def html_report(first: date, last: date, table: pd.DataFrame, daily: pd.DataFrame, coverage: pd.DataFrame,
                reasons: pd.DataFrame, notes: list[str]) -> str:
    """One standalone HTML file: the waterfall, the daily trend, match-key coverage, top reasons."""
    def svg(data: bytes) -> str:
        text = data.decode()
        return text[text.index("<svg"):]

    def frame(df: pd.DataFrame, cls: str) -> str:
        return df.to_html(index=False, classes=cls, border=0, float_format=lambda v: f"{v:,.1f}")

    waterfall_rows = table.assign(leads=table["leads"].round(1))[["label", "leads"]].rename(columns={"label": "step"})
    charts = [("waterfall", waterfall_chart(table, "svg") if len(table) else None),
              ("trend", trend_chart(daily, "svg") if len(daily) else None),
              ("coverage", coverage_chart(coverage, "svg") if len(coverage) else None)]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>CallRail vs Facebook, {first} to {last}</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;"
             "text-align:right}td:first-child,th:first-child{text-align:left}.note{color:#555}</style></head><body>",
             f"<h1>CallRail vs Facebook: {first} to {last}</h1>",
             *[f"<p class='note'>{html.escape(n)}</p>" for n in notes],
             "<h2>Where the leads went</h2>", frame(waterfall_rows, "waterfall")]
    for name, chart in charts:
        if chart is not None:
            parts.append(f"<figure class='chart' id='chart-{name}'>{svg(chart)}</figure>")
        if name == "waterfall":
            parts += ["<h2>Per day</h2>", frame(daily, "daily")]
        if name == "trend":
            parts += ["<h2>Match keys sent</h2>", frame(coverage, "coverage")]
    parts += ["<h2>Top reasons not sent or rejected</h2>", frame(reasons, "reasons"), "</body></html>"]
    return "\n".join(parts)
