"""Customers: new vs returning, repurchase, monthly cohort retention and RFM segments (metrics.analyses)."""
from dataclasses import replace
from datetime import date

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from metrics import analyses

CARDS = ["buyers", "repurchase_rate", "returning_customer_rate", "new_customer_share"]


@ui.cached
def cohorts(con, f):
    return analyses.cohorts(con, f, months=12)


def cohort_filters(f):
    """The cohorts shown: every month of the range, and at least the 12 months ending with it."""
    end_month = f.end.replace(day=1)
    first = date(end_month.year - (end_month.month <= 11), (end_month.month - 12) % 12 + 1, 1)
    return replace(f, start=min(f.start, first))


@ui.cached
def rfm(con, f):
    per_customer = analyses.rfm(con, f)
    return per_customer, analyses.summarise_rfm(per_customer)


def render() -> None:
    st.title("Customers")
    f = ui.filters()
    if not ui.has_data("order_lines"):
        ui.empty_state("No orders yet: load an orders export (Shopify, WooCommerce, Taobao, …)")
        return
    st.caption("Customer rates count identified customers only (orders with a customer id).")
    ui.kpi_grid(f, CARDS, key="cu_")

    st.subheader("New vs returning")
    grain = "week" if f.days <= 184 else "month"
    t = ui.trends(f, ("new_customer_share", "returning_customer_rate", "repurchase_rate"), grain)
    fig = go.Figure([go.Bar(x=t["bucket"], y=t["new_customer_share"], name="new"),
                     go.Bar(x=t["bucket"], y=t["returning_customer_rate"], name="returning"),
                     go.Scatter(x=t["bucket"], y=t["repurchase_rate"], name="repurchase rate", mode="lines+markers")])
    fig.update_layout(barmode="stack", yaxis_tickformat=".0%", title=f"Customers per {grain}: new and returning shares")
    ui.chart(fig, key="cu_newret")
    ui.table(t, f"customers_{grain}_{f.start}_{f.end}", key="cu_newret",
             column_config={c: st.column_config.NumberColumn(format="percent") for c in t.columns if c != "bucket"})

    st.subheader("Cohort retention")
    cf = cohort_filters(f)
    c = cohorts(cf)
    st.caption(f"Cohorts of {cf.start:%b %Y} – {cf.end:%b %Y} (at least the 12 months up to the range's end).")
    if c.is_empty():
        st.caption("No first orders in the months of this range.")
    else:
        grid = c.pivot(on="month_index", index="cohort", values="retention").sort("cohort")
        months = [col for col in grid.columns if col != "cohort"]
        fig = go.Figure(go.Heatmap(z=grid.select(months).to_numpy(), x=[f"+{m}" for m in months],
                                   y=[d.strftime("%Y-%m") for d in grid["cohort"]], colorscale="Blues",
                                   zmin=0, zmax=1, texttemplate="%{z:.0%}", hoverongaps=False,
                                   colorbar=dict(tickformat=".0%")))
        fig.update_layout(title="Share of each month's new customers buying again k months later",
                          yaxis=dict(autorange="reversed", type="category"), xaxis_title="months after the first order")
        ui.chart(fig, key="cu_cohorts", height=max(320, 34 * grid.height + 120))
        ui.table(c, f"cohorts_{f.start}_{f.end}", key="cu_cohorts",
                 column_config={"retention": st.column_config.NumberColumn(format="percent")})

    st.subheader(f"RFM segments as of {f.end:%d %b %Y}")
    per_customer, summary = rfm(f)
    left, right = st.columns([1, 1])
    with left:
        ui.chart(px.bar(summary, x="segment", y="customers", title="Customers per segment"), key="cu_rfm", height=340)
    with right:
        ui.table(summary, f"rfm_segments_{f.end}", key="cu_rfm_summary",
                 column_config={"share": st.column_config.NumberColumn(format="percent")})
    st.markdown(f"**All {per_customer.height:,} customers with their segment** (largest net sales first)")
    ui.table(per_customer, f"rfm_customers_{f.end}", key="cu_rfm_all", height=300, limit=1_000)
    st.caption("Segments: new (first order in the last 30 days), high value (ordered in the last 90 days, "
               "≥ 2 orders in a year, top 20% by net sales), active (last 90 days), at risk (90–179 days), "
               "dormant (180 days or more).")


render()
