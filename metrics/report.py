"""The weekly review's charts and its export as one self-contained HTML file.

The file works offline: plotly.js is inlined once (``include_plotlyjs=True`` on the first chart,
``False`` on the others), no stylesheet, font or script is fetched, and no link points outside
the file. It is stamped with the week, the filters, the data date and when it was made. All text
from the data (product and channel names, alert messages) is escaped with ``html.escape``; chart
labels are escaped too (plotly.js renders entities as text) and plotly writes its figure JSON
with ``<`` as ``\\u003c``, so a product named ``<script>`` stays text.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from metrics.review import Review, display_table

FONT = dict(size=16, family="Inter, Arial, sans-serif", color="#1f2933")
COLORS = ["#1f5fa8", "#9aa5b1", "#2a9d5c", "#c23b3b"]
PLOTLY_CONFIG = {"displaylogo": False, "displayModeBar": False}


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=dict(text=html.escape(title), font=dict(size=19)), font=FONT, height=height,
                      paper_bgcolor="white", plot_bgcolor="white", colorway=COLORS,
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=1, xanchor="right"),
                      margin=dict(l=10, r=10, t=70, b=10))
    fig.update_xaxes(gridcolor="#e6e9ef", automargin=True)
    fig.update_yaxes(gridcolor="#e6e9ef", automargin=True)
    return fig


def _label(s: object) -> str:
    return html.escape("" if s is None else str(s))


def figures(r: Review) -> list[go.Figure]:
    """The key charts: net sales per weekday this week vs the week before, GMV by channel, and
    the largest movers (GMV change per SKU)."""
    out = []
    money = f"({r.currency})" if r.currency else ""
    if r.daily.height:
        fig = go.Figure([go.Bar(x=r.daily["weekday"], y=r.daily["previous_week"], name="Previous week",
                                marker_color="#9aa5b1"),
                         go.Bar(x=r.daily["weekday"], y=r.daily["this_week"], name="This week", marker_color="#1f5fa8")])
        fig.update_layout(barmode="group")
        out.append(_layout(fig, f"Net sales per day {money}"))
    mix = r.channel_mix.filter(pl.col("gmv").is_not_null() & (pl.col("gmv") > 0))
    if mix.height:
        fig = go.Figure(go.Bar(x=mix["gmv"], y=[_label(c or "(none)") for c in mix["channel"]], orientation="h",
                               marker_color="#1f5fa8"))
        fig.update_yaxes(autorange="reversed")
        out.append(_layout(fig, f"GMV by channel {money}", height=max(260, 60 * mix.height + 120)))
    if r.movers.height:
        m = r.movers.sort("change")
        names = [_label(f"{n or s}") for n, s in zip(m["name"], m["sku"])]
        fig = go.Figure(go.Bar(x=m["change"], y=names, orientation="h",
                               marker_color=["#2a9d5c" if c > 0 else "#c23b3b" for c in m["change"]]))
        out.append(_layout(fig, f"Largest movers: GMV change vs previous week {money}",
                           height=max(300, 36 * m.height + 140)))
    return out


# ------------------------------------------------------------------------------------ HTML

CSS = """
body{font-family:Inter,Arial,sans-serif;color:#1f2933;margin:32px auto;max-width:1200px;padding:0 24px;font-size:18px}
h1{font-size:34px;margin-bottom:4px} h2{font-size:24px;margin-top:36px;border-bottom:2px solid #e6e9ef}
.stamp{color:#52606d;font-size:15px} .demo{background:#fff4d6;padding:6px 10px;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:17px} th,td{padding:7px 10px;border-bottom:1px solid #e6e9ef;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f5f7fa}
li{margin:8px 0} .good{color:#1d7a47} .bad{color:#b42323}
"""


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in frame.iter_rows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def stamp(r: Review, made: datetime | None = None) -> str:
    """The line that says what the file shows: week, filters, data date, when it was made."""
    made = made or datetime.now(timezone.utc)
    iso = r.week_start.isocalendar()
    channels = ", ".join(r.channels) if r.channels else "all channels"
    data = f"{r.data_date:%d %b %Y}" if r.data_date else "no data"
    return (f"Week {iso.year}-W{iso.week:02d} ({r.week_start:%a %d %b} – {r.week_end:%a %d %b %Y}) · "
            f"Filters: {channels} · Data up to {data} · Made {made:%Y-%m-%d %H:%M} UTC")


def title(r: Review) -> str:
    return f"Weekly review {r.week_start:%d %b} – {r.week_end:%d %b %Y}"


def restock_table(r: Review) -> pl.DataFrame:
    """Urgent restocks as text columns for a screen."""
    return r.restocks.select(pl.col("sku").alias("SKU"), pl.col("name").alias("Product"),
                             pl.col("recommended_qty").round(0).cast(pl.Int64).alias("Order qty"),
                             pl.col("order_by").cast(pl.String).alias("Order by"),
                             pl.col("days_of_cover").round(1).alias("Days of cover"))


def to_html(r: Review, made: datetime | None = None) -> str:
    """The review as one self-contained HTML document (module docstring)."""
    parts = [f"<h1>{html.escape(title(r))}</h1>", f"<p class='stamp'>{html.escape(stamp(r, made))}</p>"]
    if r.is_demo:
        parts.append("<p class='demo'><b>Demo data</b>: a generated shop, not real figures.</p>")
    parts.append("<h2>Highlights</h2>")
    if r.highlights:
        parts.append("<ul>" + "".join(f"<li class='{h.tone}'>{html.escape(h.text)}</li>" for h in r.highlights)
                     + "</ul>")
    else:
        parts.append("<p>No data in this week.</p>")
    parts += ["<h2>KPIs, week over week</h2>", _table(display_table(r.kpis, r.currency))]
    figs = figures(r)
    if figs:
        parts.append("<h2>Charts</h2>")
        for i, fig in enumerate(figs):
            parts.append(pio.to_html(fig, include_plotlyjs=i == 0, full_html=False, config=PLOTLY_CONFIG,
                                     default_height=f"{fig.layout.height}px"))
    if r.restocks.height:
        parts += ["<h2>Restock now</h2>", _table(restock_table(r))]
    if r.alerts:
        parts += ["<h2>Alerts</h2>", "<ul>" + "".join(
            f"<li>{html.escape(a['severity'])}: {html.escape(a['message'])}</li>" for a in r.alerts) + "</ul>"]
    parts.append(f"<p class='stamp'>Made by Storeboard · money in {html.escape(r.currency)} · KPI definitions: "
                 "metrics/registry.py</p>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title(r))}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>")


def file_name(r: Review) -> str:
    return f"storeboard-weekly-review-{r.week_start.isoformat()}.html"
