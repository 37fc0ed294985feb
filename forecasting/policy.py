"""Restock policy per SKU (DESIGN §5): safety stock, reorder point, order-up-to, order quantity,
order-by date, days of cover and flags, from a forecast run and the warehouse's stock levels.

Definitions (units: product units and calendar days; ``today`` = the first day planned for,
default the day after the forecast's ``as_of`` (else its first forecast day)):

- L = lead time (products.lead_time_days, else setting ``default_lead_time_days``; the
  ``lead_time_days`` argument overrides every SKU, for what-ifs); R = setting ``review_period_days``.
- service level by ABC class of the forecast (setting ``service_levels``, A .98 / B .95 / C .90;
  U and unknown classes use C); the ``service_level`` argument overrides every SKU. z = Φ⁻¹(level).
- forecast_daily = mean daily P50 over the forecast days from ``today``; demand over n days =
  Σ P50 of the first n forecast days from ``today``, days beyond the horizon at forecast_daily.
- backtest errors: for σ_L and the pooled tail below, the errors of the selection windows (residual
  days before the run's holdout) are first multiplied by ρ = :func:`selection_scale` (mean |error| on
  the holdout ÷ on the selection windows, at least 1; :func:`plan` reads the holdout start from the
  run's params): each SKU's method was chosen for its errors there, so they understate the errors of
  the forecast the plan orders by (ρ ≈ 1.06 on the demo's replay runs, 1.15 on Online Retail's).
- σ_L = standard deviation (ddof 1) of the L-day sums of the backtest errors (Forecast.residuals,
  forecast − actual; every L-day window whose first and last days are residual days; days missing
  inside it, e.g. censored stock-out days, count as no error), used when the SKU has at least
  ``MIN_WINDOWS`` such windows (≥ L + 7 residual days). Otherwise (short history) the fallback
  σ_L = σ_d·√L, σ_d = standard deviation of daily units on in-stock days (``forecasting.series``),
  and √forecast_daily (Poisson) when fewer than 2 in-stock days exist.
- pooled tail (when the demand history is given, as :func:`plan` does): lumpy demand — wholesale
  orders many times a SKU's usual day — is not normal, and one SKU's own few weeks of errors rarely
  hold its next large order. So there the plan uses the SKU's robust rate r = max(mean daily units
  over the last 28 days, over the last 365 days) before ``today`` (days out of stock left out,
  days before the SKU's first sale counted as days without sales: :func:`robust_rate`) twice:
  · planned demand over n days = (forecast over n days + n·r) / 2 — a combination of the forecast
    with a steady rate. An order-up-to level that swings with each forecast holds more stock than
    a steadier one (what is ordered at a high level stays when the level falls); in the replay
    (forecasting/simulate.py, bench/replay.py) this combination needed 8–13% less stock than the
    forecast alone at about the same fill rate on both datasets;
  · safety stock = k_β·r, k_β in days, from the backtest of every SKU of the run: every window of
    L + R residual days starting on a day s (actual X from the history, forecast F = actual + error,
    r_s = the robust rate a plan made on s would have used), its level S = ⌈(F_{L+R} + (L + R)·r_s)/2
    + k·r_s⌉ (orders are whole units). Units the window loses in its review period (days s + L …
    s + L + R − 1), with lost sales: its demand D beyond the stock when the order placed on s arrives,
    which is at least Q − X_L and at least that order itself (no earlier shortfall can eat it under
    lost sales): lost = (D − max(Q − X_L, min(S, (P − B)⁺)))⁺. Q = the position after the order on s =
    the largest, over the window and the earlier ones of its chain (s − R, s − 2R, … while each is a
    window), of its level less the units from its first day to s − 1: stock is not given back when the
    level falls (Q = S took every fall of the level as stock gone; the demo's daily review overshot
    the fill rate by 1.1 points). P = the units of the R days before s
    (the order placed on s replaces what sold then) and B = what the SKU's window starting on
    s − L − R (whose review period those R days are) falls short by backorder accounting,
    (X_{L+R} − S)⁺ − (X_L − S)⁺ at its own level (0 without that window) — an upper bound on what
    was lost then, so the order is not overstated. (Backorder accounting for every window overstated
    lost units with daily review and the fill rate overshot by 1.5–2 points in the replay.)
    The windows fall into ``GROUPS`` terciles of spikiness = the SKU's largest day in the 365 days
    before s / r_s, and each group g gets its own k_g from ``K_GRID``: the cheapest choice,
    Σ_g k_g·Σ_{w∈g} r_s (days of stock the tail holds), whose units lost over all windows stay within
    (1 − service level) of the review periods' demand — the fill-rate (β) criterion, met pooled over
    the run (exact on the grid: every k_0, k_1, then the smallest k_2 that fits). A steady seller needs
    fewer days of its rate than one whose big orders come out of the blue; in the scratch replay on
    UCI with daily review one k per group held about 8% less stock than one k for all. Today a SKU
    gets its group's k by today's spikiness against the groups' largest values; the largest k when
    no choice fits.
    Promotions: the windows with a promotion (the SKU's or store-wide) on one of their L + R days
    are also judged on their own — k_p = the smallest k on the grid whose units lost over them stay
    within (1 − service level) of their review periods' demand (with at least ``MIN_WINDOWS`` of
    them and demand in them) — and a SKU with a promotion on one of the days today … today + L + R − 1
    gets max(k_p, its group's k). Pooled over all windows, the few before a promotion were
    outweighed by the rest: in the demo replay promotion days were served 86–88% against 95–97% on
    other days (now 91.6% / 93.4% with weekly / daily review, against 95.2% / 96.6%).
    No tail with fewer than ``MIN_WINDOWS`` windows with r_s > 0, R = 0, no demand in the windows,
    or r = 0 today.
- safety_stock = k_β·r where there is a tail, else max(0, z·σ_L) (and planned demand = the
  forecast). The pooled tail replaces z·σ_L rather than adding to it: it is calibrated to the
  fill rate on its own (both together overshot the target by 1.5–2 points in the replay). Note
  that the service level is a fill rate (units served / demanded) for the tail and a cycle service
  level for z·σ_L; reorder_point = planned demand over L + safety_stock;
  order_up_to = planned demand over L + R + safety_stock. forecast_lead_time stays the forecast's.
- inventory position = on_hand + on_order (latest snapshot per location on or before ``today``,
  summed over locations — metrics.stock.cover's reading; negative on_hand = backorders, reordered).
- recommended_qty = 0 when order_up_to − position ≤ 0; else the shortfall raised to the MOQ, then
  rounded up to a whole number of packs: ceil(max(shortfall, moq) / pack) · pack (so the quantity is
  ≥ MOQ and a multiple of the pack; moq null = none, pack null = 1).
- order_by = the last day an order placed still arrives before stock falls below safety stock,
  at forecast_daily: today + clip(floor((position − reorder_point) / forecast_daily + 1e-9), 0, 365)
  (the 1e-9 keeps a whole number of days whole under float noise);
  today when position < reorder_point; null when nothing is forecast and position ≥ reorder_point.
- days_of_cover = max(on_hand, 0) / forecast_daily, capped at 365 (metrics.stock's cap), null when
  nothing is forecast. Unlike metrics.stock.cover (trailing 30 in-stock days of sales), the rate
  here is the forecast.
- flags: ``stockout_risk`` = demand is forecast and either nothing is on hand (out of stock now)
  or max(on_hand, 0) + on_order < demand over L (even with what is on order, assumed to arrive
  within L, stock runs out before a new order can arrive);
  ``low_cover_3d`` = days_of_cover ≤ setting ``low_stock_days``; ``overstock_90d`` = days_of_cover
  > 90, or stock on hand and nothing forecast (dead stock, as metrics.stock); ``promo_cover_15d`` =
  a promotion for the SKU (or store-wide) starts between today and the last forecast day and
  days_of_cover < setting ``promo_cover_days``.

Without any inventory snapshot, on_hand, on_order, recommended_qty, order_by and days_of_cover are
null, no stock flag is raised and a :class:`StockUnknownWarning` says "stock levels unknown".
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
from scipy.stats import norm

from data import warehouse
from metrics.stock import COVER_CAP, OVERSTOCK_DAYS

MIN_WINDOWS = 8   # L-day error windows needed before σ_L comes from the backtest residuals
GROUPS = 3        # the pooled tail's spikiness groups (terciles of the backtest windows)
K_GRID = np.concatenate([np.arange(0, 30, 0.25), np.arange(30, 90, 1.0),
                         np.arange(90, COVER_CAP + 1, 5.0)])  # the tail's candidate days of cover
STOCK_UNKNOWN = "stock levels unknown: no inventory snapshots in the warehouse (upload an inventory file)"
FLAGS = ("stockout_risk", "low_cover_3d", "overstock_90d", "promo_cover_15d")
COLUMNS = ("sku", "name", "abc", "on_hand", "on_order", "lead_time_days", "service_level", "forecast_daily",
           "forecast_lead_time", "safety_stock", "reorder_point", "order_up_to", "recommended_qty", "order_by",
           "days_of_cover", "flags")


class BadSettings(ValueError):
    """A user-facing input problem (a setting, a product's value, an override, a CLI argument), with a
    one-line message saying what to fix; any other exception is a programming error."""


class StockUnknownWarning(UserWarning):
    """The warehouse has no inventory snapshots: the plan forecasts but cannot size orders."""


def _check_level(name: str, value) -> None:
    if not isinstance(value, (int, float)) or not 0 < value < 1:
        raise BadSettings(f"{name} must be a fraction strictly between 0 and 1 (e.g. 0.95 for 95%), not {value!r}")


def _check_days(name: str, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise BadSettings(f"{name} must be a number of days, 0 or more, not {value!r}")


@dataclass(frozen=True)
class Settings:
    """The policy's settings (warehouse settings of the same names); validated on creation."""
    default_lead_time_days: int = 7
    review_period_days: int = 7
    service_levels: dict = field(default_factory=lambda: dict(warehouse.DEFAULT_SETTINGS["service_levels"]))
    low_stock_days: float = 3
    promo_cover_days: float = 15

    def __post_init__(self):
        _check_days("setting default_lead_time_days", self.default_lead_time_days)
        _check_days("setting review_period_days", self.review_period_days)
        _check_days("setting low_stock_days", self.low_stock_days)
        _check_days("setting promo_cover_days", self.promo_cover_days)
        if not isinstance(self.service_levels, dict) or "C" not in self.service_levels:
            raise BadSettings("setting service_levels must map ABC classes to fractions, e.g. "
                             f'{{"A": 0.98, "B": 0.95, "C": 0.9}}, not {self.service_levels!r}')
        for k, v in self.service_levels.items():
            _check_level(f"setting service_levels[{k!r}]", v)

    @classmethod
    def from_warehouse(cls, con: duckdb.DuckDBPyConnection) -> "Settings":
        """The warehouse's settings; a stored value that is not JSON (edited by hand) → BadSettings."""
        values = {}
        for k in ("default_lead_time_days", "review_period_days", "service_levels", "low_stock_days",
                  "promo_cover_days"):
            try:
                values[k] = warehouse.get_setting(con, k)
            except warehouse.BadSetting as e:
                raise BadSettings(str(e)) from None
        return cls(**values)


def _check_products(skus: pl.DataFrame) -> None:
    """Per-product values: negative lead time, pack size < 1 or negative MOQ → BadSettings."""
    for col, bad, rule in [("lead_time_days", pl.col("lead_time_days") < 0, "0 or more days"),
                           ("pack_size", pl.col("pack_size") < 1, "1 or more units"),
                           ("moq", pl.col("moq") < 0, "0 or more units")]:
        if col in skus.columns:
            hit = skus.filter(bad)["sku"].sort().to_list()
            if hit:
                raise BadSettings(f"products.{col} must be {rule}; SKU(s) {', '.join(hit[:5])}"
                                 f"{' …' if len(hit) > 5 else ''} have {col} out of range: fix them in the "
                                 "products file and upload it again")


def _sigma_lead_time(residuals: pl.DataFrame, lead: pl.DataFrame) -> pl.DataFrame:
    """Per SKU: σ of the L-day sums of forecast errors, and the number of windows behind it."""
    r = (residuals.select("sku", pl.col("date").cast(pl.Date), pl.col("error").cast(pl.Float64))
         .sort("sku", "date").join(lead, on="sku")
         .with_columns(cs=pl.col("error").cum_sum().over("sku")))
    before = r.select("sku", "date", cs_before=pl.col("cs") - pl.col("error"))
    windows = (r.with_columns(start=pl.col("date") - pl.duration(days=pl.col("L") - 1))
               .join(before, left_on=["sku", "start"], right_on=["sku", "date"]))
    return windows.group_by("sku").agg(sigma_l=(pl.col("cs") - pl.col("cs_before")).std(), windows=pl.len())


def holdout_of(forecast) -> date | None:
    """The first holdout day of a forecast run (its ``params``; None for a run without a holdout)."""
    start = (getattr(forecast, "params", None) or {}).get("holdout_start")
    return date.fromisoformat(start) if start else None


def _held(holdout_start: date) -> pl.Expr:
    return pl.col("date").cast(pl.Date) >= pl.lit(holdout_start, pl.Date)


def selection_scale(residuals: pl.DataFrame, holdout_start: date | None) -> float:
    """ρ = mean |error| on the holdout (days from ``holdout_start``) ÷ mean |error| on the selection
    windows (the days before it), at least 1; 1 without both. Each SKU's method was chosen for its
    errors on the selection windows, so those run small; the holdout took no part in the choice."""
    if holdout_start is None or residuals.height == 0:
        return 1.0
    held = _held(holdout_start)
    m = residuals.select(hold=pl.col("error").filter(held).abs().mean(),
                         chosen=pl.col("error").filter(~held).abs().mean()).row(0)
    return max(m[0] / m[1], 1.0) if m[0] is not None and m[1] else 1.0


def _selection_scaled(residuals: pl.DataFrame, holdout_start: date | None) -> pl.DataFrame:
    """The residuals with the selection windows' errors times :func:`selection_scale`."""
    rho = selection_scale(residuals, holdout_start)
    if rho == 1:
        return residuals
    return residuals.with_columns(error=pl.when(_held(holdout_start)).then("error").otherwise(pl.col("error") * rho))


def robust_rate(history: pl.DataFrame, today: date) -> pl.DataFrame:
    """Per SKU of ``history`` (the demand series before ``today``): r = max(mean daily units over the
    28 days before ``today``, over the 365 days before it) — units/day; the long window keeps a lumpy
    SKU's rare large orders in view. A window's days are those since the history's first day (the
    first sale of any SKU) less the SKU's stock-out days; days before the SKU's own first sale count
    as days without sales, so a new SKU's launch orders are not read as its everyday rate. The same
    numbers as :func:`window_rates` on a day ``today`` appended to the history."""
    first = history["date"].min()
    if first is None:
        return pl.DataFrame(schema={"sku": pl.String, "rate": pl.Float64})
    return _rate_on(window_rates(_with_day(history, today), first), today)


def _with_day(history: pl.DataFrame, today: date) -> pl.DataFrame:
    """The history with one more row per SKU, on ``today`` (no units, in stock): its rate is the
    plan's r, from the days before ``today`` only."""
    day = history.select("sku").unique().with_columns(date=pl.lit(today, pl.Date), units=pl.lit(0.0), in_stock=True)
    return pl.concat([history.select("sku", "date", pl.col("units").cast(pl.Float64), "in_stock"), day])


def _rate_on(rated: pl.DataFrame, today: date) -> pl.DataFrame:
    return rated.filter(pl.col("date") == today).select("sku", "rate")


def window_rates(history: pl.DataFrame, first: date) -> pl.DataFrame:
    """The history (sku, date, units, in_stock) with a column ``rate``: per SKU and day d, the robust
    rate a plan made for today = d would use (:func:`robust_rate`, from the days before d only;
    ``first`` = the first day of the full history) — the rate a window starting on d is judged with;
    and ``peak``: the SKU's largest day (units) in the 365 days before d, 0 when none."""
    units = pl.when(pl.col("in_stock")).then(pl.col("units").cast(pl.Float64)).otherwise(0.0)
    out = pl.col("in_stock").not_().cast(pl.Float64)
    roll = lambda e, n: e.rolling_sum_by("date", window_size=f"{n}d", closed="left").over("sku")
    span = lambda n: pl.min_horizontal((pl.col("date") - pl.lit(first)).dt.total_days(), n).cast(pl.Float64)
    mean = lambda n: (roll(units, n) / (span(n) - roll(out, n)).replace(0.0, None)).fill_null(0.0)
    peak = pl.col("units").cast(pl.Float64).rolling_max_by("date", window_size="365d", closed="left").over("sku")
    return (history.select("sku", "date", "units", "in_stock").sort("sku", "date")
            .with_columns(rate=pl.max_horizontal(mean(28), mean(365)), peak=peak.fill_null(0.0)))


def _promotion_within(frame: pl.DataFrame, promotions: pl.DataFrame, R: int) -> np.ndarray:
    """Per row of ``frame`` (sku, date = a window's first day s, L): whether a promotion for the SKU
    or a store-wide one (promotions: sku null) runs on any of the days s … s + L + R − 1."""
    keys = frame.select("sku", pl.col("date").cast(pl.Date), pl.col("L").cast(pl.Int64)).with_row_index("i")
    out = np.zeros(frame.height, dtype=bool)
    if not frame.height or not promotions.height:
        return out
    p = promotions.select("sku", pl.col("start_date").cast(pl.Date), pl.col("end_date").cast(pl.Date))
    last = keys["date"].max() + timedelta(days=int(keys["L"].max()) + R)
    wide = p.filter(pl.col("sku").is_null() & (pl.col("end_date") >= keys["date"].min())
                    & (pl.col("start_date") <= last)).drop("sku")
    cols = ["i", "date", "L", "start_date", "end_date"]
    pairs = pl.concat([keys.join(p.filter(pl.col("sku").is_not_null()), on="sku").select(cols),
                       keys.join(wide, how="cross").select(cols)])
    hit = pairs.filter((pl.col("start_date") <= pl.col("date") + pl.duration(days=pl.col("L") + R - 1))
                       & (pl.col("end_date") >= pl.col("date")))["i"].to_numpy()
    out[hit] = True
    return out


def _pooled_days(residuals: pl.DataFrame, rated: pl.DataFrame, today: date, base: pl.DataFrame,
                 R: int, promotions: pl.DataFrame) -> pl.DataFrame:
    """Per SKU and level: the pooled tail's k_β (days, module docstring), from the backtest windows of
    every SKU; ``rated`` is :func:`window_rates`' history with a row on today, ``base`` has sku, L and
    service_level (one row per SKU and level; the windows are built once for every level)."""
    out = base.select("sku", "service_level", k=pl.lit(None, pl.Float64))
    if R <= 0 or residuals.height == 0:
        return out
    before = pl.col("units").rolling_sum_by("date", window_size=f"{R}d", closed="left").over("sku")
    r = (residuals.select("sku", pl.col("date").cast(pl.Date), pl.col("error").cast(pl.Float64))
         .join(base.select("sku", "L").unique("sku"), on="sku")
         .join(rated.select("sku", "date", "rate", "peak", actual="units", before=before), on=["sku", "date"], how="left")
         .with_columns(pl.col("actual", "rate", "peak", "before").fill_null(0.0)).sort("sku", "date")
         .with_columns(ca=pl.col("actual").cum_sum().over("sku"), ce=pl.col("error").cum_sum().over("sku")))

    def through(days: pl.Expr, a: str, e: str) -> pl.DataFrame:
        """Cumulative sums through day s + days − 1, keyed by the window's first day s."""
        return r.select("sku", date=pl.col("date") - pl.duration(days=days - 1), **{a: "ca", e: "ce"})

    w = (r.filter(pl.col("rate") > 0)
         .select("sku", "date", "L", "rate", "before", spike=pl.col("peak") / pl.col("rate"),
                 a0=pl.col("ca") - pl.col("actual"), e0=pl.col("ce") - pl.col("error"))
         .join(through(pl.col("L"), "a1", "e1"), on=["sku", "date"])
         .join(through(pl.col("L") + R, "a2", "e2"), on=["sku", "date"])
         .select("sku", "date", "L", "rate", "before", "spike", "a0", x_l=pl.col("a1") - pl.col("a0"),
                 x_lr=pl.col("a2") - pl.col("a0"),  # level: the blended planned demand over L + R, as the plan's
                 level=(pl.col("a2") - pl.col("a0") + pl.col("e2") - pl.col("e0") + (pl.col("L") + R) * pl.col("rate")) / 2)
         .sort("sku", "date"))  # ties in spikiness fall into groups in this order
    if w.height < MIN_WINDOWS:
        return out
    # the window whose review period is the R days before s: what it lost was not sold then, so not reordered on s
    w = w.join(w.select("sku", date=pl.col("date") + pl.duration(days=pl.col("L") + R), p_l="x_l", p_lr="x_lr",
                        p_level="level", p_rate="rate"), on=["sku", "date"], how="left", maintain_order="left")
    # chains of windows R days apart (the review days of one plan): sorted, numbered, cut at a missing window
    chain = (w.with_row_index("i").with_columns(phase=pl.col("date").dt.epoch("d") % R).sort("sku", "phase", "date")
             .with_columns(cut=((pl.col("date") - pl.col("date").shift(1)).dt.total_days() != R)
                           .fill_null(True).over("sku", "phase"))
             .select("i", chain=pl.col("cut").cum_sum()))
    at, links = chain["i"].to_numpy(), chain["chain"].to_numpy().astype(np.float64)
    x_l, x_lr, level, rate, before, a0 = (w[c].to_numpy() for c in ("x_l", "x_lr", "level", "rate", "before", "a0"))
    p_l, p_lr, p_level, p_rate = (w[c].fill_null(0.0).to_numpy() for c in ("p_l", "p_lr", "p_level", "p_rate"))
    demand = x_lr - x_l
    cycle = float(demand.sum())
    if cycle <= 0:
        return out

    def position(s: np.ndarray) -> np.ndarray:
        """The position after the order on each window's first day s: the largest, over the window
        and the earlier ones of its chain, of that window's level less the units from its first day
        to s − 1 (a running maximum of level + units before it, per chain)."""
        v = (s + a0)[at]
        big = 2 * float(np.abs(v).max()) + 1  # chain offsets keep the running maximum in each chain (float
        # error ≈ 1e-16 × chains × big: about 1e-6 units at 10⁵ chains of 10⁵ units)
        out = np.empty_like(s)
        out[at] = np.maximum.accumulate(v + links * big) - links * big
        return out - a0

    def lost(k: float) -> np.ndarray:
        """Units each window would lose in its review period at k (an upper bound, module docstring)."""
        s = np.ceil(level + k * rate - 1e-9)  # orders are whole units
        sp = np.ceil(p_level + k * p_rate - 1e-9)
        short_before = np.maximum(p_lr - sp, 0) - np.maximum(p_l - sp, 0)  # 0 where there is no such window
        arrives = np.minimum(np.maximum(before - short_before, 0), s)      # the order placed on s
        return np.maximum(demand - np.maximum(position(s) - x_l, arrives), 0)

    promo = _promotion_within(w, promotions, R)  # windows with a promotion on one of their days
    if promo.sum() < MIN_WINDOWS or demand[promo].sum() <= 0:
        promo[:] = False  # too few to judge on their own
    spike = w["spike"].to_numpy()
    order = np.argsort(spike, kind="stable")
    group = np.empty(len(spike), dtype=np.int64)
    group[order] = np.arange(len(spike)) * GROUPS // len(spike)
    cuts = np.array([spike[group == i].max() for i in range(GROUPS - 1)])  # each lower group's largest
    by_group, by_promo = np.zeros((GROUPS, len(K_GRID))), np.zeros(len(K_GRID))  # lost: non-increasing in k
    for j, k in enumerate(K_GRID):
        x = lost(k)
        by_group[:, j], by_promo[j] = np.bincount(group, weights=x, minlength=GROUPS), x[promo].sum()
    cost = np.bincount(group, weights=rate, minlength=GROUPS)
    chosen = base["service_level"].unique().to_list()
    ks = {level: _cheapest(by_group, cost, (1 - level) * cycle) for level in chosen}
    kp = {level: K_GRID[min(np.searchsorted(-by_promo, -(1 - level) * demand[promo].sum() - 1e-9), len(K_GRID) - 1)]
          for level in chosen}  # the smallest k whose promotion windows stay within their own budget
    now = rated.filter(pl.col("date") == today).select("sku", spike=pl.col("peak") / pl.col("rate"))
    g = (base.join(now, on="sku", how="left", maintain_order="left")["spike"].fill_null(0.0).fill_nan(0.0).to_numpy()[:, None]
         > cuts[None, :]).sum(axis=1)
    ahead = promo.any() & _promotion_within(base.with_columns(date=pl.lit(today, pl.Date)), promotions, R)
    levels, k = base["service_level"].to_numpy(), np.empty(base.height)
    for level, by in ks.items():
        at = levels == level
        k[at] = np.where(ahead[at], np.maximum(kp[level], by[g[at]]), by[g[at]])
    return base.select("sku", "service_level").with_columns(k=pl.Series(k, dtype=pl.Float64))


def _cheapest(lost: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """Days k per group (``GROUPS`` = 3, from K_GRID) of least stock Σ_g k_g·cost_g whose units lost
    Σ_g lost[g, k_g] (lost: groups × K_GRID, non-increasing along the grid) stay within ``budget``;
    the largest k where no choice does. Exact on the grid: every (k_0, k_1), then the smallest
    feasible k_2."""
    n = len(K_GRID)
    left = budget + 1e-9 - (lost[0][:, None] + lost[1][None, :])
    j2 = n - np.searchsorted(lost[2][::-1], left, side="right")  # smallest j with lost[2, j] ≤ left
    total = K_GRID[:, None] * cost[0] + K_GRID[None, :] * cost[1] + np.where(
        j2 < n, K_GRID[np.minimum(j2, n - 1)] * cost[2], np.inf)
    if not np.isfinite(total).any():
        return np.full(GROUPS, K_GRID[-1])
    a, b = np.unravel_index(np.argmin(total), total.shape)
    return K_GRID[[a, b, j2[a, b]]]


def compute(skus: pl.DataFrame, daily: pl.DataFrame, residuals: pl.DataFrame, sigma_d: pl.DataFrame,
            stock: pl.DataFrame | None, promotions: pl.DataFrame, settings: Settings, today: date,
            service_level: float | None = None, lead_time_days: int | None = None,
            history: pl.DataFrame | None = None, holdout_start: date | None = None) -> pl.DataFrame:
    """The plan from plain frames (the module docstring gives every definition). ``service_level``
    may also be a tuple of levels, for what-ifs and the replay: then one row per SKU and level, the
    windows of the pooled tail built once for all of them.

    skus: sku, name, abc, lead_time_days, moq, pack_size (nulls allowed); daily: sku, date, p50;
    residuals: sku, date, error; sigma_d: sku, sigma_d, in_stock_days; stock: sku, on_hand,
    on_order, or None when the warehouse has no snapshots; promotions: sku (null = store-wide),
    start_date, end_date; history (optional, for the pooled tail): sku, date, units, in_stock — the demand
    series before ``today``; holdout_start (optional): the run's first holdout day, for
    :func:`selection_scale`.
    """
    several = isinstance(service_level, (tuple, list))
    for s in (service_level if several else [service_level]):
        if s is not None:
            _check_level("service level", s)
    if lead_time_days is not None:
        _check_days("lead time", lead_time_days)
    _check_products(skus)
    levels = settings.service_levels
    R = settings.review_period_days
    residuals = _selection_scaled(residuals, holdout_start)
    base = skus.with_columns(
        L=(pl.lit(lead_time_days) if lead_time_days is not None
           else pl.col("lead_time_days").fill_null(settings.default_lead_time_days)).cast(pl.Int64),
        service_level=(pl.lit(float(service_level)) if service_level is not None and not several else
                       pl.col("abc").replace_strict(levels, default=levels["C"], return_dtype=pl.Float64)),
        moq=pl.col("moq").fill_null(0).cast(pl.Float64), pack=pl.col("pack_size").fill_null(1).cast(pl.Float64))
    lead = base.select("sku", "L")  # one row per SKU
    if several:
        base = base.drop("service_level").join(
            pl.DataFrame({"service_level": [float(s) for s in service_level]}), how="cross")
    base = base.with_columns(z=pl.Series(norm.ppf(base["service_level"].to_numpy())))

    fc = (daily.select("sku", pl.col("date").cast(pl.Date), pl.col("p50").cast(pl.Float64))
          .with_columns(k=(pl.col("date") - pl.lit(today)).dt.total_days()).filter(pl.col("k") >= 0)
          .join(lead, on="sku")
          .group_by("sku").agg(fd=pl.col("p50").mean(), h=pl.len(),
                               d_l=pl.col("p50").filter(pl.col("k") < pl.col("L")).sum(),
                               d_lr=pl.col("p50").filter(pl.col("k") < pl.col("L") + R).sum()))
    horizon_end = daily["date"].cast(pl.Date).max() if daily.height else today
    sig = _sigma_lead_time(residuals, lead)
    promo = (promotions.select("sku", pl.col("start_date").cast(pl.Date))
             .filter(pl.col("start_date").is_between(pl.lit(today), pl.lit(horizon_end))))
    store_wide = promo.filter(pl.col("sku").is_null()).height > 0
    promo_skus = promo.filter(pl.col("sku").is_not_null()).select("sku").unique().with_columns(promo=pl.lit(True))
    if stock is None:
        stock = pl.DataFrame(schema={"sku": pl.String, "on_hand": pl.Float64, "on_order": pl.Float64})
    known = stock.height > 0

    fd, L = pl.col("fd"), pl.col("L")
    df = (base.join(fc, on="sku", how="left")
          .join(sig, on="sku", how="left").join(sigma_d.select("sku", "sigma_d", "in_stock_days"), on="sku", how="left")
          .join(stock.select("sku", pl.col("on_hand").cast(pl.Float64), pl.col("on_order").cast(pl.Float64)),
                on="sku", how="left")
          .join(promo_skus, on="sku", how="left")
          .with_columns(fd=fd.fill_null(0.0), h=pl.col("h").fill_null(0),
                        d_l=pl.col("d_l").fill_null(0.0), d_lr=pl.col("d_lr").fill_null(0.0)))
    extra = lambda n: pl.max_horizontal(n - pl.col("h"), 0) * fd  # days past the horizon at the daily rate
    sigma_d_ = (pl.when(pl.col("in_stock_days").fill_null(0) >= 2).then(pl.col("sigma_d").fill_null(0.0))
                .otherwise(fd.sqrt()))
    df = df.with_columns(
        forecast_lead_time=pl.col("d_l") + extra(L), d_lr=pl.col("d_lr") + extra(L + R),
        sigma=pl.when(pl.col("windows").fill_null(0) >= MIN_WINDOWS).then(pl.col("sigma_l").fill_null(0.0))
        .otherwise(sigma_d_ * L.cast(pl.Float64).sqrt()))
    if history is not None and history.height:
        own = history.filter(pl.col("sku").is_in(base["sku"].implode()))
        rated = window_rates(_with_day(own, today), history["date"].min())  # r on every day, and today
        df = (df.join(_pooled_days(residuals, rated, today, base.select("sku", "L", "service_level"), R,
                                   promotions),
                      on=["sku", "service_level"], how="left")
              .join(_rate_on(rated, today), on="sku", how="left")
              .with_columns(k=pl.when(pl.col("rate") > 0).then("k")))
    else:
        df = df.with_columns(k=pl.lit(None, pl.Float64), rate=pl.lit(None, pl.Float64))
    tail = pl.col("k").is_not_null()
    blend = lambda forecast, n: pl.when(tail).then((forecast + n * pl.col("rate")) / 2).otherwise(forecast)
    df = df.with_columns(
        safety_stock=pl.when(tail).then(pl.col("k") * pl.col("rate"))
        .otherwise(pl.max_horizontal(pl.col("z") * pl.col("sigma"), 0.0)),
        d_l_plan=blend(pl.col("forecast_lead_time"), L), d_lr_plan=blend(pl.col("d_lr"), L + R))
    df = df.with_columns(reorder_point=pl.col("d_l_plan") + pl.col("safety_stock"),
                         order_up_to=pl.col("d_lr_plan") + pl.col("safety_stock"),
                         position=pl.col("on_hand") + pl.col("on_order").fill_null(0.0),
                         available=pl.col("on_hand").clip(lower_bound=0.0))
    short = pl.col("order_up_to") - pl.col("position")
    packs = ((pl.max_horizontal(short, pl.col("moq")) / pl.col("pack")) - 1e-9).ceil()
    gap = pl.col("position") - pl.col("reorder_point")
    days_to_order = (pl.when(gap < 0).then(0)
                     .when(fd > 0).then((gap / fd + 1e-9).floor().clip(0, COVER_CAP))  # noise can't flip a day
                     .otherwise(None)).cast(pl.Int64)
    df = df.with_columns(
        recommended_qty=pl.when(pl.col("position").is_null()).then(None)
        .when(short <= 1e-9).then(0.0).otherwise(packs * pl.col("pack")),
        order_by=pl.lit(today) + pl.duration(days=days_to_order),
        days_of_cover=pl.when(fd > 0).then((pl.col("available") / fd).clip(upper_bound=COVER_CAP)))
    cover = pl.col("days_of_cover")
    has = pl.col("on_hand").is_not_null()
    flag = {"stockout_risk": has & (fd > 0) & ((pl.col("available") <= 0) | (
                pl.col("available") + pl.col("on_order").fill_null(0.0) < pl.col("forecast_lead_time"))),
            "low_cover_3d": cover <= settings.low_stock_days,
            "overstock_90d": (cover > OVERSTOCK_DAYS) | (has & (fd == 0) & (pl.col("available") > 0)),
            "promo_cover_15d": (pl.lit(store_wide) | pl.col("promo").fill_null(False))
            & (cover < settings.promo_cover_days)}
    df = df.with_columns(flags=pl.concat_list([pl.when(e.fill_null(False)).then(pl.lit(n)) for n, e in flag.items()])
                         .list.drop_nulls())
    out = df.select("sku", "name", "abc", "on_hand", "on_order", pl.col("L").cast(pl.Int32).alias("lead_time_days"),
                    "service_level", pl.col("fd").alias("forecast_daily"), "forecast_lead_time", "safety_stock",
                    "reorder_point", "order_up_to", "recommended_qty", "order_by", "days_of_cover", "flags")
    if not known:
        warnings.warn(STOCK_UNKNOWN, StockUnknownWarning, stacklevel=3)
    return out.sort("order_by", "sku", "service_level", nulls_last=True)


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    cur = con.cursor()
    try:
        return cur.sql(sql, params=params or []).pl()
    finally:
        cur.close()


def _sigma_d(history: pl.DataFrame) -> pl.DataFrame:
    """Per SKU of a demand series: σ_d = standard deviation of daily units on in-stock days, and their number."""
    return (history.filter(pl.col("in_stock")).group_by("sku")
            .agg(sigma_d=pl.col("units").cast(pl.Float64).std(), in_stock_days=pl.len()))


def sigma_daily(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> pl.DataFrame:
    """Per SKU: σ_d = standard deviation of daily units on in-stock days, and their number."""
    from forecasting import series  # the demand series (censored stock-out days)
    return _sigma_d(series.demand(con, as_of=as_of))


def plan(forecast, con: duckdb.DuckDBPyConnection, service_level: float | None = None, today: date | None = None,
         lead_time_days: int | None = None) -> pl.DataFrame:
    """The restock plan of a forecast run: one row per SKU of ``forecast.skus`` (columns
    :data:`COLUMNS`), most urgent order-by date first. See the module docstring for definitions."""
    settings = Settings.from_warehouse(con)
    daily = forecast.daily
    if today is None:
        as_of = getattr(forecast, "as_of", None)
        today = (as_of + timedelta(days=1) if as_of is not None else
                 daily["date"].cast(pl.Date).min() if daily.height else date.today())
    skus = forecast.skus.select("sku", "abc")
    products = _frame(con, """
        select f.sku, coalesce(p.name, n.product_name) as name, p.lead_time_days, p.moq, p.pack_size
        from (select unnest(?::varchar[]) as sku) f left join products p using (sku)
        left join (select sku, max(product_name) as product_name from order_lines where sku is not null
                   group by sku) n using (sku)""", [skus["sku"].to_list()])
    skus = skus.join(products, on="sku", how="left")
    has_snapshots = bool(warehouse.scalar(con, "select exists (select 1 from inventory where snapshot_date <= ?)",
                                          [today]))
    stock = None
    if has_snapshots:
        from metrics.stock import cover
        stock = cover(con, as_of=today).select("sku", "on_hand", "on_order")
    promotions = _frame(con, "select sku, start_date, end_date from promotions")
    from forecasting import series
    history = series.demand(con, as_of=today - timedelta(days=1))
    return compute(skus, daily, forecast.residuals, _sigma_d(history), stock, promotions,
                   settings, today, service_level, lead_time_days, history, holdout_of(forecast))


def store_plan(con: duckdb.DuckDBPyConnection, run_id: int, plan_frame: pl.DataFrame) -> int:
    """Write a plan into restock_plan under ``run_id`` (flags as a comma-separated string), inside
    the caller's transaction; return the rows written."""
    rows = plan_frame.select(pl.lit(run_id, pl.Int32).alias("run_id"), *[
        pl.col("flags").list.join(",") if c == "flags" else pl.col(c) for c in COLUMNS])
    con.register("_restock_plan_rows", rows.to_arrow())
    try:
        cols = ", ".join(rows.columns)
        con.execute(f"insert into restock_plan ({cols}) select {cols} from _restock_plan_rows")
    finally:
        con.unregister("_restock_plan_rows")
    return rows.height
