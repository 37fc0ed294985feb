"""Streamlit plumbing shared by app.py and the pages (DESIGN §6). Pages import this, never each other.

- Connection: one DuckDB connection per warehouse file (``st.cache_resource``); every query runs
  on its own cursor (DESIGN §2). Opening a held file raises ``WarehouseBusy`` (app.py says so).
- Caching: :func:`cached` wraps a loader ``fn(con, *args)`` in ``st.cache_data`` keyed on the
  args *and* ``data.warehouse.version`` (bumped by every ingest, setting change and stored
  forecast run), so an upload shows at once and nothing stale survives it.
- Filters: :func:`filters` draws the sidebar (date range preset and channels) and returns a
  ``metrics.filters.Filters``. **A page that uses the global filters calls ``ui.filters()`` once,
  at its top** (pages without them — Upload, Settings, Warehouse — don't, so their sidebar stays
  clean); anything later in the same run reads the same value with :func:`current_filters`.
  The state lives in the URL (``st.query_params``): ``range`` = 7d | 28d | 90d | this_month |
  last_month | custom, ``start``/``end`` (YYYY-MM-DD, for custom), ``channel`` repeated; the URL
  always carries every key, so a copied link reproduces the view. Switching pages keeps the
  filters (kept in the session and written back to the URL). "Today" is the last day with data
  (orders, traffic or NPS), so an old export still shows something; shown in the sidebar.
  A bad URL value falls back to the default with a warning in words.
- Output: :func:`kpi_card`, :func:`chart` (Plotly, project theme, large type), :func:`table`
  (dataframe + formula-safe CSV download), :func:`download`/:func:`download_xlsx`,
  :func:`empty_state`, :func:`text_md` (escape user text for Markdown; never raw HTML).
"""
from __future__ import annotations

import io
import re
import time
from datetime import date, timedelta
from functools import wraps
from pathlib import Path
from typing import Callable

import duckdb
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import streamlit as st

from data import warehouse
from data.export import neutralise, safe_csv
from metrics import formatting
from metrics.compute import KpiValue
from metrics.filters import Filters
from metrics.registry import KPIS

# ------------------------------------------------------------------------------------ connection


@st.cache_resource(show_spinner=False)
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    return warehouse.connect(path)


def connection() -> duckdb.DuckDBPyConnection:
    """The app's connection to the warehouse at STOREBOARD_DB (keyed on the path, so tests that
    point STOREBOARD_DB elsewhere get their own)."""
    return _connection(str(warehouse.db_path()))


def query(sql: str, params: list | None = None) -> pl.DataFrame:
    """Run one read query on its own cursor and return the result as a Polars frame."""
    with connection().cursor() as cur:
        return cur.sql(sql, params=params).pl()


def version() -> str:
    """The warehouse version (cache key of every loader)."""
    with connection().cursor() as cur:
        return warehouse.version(cur)


def cached(fn: Callable) -> Callable:
    """Decorator: ``fn(con, *args, **kwargs)`` becomes ``loader(*args, **kwargs)``, cached with
    ``st.cache_data`` on the args, the warehouse file and its version, run on its own cursor.
    Args must be hashable by Streamlit (Filters, dates, strings, tuples); results picklable."""
    def inner(path: str, version: str, *args, **kwargs):  # no leading "_": those args are not hashed
        with connection().cursor() as cur:
            return fn(cur, *args, **kwargs)
    # st.cache_data tells functions apart by module, qualified name and source: give each its own.
    inner.__module__, inner.__qualname__, inner.__name__ = fn.__module__, f"cached.{fn.__qualname__}", fn.__name__
    store = st.cache_data(show_spinner=False, max_entries=256)(inner)

    @wraps(fn)
    def loader(*args, **kwargs):
        return store(str(warehouse.db_path()), version(), *args, **kwargs)
    loader.clear = store.clear
    return loader


@cached
def table_counts(con) -> dict[str, int]:
    """Rows per canonical table."""
    return dict(warehouse.table_counts(con))


