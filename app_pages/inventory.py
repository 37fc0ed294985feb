"""Inventory & restock: stock with days of cover (metrics.stock), the latest stored forecast run
(forecasts with their P50–P90 band over the SKU's history) and its restock plan, with a what-if
on service level and lead time (forecasting.policy.plan over the stored forecast).

Forecasts are never fitted here: "Run forecast now" starts a background job
(forecasting/jobs.py, minimum role ``RUN_ROLE``) and the page reads stored runs.

What-if: ``forecasting.store.replan`` re-plans the stored run (its forecasts and the backtest
errors behind each SKU's safety stock, table forecast_residuals) with the policy; at the run's own
settings it reproduces the stored plan exactly (while settings, products, stock and order history
are unchanged). A run made before schema 3 has no stored errors: its what-if sizes safety stock by
the policy's fallback σ_d·√L (forecasting/policy.py) and the page says so. The stored plan stays the
reference and the what-if is shown beside it once recomputed.
"""
import warnings
from datetime import timedelta

import plotly.graph_objects as go
import polars as pl
import streamlit as st

import auth
import ui
from forecasting import jobs, series
from metrics import stock

RUN_ROLE = "analyst"  # minimum role for "Run forecast now" (the page itself: viewer)
HORIZON = 28
HISTORY_DAYS = 120
PURCHASING = ["sku", "name", "abc", "recommended_qty", "order_by", "on_hand", "on_order", "lead_time_days",
              "service_level", "forecast_daily", "forecast_lead_time", "safety_stock", "reorder_point",
              "order_up_to", "days_of_cover", "flags"]
NO_RUN = ("No forecast has been run on this warehouse yet. **Run forecast now** backtests the methods per "
          f"SKU on the order history, forecasts the next {HORIZON} days (P50 and P90) and computes a restock "
          "plan (safety stock, reorder point, order quantity rounded to MOQ and pack, order-by date). It runs "
          "in the background (a few minutes) and the dashboard stays usable meanwhile.")


@ui.cached
def cover(con) -> pl.DataFrame:
    return stock.cover(con)


@ui.cached
def last_run(con) -> dict | None:
    return jobs.last_done(con)


@ui.cached
def run_forecasts(con, run_id: int) -> pl.DataFrame:
    return con.sql("select sku, date, p50, p90, method from forecasts where run_id = ? order by sku, date",
                   params=[run_id]).pl()


@ui.cached
def run_plan(con, run_id: int) -> pl.DataFrame:
    return con.sql(f"select {', '.join(PURCHASING)} from restock_plan where run_id = ? "
                   "order by order_by nulls last, sku", params=[run_id]).pl()


@ui.cached
def history(con, sku: str, start) -> pl.DataFrame:
    """Units sold per day of one SKU since ``start``: the demand series the forecast reads."""
    return series.demand(con, skus=(sku,)).filter(pl.col("date") >= start)


@ui.cached
def has_residuals(con, run_id: int) -> bool:
    """Whether the run stored its backtest errors (runs made before schema 3 did not)."""
    return bool(con.execute("select exists (select 1 from forecast_residuals where run_id = ?)",
                            [run_id]).fetchall()[0][0])


@ui.cached
def what_if(con, run_id: int, service_level: float | None, lead_time_days: int | None) -> pl.DataFrame:
    """The stored run re-planned (forecasting.store.replan; None keeps the run's own setting), with
    the stored plan's columns (flags comma-separated)."""
    from forecasting import policy, store
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", policy.StockUnknownWarning)
        out = store.replan(con, run_id, service_level, lead_time_days)
    return out.with_columns(pl.col("flags").list.join(",")).select(PURCHASING)


def start_run() -> None:
    """Button callback (before the page runs, so the page already shows the run going)."""
    try:
        jobs.start(ui.connection(), HORIZON, user=auth.current_user())
    except jobs.JobRunning as e:
        st.session_state["run_refused"] = str(e)


