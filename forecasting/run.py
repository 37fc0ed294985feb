"""One forecast run: demand → backtest and choice of method per SKU → forecasts of the next days.

:func:`forecast` returns a :class:`Forecast`; :mod:`forecasting.store` writes it to the warehouse
and :func:`forecasting.policy.plan` turns it into restock recommendations. Definitions of the
accuracy figures and of the choice of method: :mod:`forecasting.backtest`.

P90: the global model's own 0.9-quantile for SKUs it forecasts; for the other methods
P50 + 1.2816 · RMSE of the SKU's daily holdout errors (a normal approximation).
ABC classes: :func:`metrics.analyses.abc` over the 365 days ending ``as_of`` (A ≤ 80% of revenue,
B ≤ 95%, C the rest, U no sales).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl

from forecasting import backtest as bt
from forecasting.series import demand, last_day, promo_days

Z90 = 1.2815515655446004


class NoHistory(ValueError):
    """Nothing to forecast from: no sales orders with a SKU in the warehouse."""


@dataclass
class Forecast:
    daily: pl.DataFrame      # sku, date, p50, p90, method (the next ``horizon`` days; empty for a backtest)
    skus: pl.DataFrame       # sku, method, abc, wape, mase, history_days, actual_units, forecast_units
    residuals: pl.DataFrame  # sku, date, error = forecast − actual of the chosen method, in-stock days of all
                             # backtest windows (selection windows and holdout)
    accuracy: dict           # {"overall", "by_method", "by_abc", "candidates"}
    as_of: date | None = None
    horizon: int = 28
    holdout: pl.DataFrame = field(default_factory=pl.DataFrame)  # sku, date, forecast, actual, in_stock, method
    params: dict = field(default_factory=dict)


def _abc(con: duckdb.DuckDBPyConnection, as_of: date, skus: list[str]) -> np.ndarray:
    from metrics.analyses import abc
    from metrics.filters import Filters
    classes = abc(con, Filters(as_of - timedelta(days=364), as_of)).select("sku", "abc")
    frame = pl.DataFrame({"sku": skus}, schema={"sku": pl.String}).join(classes, on="sku", how="left")
    return frame["abc"].fill_null("U").to_numpy()


def _pick(by_method: dict[str, np.ndarray], chosen: np.ndarray) -> np.ndarray:
    """Row i of by_method[chosen[i]]."""
    out = np.zeros_like(next(iter(by_method.values())))
    for m in np.unique(chosen):
        rows = chosen == m
        out[rows] = by_method[m][rows]
    return out


def _origins(T: int, h: int) -> tuple[int, list[int]]:
    hold = T - h
    sel = [o for o in (T - h * (j + 2) for j in range(bt.SELECTION_FOLDS)) if o >= 1]
    return hold, sel


def forecast(con: duckdb.DuckDBPyConnection, horizon: int = 28, as_of: date | None = None,
             future: bool = True, gbm: dict | None = None) -> Forecast:
    """Backtest every candidate, choose a method per SKU and (``future``) forecast ``horizon`` days
    after ``as_of`` (default: the last day of order data). Raises NoHistory when nothing sold."""
    if int(horizon) != horizon or not 1 <= horizon <= 366:
        raise ValueError(f"horizon must be a whole number of days between 1 and 366, not {horizon!r}")
    as_of = as_of or last_day(con)
    d = demand(con, as_of) if as_of else None
    if d is None or d.height == 0:
        raise NoHistory("no order history: the warehouse has no sales orders with a SKU to forecast from")
    h, gbm = int(horizon), dict(gbm or {})
    skus = d["sku"].unique().sort().to_list()
    p = bt.panel(d, promo_days(con, skus, as_of + timedelta(days=1), as_of + timedelta(days=h)), h)
    n, T = len(p.skus), p.days
    hold, sel = _origins(T, h)
    abc = _abc(con, as_of, p.skus)
    chosen = np.full(n, bt.FALLBACK, dtype=object)
    accuracy: dict = {}
    per_sku = {k: np.full(n, np.nan) for k in ("abs_err", "actual", "forecast", "mase")}
    residuals = pl.DataFrame(schema={"sku": pl.String, "date": pl.Date, "error": pl.Float64})
    hold_frame = pl.DataFrame()
    fh = None
    if hold >= 1:
        model = bt.fit_gbm(p, min(sel + [hold]), h, **gbm)
        folds = {}
        for o in sel + [hold]:
            folds[o] = bt.local_forecasts(p, o, h)
            folds[o]["gbm"] = model.forecast_from(p.clean[:, :o], promo=p.promo[:, :o + h], h=h)[0.5]
        chosen = bt.choose(p, {o: folds[o] for o in sel}, h)
        fh = _pick(folds[hold], chosen)
        ho = bt.holdout(p, hold, fh)
        stats = ho.per_sku()
        per_sku = stats
        evaluable = bt.observed_days(p, hold) >= 1
        accuracy = _accuracy(p, hold, folds[hold], stats, chosen, abc, evaluable)
        residuals = _residuals(p, {o: _pick(folds[o], chosen) for o in sel + [hold]}, h)
        dates = np.array(p.dates(hold, hold + h), dtype="datetime64[D]")
        rr, cc = np.nonzero(np.broadcast_to(evaluable[:, None], fh.shape))
        hold_frame = pl.DataFrame({"sku": np.array(p.skus, dtype=object)[rr].astype(str), "date": dates[cc],
                                   "forecast": fh[rr, cc], "actual": ho.a[rr, cc], "in_stock": ho.mask[rr, cc],
                                   "method": chosen[rr].astype(str)}).cast({"date": pl.Date})
    with np.errstate(all="ignore"):
        wape = np.where(per_sku["actual"] > 0, per_sku["abs_err"] / per_sku["actual"], np.nan)
    sku_frame = pl.DataFrame({
        "sku": p.skus, "method": chosen.astype(str), "abc": abc.astype(str), "wape": wape,
        "mase": per_sku["mase"], "history_days": p.in_stock.sum(axis=1).astype(np.int64),
        "actual_units": per_sku["actual"], "forecast_units": per_sku["forecast"]},
        schema={"sku": pl.String, "method": pl.String, "abc": pl.String, "wape": pl.Float64, "mase": pl.Float64,
                "history_days": pl.Int64, "actual_units": pl.Float64, "forecast_units": pl.Float64},
    ).with_columns(pl.col(c).fill_nan(None) for c in ("wape", "mase", "actual_units", "forecast_units"))
    daily = _future(p, chosen, residuals, h, gbm, as_of) if future else pl.DataFrame(
        schema={"sku": pl.String, "date": pl.Date, "p50": pl.Float64, "p90": pl.Float64, "method": pl.String})
    return Forecast(daily, sku_frame, residuals, accuracy, as_of, h, hold_frame,
                    {"horizon": h, "as_of": as_of.isoformat(), "gbm": gbm,
                     "holdout_start": p.dates(hold, hold + 1)[0].isoformat() if hold >= 1 else None})


def _residuals(p: bt.Panel, chosen_by_origin: dict[int, np.ndarray], h: int) -> pl.DataFrame:
    """Errors (forecast − actual) of each SKU's chosen method on the in-stock days of every backtest
    window (the selection windows and the holdout: 3·h contiguous days), where the SKU had history
    before the window's origin."""
    parts = []
    for o, f in sorted(chosen_by_origin.items()):
        ho = bt.holdout(p, o, f)
        ok = (bt.observed_days(p, o) >= 1)[:, None] & ho.mask
        rows, cols = np.nonzero(ok)
        dates = np.array(p.dates(o, o + h), dtype="datetime64[D]")
        parts.append(pl.DataFrame({"sku": np.array(p.skus, dtype=object)[rows].astype(str), "date": dates[cols],
                                   "error": (f - ho.a)[rows, cols]}))
    return pl.concat(parts).cast({"date": pl.Date, "error": pl.Float64}).sort("sku", "date")


