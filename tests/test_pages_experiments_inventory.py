"""AppTest of the Experiments and Inventory & restock pages: the numbers shown are the module
functions' (metrics.experiments, metrics.stock, the stored restock plan), and those are checked
against independent recomputations (statsmodels, scipy, hand arithmetic)."""
import math
from datetime import date
import shutil

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest
from streamlit.testing.v1 import AppTest

from data import warehouse
from forecasting import jobs, policy, series, store
from forecasting.run import Forecast
from metrics import experiments, stock
from tests.conftest import ROOT
from tests.test_forecasting_store import assert_same_plan, window_sums
from tests.forecast_helpers import pooled_windows, robust_rate, sku_days, tail_days

EXP = "app_pages/experiments.py"
INV = "app_pages/inventory.py"


@pytest.fixture
def demo_db(demo_file, tmp_db):
    """A private copy of the demo warehouse at STOREBOARD_DB."""
    shutil.copy(demo_file, tmp_db)
    return tmp_db


def page(path: str, params: dict | None = None, errors: bool = False) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(path).run()
    assert not at.exception, [e.message for e in at.exception]
    assert errors or not at.error, [e.value for e in at.error]
    return at


def frame(at: AppTest, i: int) -> pl.DataFrame:
    return pl.from_pandas(at.dataframe[i].value)


# ------------------------------------------------------------------------------------ experiments

def test_experiments_page_shows_the_analysis(demo_db):
    con = warehouse.connect(demo_db, read_only=True)
    expected = experiments.from_warehouse(con)
    conv = con.execute("""select variant, count(*), sum(converted) from experiment_users
                          where experiment = 'checkout_redesign' group by 1 order by 1""").fetchall()
    con.close()
    at = page(EXP)
    assert at.title[0].value == "Experiments"
    listing = frame(at, 0)
    assert listing["experiment"].to_list() == [e["name"] for e in expected] == \
        ["checkout_redesign", "homepage_banner", "welcome_email_subject"]
    assert listing["users"].to_list() == [sum(v["users"] for v in e["variants"]) for e in expected]
    assert listing["users"][0] == 15970 + 16030
    # the default experiment is the first; its comparisons table is the analysis, number for number
    first = expected[0]
    shown = frame(at, 1)
    assert at.subheader[0].value == "checkout\\_redesign"
    rows = [(m["metric"], c) for m in first["metrics"] for c in m["comparisons"]]
    assert shown["metric"].to_list() == [m for m, _ in rows] == ["converted", "revenue"]
    for i, (_, c) in enumerate(rows):
        for k in ("p_value", "p_adjusted", "rel_lift", "rel_ci_low", "rel_ci_high", "abs_diff", "power"):
            assert shown[k][i] == pytest.approx(c[k], rel=1e-12), k
        assert shown["verdict"][i] == c["verdict"]
    # independently: the pooled two-proportion z-test on the raw user rows (statsmodels)
    (_, n_c, x_c), (_, n_t, x_t) = conv
    _, p = proportions_ztest([x_t, x_c], [n_t, n_c])
    assert shown["p_value"][0] == pytest.approx(p, rel=1e-9)
    assert shown["rel_lift"][0] == pytest.approx((x_t / n_t) / (x_c / n_c) - 1, rel=1e-12)
    # verdict, p-value and explanation are written out per comparison
    c0 = rows[0][1]
    line = next(m.value for m in at.markdown if "badge[" in m.value)
    assert line.startswith(":green-badge[ship] **treatment** vs control · p = 4.34e-07")
    assert c0["verdict"] == "ship" and ui_text(c0["explanation"]) in line
    assert len(at.get("plotly_chart")) == len(first["metrics"])
    assert not any("Sample ratio mismatch" in e.value for e in at.error)
    assert any(f"SRM p = {first['srm_p']:.2g}" in c.value for c in at.caption)


def ui_text(s: str) -> str:
    import ui
    return ui.text_md(s)


