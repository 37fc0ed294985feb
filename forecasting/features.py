"""Features of the global gradient-boosted model, computed for all SKUs at one forecast origin.

For an origin o (the history is days 0..o−1, NaN = unknown: censored or before the first sale)
and the target days o+k, k = 0..h−1, every level feature is divided by the SKU's ``scale`` so one
model serves SKUs of every volume:

- scale: mean of the last 28 observed days; if that is 0 or unknown, of the last 365, else of
  all; at least 0.05 units/day. ``log_scale`` keeps the volume itself (noise depends on it);
- m7, m14, m28, m91: means of the last 7/14/28/91 *observed* days of the calendar window;
- same_dow_1: the target weekday's value last week (seasonal-filled), same_dow_8: its mean over
  the last 8 weeks; last_year: mean of the 7 days around the target date 52 weeks earlier;
- nonzero_28: share of observed days with a sale in the last 28 days; censored_28: share of
  censored days; days_since_sale (capped at 365); age: observed days of history (capped at 730);
- calendar: k, weekday of the target day, day of year; promotion on the target day and share of
  promotion days in the last 28.
"""
from __future__ import annotations

import numpy as np

GBM_FEATURES = ("log_scale", "m7", "m14", "m28", "m91", "same_dow_1", "same_dow_8", "last_year",
                "nonzero_28", "censored_28", "days_since_sale", "age", "k", "dow", "doy", "promo",
                "promo_28")
MIN_SCALE = 0.05


def _cums(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(y)
    z = np.zeros((n, 1))
    return (np.concatenate([z, np.cumsum(np.nan_to_num(y), axis=1)], axis=1),
            np.concatenate([z, np.cumsum(~np.isnan(y), axis=1)], axis=1))


def _mean(C: np.ndarray, N: np.ndarray, a, b) -> np.ndarray:
    """Mean of observed days in [a, b) per row (a, b: ints, or (n, h) index arrays); NaN if none."""
    T = C.shape[1] - 1
    a, b = np.clip(a, 0, T), np.clip(b, 0, T)
    if np.ndim(a) == 0:
        s, c = C[:, b] - C[:, a], N[:, b] - N[:, a]
    else:
        rows = np.arange(len(C))[:, None]
        s, c = C[rows, b] - C[rows, a], N[rows, b] - N[rows, a]
    with np.errstate(all="ignore"):
        return np.where(c > 0, s / c, np.nan)


def scale(y: np.ndarray) -> np.ndarray:
    """Per-SKU scale of the history ``y`` (see module docstring)."""
    C, N = _cums(y)
    T = y.shape[1]
    s = _mean(C, N, T - 28, T)
    for w in (365, T):
        s = np.where(np.isnan(s) | (s <= 0), _mean(C, N, max(T - w, 0), T), s)
    return np.maximum(np.nan_to_num(s), MIN_SCALE)


def features(y: np.ndarray, promo: np.ndarray, o: int, h: int, dow0: int = 0, doy0: int = 1
             ) -> tuple[np.ndarray, np.ndarray]:
    """(X, scale): X of shape (n, h, len(GBM_FEATURES)) for target days o..o+h−1 from ``y[:, :o]``;
    ``promo`` covers at least days 0..o+h−1."""
    y = y[:, :o]
    n = len(y)
    C, N = _cums(y)
    s = scale(y)
    obs = ~np.isnan(y)
    per_sku = {"log_scale": np.log(s)}
    for w in (7, 14, 28, 91):
        per_sku[f"m{w}"] = _mean(C, N, o - w, o) / s
    recent = y[:, max(o - 28, 0):]
    with np.errstate(all="ignore"):
        per_sku["nonzero_28"] = np.where(obs[:, max(o - 28, 0):].any(axis=1),
                                         np.nansum(recent > 0, axis=1) / obs[:, max(o - 28, 0):].sum(axis=1), np.nan)
    per_sku["censored_28"] = 1 - obs[:, max(o - 28, 0):].mean(axis=1) if o else np.ones(n)
    sold = np.nan_to_num(y) > 0
    last_sale = np.where(sold.any(axis=1), o - 1 - np.argmax(sold[:, ::-1], axis=1), -1)
    per_sku["days_since_sale"] = np.where(last_sale >= 0, np.minimum(o - last_sale, 365), 365)
    per_sku["age"] = np.minimum(obs.sum(axis=1), 730)
    per_sku["promo_28"] = promo[:, max(o - 28, 0):o].mean(axis=1) if o else np.zeros(n)

    k = np.arange(h)
    t = o + k                                      # absolute target day
    lag = t - 7 * (k // 7 + 1)                    # same weekday in the last observed week
    same1 = y[:, np.clip(lag, 0, max(o - 1, 0))] if o else np.full((n, h), np.nan)
    for back in (7, 14, 21):                       # censored last week: look further back
        alt = y[:, np.clip(lag - back, 0, max(o - 1, 0))] if o else np.full((n, h), np.nan)
        same1 = np.where(np.isnan(same1), alt, same1)
    # mean of the target weekday over the last 8 weeks
    weeks = np.stack([y[:, np.clip(lag - 7 * j, 0, max(o - 1, 0))] if o else np.full((n, h), np.nan)
                      for j in range(8)])
    valid_w = (lag[None, :] - 7 * np.arange(8)[:, None] >= 0)[:, None, :] & ~np.isnan(weeks)
    with np.errstate(all="ignore"):
        same8 = np.where(valid_w.any(0), np.where(valid_w, weeks, 0).sum(0) / valid_w.sum(0), np.nan)
    ly = _mean(C, N, np.broadcast_to(t - 367, (n, h)), np.broadcast_to(t - 360, (n, h)))
    ly = np.where((t - 367 >= 0)[None, :], ly, np.nan)
    per_target = {"same_dow_1": same1 / s[:, None], "same_dow_8": same8 / s[:, None],
                  "last_year": ly / s[:, None],
                  "k": np.broadcast_to(k, (n, h)), "dow": np.broadcast_to((dow0 + t) % 7, (n, h)),
                  "doy": np.broadcast_to((doy0 - 1 + t) % 365 + 1, (n, h)),
                  "promo": promo[:, o:o + h].astype(float)}
    X = np.empty((n, h, len(GBM_FEATURES)))
    for j, name in enumerate(GBM_FEATURES):
        X[:, :, j] = per_target[name] if name in per_target else per_sku[name][:, None]
    return X, s
