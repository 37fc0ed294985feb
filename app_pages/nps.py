"""NPS: the score with its 95% interval over time, the distribution of scores and the survey
comments with a search (metrics.analyses; comments are shown as text, never as HTML)."""
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from metrics import analyses

CARDS = ["nps", "nps_responses"]


@ui.cached
def nps_data(con, f, grain):
    return analyses.nps_trend(con, f, grain), analyses.nps_distribution(con, f)


@ui.cached
def comments(con, f, search: str):
    return analyses.nps_comments(con, f, search)


def render() -> None:
    st.title("NPS")
    f = ui.filters()
    if not ui.has_data("nps_responses"):
        ui.empty_state("No NPS survey answers yet: load a survey export (score 0–10, date, optional comment)")
        return
    values = ui.kpi_grid(f, CARDS, key="nps_", per_row=3)
    low, high = values["nps_ci_low"], values["nps_ci_high"]
    if values["nps"].value is not None:
        st.markdown(f"95% interval of the period's NPS: **{ui.fmt(low.value, 'score')} to {ui.fmt(high.value, 'score')}**"
                    " (normal approximation of the +1/0/−1 score).")

    grain = "week" if f.days <= 184 else "month"
    trend, dist = nps_data(f, grain)
    st.subheader("NPS over time")
    fig = go.Figure([
        go.Scatter(x=trend["bucket"], y=trend["ci_high"], mode="lines", line=dict(width=0), showlegend=False,
                   hoverinfo="skip"),
        go.Scatter(x=trend["bucket"], y=trend["ci_low"], mode="lines", line=dict(width=0), fill="tonexty",
                   fillcolor="rgba(31,95,168,0.18)", name="95% interval"),
        go.Scatter(x=trend["bucket"], y=trend["nps"], mode="lines+markers", name="NPS", line=dict(color="#1f5fa8"))])
    fig.update_layout(title=f"NPS per {grain} with its 95% interval", yaxis_range=[-100, 100])
    ui.chart(fig, key="nps_trend")
    if trend["thin_sample"].any():
        st.caption(f"{trend['thin_sample'].sum()} of {trend.height} {grain}s rest on fewer than 30 answers (wide intervals).")
    ui.table(trend, f"nps_trend_{f.start}_{f.end}", key="nps_trend",
             column_config={c: st.column_config.NumberColumn(format="%.1f") for c in ("nps", "ci_low", "ci_high")})

    st.subheader("Distribution of scores")
    colors = ["#c23b3b"] * 7 + ["#9aa5b1"] * 2 + ["#2a9d5c"] * 2
    left, right = st.columns([3, 2])
    with left:
        ui.chart(px.bar(dist, x="score", y="responses", title="Answers per score (detractors 0–6, promoters 9–10)")
                 .update_traces(marker_color=colors).update_xaxes(dtick=1), key="nps_dist", height=420)
    with right:
        ui.table(dist, f"nps_distribution_{f.start}_{f.end}", key="nps_dist", height=420,
                 column_config={"share": st.column_config.NumberColumn(format="percent")})

    st.subheader("Comments")
    search = st.text_input("Search the comments", key="nps_search", placeholder="e.g. delivery")
    found = comments(f, search.strip())
    st.caption(f"{found.height:,} comment{'s' * (found.height != 1)}" + (f" containing “{search.strip()}”" if search.strip() else ""))
    ui.table(found, f"nps_comments_{f.start}_{f.end}", key="nps_comments", height=360,
             column_config={"comment": st.column_config.TextColumn(width="large")})


render()
