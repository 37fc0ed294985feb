"""Independent recomputations of forecasting.policy's pooled tail (pandas, SKU by SKU, window by
window; scipy's root finder instead of the module's bisection)."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.optimize import brentq


def _pandas(frame) -> pd.DataFrame:
    """A pandas copy with ``date`` as datetime.date values."""
    df = (frame.to_pandas() if hasattr(frame, "to_pandas") else frame).copy()
    df["date"] = pd.to_datetime(df["date"]).dt.date
    return df


def robust_rate(history, sku: str, today: date) -> float:
    """max(mean units per day over the 28 days before today, over the 365 days before): days since
    the history's first day (any SKU), less the SKU's stock-out days; no row for the SKU = no sale."""
    h = _pandas(history)
    first = h["date"].min()
    own = h[(h["sku"] == sku) & (h["date"] < today)]

    def mean(n):
        start = today - timedelta(days=n)
        days = min(n, (today - first).days) - int((~own.loc[own["date"] >= start, "in_stock"]).sum())
        sold = own.loc[(own["date"] >= start) & own["in_stock"], "units"].sum()
        return float(sold) / days if days > 0 else 0.0
    return max(mean(28), mean(365))


def pooled_windows(residuals, history, lead: dict[str, int], R: int, today: date) -> pd.DataFrame:
    """One row per backtest window (SKU, start day s whose days s + L − 1 and s + L + R − 1 are residual
    days too, and whose rate r_s — the robust rate on day s — is positive): x_l, x_lr (actual units),
    level = (f_lr + (L + R)·r_s) / 2 with f_lr = actual + error, and rate = r_s."""
    res, hist = _pandas(residuals), _pandas(history)
    out = []
    for sku, g in res.groupby("sku"):
        if sku not in lead:
            continue
        L = lead[sku]
        act = dict(zip(hist.loc[hist["sku"] == sku, "date"], hist.loc[hist["sku"] == sku, "units"]))
        err = dict(zip(g["date"], g["error"]))
        days = set(err)
        for s in sorted(days):
            rate = robust_rate(hist, sku, s)
            if rate > 0 and s + timedelta(days=L - 1) in days and s + timedelta(days=L + R - 1) in days:
                span = [s + timedelta(days=i) for i in range(L + R)]
                a = [act.get(d, 0.0) if d in days else 0.0 for d in span]
                e = [err.get(d, 0.0) for d in span]
                out.append({"sku": sku, "x_l": sum(a[:L]), "x_lr": sum(a),
                            "level": (sum(a) + sum(e) + (L + R) * rate) / 2, "rate": rate})
    return pd.DataFrame(out, columns=["sku", "x_l", "x_lr", "level", "rate"])


def pooled_days(w: pd.DataFrame, level: float) -> float:
    """Smallest k ≥ 0 with Σ[(x_lr − S)⁺ − (x_l − S)⁺] ≤ (1 − level)·Σ(x_lr − x_l), S = level + k·rate."""
    cycle = (w["x_lr"] - w["x_l"]).sum()

    def excess(k):
        s = w["level"] + k * w["rate"]
        return ((w["x_lr"] - s).clip(lower=0) - (w["x_l"] - s).clip(lower=0)).sum() / cycle - (1 - level)
    return 0.0 if excess(0.0) <= 0 else brentq(excess, 0.0, 365.0, xtol=1e-12)
