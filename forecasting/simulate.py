"""Replay simulator: run a restock policy over past daily demand and measure service and stock.

Input: ``demand`` (SKUs × days, units ≥ 0), per-SKU lead times L (days ≥ 0) and initial stock.
Days before ``start`` are history only; days ``start …`` are simulated, every SKU at once (one
Python loop over days, NumPy across SKUs). Each simulated day t, in this order:

1. review: the policy sees the demand of days < t (true demand, including what was lost — the
   same information for every policy) and the inventory position (on hand + on order), and
   places orders; an order placed on day t is on the shelf at the start of day t + L (L = 0: at
   once), before that day's demand; orders due after the last day never arrive;
2. receive: orders due on day t are added to stock;
3. sell: served = min(on hand, demand); unmet demand is lost (not backordered).

Measures over the days from ``start + warmup`` (the warm-up lets the initial stock wash out):
fill rate = Σ served / Σ demanded (pooled over SKUs and days); stock-out days = SKU-days with
unmet demand; average on-hand = mean over days of the end-of-day units summed over SKUs (and the
same in money when unit costs are given); orders placed = SKU-days with an order. Quantities are
whole units (rounded up); MOQ and pack sizes are not simulated (no policy gets them).

Policies:
- :class:`RuleOfThumb` — the manuals' rule: every day (or every ``review_period_days``), when
  cover = position / average daily sales of the trailing 30 days ≤ ``trigger_days`` (3), order
  ``order_days`` (15) days of that average. Cover is read on the position (stock plus on order) so
  an order in transit is not ordered again.
- :class:`ForecastPolicy` — ours (forecasting/policy.py's formulas): every R days, forecast the
  daily rate with ``forecasting.models.MovingAverage`` refit on the trailing history; safety stock
  z·σ_L with σ_L the standard deviation of the L-day forecast errors of that trailing-mean forecast
  at every daily origin of the last ``error_days`` days (falling back to σ_d·√L, σ_d over the
  trailing window, with fewer than ``policy.MIN_WINDOWS`` origins); order up to
  rate·(L + R) + safety stock.
- :class:`OrderUpTo` — order up to given levels (SKUs × days; NaN = no order that day). With
  :func:`refits` and :func:`plan_levels` it replays the product itself: ``forecasting.run.forecast``
  refitted every ``refit_days`` on the warehouse's history up to the day before, and
  ``forecasting.policy``'s order-up-to level (its planned demand over L + R + safety stock, from
  the forecast, the backtest errors and the history) on each review day.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.stats import norm

from forecasting.policy import MIN_WINDOWS

try:  # the forecasting models' moving average; on uncensored history it is the trailing mean
    from forecasting.models import MovingAverage
except ImportError:  # pragma: no cover - models not installed: the same trailing mean from cumulative sums
    MovingAverage = None


def _trailing_mean(cs: np.ndarray, t: np.ndarray | int, window: int) -> np.ndarray:
    """Mean daily demand of the ``window`` days before day t (fewer when less history), from
    cumulative sums cs[:, k] = Σ demand[:, :k]; t is a scalar or one day per SKU."""
    t = np.broadcast_to(np.asarray(t), cs.shape[:1])
    lo = np.maximum(t - window, 0)
    rows = np.arange(cs.shape[0])
    n = t - lo
    with np.errstate(all="ignore"):
        return np.where(n > 0, (cs[rows, t] - cs[rows, lo]) / np.maximum(n, 1), 0.0)


def _order_up_to(level: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Whole units to order to bring ``position`` up to ``level`` (0 when already there)."""
    return np.maximum(np.ceil(level - position - 1e-9), 0.0)


@dataclass(frozen=True)
class RuleOfThumb:
    """Reorder when cover ≤ trigger_days; order order_days of the trailing average daily sales."""
    trigger_days: float = 3.0
    order_days: float = 15.0
    window: int = 30
    review_period_days: int = 1
    name: str = "rule of thumb"

    def order(self, t: int, start: int, demand: np.ndarray, cs: np.ndarray, position: np.ndarray,
              lead: np.ndarray) -> np.ndarray:
        if (t - start) % self.review_period_days:
            return np.zeros(len(position))
        avg = _trailing_mean(cs, t, self.window)
        due = (avg > 0) & (position <= self.trigger_days * avg)
        return np.where(due, np.ceil(self.order_days * avg - 1e-9), 0.0)


