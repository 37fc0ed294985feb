"""CUPED against an independent recomputation: statsmodels OLS for theta and the adjusted
difference, numpy-adjusted values through scipy's Welch test for the p-value and interval."""
import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from hypothesis import given, settings, strategies as st
from scipy import stats

from data import warehouse
from metrics import experiments as ex
from metrics.experiments_stats import MESSAGES, Covariate, Stats, cuped

PROPS = settings(max_examples=30, derandomize=True, deadline=None, database=None)


def reference(y, x, treated):
    """theta and the adjusted difference from OLS y ~ 1 + treated + x; Welch on numpy-adjusted y."""
    fit = sm.OLS(y, np.column_stack([np.ones_like(y), treated.astype(float), x])).fit()
    theta = fit.params[2]
    adj = y - theta * (x - x.mean())
    welch = stats.ttest_ind(adj[treated], adj[~treated], equal_var=False)
    ci = welch.confidence_interval(0.95)

    def var_of_diff(v):
        return v[treated].var(ddof=1) / treated.sum() + v[~treated].var(ddof=1) / (~treated).sum()
    return {"theta": theta, "abs_diff": fit.params[1], "p_value": welch.pvalue, "abs_ci_low": ci.low,
            "abs_ci_high": ci.high, "variance_reduction": 1 - var_of_diff(adj) / var_of_diff(y),
            "rel_lift": adj[treated].mean() / adj[~treated].mean() - 1}


def sums(y, x):
    return Stats.from_values(y), Covariate(float(x.sum()), float((x * x).sum()), float((x * y).sum()))


@PROPS
@given(seed=st.integers(0, 10_000), n=st.integers(20, 3000), slope=st.floats(-3, 3), lift=st.floats(-1, 1))
def test_cuped_matches_ols_and_welch(seed, n, slope, lift):
    rng = np.random.default_rng(seed)
    treated = rng.random(n) < 0.5
    if treated.sum() < 3 or (~treated).sum() < 3:
        return
    x = rng.gamma(2.0, 5.0, n)
    y = 20 + slope * x + lift * treated + rng.normal(0, 4, n)
    (c, cx), (v, vx) = sums(y[~treated], x[~treated]), sums(y[treated], x[treated])
    got = cuped(c, v, cx, vx)
    ref = reference(y, x, treated)
    assert got.error is None and got.comparison.error is None
    for key in ("theta", "variance_reduction"):
        assert getattr(got, key) == pytest.approx(ref[key], rel=1e-9, abs=1e-9), key
    for key in ("abs_diff", "p_value", "abs_ci_low", "abs_ci_high", "rel_lift"):
        assert getattr(got.comparison, key) == pytest.approx(ref[key], rel=1e-9, abs=1e-9), key


def test_cuped_through_analyse_file_rules_and_warehouse():
    rng = np.random.default_rng(42)
    n = 8000
    treated = rng.random(n) < 0.5
    pre = np.round(rng.gamma(1.5, 40.0, n), 2)
    revenue = np.round(np.maximum(0, 10 + 0.8 * pre + 3 * treated + rng.normal(0, 25, n)), 2)
    converted = (rng.random(n) < 0.05 + 0.001 * np.minimum(pre, 100)).astype(int)
    users = pl.DataFrame({"user": [f"u{i}" for i in range(n)], "variant": np.where(treated, "B", "A"),
                          "converted": converted, "revenue": revenue, "Pre Revenue": pre})
    frame, metrics, warnings = ex.prepare(users.with_columns(pl.all().cast(pl.String)))
    assert metrics == ["converted", "revenue"] and "Pre Revenue" in frame.columns  # a pre-period column
    r = ex.analyse(frame, metrics, "t", warnings=warnings)
    assert any("CUPED" in w for w in r["warnings"])
    by = {m["metric"]: m["comparisons"][0] for m in r["metrics"]}
    for name, y in (("revenue", revenue.astype(float)), ("converted", converted.astype(float))):
        ref, got = reference(y, pre, treated), by[name]["cuped"]
        for key in ("theta", "variance_reduction", "abs_diff", "p_value", "abs_ci_low", "abs_ci_high"):
            assert got[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), (name, key)
    assert by["revenue"]["cuped"]["variance_reduction"] > 0.5   # pre explains most of the variance here
    # the unadjusted fields stay the reference tests (Welch on raw revenue)
    raw = stats.ttest_ind(revenue[treated], revenue[~treated], equal_var=False).pvalue
    assert by["revenue"]["p_value"] == pytest.approx(raw, abs=1e-9)

    # the warehouse (pre_metric column) gives the same CUPED figures
    con = warehouse.connect(":memory:")
    con.execute("insert into experiment_users (experiment, variant, user_id, converted, revenue, pre_metric) "
                "select 't', variant, \"user\", converted, revenue, \"Pre Revenue\" from users")
    w = {m["metric"]: m["comparisons"][0] for m in ex.from_warehouse(con)[0]["metrics"]}
    for name in by:
        for key, value in by[name]["cuped"].items():
            if isinstance(value, float):
                assert w[name]["cuped"][key] == pytest.approx(value, rel=1e-10, abs=1e-13), (name, key)


def test_cuped_pairing_rule():
    assert ex.covariates_for(["revenue", "orders"], ["pre_revenue", "pre_orders"]) == \
        {"revenue": "pre_revenue", "orders": "pre_orders"}
    assert ex.covariates_for(["revenue", "converted"], ["pre_metric"]) == \
        {"revenue": "pre_metric", "converted": "pre_metric"}
    assert ex.covariates_for(["revenue", "converted"], ["pre_revenue", "pre_visits"]) == {"revenue": "pre_revenue"}
    assert ex.covariates_for(["revenue"], []) == {}
    assert ex.is_pre_period("pre_visits") and ex.is_pre_period("covariate") and not ex.is_pre_period("prepaid")


def test_cuped_degenerate_gives_messages():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    same_x = Covariate(20.0, 100.0, 50.0)  # x = 5 for each of 4 users
    r = cuped(Stats.from_values(y), Stats.from_values(y + 1), same_x, Covariate(20.0, 100.0, 70.0))
    assert (r.theta, r.comparison, r.error) == (None, None, MESSAGES["no_pre_variance"])
    one = cuped(Stats.from_values([1.0]), Stats.from_values(y), Covariate(1, 1, 1), same_x)
    assert one.error == MESSAGES["too_few_users"] and one.theta is None