def test_experiment_chosen_by_url_with_three_arms(demo_db):
    at = page(EXP, {"experiment": "welcome_email_subject"})
    assert at.selectbox(key="experiment").value == "welcome_email_subject"
    shown = frame(at, 1).filter(pl.col("metric") == "converted")
    assert shown["variant"].to_list() == ["personalised", "urgency"]
    # per-variant totals from the demo's e-mail tool export (experiment_summary)
    totals = {"control": (19902, 873), "personalised": (20158, 989), "urgency": (19940, 865)}
    ps = [proportions_ztest([totals[v][1], totals["control"][1]], [totals[v][0], totals["control"][0]])[1]
          for v in ("personalised", "urgency")]
    assert shown["p_value"].to_list() == pytest.approx(ps, rel=1e-9)
    # Holm with two treatments: the smaller p doubled, the larger max(itself, that)
    lo, hi = sorted(ps)
    holm = {lo: min(2 * lo, 1), hi: min(max(hi, 2 * lo), 1)}
    assert shown["p_adjusted"].to_list() == pytest.approx([holm[p] for p in ps], rel=1e-9)


def test_srm_flag_is_a_banner_with_the_p_value(tmp_db):
    con = warehouse.connect(tmp_db)
    # 600 vs 400 users on a planned 50/50 split; 60 and 40 conversions
    con.execute("""insert into experiment_users (experiment, variant, user_id, converted)
                   select 'split_test', case when i < 600 then 'control' else 'treatment' end, 'u' || i,
                          case when i % 10 = 0 then 1 else 0 end
                   from range(1000) t(i)""")
    con.close()
    at = page(EXP, errors=True)
    p = stats.chisquare([600, 400]).pvalue
    assert p < 0.001
    assert len(at.error) == 1, (at.subheader, at.info, at.markdown, at.warning)
    assert f"**Sample ratio mismatch** (SRM p = {p:.2g} < 0.001)" in at.error[0].value
    assert "cannot be trusted" in at.error[0].value
    assert frame(at, 0)["srm_flag"].to_list() == [True]


def test_sample_size_calculator_agrees_with_statsmodels(tmp_db):
    at = page(EXP)
    assert any("No A/B experiments" in i.value for i in at.info)
    assert any("per-variant totals" in m.value for m in at.markdown)
    at.number_input(key="ss_rate").set_value(4.0)
    at.number_input(key="ss_effect").set_value(10.0)
    at.number_input(key="ss_share").set_value(40.0)
    at.form_submit_button[0].click().run()
    assert not at.exception
    ratio = 40 / 60
    n = NormalIndPower().solve_power(effect_size=proportion_effectsize(0.044, 0.04), alpha=0.05, power=0.8,
                                     ratio=ratio, alternative="two-sided")
    shown = {m.label: m.value for m in at.metric}
    assert shown["Users in control"] == f"{math.ceil(n):,}"
    assert shown["Users in the variant"] == f"{math.ceil(n * ratio):,}"
    assert shown["Users in total"] == f"{math.ceil(n) + math.ceil(n * ratio):,}"

    # a mean, absolute effect of 3 on sd 60: Cohen's d = 0.05
    at.segmented_control(key="ss_kind").set_value("Mean")
    at.radio(key="ss_relative").set_value("absolute")
    at.number_input(key="ss_effect").set_value(3.0)
    at.number_input(key="ss_share").set_value(50.0)
    at.form_submit_button[0].click().run()
    n = NormalIndPower().solve_power(effect_size=3 / 60, alpha=0.05, power=0.8, ratio=1.0)
    assert {m.label: m.value for m in at.metric}["Users in control"] == f"{math.ceil(n):,}"


def test_sample_size_bad_input_is_a_message(tmp_db):
    at = page(EXP)
    at.number_input(key="ss_rate").set_value(95.0)
    at.number_input(key="ss_effect").set_value(10.0)  # 95% × 1.10 > 100%
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Cannot compute: variant rate must be between 0 and 1, got "
                                           "1.045; lower the lift"]
    assert not at.metric


# ------------------------------------------------------------------------------------ inventory