@cached
def setting(con, key: str):
    """A setting's value (or its default)."""
    return warehouse.get_setting(con, key)


@cached
def _data_days(con) -> tuple[date | None, date | None]:
    """(first, last) day with any orders, traffic or NPS answers (data.warehouse.data_span)."""
    return warehouse.data_span(con)


@cached
def channels(con) -> list[str]:
    """Channels seen in orders or traffic, sorted."""
    rows = con.execute("""select channel from order_lines where channel is not null
                          union select channel from traffic order by 1""").fetchall()
    return [r[0] for r in rows]


def has_data(*tables: str) -> bool:
    """True when any of the tables holds rows."""
    counts = table_counts()
    return any(counts.get(t, 0) for t in tables)


# ------------------------------------------------------------------------------------ filters

PRESETS = {"7d": "Last 7 days", "28d": "Last 28 days", "90d": "Last 90 days",
           "this_month": "This month", "last_month": "Last month", "custom": "Custom"}
DEFAULT_PRESET = "28d"
_QP_KEYS = ("range", "start", "end", "channel")
_STATE = "_filters_qp"  # the session's last filter query params (restored after a page switch)


def today() -> date:
    """The last day with data in the warehouse (the real today on an empty warehouse)."""
    return _data_days()[1] or date.today()


def preset_range(preset: str, anchor: date) -> tuple[date, date]:
    """(start, end) of a preset ending on ``anchor`` (inclusive days); custom is not a preset."""
    if preset.endswith("d") and preset[:-1].isdigit():
        return anchor - timedelta(days=int(preset[:-1]) - 1), anchor
    if preset == "this_month":
        return anchor.replace(day=1), anchor
    if preset == "last_month":
        end = anchor.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    raise ValueError(f"unknown range {preset!r}")


def parse_params(params: dict[str, list[str]], anchor: date, known: list[str]) -> tuple[Filters, str, list[str]]:
    """(Filters, preset, problems) from query params (each key → its list of values). Bad values
    fall back to the default, each named in ``problems`` (one sentence each)."""
    problems = []
    preset = (params.get("range") or [DEFAULT_PRESET])[-1]
    if preset not in PRESETS:
        problems.append(f"Unknown range “{preset}” in the link; showing {PRESETS[DEFAULT_PRESET].lower()}.")
        preset = DEFAULT_PRESET
    if preset == "custom":
        try:
            start = date.fromisoformat((params.get("start") or [""])[-1])
            end = date.fromisoformat((params.get("end") or [""])[-1])
            if end < start:
                raise ValueError
        except ValueError:
            problems.append("The link's custom range needs start ≤ end as YYYY-MM-DD; showing the last 28 days.")
            preset, (start, end) = DEFAULT_PRESET, preset_range(DEFAULT_PRESET, anchor)
    else:
        start, end = preset_range(preset, anchor)
    chans = list(dict.fromkeys(params.get("channel") or []))
    unknown = [c for c in chans if c not in known]
    if unknown:
        problems.append(f"No data for channel {', '.join(unknown)}; left out of the filter.")
    return Filters(start, end, tuple(c for c in chans if c in known)), preset, problems


def to_params(f: Filters, preset: str) -> dict[str, list[str]]:
    """Query params of a filter state (every key present, so a link is explicit)."""
    out = {"range": [preset]}
    if preset == "custom":
        out |= {"start": [f.start.isoformat()], "end": [f.end.isoformat()]}
    if f.channels:
        out["channel"] = list(f.channels)
    return out


def _url_params() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in _QP_KEYS if st.query_params.get_all(k)}


def _write_url(params: dict[str, list[str]]) -> None:
    st.session_state[_STATE] = params
    if _url_params() != params:
        for k in _QP_KEYS:
            if k in st.query_params and k not in params:
                del st.query_params[k]
        for k, v in params.items():
            st.query_params[k] = v if len(v) > 1 else v[0]


