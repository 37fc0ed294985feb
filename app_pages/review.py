"""Weekly review (viewer), made for screen sharing: a Monday–Sunday week against the week before.

The week and the channels live in the URL (``week=YYYY-MM-DD`` (its Monday), ``channel``
repeated), so a link reproduces the review. ``present=1`` is presentation mode: the sidebar
collapsed, no controls, large type; with ``refresh=N`` (seconds, at least 10) the review redraws
itself every N seconds for a wall screen, picking up new uploads. The review's numbers and text
come from metrics/review.py, its charts and the HTML export from metrics/report.py.
"""
from datetime import date

import streamlit as st

import ui
from metrics import report, review
from metrics.registry import KPIS

MIN_REFRESH = 10
TONE = {"good": (st.success, ":material/trending_up:"), "bad": (st.warning, ":material/priority_high:"),
        "neutral": (st.info, ":material/info:")}
CARDS = ("net_sales", "orders", "conversion_rate", "aov", "gross_margin", "repurchase_rate", "visitors", "nps")


@ui.cached
def _weeks(con) -> list[date]:
    return review.weeks(con)


@ui.cached
def _review(con, week: date, channels: tuple[str, ...]) -> review.Review:
    return review.build(con, week, channels)


def _week_label(monday: date) -> str:
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d} · {monday:%d %b} – {review.week_filters(monday).end:%d %b %Y}"


def _chosen_week(weeks: list[date]) -> date:
    try:
        asked = date.fromisoformat(st.query_params.get("week", ""))
    except ValueError:
        asked = None
    if asked is not None and review.monday(asked) in weeks:
        return review.monday(asked)
    if "week" in st.query_params:
        st.warning("The link's week has no full week of data; showing the last full week.", icon=":material/link_off:")
    return weeks[0]


def _refresh_seconds() -> int | None:
    raw = st.query_params.get("refresh")
    return max(MIN_REFRESH, int(raw)) if raw and raw.isdigit() and int(raw) > 0 else None


def _controls(weeks: list[date], week: date, channels: tuple[str, ...]) -> tuple[date, tuple[str, ...]]:
    c1, c2, c3 = st.columns([2, 2, 1.2], vertical_alignment="bottom")
    week = c1.selectbox("Week", weeks, index=weeks.index(week), format_func=_week_label, key="rv_week")
    known = ui.channels()
    channels = tuple(c2.multiselect("Channels", known, default=[c for c in channels if c in known],
                                    placeholder="All channels", key="rv_channels"))
    st.query_params["week"] = week.isoformat()
    st.query_params["channel"] = list(channels)
    with c3.popover("Present", icon=":material/co_present:", width="stretch"):
        st.caption("Large type, no sidebar. Auto-refresh redraws the review for a wall screen.")
        every = st.number_input("Auto-refresh every (seconds, 0 = off)", 0, 3600, 0, step=30, key="rv_every")
        if st.button("Start presentation", type="primary", key="rv_present"):
            st.query_params["present"] = "1"
            if every:
                st.query_params["refresh"] = str(max(MIN_REFRESH, every))
            st.rerun()
    return week, channels


def _highlights(r: review.Review, present: bool) -> None:
    if not r.highlights:
        st.caption("Nothing to highlight: no data in this week.")
    for h in r.highlights:
        box, icon = TONE[h.tone]
        if present:  # large type; no icon (it would sit above the heading's first line)
            box(f"### {ui.text_md(h.text)}")
        else:
            box(ui.text_md(h.text), icon=icon)


def _cards(r: review.Review) -> None:
    """The headline KPIs as large cards (presentation mode), deltas coloured by each KPI's direction."""
    rows = {row["key"]: row for row in r.kpis.iter_rows(named=True)}
    shown = [rows[k] for k in CARDS if k in rows]
    for start in range(0, len(shown), 4):
        for col, row in zip(st.columns(4), shown[start:start + 4]):
            delta = review.fmt_delta(row["unit"], row["delta"], r.currency)
            good = KPIS[row["key"]].higher_is_better
            col.metric(row["label"], review.fmt(row["unit"], row["value"], r.currency),
                       None if delta == "—" else delta, border=True,
                       delta_color="off" if good is None else ("normal" if good else "inverse"))


def _body(week: date, channels: tuple[str, ...], present: bool) -> None:
    r = _review(week, channels)
    st.caption(report.stamp(r).rsplit(" · Made", 1)[0])
    st.subheader("Highlights")
    _highlights(r, present)
    st.subheader("KPIs, week over week")
    if present:
        _cards(r)
    table = review.display_table(r.kpis, r.currency)
    if present:
        st.dataframe(table, hide_index=True, height="content", row_height=44, alt="KPIs week over week")
    else:
        ui.table(table, f"weekly-review-{week.isoformat()}", key="rv_kpis", height="content",
                 alt="KPIs week over week")
    st.subheader("Key charts")
    for i, fig in enumerate(report.figures(r)):
        ui.chart(fig, key=f"rv_chart_{i}", height=int(fig.layout.height * (1.2 if present else 1)))
    st.subheader("Restock now")
    if r.restocks.height:
        st.dataframe(report.restock_table(r), hide_index=True, height="content", alt="Urgent restocks")
    else:
        st.caption("No urgent restocks in the latest stored restock plan (or no plan stored yet: the "
                   "Inventory & restock page runs the forecast).")
    if not present:
        st.download_button("Export as HTML", lambda: report.to_html(r).encode(), file_name=report.file_name(r),
                           mime="text/html", on_click="ignore", icon=":material/download:", key="rv_export",
                           help="One self-contained file (charts included) that opens offline in any browser.")


def _presentation(channels: tuple[str, ...]) -> None:
    """The shared-screen view; the week is chosen inside, so a wall screen that auto-refreshes
    moves on to a new week when its data arrives (unless the link names a week)."""
    weeks = _weeks()
    if not weeks:
        ui.empty_state("No orders, traffic or NPS answers yet, so there is no week to review")
        return
    week = _chosen_week(weeks)
    st.markdown(f"## {_week_label(week)}")
    _body(week, channels, present=True)


def render() -> None:
    present = st.query_params.get("present") == "1"
    channels = tuple(st.query_params.get_all("channel"))
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    left.title("Weekly review")
    if present:
        st.set_page_config(initial_sidebar_state="collapsed")
        if right.button("Exit presentation", icon=":material/close:", key="rv_exit"):
            for k in ("present", "refresh"):
                st.query_params.pop(k, None)
            st.rerun()
        every = _refresh_seconds()
        (st.fragment(run_every=every)(_presentation) if every else _presentation)(channels)
        return
    weeks = _weeks()
    if not weeks:
        ui.empty_state("No orders, traffic or NPS answers yet, so there is no week to review")
        return
    week, channels = _controls(weeks, _chosen_week(weeks), channels)
    _body(week, channels, present=False)


render()