def test_inventory_stock_cover_and_no_run_yet(demo_db):
    con = warehouse.connect(demo_db, read_only=True)
    cov = stock.cover(con)
    con.close()
    at = page(INV)
    assert at.title[0].value == "Inventory & restock"
    shown = {m.label: m.value for m in at.metric}
    assert shown["SKUs in stock data"] == "90" == f"{cov.height}"
    assert shown["Low stock (≤ 3 days)"] == f"{cov['low_stock'].sum()}"
    assert shown["Overstock (> 90 days or dead)"] == f"{cov['overstock'].sum()}"
    table = frame(at, 0)
    assert table["sku"].to_list() == cov["sku"].to_list()
    assert table["days_of_cover"].to_list() == pytest.approx(cov["days_of_cover"].to_list(), nan_ok=True)
    # no run yet: the button and what it does
    assert any("No forecast has been run" in i.value and "Run forecast now" in i.value for i in at.info)
    assert at.button(key="run_forecast").disabled is False


def test_orders_without_inventory_say_stock_levels_unknown(small_db):
    con = warehouse.connect(small_db)
    con.execute("delete from inventory")
    con.close()
    at = page(INV)
    assert any(i.value.startswith("**Stock levels unknown**: no inventory snapshots") for i in at.info)
    assert any("No forecast has been run" in i.value for i in at.info)
    assert not at.dataframe and not at.metric


def test_empty_warehouse_says_what_to_upload(tmp_db):
    at = page(INV)
    assert any("No orders or inventory snapshots yet" in i.value for i in at.info)
    assert any("inventory" in m.value and "orders" in m.value for m in at.markdown)
    assert not at.dataframe


# ------------------------------------------------------------------------------------ forecast jobs