def _on_widget() -> None:
    """A filter widget changed: the new state goes to the URL (the source of truth)."""
    s = st.session_state
    preset = s["f_range"]
    if preset == "custom":
        start, end = s.get("f_start"), s.get("f_end")
        params = {"range": ["custom"], "start": [str(start)], "end": [str(end)]}
    else:
        params = {"range": [preset]}
    if s.get("f_channel"):
        params["channel"] = list(s["f_channel"])
    _write_url(params)


def filters() -> Filters:
    """Draw the sidebar filters (once per page run) and return them; see the module docstring."""
    anchor, known = today(), channels()
    params = _url_params()
    if not params and _STATE in st.session_state:  # a page switch dropped them: restore
        params = st.session_state[_STATE]
    f, preset, problems = parse_params(params, anchor, known)
    _write_url(to_params(f, preset))
    # widgets show the URL's state (set before they are drawn; no default value= besides)
    st.session_state.update(f_range=preset, f_start=f.start, f_end=f.end, f_channel=list(f.channels))
    with st.sidebar:
        st.caption(f"Data up to **{anchor:%a %d %b %Y}**" if _data_days()[1] else "No data yet")
        st.selectbox("Date range", list(PRESETS), format_func=PRESETS.get, key="f_range", on_change=_on_widget)
        if preset == "custom":
            c1, c2 = st.columns(2)
            c1.date_input("From", key="f_start", on_change=_on_widget, format="YYYY-MM-DD")
            c2.date_input("To", key="f_end", on_change=_on_widget, format="YYYY-MM-DD")
        st.multiselect("Channels", known, key="f_channel", on_change=_on_widget, placeholder="All channels")
        st.caption(f"{f.start:%d %b %Y} – {f.end:%d %b %Y} · {f.days} days")
    for p in problems:
        st.warning(p, icon=":material/link_off:")
    st.session_state["_filters"] = f
    return f


def current_filters() -> Filters:
    """The filters :func:`filters` drew in this run (it must have been called first)."""
    if "_filters" not in st.session_state:
        raise RuntimeError("ui.filters() has not been called on this page")
    return st.session_state["_filters"]


# ------------------------------------------------------------------------------------ text and numbers

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&])")