@dataclass(frozen=True)
class ForecastPolicy:
    """Order up to forecast·(L + R) + z·σ_L every R days (see the module docstring)."""
    service_level: float = 0.95
    review_period_days: int = 7
    window: int = 28
    error_days: int = 91
    name: str = "forecast policy"

    def __post_init__(self):
        if not 0 < self.service_level < 1:
            raise ValueError(f"service level must be strictly between 0 and 1, not {self.service_level!r}")
        if self.review_period_days < 1:
            raise ValueError(f"the simulated review period must be 1 day or more, not {self.review_period_days!r}")

    def sigma_lead_time(self, cs: np.ndarray, t: int, lead: np.ndarray) -> np.ndarray:
        """σ of (L·trailing mean at origin s − demand of days s … s+L−1) over the daily origins s
        whose L days ended before t (the last ``error_days``); σ_d·√L where fewer than MIN_WINDOWS."""
        n = cs.shape[0]
        s = t - lead[:, None] - self.error_days + np.arange(1, self.error_days + 1)[None, :]  # (n, E)
        valid = s >= 1
        s = np.clip(s, 0, None)
        rows = np.arange(n)[:, None]
        lo = np.maximum(s - self.window, 0)
        with np.errstate(all="ignore"):
            rate = (cs[rows, s] - cs[rows, lo]) / np.maximum(s - lo, 1)
        actual = cs[rows, s + lead[:, None]] - cs[rows, s]
        err = np.where(valid, rate * lead[:, None] - actual, np.nan)
        k = valid.sum(axis=1)
        with np.errstate(all="ignore"):
            mean = np.nansum(err, axis=1) / np.maximum(k, 1)
            sd = np.sqrt(np.nansum((err - mean[:, None]) ** 2, axis=1) / np.maximum(k - 1, 1))
        lo_t = max(t - self.window, 0)
        daily = np.diff(cs[:, lo_t:t + 1], axis=1)
        sd_d = daily.std(axis=1, ddof=1) if daily.shape[1] >= 2 else np.zeros(n)
        return np.where(k >= MIN_WINDOWS, sd, sd_d * np.sqrt(lead))

    def order(self, t: int, start: int, demand: np.ndarray, cs: np.ndarray, position: np.ndarray,
              lead: np.ndarray) -> np.ndarray:
        R = self.review_period_days
        if (t - start) % R:
            return np.zeros(len(position))
        if t == 0:
            rate = np.zeros(len(position))
        elif MovingAverage is not None:
            rate = MovingAverage(self.window).fit(demand[:, :t]).predict(1)[:, 0]
        else:
            rate = _trailing_mean(cs, t, self.window)
        ss = np.maximum(norm.ppf(self.service_level) * self.sigma_lead_time(cs, t, lead), 0.0)
        return _order_up_to(rate * (lead + R) + ss, position)


@dataclass(frozen=True)
class OrderUpTo:
    """Order up to ``levels[:, t]`` (units; NaN = no order) on each day t."""
    levels: np.ndarray = field(repr=False)
    name: str = "order up to"

    def order(self, t: int, start: int, demand: np.ndarray, cs: np.ndarray, position: np.ndarray,
              lead: np.ndarray) -> np.ndarray:
        u = self.levels[:, t]
        return np.where(np.isnan(u), 0.0, _order_up_to(np.nan_to_num(u), position))


def refits(con, first_day, start: int, days: int, refit_days: int = 7, horizon: int = 28,
           gbm: dict | None = None, log=None) -> dict[int, tuple]:
    """The forecast runs a replay of the product uses: day t → (run.forecast as of the day before
    t, policy.sigma_daily then) for t = start, start + refit_days, … < days (day 0 = ``first_day``)."""
    from datetime import timedelta

    from forecasting import policy, run
    out = {}
    for t in range(start, days, refit_days):
        as_of = first_day + timedelta(days=t - 1)
        out[t] = (run.forecast(con, horizon, as_of=as_of, gbm=gbm), policy.sigma_daily(con, as_of))
        if log:
            log(f"plan replay: forecast as of {as_of} ({out[t][0].skus.height} SKUs)")
    return out


