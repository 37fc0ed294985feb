"""metrics.experiments_stats agrees with scipy/statsmodels to 1e-9 and never returns NaN/inf."""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

from metrics.experiments_stats import (
    MESSAGES,
    Comparison,
    Stats,
    compare_means,
    compare_proportions,
    holm,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
    srm,
)

PROPS = settings(max_examples=40, derandomize=True, deadline=None, database=None)
TOL = dict(rel=1e-9, abs=1e-9)


def assert_clean(result: Comparison) -> None:
    """Every field is None, a finite float, or (error) a message from MESSAGES."""
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if field.name == "error":
            assert value is None or value in MESSAGES.values()
        else:
            assert value is None or math.isfinite(value), (field.name, value)


# --- Stats -----------------------------------------------------------------------------------

def test_stats_from_values_matches_numpy():
    s = Stats.from_values([1.0, 2.0, 4.0, 7.0])
    assert (s.n, s.sum, s.sum_sq) == (4, 14.0, 70.0)
    assert s.mean == 3.5
    assert s.variance == pytest.approx(np.var([1, 2, 4, 7], ddof=1), **TOL)


def test_stats_wrong_use_raises_with_fix():
    with pytest.raises(ValueError, match="n must be"):
        Stats(-1, 0.0, 0.0)
    with pytest.raises(ValueError, match="between 0 and users"):
        Stats.from_counts(10, 11)
    with pytest.raises(ValueError, match="check n"):
        Stats(0, 0.0, 0.0).mean
    with pytest.raises(ValueError, match="between 0 and 1"):
        compare_proportions(Stats.from_counts(10, 1), Stats.from_counts(10, 1), alpha=5)


# --- proportions -----------------------------------------------------------------------------

counts = st.integers(1, 5000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))


@PROPS
@given(c=counts, v=counts)
def test_proportions_match_statsmodels(c, v):
    (n_c, x_c), (n_v, x_v) = c, v
    r = compare_proportions(Stats.from_counts(n_c, x_c), Stats.from_counts(n_v, x_v))
    assert_clean(r)
    if x_c + x_v in (0, n_c + n_v):
        assert r.p_value is None and r.error is not None
        return
    _, p = proportions_ztest([x_v, x_c], [n_v, n_c])
    assert r.p_value == pytest.approx(p, **TOL)
    low, high = confint_proportions_2indep(x_v, n_v, x_c, n_c, method="wald", compare="diff")
    assert (r.abs_ci_low, r.abs_ci_high) == (pytest.approx(low, **TOL), pytest.approx(high, **TOL))
    assert r.abs_diff == pytest.approx(x_v / n_v - x_c / n_c, **TOL)
    if x_c == 0:
        assert r.rel_lift is None and r.error == MESSAGES["control_zero"]
    else:
        assert r.error is None
        assert r.rel_ci_low <= r.rel_lift <= r.rel_ci_high


def test_proportions_hand_checked():
    # control 100/1000 = 10%, variant 120/1000 = 12%
    r = compare_proportions(Stats.from_counts(1000, 100), Stats.from_counts(1000, 120))
    assert r.abs_diff == pytest.approx(0.02)
    assert r.rel_lift == pytest.approx(0.2)
    pooled = 0.11
    z = 0.02 / math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(z), **TOL)  # z = 1.4292..., p = 0.1529...
    assert r.p_value == pytest.approx(0.15294, abs=1e-4)
    se = math.sqrt(0.1 * 0.9 / 1000 + 0.12 * 0.88 / 1000)
    assert r.abs_ci_low == pytest.approx(0.02 - 1.959963984540054 * se, **TOL)
    # delta method: var(rel) = var_v/m_c^2 + m_v^2 var_c/m_c^4
    var_rel = (0.12 * 0.88 / 1000) / 0.01 + 0.0144 * (0.09 / 1000) / 0.0001
    assert r.rel_ci_high == pytest.approx(0.2 + 1.959963984540054 * math.sqrt(var_rel), **TOL)


@pytest.mark.parametrize(
    "control, variant, message",
    [
        ((0, 0), (100, 3), "no_users"),
        ((0, 0), (0, 0), "no_users"),
        ((100, 0), (100, 0), "no_conversions"),
        ((100, 100), (100, 100), "all_converted"),
        ((100, 0), (100, 5), "control_zero"),
    ],
)
def test_proportions_degenerate_give_message(control, variant, message):
    r = compare_proportions(Stats.from_counts(*control), Stats.from_counts(*variant))
    assert_clean(r)
    assert r.error == MESSAGES[message]


def test_proportions_one_user_and_all_converted_are_finite():
    for c, v in [((1, 1), (1, 0)), ((1, 0), (50, 3)), ((50, 50), (50, 10)), ((1, 1), (1, 1))]:
        assert_clean(compare_proportions(Stats.from_counts(*c), Stats.from_counts(*v)))


# --- means -----------------------------------------------------------------------------------

values = st.lists(st.integers(0, 10_000), min_size=2, max_size=60)


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # scipy, constant arm
@PROPS
@given(c=values, v=values)
def test_means_match_scipy_welch(c, v):
    r = compare_means(Stats.from_values(c), Stats.from_values(v))
    assert_clean(r)
    if np.var(c) == 0 and np.var(v) == 0:
        assert r.error == MESSAGES["zero_variance"] and r.p_value is None
        return
    ref = stats.ttest_ind(np.array(v, float), np.array(c, float), equal_var=False)
    assert r.p_value == pytest.approx(ref.pvalue, **TOL)
    low, high = ref.confidence_interval(0.95)
    assert (r.abs_ci_low, r.abs_ci_high) == (pytest.approx(low, **TOL), pytest.approx(high, **TOL))
    assert r.abs_diff == pytest.approx(np.mean(v) - np.mean(c), **TOL)
    if sum(c) == 0:
        assert r.rel_lift is None and r.error == MESSAGES["control_zero"]


