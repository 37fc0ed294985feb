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
    """max(mean units of in-stock days in the 28 days before today, in the 365 days before)."""
    h = _pandas(history)
    h = h[(h["sku"] == sku) & h["in_stock"] & (h["date"] < today) & (h["date"] >= today - timedelta(days=365))]
    recent = h[h["date"] >= today - timedelta(days=28)]["units"]
    return max(float(recent.mean()) if len(recent) else 0.0, float(h["units"].mean()) if len(h) else 0.0)


def pooled_windows(residuals, history, lead: dict[str, int], R: int, today: date) -> pd.DataFrame:
    """One row per backtest window (SKU, start day s whose days s + L − 1 and s + L + R − 1 are residual
    days too): x_l, x_lr (actual units), f_lr (forecast = actual + error), rate of the SKU."""
    res, hist = _pandas(residuals), _pandas(history)
    out = []
    for sku, g in res.groupby("sku"):
        rate = robust_rate(hist, sku, today)
        if rate <= 0 or sku not in lead:
            continue
        L = lead[sku]
        act = dict(zip(hist.loc[hist["sku"] == sku, "date"], hist.loc[hist["sku"] == sku, "units"]))
        err = dict(zip(g["date"], g["error"]))
        days = set(err)
        for s in sorted(days):
            if s + timedelta(days=L - 1) in days and s + timedelta(days=L + R - 1) in days:
                span = [s + timedelta(days=i) for i in range(L + R)]
                a = [act.get(d, 0.0) if d in days else 0.0 for d in span]
                e = [err.get(d, 0.0) for d in span]
                out.append({"sku": sku, "x_l": sum(a[:L]), "x_lr": sum(a), "f_lr": sum(a) + sum(e), "rate": rate})
    return pd.DataFrame(out)


def pooled_days(w: pd.DataFrame, level: float) -> float:
    """Smallest k ≥ 0 with Σ[(x_lr − S)⁺ − (x_l − S)⁺] ≤ (1 − level)·Σ(x_lr − x_l), S = f_lr + k·rate."""
    cycle = (w["x_lr"] - w["x_l"]).sum()

    def excess(k):
        s = w["f_lr"] + k * w["rate"]
        return ((w["x_lr"] - s).clip(lower=0) - (w["x_l"] - s).clip(lower=0)).sum() / cycle - (1 - level)
    return 0.0 if excess(0.0) <= 0 else brentq(excess, 0.0, 365.0, xtol=1e-12)