def plan_levels(con, skus: list[str], first_day, start: int, days: int, fits: dict[int, tuple],
                review_period_days: int, service_levels: tuple[float, ...],
                lead_time_days: int | None = None) -> dict[float, np.ndarray]:
    """The product's order-up-to levels (SKUs × days, per service level) for a replay: on each
    review day t (every ``review_period_days`` from ``start``), policy.compute's order_up_to with
    today = t on the latest of ``fits`` (:func:`refits`) made for a day ≤ t; NaN on other days and
    for SKUs that run does not forecast. Products' lead times apply unless ``lead_time_days``
    overrides them; stock levels are not needed (the replay knows the position)."""
    import warnings
    from datetime import timedelta

    import polars as pl

    from forecasting import policy
    index = {k: i for i, k in enumerate(skus)}
    settings = policy.Settings(review_period_days=review_period_days)
    products = pl.DataFrame({"sku": skus}, schema={"sku": pl.String}).join(
        con.sql("select sku, name, lead_time_days, moq, pack_size from products").pl(), on="sku", how="left")
    promotions = con.sql("select sku, start_date, end_date from promotions").pl()
    from forecasting import series
    history = series.demand(con)
    out = {s: np.full((len(skus), days), np.nan) for s in service_levels}
    for t in range(start, days, review_period_days):
        fc, sigma = fits[max(k for k in fits if k <= t)]
        rows = products.join(fc.skus.select("sku", "abc"), on="sku")
        today = first_day + timedelta(days=t)
        past = history.filter(pl.col("date") < today)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", policy.StockUnknownWarning)
            plan = policy.compute(rows, fc.daily, fc.residuals, sigma, None, promotions, settings, today,
                                  tuple(service_levels), lead_time_days, past, policy.holdout_of(fc))
        for (s,), part in plan.partition_by("service_level", as_dict=True).items():
            i = part["sku"].replace_strict(index, return_dtype=pl.Int64).to_numpy()
            out[s][i, t] = part["order_up_to"].to_numpy()
    return out


@dataclass
class Result:
    policy: str
    fill_rate: float
    stockout_days: int
    avg_on_hand: float          # units, Σ over SKUs, mean over measured days (end of day)
    avg_value: float | None     # the same in money (unit_cost given)
    orders: int
    demanded: float
    served: float
    on_hand: np.ndarray = field(repr=False)   # SKUs × simulated days, end of day
    ordered: np.ndarray = field(repr=False)   # SKUs × simulated days, units ordered

    def row(self) -> dict:
        return {"policy": self.policy, "fill_rate": round(self.fill_rate, 4), "stockout_days": self.stockout_days,
                "avg_on_hand": round(self.avg_on_hand, 1),
                "avg_value": None if self.avg_value is None else round(self.avg_value, 1), "orders": self.orders}