def test_means_hand_checked():
    c, v = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]  # means 2 and 4, variances 1 and 4
    r = compare_means(Stats.from_values(c), Stats.from_values(v))
    se = math.sqrt(1 / 3 + 4 / 3)
    df = (5 / 3) ** 2 / ((1 / 3) ** 2 / 2 + (4 / 3) ** 2 / 2)  # 2.941...
    assert r.abs_diff == 2.0 and r.rel_lift == 1.0
    assert r.p_value == pytest.approx(2 * stats.t.sf(2 / se, df), **TOL)
    assert r.abs_ci_high == pytest.approx(2 + stats.t.isf(0.025, df) * se, **TOL)
    var_rel = (4 / 3) / 4 + 16 * (1 / 3) / 16
    assert r.rel_ci_low == pytest.approx(1 - stats.norm.isf(0.025) * math.sqrt(var_rel), **TOL)


@pytest.mark.parametrize(
    "control, variant, message",
    [
        ([], [1.0, 2.0], "no_users"),
        ([], [], "no_users"),
        ([5.0], [1.0, 2.0], "too_few_users"),
        ([3.0, 3.0], [4.0, 4.0, 4.0], "zero_variance"),
        ([0.0, 0.0, 0.0], [1.0, 2.0], "control_zero"),
    ],
)
def test_means_degenerate_give_message(control, variant, message):
    r = compare_means(Stats.from_values(control), Stats.from_values(variant))
    assert_clean(r)
    assert r.error == MESSAGES[message]


# --- Holm and SRM ----------------------------------------------------------------------------

@PROPS
@given(st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_holm_matches_statsmodels(p):
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), **TOL)


def test_holm_hand_checked_and_wrong_use():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []
    with pytest.raises(ValueError, match="between 0 and 1"):
        holm([0.5, 1.5])


@PROPS
@given(st.lists(st.integers(0, 100_000), min_size=2, max_size=5).filter(lambda c: sum(c) > 0),
       st.data())
def test_srm_matches_scipy(counts, data):
    shares = data.draw(st.lists(st.floats(0.05, 1), min_size=len(counts), max_size=len(counts)))
    expected = sum(counts) * np.array(shares) / sum(shares)
    ref = stats.chisquare(counts, expected)
    chi2, p = srm(counts, shares)
    assert chi2 == pytest.approx(ref.statistic, **TOL)
    assert p == pytest.approx(ref.pvalue, **TOL)


def test_srm_flags_and_degenerate():
    assert srm([5000, 5000]).mismatch is False
    assert srm([5000, 5400]).mismatch is True  # p ~ 9e-5
    assert srm([0, 0]).error == MESSAGES["no_users"] and srm([0, 0]).p_value is None
    with pytest.raises(ValueError, match="planned_shares"):
        srm([10, 10], [1.0, 0.0])
    with pytest.raises(ValueError, match="at least 2"):
        srm([10])


# --- power and sample size -------------------------------------------------------------------

@PROPS
@given(p_c=st.floats(0.01, 0.5), lift=st.floats(0.02, 0.5), n_c=st.integers(10, 100_000),
       ratio=st.floats(0.25, 4))
def test_power_proportions_matches_statsmodels(p_c, lift, n_c, ratio):
    n_v = max(1, round(n_c * ratio))
    h = proportion_effectsize(p_c * (1 + lift), p_c)
    ref = NormalIndPower().power(h, nobs1=n_c, alpha=0.05, ratio=n_v / n_c)
    assert power_proportions(p_c, lift, n_c, n_v, 0.05) == pytest.approx(ref, **TOL)


@PROPS
@given(p_c=st.floats(0.01, 0.5), lift=st.floats(0.05, 0.5), ratio=st.floats(0.5, 2))
def test_sample_size_proportions_matches_statsmodels(p_c, lift, ratio):
    h = proportion_effectsize(p_c * (1 + lift), p_c)
    ref = NormalIndPower().solve_power(h, alpha=0.05, power=0.8, ratio=ratio)
    got = sample_size_proportions(p_c, lift, ratio=ratio)
    assert got.n_exact == pytest.approx(ref, rel=1e-6)
    # the exact solution reaches the target power to 1e-9
    assert NormalIndPower().power(h, got.n_exact, 0.05, ratio=ratio) == pytest.approx(0.8, **TOL)
    assert got.n_control == math.ceil(got.n_exact)


def test_sample_size_hand_checked():
    # 10% -> 11% (10% relative), alpha 0.05, power 0.8: classic ~14,750 per arm
    got = sample_size_proportions(0.10, 0.10)
    assert got.n_control == got.n_variant
    assert 14_000 < got.n_control < 15_500
    assert sample_size_proportions(0.10, 0.01, relative=False).n_control == got.n_control
    assert sample_size_proportions(0.10, 0.0).error == MESSAGES["unreachable"]
    with pytest.raises(ValueError, match="lower the lift"):
        sample_size_proportions(0.8, 0.5)


@PROPS
@given(mean=st.floats(1, 500), sd=st.floats(1, 500), lift=st.floats(0.02, 0.5),
       n_c=st.integers(10, 50_000))
def test_means_power_and_size_match_statsmodels(mean, sd, lift, n_c):
    d = mean * lift / sd
    ref = NormalIndPower().power(d, nobs1=n_c, alpha=0.05, ratio=1.0)
    assert power_means(mean, sd, lift, n_c, n_c) == pytest.approx(ref, **TOL)
    got = sample_size_means(mean, sd, lift)
    assert NormalIndPower().power(d, got.n_exact, 0.05, ratio=1.0) == pytest.approx(0.8, **TOL)
