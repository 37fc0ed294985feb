"""Independent recomputations of forecasting.policy's pooled tail (pandas, SKU by SKU, window by
window; every combination of the groups' days tried instead of the module's search)."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import polars as pl


def _pandas(frame) -> pd.DataFrame:
    """A pandas copy with ``date`` as datetime.date values."""
    df = (frame.to_pandas() if hasattr(frame, "to_pandas") else frame).copy()
    df["date"] = pd.to_datetime(df["date"]).dt.date
    return df


def robust_rate(history, sku: str, today: date) -> float:
    """max(mean units per day over the 28 days before today, over the 365 days before): days since
    the history's first day (any SKU), less the SKU's stock-out days; no row for the SKU = no sale."""
    h = _pandas(history)
    return _robust(h[h["sku"] == sku], h["date"].min(), today)


def _robust(own: pd.DataFrame, first: date, today: date) -> float:
    """:func:`robust_rate` from the SKU's own rows and the history's first day."""
    own = own[own["date"] < today]

    def mean(n):
        start = today - timedelta(days=n)
        days = min(n, (today - first).days) - int((~own.loc[own["date"] >= start, "in_stock"]).sum())
        sold = own.loc[(own["date"] >= start) & own["in_stock"], "units"].sum()
        return float(sold) / days if days > 0 else 0.0
    return max(mean(28), mean(365))


def peak(history, sku: str, day: date) -> float:
    """The SKU's largest day (units) in the 365 days before ``day``; 0 when it has none."""
    h = _pandas(history)
    return _peak(h[h["sku"] == sku], day)


def _peak(own: pd.DataFrame, day: date) -> float:
    """:func:`peak` from the SKU's own rows."""
    own = own[(own["date"] < day) & (own["date"] >= day - timedelta(days=365))]
    return float(own["units"].max()) if len(own) else 0.0


def selection_scaled(residuals, holdout_start: date | None):
    """The residuals with the errors before ``holdout_start`` times ρ = mean |error| from
    ``holdout_start`` on ÷ mean |error| before it, when that is above 1 (pandas, for the policy's
    selection_scale); unchanged without a holdout start."""
    if holdout_start is None:
        return residuals
    res = _pandas(residuals)
    held = res["date"] >= holdout_start
    rho = res.loc[held, "error"].abs().mean() / res.loc[~held, "error"].abs().mean()
    if rho > 1:
        res.loc[~held, "error"] *= rho
    return pl.from_pandas(res).with_columns(pl.col("date").cast(pl.Date))


def pooled_windows(residuals, history, lead: dict[str, int], R: int, today: date, promotions=None) -> pd.DataFrame:
    """One row per backtest window (SKU, start day s whose days s + L − 1 and s + L + R − 1 are residual
    days too, and whose rate r_s — the robust rate on day s — is positive), in (SKU, s) order: x_l,
    x_lr (actual units), level = (f_lr + (L + R)·r_s) / 2 with f_lr = actual + error, rate = r_s,
    before = the units of the R days before s, spike = peak before s / r_s, and p_l, p_lr, p_level,
    p_rate of the SKU's window starting on s − L − R (NaN when there is none), and promo: whether a
    promotion (rows of sku — None = store-wide —, start_date, end_date) runs on one of days s … s + L + R − 1."""
    res, hist = _pandas(residuals), _pandas(history)
    runs = [] if promotions is None else list(promotions.iter_rows())
    first = hist["date"].min()
    out = []
    for sku, g in res.groupby("sku"):
        if sku not in lead:
            continue
        L = lead[sku]
        own = hist[hist["sku"] == sku]
        act = dict(zip(own["date"], own["units"]))
        err = dict(zip(g["date"], g["error"]))
        days = set(err)
        for s in sorted(days):
            rate = _robust(own, first, s)
            if rate > 0 and s + timedelta(days=L - 1) in days and s + timedelta(days=L + R - 1) in days:
                span = [s + timedelta(days=i) for i in range(L + R)]
                a = [act.get(d, 0.0) if d in days else 0.0 for d in span]
                e = [err.get(d, 0.0) for d in span]
                before = sum(act.get(s - timedelta(days=i), 0.0) for i in range(1, R + 1))
                since = sum(act.get(d, 0.0) for d in (s - timedelta(days=i) for i in range(1, R + 1)) if d in days)
                out.append({"sku": sku, "s": s, "x_l": sum(a[:L]), "x_lr": sum(a),
                            "level": (sum(a) + sum(e) + (L + R) * rate) / 2, "rate": rate, "before": before,
                            "spike": _peak(own, s) / rate, "earlier": s - timedelta(days=L + R), "since": since,
                            "promo": any(who in (None, sku) and a <= span[-1] and b >= s for who, a, b in runs)})
    w = pd.DataFrame(out, columns=["sku", "s", "x_l", "x_lr", "level", "rate", "before", "spike", "earlier", "since",
                                   "promo"])
    prior = w[["sku", "s", "x_l", "x_lr", "level", "rate"]].rename(
        columns={"s": "earlier", "x_l": "p_l", "x_lr": "p_lr", "level": "p_level", "rate": "p_rate"})
    w = w.merge(prior, on=["sku", "earlier"], how="left").sort_values(["sku", "s"]).reset_index(drop=True)
    w.attrs["R"] = R  # for positions
    return w