def simulate(policy, demand: np.ndarray, lead_time, initial_stock, start: int, warmup: int = 0,
             unit_cost=None) -> Result:
    """Replay ``policy`` over days ``start …`` of ``demand`` (see the module docstring)."""
    demand = np.asarray(demand, dtype=float)
    if demand.ndim != 2:
        raise ValueError(f"demand must be a matrix of SKUs × days, not {demand.ndim}-D")
    if (demand < 0).any() or np.isnan(demand).any():
        raise ValueError("demand must be 0 or more units on every day (returns are not negative demand)")
    n, days = demand.shape
    if not 0 <= start < days or warmup < 0 or start + warmup >= days:
        raise ValueError(f"need 0 ≤ start ({start}) and start + warmup ({start + warmup}) < days ({days})")
    lead = np.broadcast_to(np.asarray(lead_time, dtype=int), (n,)).copy()
    if (lead < 0).any():
        raise ValueError("lead times must be 0 or more days")
    on_hand = np.broadcast_to(np.asarray(initial_stock, dtype=float), (n,)).copy()
    if (on_hand < 0).any():
        raise ValueError("initial stock must be 0 or more units")
    cs = np.concatenate([np.zeros((n, 1)), np.cumsum(demand, axis=1)], axis=1)
    arrivals = np.zeros((n, days + int(lead.max(initial=0)) + 1))
    on_order = np.zeros(n)
    rows = np.arange(n)
    sim = days - start
    stock_log, order_log = np.zeros((n, sim)), np.zeros((n, sim))
    served_log = np.zeros((n, sim))
    for i, t in enumerate(range(start, days)):
        q = policy.order(t, start, demand, cs, on_hand + on_order, lead)
        arrivals[rows, t + lead] += q
        on_order += q
        on_hand += arrivals[:, t]
        on_order -= arrivals[:, t]
        served = np.minimum(on_hand, demand[:, t])
        on_hand -= served
        stock_log[:, i], order_log[:, i], served_log[:, i] = on_hand, q, served
    m = slice(warmup, None)
    want, got = demand[:, start + warmup:], served_log[:, m]
    total = float(want.sum())
    cost = None if unit_cost is None else np.broadcast_to(np.asarray(unit_cost, dtype=float), (n,))
    return Result(policy.name, float(got.sum()) / total if total else 1.0, int((want - got > 1e-9).sum()),
                  float(stock_log[:, m].sum(axis=0).mean()),
                  None if cost is None else float((stock_log[:, m] * cost[:, None]).sum(axis=0).mean()),
                  int((order_log[:, m] > 0).sum()), total, float(got.sum()), stock_log, order_log)


def tune_trigger(target: float, demand, lead_time, initial_stock, start: int, warmup: int = 0, unit_cost=None,
                 rule: RuleOfThumb = RuleOfThumb(), hi: float = 120.0, tol: float = 0.0005,
                 iters: int = 30) -> tuple[RuleOfThumb, Result]:
    """The smallest trigger (days of cover, by bisection on [rule's trigger, hi]) whose fill rate
    reaches ``target`` (within ``tol`` below it); the upper end when even that falls short."""
    def run(trigger: float) -> Result:
        return simulate(replace(rule, trigger_days=trigger, name=f"rule, trigger {trigger:.2f} d"), demand,
                        lead_time, initial_stock, start, warmup, unit_cost)
    lo, best = rule.trigger_days, run(rule.trigger_days)
    if best.fill_rate >= target - tol:
        return replace(rule, trigger_days=lo), best
    top = run(hi)
    if top.fill_rate < target - tol:
        return replace(rule, trigger_days=hi), top
    best_t, best = hi, top
    for _ in range(iters):
        mid = (lo + hi) / 2
        r = run(mid)
        if r.fill_rate >= target - tol:
            hi, best_t, best = mid, mid, r
        else:
            lo = mid
        if hi - lo < 0.01:
            break
    return replace(rule, trigger_days=best_t), best


SERVICE_GRID = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
TRIGGER_GRID = (3, 5, 7, 10, 14, 18, 22, 26, 30, 40, 50)


def compare(demand, lead_time, initial_stock, start: int, warmup: int = 0, unit_cost=None,
            service_level: float = 0.95, review_period_days: int = 7) -> dict:
    """Matched-service comparison at one review cadence (both policies look every
    ``review_period_days``): ours at ``service_level``, the rule as written, the rule tuned to our
    fill rate, and inventory-vs-fill-rate curves (ours over SERVICE_GRID, the rule over TRIGGER_GRID)."""
    args = (demand, lead_time, initial_stock, start, warmup, unit_cost)
    R = review_period_days
    ours = simulate(ForecastPolicy(service_level, R), *args)
    base = RuleOfThumb(review_period_days=R)
    written = simulate(base, *args)
    rule, tuned = tune_trigger(ours.fill_rate, *args, rule=base)
    curve = [{**simulate(ForecastPolicy(s, R), *args).row(), "policy": "forecast policy",
              "setting": f"service level {s:g}"} for s in SERVICE_GRID]
    curve += [{**simulate(replace(base, trigger_days=float(g)), *args).row(), "policy": "rule of thumb",
               "setting": f"trigger {g} d"} for g in TRIGGER_GRID]
    return {"ours": ours, "written": written, "tuned": tuned, "tuned_trigger": rule.trigger_days, "curve": curve}