def text_md(s: object) -> str:
    """User text made inert for st.markdown: every Markdown/Streamlit directive character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", "" if s is None else str(s)).replace("\n", " ")


def fmt(value: float | None, unit: str, currency: str = "") -> str:
    """A KPI value as shown on cards and tables (metrics.formatting.fmt, compact money)."""
    return formatting.fmt(unit, value, currency, compact=True)


def fmt_delta(v: KpiValue, unit: str) -> str | None:
    """Change vs the previous period: percentage points for ratios and scores, else %."""
    if v.delta is None:
        return None
    if unit == "ratio":
        return f"{100 * v.delta:+.2f} pp"
    if unit == "score":
        return f"{v.delta:+.1f}"
    return None if v.delta_pct is None else f"{v.delta_pct:+.1%}"


def currency() -> str:
    return setting("currency") or ""


# ------------------------------------------------------------------------------------ output

TARGET_TEXT = {"met": ":green[:material/check_circle: target {t} met]",
               "below": ":orange[:material/warning: below target {t}]",
               "above": ":orange[:material/warning: above target {t}]"}


def kpi_card(v: KpiValue, sparkline: list[float] | None = None, key: str = "") -> None:
    """A KPI card: value, delta vs the previous period (coloured by the KPI's direction),
    sparkline, year-ago value and target status, and the metric passport in a popover."""
    kpi = KPIS[v.key]
    cur = currency()
    color = "off" if kpi.higher_is_better is None else ("normal" if kpi.higher_is_better else "inverse")
    with st.container(border=True):
        st.metric(kpi.label, fmt(v.value, kpi.unit, cur), fmt_delta(v, kpi.unit), delta_color=color,
                  chart_data=[x for x in (sparkline or []) if x is not None] or None, chart_type="area",
                  delta_description="vs previous period" if v.delta is not None else None)
        notes = []
        if v.year_ago is not None:
            notes.append(f"year ago {fmt(v.year_ago, kpi.unit, cur)}")
        if v.target_status:
            notes.append(TARGET_TEXT[v.target_status].format(t=v.target))
        st.caption(" · ".join(notes) or "no comparison yet")
        with st.popover("Passport", icon=":material/info:", key=f"{key}passport_{v.key}"):
            passport(v.key)


def passport(key: str) -> None:
    """A KPI's metric passport: formula, convention, how alternatives differ."""
    kpi = KPIS[key]
    st.markdown(f"**{kpi.label}** ({kpi.unit})")
    st.markdown(f"**Formula:** {text_md(kpi.formula)}")
    if kpi.convention:
        st.markdown(f"**Convention:** {text_md(kpi.convention)}")
    if kpi.alternatives:
        st.markdown(f"**Alternatives:** {text_md(kpi.alternatives)}")


COLORS = ["#1f5fa8", "#e07b00", "#2a9d5c", "#c23b3b", "#7b4fb5", "#0f9fb0", "#8c6d31", "#d45fa0"]
pio.templates["storeboard"] = go.layout.Template(layout=dict(
    font=dict(size=16, family="Inter, Arial, sans-serif", color="#1f2933"),
    title=dict(font=dict(size=19), x=0.01, xanchor="left"), colorway=COLORS, paper_bgcolor="white", plot_bgcolor="white",
    xaxis=dict(gridcolor="#e6e9ef", linecolor="#9aa5b1", automargin=True),
    yaxis=dict(gridcolor="#e6e9ef", linecolor="#9aa5b1", automargin=True, zerolinecolor="#c8ced6"),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, x=1, xanchor="right", title_text=""),
    hoverlabel=dict(font_size=15), margin=dict(l=10, r=10, t=60, b=10)))
pio.templates.default = px.defaults.template = "storeboard"  # figures get the theme when created


def chart(fig: go.Figure, key: str | None = None, height: int = 380) -> None:
    """Draw a Plotly figure with the project theme (large type, readable on a projector)."""
    fig.update_layout(template="storeboard", height=height, legend_title_text="")
    st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False, "displayModeBar": False})


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """Formula-safe CSV bytes of ``frame`` (data/export.py), UTF-8 with a BOM for Excel."""
    return ("\ufeff" + safe_csv(frame)).encode()


def download(frame: pl.DataFrame, file_name: str, label: str = "Download CSV", key: str | None = None) -> None:
    """A formula-safe CSV download of ``frame``, written only when clicked (not on every rerun)."""
    st.download_button(label, lambda: csv_bytes(frame), file_name=file_name, mime="text/csv",
                       key=key, on_click="ignore", icon=":material/download:")


def xlsx_bytes(frame: pl.DataFrame) -> bytes:
    """Excel bytes of ``frame``: text written as text (never as formulas) and neutralised as in CSV."""
    import xlsxwriter
    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf, {"strings_to_formulas": False, "strings_to_urls": False}) as wb:
        neutralise(frame).write_excel(wb, autofit=True)
    return buf.getvalue()