def positions(w: pd.DataFrame, S: np.ndarray, R: int) -> np.ndarray:
    """The position after the order on each window's first day s: S when the SKU has no window on
    s − R, else max(S, that window's position − the units of the residual days s − R … s − 1) (stock
    is not given back when the level falls)."""
    pos: dict = {}
    out = np.empty(len(w))
    for i, (sku, s, since) in enumerate(zip(w["sku"], w["s"], w["since"])):
        prev = pos.get((sku, s - timedelta(days=R)))
        out[i] = S[i] if prev is None else max(S[i], prev - since)
        pos[(sku, s)] = out[i]
    return out


def lost(w: pd.DataFrame, k: float) -> np.ndarray:
    """Units each window loses in its review period at k: the review period's demand beyond
    max(position − x_l, the order placed on s), S = ⌈level + k·rate⌉, position = :func:`positions`,
    the order = min(S, (before − what the window of s − L − R fell short by backorder accounting)⁺).
    (numpy on the columns: pandas Series arithmetic made the brute force below take minutes.)"""
    c = {name: w[name].to_numpy(dtype=float) for name in ("level", "rate", "p_level", "p_rate", "p_l", "p_lr",
                                                           "x_l", "x_lr", "before")}
    S = np.ceil(c["level"] + k * c["rate"] - 1e-9)
    sp = np.ceil(c["p_level"] + k * c["p_rate"] - 1e-9)
    short = np.nan_to_num(np.maximum(c["p_lr"] - sp, 0) - np.maximum(c["p_l"] - sp, 0))  # no such window: 0
    order = np.minimum(S, np.maximum(c["before"] - short, 0))
    return np.maximum(c["x_lr"] - c["x_l"] - np.maximum(positions(w, S, w.attrs["R"]) - c["x_l"], order), 0)


def tail_days(w: pd.DataFrame, level: float, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(k per spikiness group, the groups' cut points, k of the promotion windows or None): the
    windows in terciles of spike (rank order, ties in (SKU, s) order); every combination of grid
    days per group tried, the cheapest Σ k_g·Σ rate_g whose Σ lost ≤ (1 − level)·Σ(x_lr − x_l).
    With at least 8 promotion windows and demand in their review periods, they also get a k of their
    own: the smallest grid day whose Σ lost over them ≤ (1 − level)·their demand."""
    promo = w["promo"].to_numpy(dtype=bool)
    k_promo = None
    if promo.sum() >= 8 and (w["x_lr"] - w["x_l"])[promo].sum() > 0:
        budget = (1 - level) * (w["x_lr"] - w["x_l"])[promo].sum() + 1e-9
        k_promo = next((k for k in grid if lost(w, k)[promo].sum() <= budget), grid[-1])
    n, groups = len(w), 3
    rank = w["spike"].rank(method="first").astype(int) - 1
    g = (rank * groups // n).to_numpy()
    cuts = np.array([w["spike"][g == i].max() for i in range(groups - 1)])
    lost_at = np.array([np.bincount(g, weights=lost(w, k), minlength=groups) for k in grid]).T  # groups × grid
    cost = np.array([w["rate"][g == i].sum() for i in range(groups)])
    budget = (1 - level) * (w["x_lr"] - w["x_l"]).sum() + 1e-9
    best, pick = np.inf, np.full(groups, grid[-1])
    for a in range(len(grid)):  # every (k_0, k_1, k_2)
        total = lost_at[0, a] + lost_at[1][:, None] + lost_at[2][None, :]
        price = grid[a] * cost[0] + grid[:, None] * cost[1] + grid[None, :] * cost[2]
        price = np.where(total <= budget, price, np.inf)
        b, c = np.unravel_index(np.argmin(price), price.shape)
        if price[b, c] < best:
            best, pick = price[b, c], grid[[a, b, c]]
    return pick, cuts, k_promo


def promo_ahead(promotions, sku: str, today: date, days: int) -> bool:
    """Whether a promotion for ``sku`` or a store-wide one (sku None) runs on one of the ``days``
    days from ``today`` (promotions: rows of sku, start_date, end_date)."""
    last = today + timedelta(days=days - 1)
    return any(who in (None, sku) and a <= last and b >= today for who, a, b in promotions.iter_rows())


def sku_days(pick: np.ndarray, cuts: np.ndarray, history, sku: str, today: date, k_promo: float | None = None,
             promo_ahead: bool = False) -> float:
    """The tail's k for a SKU today: its group's, by today's spikiness (peak / robust rate) against
    the cuts; raised to the promotion windows' k, when they have one, if a promotion runs on one of
    the days today … today + L + R − 1 (``promo_ahead``)."""
    r = robust_rate(history, sku, today)
    spike = peak(history, sku, today) / r if r > 0 else 0.0
    k = float(pick[int((spike > cuts).sum())])
    return max(k, float(k_promo)) if promo_ahead and k_promo is not None else k


def pooled_days(w: pd.DataFrame, level: float, history, sku: str, today: date, promo_ahead: bool = False) -> float:
    """The tail's k (days) for one SKU (:func:`tail_days` then :func:`sku_days`)."""
    from forecasting.policy import K_GRID
    pick, cuts, k_promo = tail_days(w, level, K_GRID)
    return sku_days(pick, cuts, history, sku, today, k_promo, promo_ahead)