def _accuracy(p: bt.Panel, hold: int, candidates: dict[str, np.ndarray], stats: dict, chosen: np.ndarray,
              abc: np.ndarray, evaluable: np.ndarray) -> dict:
    rows = np.flatnonzero(evaluable)
    overall = bt.pooled(stats, rows)
    plain = bt.baseline_forecast(p, hold, candidates[bt.BASELINE].shape[1])  # promotions unknown to it
    base = bt.pooled(bt.holdout(p, hold, plain).per_sku(), rows)
    overall |= {"baseline_wape": base["wape"], "baseline_wape_7d": base["wape_7d"],
                "baseline_bias": base["bias"], "baseline_mase": base["mase"],
                "holdout_start": p.dates(hold, hold + 1)[0].isoformat(),
                "holdout_end": p.dates(p.days - 1, p.days)[0].isoformat()}
    by_method = {m: bt.pooled(stats, rows[chosen[rows] == m]) for m in bt.CANDIDATES if (chosen[rows] == m).any()}
    by_abc = {c: bt.pooled(stats, rows[abc[rows] == c]) for c in "ABCU" if (abc[rows] == c).any()}
    every = {m: bt.pooled(bt.holdout(p, hold, f).per_sku(), rows) for m, f in candidates.items()}
    return {"overall": overall, "by_method": by_method, "by_abc": by_abc, "candidates": every}


def _future(p: bt.Panel, chosen: np.ndarray, residuals: pl.DataFrame, h: int, gbm: dict, as_of: date) -> pl.DataFrame:
    """Daily P50/P90 of the next ``h`` days, each SKU by its chosen method fitted on all its history."""
    n, T = p.y.shape
    by_method = bt.local_forecasts(p, T, h, [m for m in np.unique(chosen) if m != "gbm"])
    p90 = None
    if (chosen == "gbm").any():
        q = bt.fit_gbm(p, T, h, **gbm).predict_quantiles(h)
        by_method["gbm"], p90_gbm = q[0.5], q[0.9]
    p50 = _pick(by_method, chosen)
    rmse = pl.DataFrame({"sku": p.skus}).join(
        residuals.group_by("sku").agg((pl.col("error") ** 2).mean().sqrt().alias("rmse")), on="sku", how="left"
    )["rmse"].fill_null(0.0).to_numpy()
    p90 = p50 + Z90 * rmse[:, None]
    if (chosen == "gbm").any():
        p90 = np.where((chosen == "gbm")[:, None], p90_gbm, p90)
    dates = np.array([as_of + timedelta(days=k + 1) for k in range(h)], dtype="datetime64[D]")
    return pl.DataFrame({"sku": np.repeat(np.array(p.skus, dtype=object), h).astype(str),
                         "date": np.tile(dates, n), "p50": p50.reshape(-1), "p90": np.maximum(p90, p50).reshape(-1),
                         "method": np.repeat(chosen.astype(str), h)}).cast({"date": pl.Date})
