"""forecasting.store: a plan run keeps its backtest errors (forecast_residuals, schema 3), and
store.replan re-plans a stored run exactly as it was planned; a run stored before schema 3 has no
errors and re-plans with the policy's fallback σ_d·√L."""
import json
import shutil
import statistics
import warnings
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from data import warehouse
from forecasting import policy, run, series, store
from tests.forecast_helpers import pooled_days, pooled_windows, promo_ahead, robust_rate, selection_scaled
from tests.test_forecasting_policy import T, _run, _shop

NUMERIC = [c for c in policy.COLUMNS if c not in ("sku", "name", "abc", "order_by", "flags")]


@pytest.fixture(scope="module")
def demo_run(demo_file, tmp_path_factory):
    """One plan run on a copy of the demo warehouse, made in-process: (con, Forecast, plan, run_id)."""
    path = tmp_path_factory.mktemp("store") / "demo.duckdb"
    shutil.copy(demo_file, path)
    con = warehouse.connect(path)
    f = run.forecast(con, 28)
    plan = policy.plan(f, con)
    run_id = store.save_run(con, f, plan, "plan")
    yield con, f, plan, run_id
    con.close()


def stored_plan(con, run_id: int) -> pl.DataFrame:
    return con.sql("select * from restock_plan where run_id = ? order by sku", params=[run_id]).pl()