def run_controls(con) -> dict | None:
    """The last run's time and the "Run forecast now" button; returns the latest done run."""
    latest = jobs.latest(con)
    done = last_run()
    left, right = st.columns([4, 1.4], vertical_alignment="center")
    with left:
        if done:
            st.caption(f"Forecast run #{done['run_id']} made {done['finished_at'] or done['created_at']:%d %b %Y %H:%M}"
                       f" · {done['skus'] or 0} SKUs · horizon {done['horizon']} days")
        if latest and latest["status"] == "failed" and (not done or latest["run_id"] > done["run_id"]):
            st.error(f"The last forecast run (#{latest['run_id']}) failed: {ui.text_md(latest['message'])}",
                     icon=":material/error:")
    allowed = auth.may_use(RUN_ROLE)
    with right:
        st.button("Run forecast now", type="primary", icon=":material/play_arrow:", key="run_forecast",
                  on_click=start_run, disabled=latest is not None and latest["status"] == "running" or not allowed,
                  help=None if allowed else f"needs the {RUN_ROLE} role", width="stretch")
    if "run_refused" in st.session_state:
        st.warning(st.session_state.pop("run_refused"))
    busy = latest is not None and latest["status"] == "running"
    if busy:
        progress()
    return done


@st.fragment(run_every=2)
def progress() -> None:
    """While a run is going: say so, and rerun the page once it has finished."""
    latest = jobs.latest(ui.connection())
    if latest and latest["status"] == "running":
        st.info(f"Forecast run #{latest['run_id']} is running in the background (started "
                f"{latest['created_at']:%H:%M:%S}); this page updates when it is done.", icon=":material/sync:")
    else:
        st.rerun()


def stock_section(cov: pl.DataFrame) -> None:
    st.subheader("Stock and days of cover")
    if cov.is_empty():
        st.info("**Stock levels unknown**: no inventory snapshots in the warehouse. Upload an inventory export "
                "(snapshot date, SKU, on hand, optionally on order) to see days of cover and size orders.",
                icon=":material/inventory:")
        return
    c1, c2, c3 = st.columns(3)
    c1.metric("SKUs in stock data", f"{cov.height:,}")
    c2.metric(f"Low stock (≤ {ui.setting('low_stock_days')} days)", f"{cov['low_stock'].sum():,}")
    c3.metric(f"Overstock (> {stock.OVERSTOCK_DAYS} days or dead)", f"{cov['overstock'].sum():,}")
    ui.table(cov, "stock_cover", key="cover", alt="Stock and days of cover", column_config={
        "avg_daily_units": st.column_config.NumberColumn("units/day", format="%.2f"),
        "days_of_cover": st.column_config.NumberColumn("days of cover", format="%.1f"),
        "sell_through": st.column_config.NumberColumn("sell-through (30 d)", format="percent")})


def forecast_chart(con, run: dict, plan: pl.DataFrame) -> None:
    st.subheader("Forecast")
    fc = run_forecasts(run["run_id"])
    skus = plan["sku"].to_list() or fc["sku"].unique().sort().to_list()
    if not skus:
        st.caption("The run has no SKU forecasts.")
        return
    names = dict(zip(plan["sku"], plan["name"]))
    sku = st.selectbox("SKU (most urgent first)", skus, key="sku", bind="query-params",
                       format_func=lambda s: f"{s} · {names.get(s) or ''}")
    f = fc.filter(pl.col("sku") == sku)
    first = f["date"].min() if f.height else None
    start = (first or run["created_at"].date()) - timedelta(days=HISTORY_DAYS)
    h = history(sku, start)
    fig = go.Figure()
    fig.add_bar(x=h["date"], y=h["units"], name="units sold", marker_color="#9aa5b1")
    if f.height:
        fig.add_scatter(x=f["date"], y=f["p90"], name="P90", mode="lines", line=dict(width=0, color=ui.COLORS[1]),
                        showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=f["date"], y=f["p50"], name="P50–P90", mode="lines", fill="tonexty",
                        line=dict(width=0), fillcolor="rgba(224,123,0,0.25)", hoverinfo="skip")
        fig.add_scatter(x=f["date"], y=f["p50"], name=f"forecast P50 ({f['method'][0]})", mode="lines",
                        line=dict(color=ui.COLORS[1], width=3))
    fig.update_layout(title=f"{sku}: daily units, last {HISTORY_DAYS} days and the next {f.height} days",
                      yaxis_title="units per day", bargap=0.1)
    ui.chart(fig, key="forecast_chart")


