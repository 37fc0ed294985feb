"""Forecasting models, one interface (statsforecast / scikit-learn style).

``Model(**params).fit(y, ...)`` returns the model; ``predict(h)`` returns the P50 daily units of
the next ``h`` days (never negative). ``y`` is one series (1-D, oldest first) or a matrix of
series (2-D, one row per SKU, all aligned on the same last day); then ``predict`` returns one row
per series. NaN in ``y`` means *unknown*: a censored (out-of-stock) day or a day before the SKU's
first sale. Models never read a NaN as zero demand: they skip it (moving average, Croston, TSB),
take the value one season back (seasonal naive) or leave it missing in the features and drop it
as a training target (the global model). An all-missing or all-zero series forecasts 0 (its own
branch in every model). The math is in small pure functions over matrices, so thousands of SKUs
run at once with no Python loop per SKU.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from forecasting.features import GBM_FEATURES, features, scale


def _as_matrix(y) -> tuple[np.ndarray, bool]:
    a = np.asarray(y, dtype=float)
    if a.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D (one series) or 2-D (series × days), not {a.ndim}-D")
    return (a[None, :] if a.ndim == 1 else a), a.ndim == 1


def _check_h(h: int) -> int:
    if int(h) != h or h < 1:
        raise ValueError(f"horizon must be a whole number of days ≥ 1, not {h!r}")
    return int(h)


def _censor(y: np.ndarray, in_stock) -> np.ndarray:
    """y with censored days (in_stock False) set to NaN."""
    if in_stock is None:
        return y
    mask, _ = _as_matrix(in_stock)
    return np.where(mask.astype(bool), y, np.nan)


# ------------------------------------------------------------------------- pure functions

def seasonal_fill(y: np.ndarray, season: int = 7) -> np.ndarray:
    """Each missing day takes the value one season earlier (repeatedly); still missing → NaN."""
    out = y.copy()
    for t in range(season, out.shape[1]):
        col = out[:, t]
        gap = np.isnan(col)
        if gap.any():
            col[gap] = out[gap, t - season]
    return out


def seasonal_naive(y: np.ndarray, h: int, season: int = 7) -> np.ndarray:
    """ŷ[T+k] = y[T+k−season·⌈k/season⌉]: the last observed season repeated. Missing days take the
    value one season earlier; a weekday never observed takes the mean of the observed days."""
    filled = seasonal_fill(y, season)
    last = filled[:, -season:] if filled.shape[1] >= season else np.full((len(y), season), np.nan)
    if filled.shape[1] < season:  # shorter than a season: align what exists on its weekday
        last[:, season - filled.shape[1]:] = filled
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing rows: NaN, handled below
        mean = np.nanmean(y, axis=1, keepdims=True) if y.shape[1] else np.full((len(y), 1), np.nan)
    last = np.where(np.isnan(last), mean, last)
    reps = -(-h // season)
    return np.nan_to_num(np.tile(last, reps)[:, :h])


def window_mean(y: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` observed (non-missing) days of each series; NaN if none."""
    valid = ~np.isnan(y)
    # rank of each observed day counted from the end: 1 = the latest observed day
    from_end = np.cumsum(valid[:, ::-1], axis=1)[:, ::-1]
    take = valid & (from_end <= window)
    n = take.sum(axis=1)
    with np.errstate(all="ignore"):
        return np.where(n > 0, np.where(take, y, 0.0).sum(axis=1) / n, np.nan)


def croston(y: np.ndarray, alpha: float = 0.1, sba: bool = False) -> np.ndarray:
    """Croston's method: per-period demand rate ẑ / p̂.

    Over the observed days only (missing days are skipped, not counted in intervals): at each day
    with demand z > 0 after an interval of q observed days since the previous demand (the first
    demand: q = days observed up to and including it), ẑ ← ẑ + α(z − ẑ) and p̂ ← p̂ + α(q − p̂),
    both started at the first demand's z and q. ``sba``: Syntetos–Boylan correction × (1 − α/2).
    No demand at all → 0.
    """
    n, _ = y.shape
    z = np.full(n, np.nan)
    p = np.full(n, np.nan)
    q = np.zeros(n)
    for col in y.T:
        seen = ~np.isnan(col)
        q += seen
        hit = seen & (col > 0)
        if hit.any():
            first = hit & np.isnan(z)
            z = np.where(first, col, np.where(hit, z + alpha * (col - z), z))
            p = np.where(first, q, np.where(hit, p + alpha * (q - p), p))
            q = np.where(hit, 0.0, q)
    rate = np.where(np.isnan(z), 0.0, z / np.where(np.isnan(p), 1.0, p))
    return rate * (1 - alpha / 2) if sba else rate