def assert_same_plan(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Same SKUs, every numeric column to 1e-9 (nulls in the same places), the rest equal."""
    got = got.with_columns(pl.col("flags").list.join(",")) if got["flags"].dtype == pl.List(pl.String) else got
    want = want.with_columns(pl.col("flags").list.join(",")) if want["flags"].dtype == pl.List(pl.String) else want
    got, want = (x.with_columns(pl.col("order_by").cast(pl.Date)).sort("sku") for x in (got, want))  # AppTest: datetimes
    assert got["sku"].to_list() == want["sku"].to_list()
    for c in ("name", "abc", "order_by", "flags"):
        assert got[c].to_list() == want[c].to_list(), c
    for c in NUMERIC:
        a, b = got[c].cast(pl.Float64), want[c].cast(pl.Float64)
        assert a.is_null().to_list() == b.is_null().to_list(), c
        assert np.allclose(a.drop_nulls().to_numpy(), b.drop_nulls().to_numpy(), rtol=0, atol=1e-9), c


def window_sums(residuals: pl.DataFrame, sku: str, L: int) -> list[float]:
    """By hand: the L-day sums of one SKU's errors over every window whose first and last days are
    residual days (days missing inside count as 0): σ_L's sample (forecasting.policy)."""
    r = residuals.filter(pl.col("sku") == sku).sort("date")
    first = r["date"].min()
    n = (r["date"].max() - first).days + 1
    err, present = np.zeros(n), np.zeros(n, dtype=bool)
    idx = np.array([(d - first).days for d in r["date"].to_list()])
    err[idx], present[idx] = r["error"].to_numpy(), True
    return [float(err[i:i + L].sum()) for i in range(n - L + 1) if present[i] and present[i + L - 1]]


def test_plan_run_stores_its_residuals_backtest_none(demo_run):
    con, f, _, run_id = demo_run
    rows = con.sql("select sku, date, error from forecast_residuals where run_id = ? order by sku, date",
                   params=[run_id]).pl()
    want = f.residuals.sort("sku", "date")
    assert rows.height == want.height > 0
    assert rows.schema == pl.Schema({"sku": pl.String, "date": pl.Date, "error": pl.Float64})
    assert rows.equals(want)  # bit for bit
    assert not rows.select("sku", "date").is_duplicated().any()  # one error per SKU and day
    bt = store.save_run(con, f, None, "backtest")
    assert con.execute("select count(*) from forecast_residuals where run_id = ?", [bt]).fetchall()[0][0] == 0
    assert json.loads(con.execute("select params from forecast_runs where run_id = ?", [run_id]).fetchall()[0][0]
                      )["lead_time_days"] is None


def test_replan_at_the_runs_settings_is_the_stored_plan(demo_run):
    con, _, plan, run_id = demo_run
    again = store.replan(con, run_id)
    assert_same_plan(again, stored_plan(con, run_id))
    assert_same_plan(again, plan)


def test_replan_with_another_lead_time_uses_the_stored_errors(demo_run):
    con, f, _, run_id = demo_run
    got = store.replan(con, run_id, lead_time_days=12)
    assert_same_plan(got, policy.plan(f, con, lead_time_days=12))  # the in-memory run, not the stored one
    assert (got["lead_time_days"] == 12).all()
    # by hand for the SKU with the most residual days: σ_L = sd (ddof 1) of the 12-day sums of errors
    # over windows whose first and last days are residual days (days missing inside count as 0)
    sku = f.residuals.group_by("sku").len().sort("len", "sku", descending=[True, False])["sku"][0]
    sums = window_sums(f.residuals, sku, 12)
    assert len(sums) >= policy.MIN_WINDOWS
    row = got.filter(pl.col("sku") == sku).to_dicts()[0]
    abc = f.skus.filter(pl.col("sku") == sku)["abc"][0]
    assert row["service_level"] == {"A": 0.98, "B": 0.95}.get(abc, 0.90)
    # the pooled tail: k days of the SKU's robust rate, k from the windows of every SKU of the run
    today = f.as_of + timedelta(days=1)
    history = series.demand(con, as_of=f.as_of)
    promos = con.sql("select sku, start_date, end_date from promotions").pl()
    scaled = selection_scaled(f.residuals, date.fromisoformat(f.params["holdout_start"]))  # the run's own ρ
    assert policy.selection_scale(f.residuals, policy.holdout_of(f)) > 1  # the demo's holdout errs more
    windows = pooled_windows(scaled, history, {k: 12 for k in f.skus["sku"]}, 7, today, promos)
    assert windows["sku"].nunique() > 10
    assert windows["promo"].sum() >= policy.MIN_WINDOWS and (~windows["promo"]).sum() >= policy.MIN_WINDOWS
    ahead = {k: promo_ahead(promos, k, today, 12 + 7) for k in got["sku"]}
    assert 0 < sum(ahead.values()) < len(ahead)  # a promotion ahead for some SKUs, not all: both kinds of k
    other = [k for k in sorted(ahead) if ahead[k] != ahead[sku] and robust_rate(history, k, today) > 0]
    for k in (sku, other[0]):
        r = got.filter(pl.col("sku") == k).to_dicts()[0]
        rate = robust_rate(history, k, today)
        pooled = pooled_days(windows, r["service_level"], history, k, today, ahead[k]) * rate
        assert pooled > 0 or not ahead[k]  # the demo's promotion windows need stock beyond the blend
        assert r["safety_stock"] == pytest.approx(pooled, rel=1e-6)  # the tail replaces z·σ_L
        planned = (r["forecast_lead_time"] + 12 * rate) / 2
        assert r["reorder_point"] == pytest.approx(planned + pooled, rel=1e-6)
    assert norm.ppf(row["service_level"]) * statistics.stdev(sums) != pytest.approx(row["safety_stock"])


def test_cli_records_its_overrides_and_replan_keeps_them(demo_run):
    con, f, _, _ = demo_run
    plan = policy.plan(f, con, service_level=0.9, lead_time_days=9)
    run_id = store.save_run(con, f, plan, "plan", 0.9, lead_time_days=9)
    again = store.replan(con, run_id)
    assert (again["lead_time_days"] == 9).all() and (again["service_level"] == 0.9).all()
    assert_same_plan(again, stored_plan(con, run_id))


def test_schema_2_warehouse_migrates_and_its_old_run_falls_back(tmp_path):
    """A warehouse at schema 2 with a plan run stored then (no residuals) opens at schema 3; the
    run re-plans with σ_d·√L, σ_d = sd of K's daily units (2, 4, 2, 4, …; 29 in-stock days)."""
    path = tmp_path / "old.duckdb"
    raw = duckdb.connect(str(path))
    raw.execute("create table schema_migrations (version integer primary key, applied_at timestamp)")
    for version, statements in enumerate(warehouse.MIGRATIONS[:2], start=1):
        for s in statements:
            raw.execute(s)
        raw.execute("insert into schema_migrations values (?, current_timestamp)", [version])
    _shop(raw)
    old = _run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", policy.StockUnknownWarning)
        plan = policy.plan(old, raw)
    raw.execute("""insert into forecast_runs (run_id, created_at, finished_at, kind, horizon, params, skus, status)
                   values (1, now(), now(), 'plan', 28, ?, 4, 'done')""",
                [json.dumps({"as_of": (T - timedelta(days=1)).isoformat()})])
    raw.register("d", old.daily.with_columns(run_id=pl.lit(1)).to_arrow())
    raw.execute("insert into forecasts by name select * from d")
    policy.store_plan(raw, 1, plan)
    raw.close()

    con = warehouse.connect(path)
    assert con.execute("select max(version) from schema_migrations").fetchall()[0][0] == warehouse.SCHEMA_VERSION == 3
    assert con.execute("select count(*) from forecast_residuals").fetchall()[0][0] == 0
    assert con.execute("select count(*) from order_lines").fetchall()[0][0] == 32  # data untouched
    again = store.replan(con, 1)
    assert_same_plan(again, stored_plan(con, 1))
    k = again.filter(pl.col("sku") == "K").to_dicts()[0]
    sd_k = statistics.stdev([2.0 if i % 2 == 0 else 4.0 for i in range(29)])
    assert k["safety_stock"] == pytest.approx(norm.ppf(0.98) * sd_k * 2, rel=1e-12)  # L = 4: √4 = 2
    k10 = store.replan(con, 1, 0.95, 10).filter(pl.col("sku") == "K").to_dicts()[0]
    assert k10["safety_stock"] == pytest.approx(norm.ppf(0.95) * sd_k * np.sqrt(10), rel=1e-12)
    with pytest.raises(LookupError, match="not a finished plan run"):
        store.load_forecast(con, 2)
    con.close()


def test_old_runs_keep_only_their_run_row(tmp_db, monkeypatch):
    """Retention (store.prune, KEEP_RUNS per kind): a third plan run prunes the first — its rows
    in forecasts, forecast_accuracy, restock_plan and forecast_residuals go, its forecast_runs row
    stays with status 'pruned' and its accuracy; backtest runs never prune plan runs; the app's
    background job prunes in its import too."""
    from forecasting import jobs
    con = warehouse.connect(tmp_db)
    _shop(con)
    f = run.forecast(con, 28, gbm={"max_iter": 20})
    plan = policy.plan(f, con)
    monkeypatch.setattr(store, "KEEP_RUNS", 2)

    def rows(run_id: int) -> list[int]:
        return [con.execute(f"select count(*) from {t} where run_id = ?", [run_id]).fetchall()[0][0]
                for t in store.RUN_TABLES]

    def status(run_id: int) -> tuple:
        return tuple(con.execute("select status, message, accuracy is not null from forecast_runs where run_id = ?",
                                 [run_id]).fetchall()[0])
    ids = [store.save_run(con, f, plan, "plan") for _ in range(3)]
    full = [f.daily.height, f.skus.height, plan.height, f.residuals.height]
    assert all(n > 0 for n in full)  # every table holds rows of a run, so each deletion is seen
    assert rows(ids[0]) == [0, 0, 0, 0] and rows(ids[1]) == rows(ids[2]) == full
    state, message, has_accuracy = status(ids[0])
    assert state == "pruned" and "newest 2 finished runs" in message and has_accuracy
    assert status(ids[1])[0] == status(ids[2])[0] == "done"
    with pytest.raises(LookupError):
        store.load_forecast(con, ids[0])
    for _ in range(3):
        bt = store.save_run(con, f, None, "backtest")
    assert rows(ids[1]) == full and status(ids[1])[0] == "done"  # plan runs kept: another kind
    assert con.execute("select count(*) from forecast_runs where kind = 'backtest' and status = 'done'"
                       ).fetchall()[0][0] == 2
    job = jobs.start(con)  # the background job: a fresh process forecasts, the import prunes
    jobs.wait(con, 300)
    assert jobs.latest(con)["status"] == "done" and rows(job)[2] == plan.height
    assert status(ids[1])[0] == "pruned" and rows(ids[1]) == [0, 0, 0, 0]
    assert status(ids[2])[0] == "done" and rows(ids[2]) == full
    assert rows(bt)[1] == f.skus.height  # a backtest keeps its accuracy rows
    con.close()