def plan_section(con, run: dict, plan: pl.DataFrame, stock_known: bool) -> None:
    st.subheader("Restock recommendations")
    if not stock_known:
        st.info("**Stock levels unknown**: without inventory snapshots the plan forecasts demand, safety stock "
                "and reorder points, but cannot size orders.", icon=":material/inventory:")
    to_order = plan.filter(pl.col("recommended_qty") > 0)
    c1, c2 = st.columns(2)
    c1.metric("SKUs to order", f"{to_order.height:,}")
    c2.metric("Units to order", f"{to_order['recommended_qty'].sum():,.0f}")
    ui.table(plan, f"restock_plan_run{run['run_id']}", key="plan", xlsx=True,
             alt="Restock recommendations", column_config=plan_columns())

    with st.expander("What if: another service level or lead time", icon=":material/tune:"):
        st.caption("Recomputed from the stored forecast and its backtest errors by the same policy: at the run's "
                   "own settings it is the stored plan (while settings, products and stock are unchanged).")
        if not has_residuals(run["run_id"]):
            st.caption("This run has no stored backtest errors (made before they were kept, or too short a "
                       "history), so safety stock here uses the policy's σ_d·√L fallback.")
        c1, c2 = st.columns(2)
        level = c1.slider("Service level (every SKU)", 0.80, 0.995, 0.95, 0.005, format="%.3f", key="wi_level")
        lead = c2.number_input("Lead time in days (every SKU)", 0, 180, 7, key="wi_lead")
        if st.button("Recompute plan", key="wi_go"):
            st.session_state["wi_args"] = (float(level), int(lead))
        args = st.session_state.get("wi_args")
        if args:
            from forecasting.policy import BadSettings
            try:
                alt = what_if(run["run_id"], *args)
            except BadSettings as e:
                st.error(f"Cannot recompute: {e}")
                return
            alt_order = alt.filter(pl.col("recommended_qty") > 0)
            d1, d2 = st.columns(2)
            d1.metric("SKUs to order", f"{alt_order.height:,}", f"{alt_order.height - to_order.height:+,}",
                      delta_color="off")
            d2.metric("Units to order", f"{alt_order['recommended_qty'].sum():,.0f}",
                      f"{alt_order['recommended_qty'].sum() - to_order['recommended_qty'].sum():+,.0f}",
                      delta_color="off")
            ui.table(alt, f"restock_what_if_sl{args[0]:.3f}_lt{args[1]}", key="whatif", xlsx=True,
                     alt="What-if restock plan", column_config=plan_columns())


def plan_columns() -> dict:
    num = st.column_config.NumberColumn
    return {"recommended_qty": num("order qty", format="%.0f"), "service_level": num(format="percent"),
            "forecast_daily": num("forecast/day", format="%.2f"), "forecast_lead_time": num(format="%.1f"),
            "safety_stock": num(format="%.1f"), "reorder_point": num(format="%.1f"),
            "order_up_to": num(format="%.1f"), "days_of_cover": num(format="%.1f")}


def render() -> None:
    st.title("Inventory & restock")
    con = ui.connection()
    if not ui.has_data("order_lines", "inventory"):
        ui.empty_state("No orders or inventory snapshots yet")
        st.markdown("Upload **orders** (the demand history forecasts learn from) and **inventory** snapshots "
                    "(on hand per SKU and day); **products** add lead times, MOQ and pack sizes.")
        return
    cov = cover()
    run = run_controls(con)
    stock_section(cov)
    if not ui.has_data("order_lines"):
        ui.empty_state("No orders yet: forecasts need the order history")
        return
    if run is None:
        st.info(NO_RUN, icon=":material/insights:")
        return
    plan = run_plan(run["run_id"])
    forecast_chart(con, run, plan)
    plan_section(con, run, plan, stock_known=not cov.is_empty())


render()