def tsb(y: np.ndarray, alpha: float = 0.1, beta: float = 0.1) -> np.ndarray:
    """Teunter–Syntetos–Babai: demand probability p̂ updated every observed day
    (p̂ ← p̂ + β(1[y>0] − p̂)), size ẑ at demand days (ẑ ← ẑ + α(y − ẑ)); rate = p̂ · ẑ.
    Started at p̂ = share of observed days with demand, ẑ = the first demand size. No demand → 0."""
    n, _ = y.shape
    valid = ~np.isnan(y)
    with np.errstate(all="ignore"):
        p = np.where(valid.any(axis=1), np.nansum(y > 0, axis=1) / valid.sum(axis=1), 0.0)
    z = np.full(n, np.nan)
    for col in y.T:
        seen = ~np.isnan(col)
        hit = seen & (col > 0)
        p = np.where(seen, p + beta * (hit - p), p)
        z = np.where(hit & np.isnan(z), col, np.where(hit, z + alpha * (col - z), z))
    return np.where(np.isnan(z), 0.0, p * z)


# ------------------------------------------------------------------------- models

class _Local:
    """A per-series model whose forecast is one function of the (censored) history."""
    name = "local"

    def fit(self, y, in_stock=None, **_) -> "_Local":
        m, self._one = _as_matrix(y)
        self._y = _censor(m, in_stock)
        return self

    def _flat(self, h: int, rate: np.ndarray) -> np.ndarray:
        out = np.repeat(np.nan_to_num(np.maximum(rate, 0.0))[:, None], h, axis=1)
        return out[0] if self._one else out

    def predict(self, h: int) -> np.ndarray:
        raise NotImplementedError


class SeasonalNaive(_Local):
    """Last week repeated (season = 7 days); censored days take the value a season earlier."""
    name = "seasonal_naive"

    def __init__(self, season: int = 7):
        self.season = season

    def predict(self, h: int) -> np.ndarray:
        out = np.maximum(seasonal_naive(self._y, _check_h(h), self.season), 0.0)
        return out[0] if self._one else out


class MovingAverage(_Local):
    """Flat forecast: mean of the last ``window`` in-stock days (fewer if the history is shorter)."""
    name = "moving_average"

    def __init__(self, window: int = 28):
        self.window = window

    def predict(self, h: int) -> np.ndarray:
        return self._flat(_check_h(h), window_mean(self._y, self.window))


class Croston(_Local):
    """Croston's intermittent-demand rate (optionally the SBA correction), flat over the horizon."""
    name = "croston"

    def __init__(self, alpha: float = 0.1, sba: bool = True):
        self.alpha, self.sba = alpha, sba

    def predict(self, h: int) -> np.ndarray:
        return self._flat(_check_h(h), croston(self._y, self.alpha, self.sba))


class TSB(_Local):
    """TSB intermittent-demand rate (reacts to obsolescence: p̂ decays on days without demand)."""
    name = "tsb"

    def __init__(self, alpha: float = 0.1, beta: float = 0.1):
        self.alpha, self.beta = alpha, beta

    def predict(self, h: int) -> np.ndarray:
        return self._flat(_check_h(h), tsb(self._y, self.alpha, self.beta))


