"""Overview: the period's headline KPIs (value, change, year ago, target, passport), the daily
trend of a chosen KPI and the alerts (metrics.compute, metrics.analyses, metrics.alerts)."""
import plotly.graph_objects as go
import polars as pl
import streamlit as st

import ui
from metrics.registry import KPIS

CARDS = ["gmv", "net_sales", "orders", "aov", "visitors", "conversion_rate", "buyers", "sales_per_buyer",
         "repurchase_rate", "new_customer_share", "gross_margin", "nps"]
ICONS = {"critical": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


def render() -> None:
    st.title("Overview")
    f = ui.filters()
    if not ui.has_data("order_lines", "traffic", "nps_responses"):
        ui.empty_state("No orders, traffic or NPS answers yet")
        return
    ui.kpi_grid(f, CARDS, key="ov_")

    st.subheader("Trend")
    pick = st.selectbox("KPI", CARDS, format_func=lambda k: KPIS[k].label, key="ov_trend_kpi")
    grain = ui.grain_for(f)
    t = ui.trends(f, (pick,), grain)
    fig = go.Figure(go.Scatter(x=t["bucket"], y=t[pick], mode="lines+markers", name=KPIS[pick].label))
    fig.update_layout(title=f"{KPIS[pick].label} per {grain}", yaxis_tickformat=".1%" if KPIS[pick].unit == "ratio" else None)
    ui.chart(fig, key="ov_trend_chart")
    ui.table(t.rename({pick: KPIS[pick].label}), f"trend_{pick}_{f.start}_{f.end}", key="ov_trend")

    st.subheader("Alerts")
    found = ui.alerts(f)
    if not found:
        st.success("Nothing needs attention in this period.", icon=":material/check_circle:")
    for a in found:
        getattr(st, {"critical": "error", "warning": "warning", "info": "info"}[a["severity"]])(
            ui.text_md(a["message"]), icon=ICONS[a["severity"]])
    if found:
        ui.download(pl.DataFrame(found), f"alerts_{f.start}_{f.end}.csv", key="ov_alerts_csv")


render()