def rows(con, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


PLAN_COLS = ("sku, abc, on_hand, on_order, lead_time_days, service_level, forecast_daily, safety_stock, "
             "reorder_point, order_up_to, recommended_qty, order_by, days_of_cover, flags")


def small_shop(path) -> None:
    """Four SKUs, 730 days of Poisson demand (rates 0.3–6 a day), one inventory snapshot, products
    with lead time, MOQ and pack size: small enough for a forecast run in a test."""
    rng = np.random.default_rng(7)
    days = pl.date_range(date(2024, 10, 29), date(2026, 10, 28), eager=True)
    skus, rates = ["SKU-A", "SKU-B", "SKU-C", "SKU-D"], [6.0, 2.5, 1.0, 0.3]
    units = rng.poisson(np.array(rates)[:, None], size=(4, days.len()))
    lines = pl.DataFrame({"sku": np.repeat(skus, days.len()), "day": pl.concat([days] * 4),
                          "quantity": units.reshape(-1).astype(float)}).filter(pl.col("quantity") > 0)
    lines = lines.with_row_index("i").select(
        order_id=pl.format("O{}", pl.col("i")), line_no=pl.lit(1), ordered_at=pl.col("day").cast(pl.Datetime)
        + pl.duration(hours=12), status=pl.lit("paid"), sku="sku", product_name=pl.format("Product {}", "sku"),
        quantity="quantity", unit_price=pl.lit(20.0), channel=pl.lit("web"))
    con = warehouse.connect(path)
    con.register("l", lines.to_arrow())
    con.execute("insert into order_lines by name select * from l")
    con.execute("""insert into inventory (snapshot_date, sku, on_hand, on_order) values
                   ('2026-10-28', 'SKU-A', 20, 0), ('2026-10-28', 'SKU-B', 80, 10),
                   ('2026-10-28', 'SKU-C', 5, 0), ('2026-10-28', 'SKU-D', 40, 0)""")
    con.execute("""insert into products (sku, name, lead_time_days, moq, pack_size) values
                   ('SKU-A', 'Alpha', 7, 50, 10), ('SKU-B', 'Beta', 10, null, 6),
                   ('SKU-C', 'Gamma', 5, 12, 1), ('SKU-D', 'Delta', 14, null, null)""")
    con.close()


@pytest.fixture
def small_db(tmp_db):
    small_shop(tmp_db)
    return tmp_db


def test_job_run_is_stored_and_shown_with_a_what_if(small_db):
    at = page(INV)
    assert any("No forecast has been run" in i.value for i in at.info)
    at.button(key="run_forecast").click().run()
    assert not at.exception
    con = warehouse.connect(small_db)  # the same database instance as the page's connection
    run = jobs.latest(con)
    assert run["status"] == "running" and run["kind"] == "plan" and run["horizon"] == 28
    assert any(f"Forecast run #{run['run_id']} is running" in i.value for i in at.info)
    assert at.button(key="run_forecast").disabled  # one run at a time
    with pytest.raises(jobs.JobRunning):
        jobs.start(con)
    before = warehouse.version(con)
    jobs.wait(con, 1500)
    run = jobs.latest(con)
    assert run["status"] == "done", run["message"]
    assert run["skus"] == 4 and warehouse.version(con) != before

    # the stored run: 28 days after the last order day per SKU, P90 ≥ P50 ≥ 0
    fc = pl.from_arrow(con.sql("select sku, date, p50, p90 from forecasts where run_id = ? order by sku, date",
                               params=[run["run_id"]]).arrow())
    assert fc.height == 4 * 28 and fc["date"].min() == date(2026, 10, 29) and fc["date"].max() == date(2026, 11, 25)
    assert (fc["p90"] >= fc["p50"]).all() and (fc["p50"] >= 0).all()
    plan = pl.from_arrow(con.sql("select * from restock_plan where run_id = ? order by sku",
                                 params=[run["run_id"]]).arrow())
    assert plan["sku"].to_list() == ["SKU-A", "SKU-B", "SKU-C", "SKU-D"]
    assert plan["on_hand"].to_list() == [20, 80, 5, 40] and plan["on_order"].to_list() == [0, 10, 0, 0]
    assert plan["lead_time_days"].to_list() == [7, 10, 5, 14]
    history = series.demand(con, as_of=date(2026, 10, 28))
    for r in plan.iter_rows(named=True):  # planned demand over L: the forecast's, blended with L days of r
        lead = fc.filter(pl.col("sku") == r["sku"]).head(r["lead_time_days"])["p50"].sum()
        assert r["forecast_lead_time"] == pytest.approx(lead, rel=1e-9)
        rate = robust_rate(history, r["sku"], date(2026, 10, 29))
        planned = (lead + r["lead_time_days"] * rate) / 2
        assert r["reorder_point"] == pytest.approx(planned + r["safety_stock"], rel=1e-9)
    qty = dict(zip(plan["sku"], plan["recommended_qty"]))
    assert qty["SKU-A"] == 0 or (qty["SKU-A"] >= 50 and qty["SKU-A"] % 10 == 0)  # MOQ 50, packs of 10
    assert qty["SKU-B"] % 6 == 0 and (qty["SKU-C"] == 0 or qty["SKU-C"] >= 12)
    assert qty["SKU-A"] > 0  # 20 on hand against ~6 a day and 7 days of lead time

    at = page(INV)
    assert any(f"Forecast run #{run['run_id']} made" in c.value for c in at.caption)
    shown = frame(at, 1)  # the restock plan (frame 0 is the stock table)
    stored = plan.sort("order_by", "sku", nulls_last=True)
    assert shown["sku"].to_list() == stored["sku"].to_list()
    assert shown["recommended_qty"].to_list() == stored["recommended_qty"].to_list()
    to_order = stored.filter(pl.col("recommended_qty") > 0)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["SKUs to order"] == f"{to_order.height:,}"
    assert metrics["Units to order"] == f"{to_order['recommended_qty'].sum():,.0f}"
    assert len(at.get("plotly_chart")) == 1  # the per-SKU forecast with its history

    # the job copied the run's backtest errors: re-planned at its own settings it is the stored plan
    res = con.sql("select sku, date, error from forecast_residuals where run_id = ? order by sku, date",
                  params=[run["run_id"]]).pl()
    assert res.height > 0 and set(res["sku"]) == {"SKU-A", "SKU-B", "SKU-C", "SKU-D"}
    assert_same_plan(store.replan(con, run["run_id"]), plan)

    # what-if: 98% everywhere, 10 days of lead time, recomputed from the stored forecast and errors
    assert not any("no stored backtest errors" in c.value for c in at.caption)
    at.slider(key="wi_level").set_value(0.98)
    at.number_input(key="wi_lead").set_value(10)
    at.button(key="wi_go").click().run()
    assert not at.exception
    alt = frame(at, 2).sort("sku")
    assert alt["lead_time_days"].to_list() == [10] * 4 and alt["service_level"].to_list() == [0.98] * 4
    for r in alt.iter_rows(named=True):
        lead = fc.filter(pl.col("sku") == r["sku"]).head(10)["p50"].sum()
        assert r["forecast_lead_time"] == pytest.approx(lead, rel=1e-9)
    stored_fc = Forecast(fc, plan.select("sku", "abc"), res, {}, date(2026, 10, 28))
    assert_same_plan(alt, policy.plan(stored_fc, con, service_level=0.98, lead_time_days=10))
    windows = pooled_windows(res, history, {k: 10 for k in alt["sku"]}, 7, date(2026, 10, 29))
    pick, cuts, _ = tail_days(windows, 0.98, policy.K_GRID)  # no promotions in this shop
    for r in alt.iter_rows(named=True):  # σ_L of the 10-day error sums and the pooled tail, by hand
        sums = window_sums(res, r["sku"], 10)
        assert len(sums) >= policy.MIN_WINDOWS
        k98 = sku_days(pick, cuts, history, r["sku"], date(2026, 10, 29))
        pooled = k98 * robust_rate(history, r["sku"], date(2026, 10, 29))
        assert pooled > 0
        want = pooled  # the tail replaces z·σ_L
        assert r["safety_stock"] == pytest.approx(want, rel=1e-6)

    # a run stored before schema 3 (the same run without its errors): the what-if says it falls back
    # to z·σ_d·√L, σ_d = sd of daily units on in-stock days
    old = rows(con, """insert into forecast_runs (created_at, finished_at, kind, horizon, params, accuracy, skus,
                                                  status)
                       select created_at, finished_at, kind, horizon, params, accuracy, skus, status
                       from forecast_runs where run_id = ? returning run_id""", [run["run_id"]])[0][0]
    for t in ("forecasts", "restock_plan"):
        con.execute(f"insert into {t} select cast(? as integer), * exclude (run_id) from {t} where run_id = ?", [old, run["run_id"]])
    at = page(INV)
    assert any(f"Forecast run #{old} made" in c.value for c in at.caption)
    assert any("no stored backtest errors" in c.value and "σ_d·√L fallback" in c.value for c in at.caption)
    at.slider(key="wi_level").set_value(0.98)
    at.number_input(key="wi_lead").set_value(10)
    at.button(key="wi_go").click().run()
    assert not at.exception
    alt = frame(at, 2).sort("sku")
    units = pl.from_arrow(con.sql("""select sku, cast(ordered_at as date) as d, sum(quantity) as q from order_lines
                                     group by all""").arrow())
    days = pl.DataFrame({"d": pl.date_range(date(2024, 10, 29), date(2026, 10, 28), eager=True)})
    for r in alt.iter_rows(named=True):
        first = units.filter(pl.col("sku") == r["sku"])["d"].min()
        daily = days.join(units.filter(pl.col("sku") == r["sku"]), on="d", how="left").filter(
            pl.col("d") >= first)["q"].fill_null(0).to_numpy()
        expected = stats.norm.ppf(0.98) * np.std(daily, ddof=1) * math.sqrt(10)
        assert r["safety_stock"] == pytest.approx(expected, rel=1e-9), r["sku"]
    con.close()


def test_failed_run_is_reported_in_words(tmp_db):
    con = warehouse.connect(tmp_db)
    con.execute("""insert into inventory (snapshot_date, sku, on_hand) values ('2026-01-05', 'SKU-1', 3)""")
    run_id = jobs.start(con)
    jobs.wait(con, 300)
    run = jobs.latest(con)
    assert run["run_id"] == run_id and run["status"] == "failed"
    assert "no order history" in run["message"]
    con.close()
    at = page(INV, errors=True)
    assert [e.value for e in at.error] == [f"The last forecast run (#{run_id}) failed: {ui_text(run['message'])}"]


def test_interrupted_run_is_marked_failed(tmp_db):
    con = warehouse.connect(tmp_db)
    con.execute("insert into forecast_runs (created_at, kind, horizon, status) values (now(), 'plan', 28, 'running')")
    run = jobs.latest(con)
    assert run["status"] == "failed" and run["message"] == jobs.INTERRUPTED
    con.close()
