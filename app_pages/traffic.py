"""Traffic & conversion: visitors and page views over time, the channel mix, conversion by channel
and the visit → cart → purchase funnel (metrics.analyses)."""
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from metrics import analyses

CARDS = ["visitors", "pageviews", "conversion_rate", "add_to_cart_rate", "bounce_rate", "pages_per_visit",
         "order_conversion_rate", "buyers"]


@ui.cached
def mix(con, f):
    return analyses.channel_mix(con, f)


@ui.cached
def funnel(con, f):
    return analyses.funnel(con, f)


@ui.cached
def conversion_by_channel(con, f, grain):
    return analyses.trend_by_channel(con, f, "conversion_rate", grain)


def render() -> None:
    st.title("Traffic & conversion")
    f = ui.filters()
    if not ui.has_data("traffic"):
        ui.empty_state("No traffic data yet: load a GA4, Universal Analytics or 生意参谋 traffic export")
        return
    ui.kpi_grid(f, CARDS, key="tr_")
    grain = ui.grain_for(f)

    st.subheader("Visitors and page views")
    t = ui.trends(f, ("visitors", "pageviews"), grain)
    fig = go.Figure([go.Scatter(x=t["bucket"], y=t["visitors"], name="Visitors (UV)", mode="lines"),
                     go.Scatter(x=t["bucket"], y=t["pageviews"], name="Page views (PV)", mode="lines")])
    fig.update_layout(title=f"Visitors and page views per {grain}")
    ui.chart(fig, key="tr_uvpv")
    ui.table(t, f"traffic_trend_{f.start}_{f.end}", key="tr_trend")

    st.subheader("Channel mix")
    m = mix(f)
    left, right = st.columns(2)
    with left:
        ui.chart(px.bar(m, x="channel", y="gmv", title="GMV by channel", labels={"gmv": ui.currency(), "channel": ""}),
                 key="tr_mix_gmv", height=340)
    with right:
        ui.chart(px.bar(m, x="channel", y="conversion_rate", title="Conversion by channel",
                        labels={"conversion_rate": "conversion", "channel": ""})
                 .update_layout(yaxis_tickformat=".1%"), key="tr_mix_conv", height=340)
    ui.table(m, f"channel_mix_{f.start}_{f.end}", key="tr_mix",
             column_config={"share_of_gmv": st.column_config.NumberColumn(format="percent"),
                            "conversion_rate": st.column_config.NumberColumn(format="percent")})

    st.subheader("Conversion by channel over time")
    c = conversion_by_channel(f, grain)
    ui.chart(px.line(c.drop_nulls("channel"), x="bucket", y="value", color="channel",
                     title=f"Conversion rate per {grain}", labels={"value": "conversion", "bucket": ""})
             .update_layout(yaxis_tickformat=".1%"), key="tr_conv_trend")

    st.subheader("Funnel")
    fu = funnel(f)
    ui.chart(go.Figure(go.Funnel(y=fu["step"], x=fu["users"], textinfo="value+percent initial")),
             key="tr_funnel", height=320)
    ui.table(fu, f"funnel_{f.start}_{f.end}", key="tr_funnel",
             column_config={c: st.column_config.NumberColumn(format="percent")
                            for c in ("rate_from_previous", "rate_from_top")})


render()