def download_xlsx(frame: pl.DataFrame, file_name: str, label: str = "Download Excel", key: str | None = None) -> None:
    """A formula-safe Excel download of ``frame``."""
    st.download_button(label, lambda: xlsx_bytes(frame), file_name=file_name, key=key, on_click="ignore",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/download:")


def table(frame: pl.DataFrame, file_name: str, key: str, *, column_config: dict | None = None,
          height: int | str = "auto", alt: str | None = None, xlsx: bool = False, limit: int = 5_000) -> None:
    """A dataframe (its first ``limit`` rows: a browser grid of millions is slow) with the download
    of every row (CSV, and Excel with ``xlsx``) underneath; dates shown as dates."""
    config = {c: st.column_config.DateColumn(format="YYYY-MM-DD") for c, t in frame.schema.items() if t == pl.Date}
    st.dataframe(frame.head(limit), hide_index=True, column_config=config | (column_config or {}), height=height,
                 alt=alt or file_name)
    if frame.height > limit:
        st.caption(f"The first {limit:,} of {frame.height:,} rows; the download has them all.")
    with st.container(horizontal=True):
        download(frame, f"{file_name}.csv", key=f"{key}_csv")
        if xlsx:
            download_xlsx(frame, f"{file_name}.xlsx", key=f"{key}_xlsx")


UPLOAD_HINT = ("Load the exports on the **Upload** page (Data → Upload) or with "
               "`python -m data.ingest FILE…`; the kind is detected from the headers.")


def empty_state(text: str) -> None:
    """Say what is missing and how to load it (``text``: e.g. "No orders in this range")."""
    st.info(f"**{text}.** {UPLOAD_HINT}", icon=":material/upload_file:")


# ------------------------------------------------------------------------------------ demo → own warehouse

def start_own_warehouse() -> Path:
    """Move the demo warehouse aside (kept beside it as ``<name>.demo-<timestamp>.duckdb``) and
    open a fresh, empty one at the same path, so ``make run`` keeps serving the user's own data.
    Returns where the demo went. Other sessions' queries in flight fail once and recover on rerun."""
    path = warehouse.db_path()
    with connection().cursor() as cur:
        if not warehouse.get_setting(cur, "is_demo"):
            raise ValueError("this warehouse is not the demo: nothing was moved")
    connection().close()  # checkpoints the file; the cached handle is dropped below
    _connection.clear()
    aside = path.with_name(f"{path.stem}.demo-{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}")
    path.rename(aside)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        wal.rename(aside.with_name(aside.name + ".wal"))
    st.cache_data.clear()
    connection()  # creates and migrates the empty warehouse
    return aside


# ------------------------------------------------------------------------------------ shared loaders

@cached
def kpis(con, f: Filters, keys: tuple[str, ...] | None = None) -> dict[str, KpiValue]:
    """metrics.compute.kpis for ``f`` (every KPI, or ``keys``)."""
    from metrics.compute import kpis as compute_kpis
    return compute_kpis(con, f, list(keys) if keys else None)


@cached
def _alerts(con, f: Filters, values: dict) -> list[dict]:
    from metrics.alerts import alerts as compute_alerts
    return compute_alerts(con, f, values)


def alerts(f: Filters) -> list[dict]:
    """metrics.alerts.alerts for ``f``, from the (cached) values of every KPI."""
    return _alerts(f, kpis(f))


@cached
def trends(con, f: Filters, keys: tuple[str, ...], grain: str = "day") -> pl.DataFrame:
    """metrics.analyses.trend of each KPI in ``keys``, side by side: bucket, then one column per KPI."""
    from metrics.analyses import trend
    out = None
    for k in keys:
        t = trend(con, f, k, grain).rename({"value": k})
        out = t if out is None else out.join(t, on="bucket", how="left")
    return out


def grain_for(f: Filters) -> str:
    """Trend buckets: days up to 92 days, weeks up to a year, months beyond."""
    return "day" if f.days <= 92 else "week" if f.days <= 366 else "month"


def kpi_grid(f: Filters, keys: list[str], key: str, per_row: int = 4) -> dict[str, KpiValue]:
    """KPI cards for ``keys`` in rows of ``per_row``, each with its sparkline over the range;
    returns every KPI's value."""
    values = kpis(f)  # every KPI: one cached computation per filter, shared with alerts and other pages
    spark = trends(f, tuple(keys), grain_for(f))
    for i in range(0, len(keys), per_row):
        for col, k in zip(st.columns(per_row), keys[i:i + per_row]):
            with col:
                kpi_card(values[k], spark[k].to_list(), key=key)
    return values
