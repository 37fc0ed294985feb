"""Replay simulator (forecasting/simulate.py): hand-traced days, σ_L against a plain loop, trigger
tuning, the matched-service comparison and bad input."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import norm

from forecasting.simulate import ForecastPolicy, RuleOfThumb, compare, simulate, tune_trigger


def test_rule_of_thumb_hand_trace():
    # Rule: trigger 3 days, order 4 days of the trailing 2-day average (small numbers to trace).
    # Days 0–1 are history; days 2–9 are simulated. Each day: review (position = on hand + on
    # order), receive, sell.
    #
    # SKU A: demand 2 every day, L = 2, initial stock 8; average is always 2 → order when position ≤ 6.
    #   day 2: pos 8 > 6;                       sell 2 → 6
    #   day 3: pos 6 ≤ 6 → order 8 (due day 5); sell 2 → 4
    #   day 4: pos 4 + 8 = 12;                  sell 2 → 2
    #   day 5: pos 2 + 8 = 10; receive 8 → 10;  sell 2 → 8
    #   day 6: pos 8;                           sell 2 → 6
    #   day 7: pos 6 → order 8 (due day 9);     sell 2 → 4
    #   day 8: pos 12;                          sell 2 → 2
    #   day 9: pos 10; receive 8 → 10;          sell 2 → 8
    # SKU B: demand 1, 1 | 1, 5, 1, 1, 1, 1, 1, 1; L = 3, initial stock 3.
    #   day 2: avg (1+1)/2 = 1, pos 3 ≤ 3 → order 4 (due day 5); sell 1 → 2
    #   day 3: avg (1+1)/2 = 1, pos 2 + 4 = 6 > 3; demand 5: serve 2, lose 3 → 0 (stock-out day)
    #   day 4: avg (1+5)/2 = 3, pos 0 + 4 ≤ 9 → order 12 (due day 7); demand 1 lost (stock-out day)
    #   day 5: avg (5+1)/2 = 3, pos 16 > 9; receive 4 → 4; sell 1 → 3
    #   day 6: avg 1, pos 3 + 12 = 15;          sell 1 → 2
    #   day 7: receive 12 → 14;                 sell 1 → 13
    #   day 8: → 12;  day 9: → 11
    demand = np.array([[2] * 10, [1, 1, 1, 5, 1, 1, 1, 1, 1, 1]], dtype=float)
    r = simulate(RuleOfThumb(trigger_days=3, order_days=4, window=2), demand, [2, 3], [8, 3], start=2)
    assert r.on_hand.tolist() == [[6, 4, 2, 8, 6, 4, 2, 8], [2, 0, 0, 3, 2, 13, 12, 11]]
    assert r.ordered.tolist() == [[0, 8, 0, 0, 0, 8, 0, 0], [4, 0, 12, 0, 0, 0, 0, 0]]
    # demanded 16 + 12 = 28; served 16 + (1+2+0+1+1+1+1+1 = 8) = 24 → fill 24/28
    assert r.demanded == 28 and r.served == 24 and r.fill_rate == pytest.approx(24 / 28)
    assert r.stockout_days == 2 and r.orders == 4
    # average on hand: (40 + 43) / 8 days = 10.375 units; value with unit costs 1 and 10: (40 + 430)/8
    assert r.avg_on_hand == pytest.approx(10.375)
    v = simulate(RuleOfThumb(trigger_days=3, order_days=4, window=2), demand, [2, 3], [8, 3], start=2,
                 unit_cost=[1, 10])
    assert v.avg_value == pytest.approx(470 / 8)
    # warm-up: measures from day 2 + 3 = 5 on: A served 10 of 10, B 5 of 5; on hand (8+6+4+2+8 + 3+2+13+12+11)/5
    w = simulate(RuleOfThumb(trigger_days=3, order_days=4, window=2), demand, [2, 3], [8, 3], start=2, warmup=3)
    assert w.fill_rate == 1 and w.stockout_days == 0 and w.orders == 1
    assert w.avg_on_hand == pytest.approx((28 + 41) / 5)


def test_forecast_policy_hand_trace():
    # Demand 2 every day; 10 days of history; window 2, R = 3, L = 1. The trailing mean is exact,
    # so every past error is 0 → σ_L = 0, safety stock 0; order-up-to = 2·(1 + 3) = 8 on review days
    # 10 and 13 (every R days from the start).
    #   day 10: review, pos 3 → order 5 (due 11); sell → 1
    #   day 11: receive 5 → 6; sell → 4
    #   day 12: → 2
    #   day 13: review, pos 2 → order 6 (due 14); sell → 0
    #   day 14: receive 6 → 6; sell → 4
    #   day 15: → 2
    demand = np.full((1, 16), 2.0)
    r = simulate(ForecastPolicy(0.95, review_period_days=3, window=2), demand, 1, 3, start=10)
    assert r.on_hand.tolist() == [[1, 4, 2, 0, 4, 2]]
    assert r.ordered.tolist() == [[5, 0, 0, 6, 0, 0]]
    assert r.fill_rate == 1 and r.orders == 2
    # L = 0: the order arrives before the day's demand. Up-to = 2·3 = 6:
    #   day 10: order 3 → 6, sell → 4; day 11 → 2; day 12 → 0; day 13: order 6 → 6 → 4; → 2; → 0
    r0 = simulate(ForecastPolicy(0.95, review_period_days=3, window=2), demand, 0, 3, start=10)
    assert r0.on_hand.tolist() == [[4, 2, 0, 4, 2, 0]] and r0.fill_rate == 1


def test_sigma_lead_time_against_a_plain_loop():
    rng = np.random.default_rng(3)
    demand = rng.poisson([[1.0], [6.0], [0.2]], size=(3, 200)).astype(float)
    cs = np.concatenate([np.zeros((3, 1)), demand.cumsum(axis=1)], axis=1)
    lead = np.array([4, 9, 2])
    p = ForecastPolicy(window=28, error_days=91)
    t = 150
    got = p.sigma_lead_time(cs, t, lead)
    for i in range(3):
        L = lead[i]
        errors = []
        for s in range(t - L - 90, t - L + 1):   # the 91 origins whose L days end before day t
            hist = demand[i, max(s - 28, 0):s]
            errors.append(L * hist.mean() - demand[i, s:s + L].sum())
        assert got[i] == pytest.approx(np.std(errors, ddof=1))
    # early on (day 5, L = 4: one origin) → σ_d·√L with σ_d over the trailing days
    early = p.sigma_lead_time(cs, 5, np.array([4, 4, 4]))
    assert early[1] == pytest.approx(np.std(demand[1, :5], ddof=1) * 2)


def test_safety_stock_raises_the_order():
    # Alternating demand 0, 4 (mean 2): σ_L > 0 so order-up-to exceeds 2·(L + R) by z·σ_L.
    demand = np.tile([0.0, 4.0], 60)[None, :]
    p = ForecastPolicy(0.9, review_period_days=7, window=28, error_days=28)
    cs = np.concatenate([[[0.0]], demand.cumsum(axis=1)], axis=1)
    sigma = p.sigma_lead_time(cs, 100, np.array([3]))[0]
    assert sigma > 0
    q = p.order(100, 100, demand, cs, np.array([0.0]), np.array([3]))
    rate = demand[0, 72:100].mean()
    assert q[0] == np.ceil(rate * 10 + norm.ppf(0.9) * sigma)


def _shop(seed=7, n=120, days=420):
    rng = np.random.default_rng(seed)
    rates = rng.lognormal(0, 1, n)
    season = 1 + 0.3 * np.sin(np.arange(days) * 2 * np.pi / 7)
    demand = rng.poisson(rates[:, None] * season[None, :]).astype(float)
    lead = rng.integers(5, 21, n)
    return demand, lead, np.ceil(rates * (lead + 7))


def test_trigger_tuning_reaches_its_target():
    demand, lead, init = _shop()
    args = (demand, lead, init, 120, 28)
    written = simulate(RuleOfThumb(), *args)
    assert written.fill_rate < 0.9
    rule, r = tune_trigger(0.95, *args)
    assert r.fill_rate >= 0.95 - 0.0005
    assert rule.trigger_days > 3
    again = simulate(rule, *args)
    assert again.fill_rate == r.fill_rate and again.avg_on_hand == r.avg_on_hand
    # the smallest trigger: 0.02 days less falls short
    assert simulate(replace(rule, trigger_days=rule.trigger_days - 0.02), *args).fill_rate < 0.95 - 0.0005
    # unreachable within the upper end → the upper end is returned
    top, rt = tune_trigger(0.9999999, *args, hi=5.0)
    assert top.trigger_days == 5.0 and rt.fill_rate < 0.9999999


def test_matched_service_comparison():
    demand, lead, init = _shop()
    c = compare(demand, lead, init, 120, 28)
    assert abs(c["tuned"].fill_rate - c["ours"].fill_rate) < 0.005
    assert c["written"].fill_rate < c["ours"].fill_rate
    ours = [r for r in c["curve"] if r["policy"] == "forecast policy"]
    rule = [r for r in c["curve"] if r["policy"] == "rule of thumb"]
    assert len(ours) == 9 and len(rule) == 11
    # more service costs more stock along both curves
    assert [r["avg_on_hand"] for r in ours] == sorted(r["avg_on_hand"] for r in ours)
    assert [r["fill_rate"] for r in rule] == sorted(r["fill_rate"] for r in rule)


@pytest.mark.parametrize("kwargs,match", [
    ({"demand": [[1, -1, 2]]}, "0 or more units on every day"),
    ({"demand": [1, 2, 3]}, "matrix of SKUs × days"),
    ({"lead_time": -1}, "lead times must be 0 or more"),
    ({"initial_stock": -5}, "initial stock must be 0 or more"),
    ({"start": 3}, "start"),
])
def test_bad_input(kwargs, match):
    args = {"demand": [[1, 2, 3]], "lead_time": 1, "initial_stock": 1, "start": 1} | kwargs
    with pytest.raises(ValueError, match=match):
        simulate(RuleOfThumb(), **args)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        ForecastPolicy(1.0)


def test_moving_average_is_the_trailing_mean_on_uncensored_history():
    # the policy refits forecasting.models.MovingAverage at each review; without censored days it
    # equals the trailing mean from cumulative sums (the simulator's fallback and its σ_L origins)
    from forecasting.models import MovingAverage
    from forecasting.simulate import _trailing_mean
    rng = np.random.default_rng(5)
    y = rng.poisson(3, size=(40, 90)).astype(float)
    cs = np.concatenate([np.zeros((40, 1)), y.cumsum(axis=1)], axis=1)
    for t in (5, 28, 60, 90):
        assert np.allclose(MovingAverage(28).fit(y[:, :t]).predict(1)[:, 0], _trailing_mean(cs, t, 28))
        assert np.allclose(_trailing_mean(cs, t, 28), y[:, max(t - 28, 0):t].mean(axis=1))


def test_rule_reviewed_every_r_days_orders_only_on_review_days():
    demand, lead, init = _shop(n=40)
    args = (demand, lead, init, 120, 28)
    daily, weekly = simulate(RuleOfThumb(10), *args), simulate(RuleOfThumb(10, review_period_days=7), *args)
    days = np.nonzero(weekly.ordered.sum(axis=0))[0]
    assert len(days) > 10 and (days % 7 == 0).all()         # review days: start, start + 7, …
    assert (np.nonzero(daily.ordered.sum(axis=0))[0] % 7 != 0).any()
    assert simulate(RuleOfThumb(10, review_period_days=1), *args).avg_on_hand == daily.avg_on_hand
    # at the same trigger, looking once a week serves less than looking every day
    assert weekly.fill_rate < daily.fill_rate


def test_comparison_is_at_one_cadence():
    demand, lead, init = _shop(n=40)
    c = compare(demand, lead, init, 120, 28, review_period_days=1)
    assert c["written"].avg_on_hand == simulate(RuleOfThumb(), demand, lead, init, 120, 28).avg_on_hand
    w = compare(demand, lead, init, 120, 28, review_period_days=7)
    assert w["written"].avg_on_hand == simulate(RuleOfThumb(review_period_days=7), demand, lead, init, 120,
                                                28).avg_on_hand
    assert abs(w["tuned"].fill_rate - w["ours"].fill_rate) < 0.005


def test_order_up_to_hand_trace():
    from forecasting.simulate import OrderUpTo
    # one SKU, L = 1, initial stock 3, history day 0; levels on days 1–4: 5, none, 6, none.
    #   day 1: pos 3 → order 2 (due day 2); demand 2 → 1
    #   day 2: no review; receive 2 → 3; demand 4: serve 3, lose 1 → 0
    #   day 3: pos 0 → order 6 (due day 4); demand 0 → 0
    #   day 4: no review; receive 6; demand 1 → 5
    levels = np.array([[np.nan, 5, np.nan, 6, np.nan]])
    r = simulate(OrderUpTo(levels), [[0, 2, 4, 0, 1]], 1, 3, start=1)
    assert r.ordered[0].tolist() == [2, 0, 6, 0]
    assert r.on_hand[0].tolist() == [1, 0, 0, 5]
    assert r.fill_rate == pytest.approx(6 / 7) and r.stockout_days == 1


def test_plan_levels_are_the_products_plan_on_each_review_day():
    """plan_levels refits forecasting.run.forecast as of the day before and takes policy.compute's
    order-up-to on review days only; other days and unknown SKUs are NaN."""
    import warnings
    from datetime import date, timedelta

    import polars as pl

    from data import warehouse
    from forecasting import policy, run, series
    from forecasting.simulate import plan_levels, refits
    con = warehouse.connect(":memory:")
    rng = np.random.default_rng(5)
    first = date(2026, 1, 1)
    for sku, lam in [("A", 5.0), ("B", 0.5)]:
        for d, q in enumerate(rng.poisson(lam, 120)):
            if q:
                con.execute("insert into order_lines (order_id, line_no, ordered_at, status, sku, quantity, "
                            "unit_price) values (?, 1, ?, 'paid', ?, ?, 3)", [f"{sku}{d}", first + timedelta(days=d), sku,
                                                                               float(q)])
    con.execute("insert into products (sku, lead_time_days) values ('A', 4), ('B', 9)")
    gbm = {"max_iter": 10, "max_rows": 2000, "threads": 1}
    skus = ["A", "B", "NEVER-SOLD"]
    fits = refits(con, first, 100, 120, refit_days=14, horizon=21, gbm=gbm)
    assert sorted(fits) == [100, 114] and fits[100][0].as_of == first + timedelta(days=99)
    levels = plan_levels(con, skus, first, 100, 120, fits, 7, (0.9, 0.99))
    a, b = levels[0.9], levels[0.99]
    review = [t for t in range(100, 120) if (t - 100) % 7 == 0]
    assert review == [100, 107, 114]
    assert np.isnan(np.delete(a, review, axis=1)).all() and np.isnan(a[2]).all()
    assert (b[:2, review] > a[:2, review]).all()  # more service, higher levels
    # day 107 uses the forecast made as of day 99 (refits every 14 days from day 100)
    fc = run.forecast(con, 21, as_of=first + timedelta(days=99), gbm=gbm)
    rows = pl.DataFrame({"sku": ["A", "B"], "name": [None, None], "lead_time_days": [4, 9], "moq": [None, None],
                         "pack_size": [None, None]}, schema_overrides={"name": pl.String, "moq": pl.Int64,
                                                                       "pack_size": pl.Int64}).join(
        fc.skus.select("sku", "abc"), on="sku")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", policy.StockUnknownWarning)
        want = policy.compute(rows, fc.daily, fc.residuals, policy.sigma_daily(con, first + timedelta(days=99)), None,
                              pl.DataFrame(schema={"sku": pl.String, "start_date": pl.Date, "end_date": pl.Date}),
                              policy.Settings(review_period_days=7), first + timedelta(days=107), 0.9, None,
                              series.demand(con, as_of=first + timedelta(days=106)))  # the history before that day
    assert dict(want.select("sku", "order_up_to").iter_rows()) == pytest.approx({"A": a[0, 107], "B": a[1, 107]})