class GlobalGBM:
    """One HistGradientBoostingRegressor over all SKUs (direct multi-horizon).

    Training rows: for weekly forecast origins o in the history (the latest ``origins`` of them
    whose targets are all observed before the end), one row per (SKU, day o+k, k < horizon) with
    the features of :func:`forecasting.features.features` computed from days before o only, and
    target y[o+k] / scale (the SKU's recent in-stock mean). Censored target days are dropped. One
    fit per entry of ``quantiles``: 0.9 (P90) with quantile loss; the P50 column with
    ``point_loss``, by default "poisson" — the conditional *mean*: daily demand is mostly zeros,
    and a quantile-0.5 fit on it collapses to 0 for all but the fastest movers (a −100% bias,
    measured on the demo shop), while a restock decision needs the lead-time total, i.e. the mean
    (``point_loss="quantile"`` gives the true median). Forecasts = prediction × scale, ≥ 0.
    A history too short to train on (no origin ≥ 28 days in) gives the 28-day moving average.
    ``max_rows`` bounds the training set (a seeded random sample) and ``threads`` the OpenMP
    threads, since it runs beside the web server: by default the environment's ``OMP_NUM_THREADS``
    (the app's background job sets it to 1, forecasting/jobs.py), else 2. More OpenMP threads than
    free cores is ruinous here: with one of the 2 cores busy, a 2-thread fit of 500 SKUs took over
    3 minutes against 18 s with 1 thread. Series whose history is all zero (or missing)
    forecast 0 and are left out of training.
    """
    name = "gbm"

    def __init__(self, horizon: int = 28, origins: int = 12, step: int = 7, max_rows: int = 150_000,
                 max_iter: int = 120, learning_rate: float = 0.1, max_leaf_nodes: int = 31,
                 quantiles: tuple[float, ...] = (0.5, 0.9), point_loss: str = "poisson", threads: int | None = None,
                 seed: int = 0):
        self.horizon, self.origins, self.step, self.max_rows = horizon, origins, step, max_rows
        self.max_iter, self.learning_rate, self.max_leaf_nodes = max_iter, learning_rate, max_leaf_nodes
        self.quantiles, self.point_loss, self.seed = quantiles, point_loss, seed
        self.threads = threads or int(os.environ.get("OMP_NUM_THREADS") or 2)

    def fit(self, y, in_stock=None, promo=None, dow0: int = 0, doy0: int = 1, **_) -> "GlobalGBM":
        """``promo``: bool matrix covering the history *and* the forecast days (n × (T + horizon)),
        or None; ``dow0``/``doy0``: weekday (Mon = 0) and day of year of the first column."""
        from sklearn.ensemble import HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        m, self._one = _as_matrix(y)
        self._y = _censor(m, in_stock)
        n, T = self._y.shape
        self._promo = (np.zeros((n, T + self.horizon), bool) if promo is None
                       else _as_matrix(promo)[0].astype(bool))
        self._cal = (dow0, doy0)
        self._zero = ~(np.nan_to_num(self._y) > 0).any(axis=1)
        live = np.flatnonzero(~self._zero)
        X, r = self._training(live, T)
        self._models = {}
        if len(r) == 0:
            return self
        with threadpool_limits(limits=self.threads, user_api="openmp"):
            for q in self.quantiles:
                loss = self.point_loss if q == 0.5 else "quantile"
                est = HistGradientBoostingRegressor(
                    loss=loss, quantile=q if loss == "quantile" else None, max_iter=self.max_iter, learning_rate=self.learning_rate,
                    max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=40, l2_regularization=1.0, early_stopping=False,
                    categorical_features=None, random_state=self.seed)
                self._models[q] = est.fit(X, r)
        return self

    def _training(self, live: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
        h = self.horizon
        last = T - h  # the latest origin whose h target days are all in the history
        origins = [o for o in range(last, 27, -self.step)][: self.origins]
        rng = np.random.default_rng(self.seed)
        per = max(1, self.max_rows // max(len(origins), 1))
        Xs, rs = [], []
        for o in origins:
            X, s = features(self._y[live, :o], self._promo[live], o, h, *self._cal)
            target = self._y[live, o:o + h] / s[:, None]
            X, target = X.reshape(-1, X.shape[-1]), target.reshape(-1)
            keep = np.flatnonzero(~np.isnan(target))
            if len(keep) > per:
                keep = rng.choice(keep, per, replace=False)
            Xs.append(X[keep])
            rs.append(np.minimum(target[keep], 50.0))
        if not Xs:
            return np.empty((0, len(GBM_FEATURES))), np.empty(0)
        X = np.concatenate(Xs)
        X[:, np.isnan(X).all(axis=0)] = 0.0  # e.g. last_year on a short history: binning needs one value
        return X, np.concatenate(rs)

    def predict_quantiles(self, h: int) -> dict[float, np.ndarray]:
        """{quantile: forecast matrix (or vector for one series)} for the next ``h`` ≤ horizon days."""
        out = self._predict(self._y, self._promo, _check_h(h))
        return {q: (v[0] if self._one else v) for q, v in out.items()}

    def forecast_from(self, y, in_stock=None, promo=None, h: int | None = None) -> dict[float, np.ndarray]:
        """Quantile forecasts from another origin with the fitted trees (no refit): ``y`` is the
        history up to that origin (same series, same first day), ``promo`` covers it plus ``h``."""
        m, _ = _as_matrix(y)
        h = _check_h(h or self.horizon)
        p = np.zeros((len(m), m.shape[1] + h), bool) if promo is None else _as_matrix(promo)[0].astype(bool)
        return self._predict(_censor(m, in_stock), p, h)

    def _predict(self, y: np.ndarray, promo: np.ndarray, h: int) -> dict[float, np.ndarray]:
        if h > self.horizon:
            raise ValueError(f"the model was fitted for {self.horizon} days ahead, not {h}")
        from threadpoolctl import threadpool_limits
        n, T = y.shape
        if not self._models:  # too short a history to train on: the 28-day moving average
            flat = np.repeat(np.nan_to_num(window_mean(y, 28))[:, None], h, axis=1)
            return {q: flat.copy() for q in self.quantiles}
        out = {q: np.zeros((n, h)) for q in self.quantiles}
        live = np.flatnonzero((np.nan_to_num(y) > 0).any(axis=1))
        if len(live):
            X, s = features(y[live], promo[live], T, h, *self._cal)
            flat = X.reshape(-1, X.shape[-1])
            with threadpool_limits(limits=self.threads, user_api="openmp"):
                for q, est in self._models.items():
                    out[q][live] = np.maximum(est.predict(flat).reshape(len(live), h), 0.0) * s[:, None]
        if 0.9 in out and 0.5 in out:
            out[0.9] = np.maximum(out[0.9], out[0.5])
        return out

    def predict(self, h: int) -> np.ndarray:
        return self.predict_quantiles(h)[self.quantiles[0]]


LOCAL_MODELS = {"seasonal_naive": SeasonalNaive, "moving_average": MovingAverage, "croston": Croston, "tsb": TSB}
