"""Forecasting models: one contract for every model, and hand-computed small cases."""
import numpy as np
import pytest

from forecasting.models import TSB, Croston, GlobalGBM, MovingAverage, SeasonalNaive, croston

MODELS = [SeasonalNaive(), MovingAverage(), Croston(), Croston(sba=False), TSB(),
          GlobalGBM(horizon=14, max_iter=15, max_rows=5_000)]
rng = np.random.default_rng(7)
SERIES = {
    "poisson": rng.poisson(4, 120).astype(float),
    "intermittent": (rng.random(120) < 0.15) * rng.integers(1, 6, 120).astype(float),
    "censored": np.where(np.arange(120) % 11 == 0, np.nan, rng.poisson(2, 120)).astype(float),
    "all_zero": np.zeros(120),
    "all_missing": np.full(120, np.nan),
    "short": np.array([3.0, 0.0, 1.0]),
}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.name}")
@pytest.mark.parametrize("name", SERIES)
def test_every_model_keeps_the_contract(model, name):
    y = SERIES[name]
    assert model.fit(y) is model
    f = model.predict(14)
    assert f.shape == (14,) and np.isfinite(f).all() and (f >= 0).all()
    if name in ("all_zero", "all_missing"):
        assert (f == 0).all()
    two = model.fit(np.vstack([y, y])).predict(7)  # a matrix of series: one row each
    assert two.shape == (2, 7)
    with pytest.raises(ValueError):
        model.predict(0)


def test_seasonal_naive_by_hand():
    y = np.array([9, 9, 1, 2, 3, 4, 5, 6, 7, np.nan], float)
    # last week = days 3..9 = 2,3,4,5,6,7,? ; the censored day 9 takes day 2's value (1)
    assert SeasonalNaive().fit(y).predict(9).tolist() == [2, 3, 4, 5, 6, 7, 1, 2, 3]


def test_moving_average_skips_censored_days():
    y = np.array([100, 4, 0, np.nan, 2], float)
    assert MovingAverage(window=3).fit(y).predict(2).tolist() == [2.0, 2.0]  # (4 + 0 + 2) / 3
    in_stock = np.array([True, True, True, True, False])
    # the in_stock mask censors day 4 (its 2 is not read); day 3 is now a recorded, in-stock 0:
    # the last three observed days are 4, 0, 0
    assert MovingAverage(window=3).fit(np.nan_to_num(y), in_stock=in_stock).predict(1)[0] == pytest.approx(4 / 3)


def test_croston_by_hand():
    y = np.array([0, 0, 3, 0, 1, 0, 0, 0, 5], float)
    # demands 3 (q = 3 days in), 1 (q = 2), 5 (q = 4); α = 0.1
    z = 3.0; p = 3.0
    z += 0.1 * (1 - z); p += 0.1 * (2 - p)      # z = 2.8, p = 2.9
    z += 0.1 * (5 - z); p += 0.1 * (4 - p)      # z = 3.02, p = 3.01
    assert z == pytest.approx(3.02) and p == pytest.approx(3.01)
    assert Croston(sba=False).fit(y).predict(3) == pytest.approx([z / p] * 3)
    assert Croston(sba=True).fit(y).predict(1)[0] == pytest.approx(z / p * 0.95)
    # a censored day is skipped: it does not lengthen the interval
    y2 = np.array([0, 0, 3, 0, np.nan, 1, 0, 0, 0, 5], float)
    assert croston(y2[None, :])[0] == pytest.approx(z / p)


def test_tsb_by_hand():
    y = np.array([2, 0, 4], float)
    p = 2 / 3; z = np.nan
    p += 0.1 * (1 - p); z = 2.0                 # day 0: demand 2 (first size)
    p += 0.1 * (0 - p)                          # day 1: none
    p += 0.1 * (1 - p); z += 0.1 * (4 - z)      # day 2: demand 4
    assert TSB().fit(y).predict(2) == pytest.approx([p * z] * 2)


def test_global_model_learns_weekly_pattern_and_ignores_censored_days():
    days = np.arange(364)
    pattern = np.array([2, 2, 2, 2, 2, 10, 10], float)
    y = np.tile(pattern, 52)[None, :] * np.array([[1.0], [3.0], [0.5]])
    y = rng.poisson(y).astype(float)
    in_stock = np.ones_like(y, bool)
    in_stock[0, 300:320] = False
    y[0, 300:320] = 0.0  # a stock-out: recorded zeros that are not demand
    m = GlobalGBM(horizon=14, max_iter=60, max_rows=30_000).fit(y, in_stock=in_stock)
    q = m.predict_quantiles(14)
    p50, p90 = q[0.5], q[0.9]
    weekend = ((days[-1] + 1 + np.arange(14)) % 7) >= 5
    for i, level in enumerate([1.0, 3.0, 0.5]):
        assert p50[i, weekend].mean() > 2.5 * p50[i, ~weekend].mean()
        assert p50[i, ~weekend].mean() == pytest.approx(2 * level, rel=0.35)
    assert (p90 >= p50).all()


def test_gbm_threads_follow_the_environment(monkeypatch):
    """The app's background job bounds OpenMP threads with OMP_NUM_THREADS; the model must not
    override that with its own default (a 2-thread fit beside a busy core ran 10× slower)."""
    from forecasting.models import GlobalGBM
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert GlobalGBM().threads == 1
    assert GlobalGBM(threads=3).threads == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert GlobalGBM().threads == 2
