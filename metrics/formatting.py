"""KPI values as text, one rule for cards, tables, the weekly review and its HTML export."""
from __future__ import annotations


def fmt(unit: str, value: float | None, currency: str = "", compact: bool = False) -> str:
    """Money with 2 decimals and the currency code (``compact``: no decimals from 10,000 on, so it
    fits a card), ratios in % with 2 decimals, counts with thousands separators, scores with 1
    decimal, other numbers with 2; None is "—"."""
    if value is None:
        return "—"
    if unit == "money":
        return f"{value:,.{0 if compact and abs(value) >= 10_000 else 2}f} {currency}".strip()
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:.1f}" if unit == "score" else f"{value:,.2f}"
