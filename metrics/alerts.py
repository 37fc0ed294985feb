"""Alerts: what needs attention in a period, from the KPI targets and thresholds in settings.

Rules (defaults from the operations manuals, DESIGN §3; every threshold is a setting):
- a KPI with a target that misses it (repurchase ≥ 25%, new customer share ≥ 30%, gross margin
  ≥ 35%, AOV within 100–300) → ``warning``;
- conversion 15% or more below its benchmark (setting ``conversion_benchmark`` if set, else the
  previous equal-length period) → ``critical``;
- NPS from fewer than 30 responses → ``info`` (thin sample);
- SKUs at or below ``low_stock_days`` (3) days of cover in the latest inventory snapshot → ``critical``.
"""
from __future__ import annotations

import duckdb
import polars as pl

from data import warehouse
from metrics import stock
from metrics.compute import KpiValue, kpis
from metrics.filters import Filters
from metrics.registry import KPIS

THIN_NPS = 30


def _fmt(kpi_key: str, value: float) -> str:
    unit = KPIS[kpi_key].unit
    return f"{value:.1%}" if unit == "ratio" else f"{value:,.2f}" if unit == "money" else f"{value:,.1f}"


def _latest_snapshot(con: duckdb.DuckDBPyConnection):
    return warehouse.scalar(con, "select max(snapshot_date) from inventory")


def alerts(con: duckdb.DuckDBPyConnection, f: Filters, values: dict[str, KpiValue] | None = None) -> list[dict]:
    """[{kpi, severity, message}] for the period, most severe first."""
    values = kpis(con, f) if values is None else values
    out = []
    for key, v in values.items():
        if v.target_status in ("below", "above") and v.value is not None:
            out.append({"kpi": key, "severity": "warning",
                        "message": f"{KPIS[key].label} is {_fmt(key, v.value)}, {v.target_status} its target "
                                   f"({v.target})"})
    conv = values.get("conversion_rate")
    if conv is not None and conv.value is not None:
        benchmark = warehouse.get_setting(con, "conversion_benchmark") or conv.previous
        drop = warehouse.get_setting(con, "conversion_alert_drop")
        if benchmark and conv.value <= benchmark * (1 - drop):
            out.append({"kpi": "conversion_rate", "severity": "critical",
                        "message": f"Conversion rate is {conv.value:.2%}, {1 - conv.value / benchmark:.0%} below its "
                                   f"benchmark of {benchmark:.2%}"})
    n = values.get("nps_responses")
    if n is not None and n.value and n.value < THIN_NPS:
        out.append({"kpi": "nps", "severity": "info",
                    "message": f"NPS rests on {n.value:.0f} responses (fewer than {THIN_NPS}): a thin sample"})
    low = stock.cover(con, min(f.end, _latest_snapshot(con) or f.end)).filter(pl.col("low_stock"))
    if low.height:
        names = ", ".join(low["sku"].head(5).to_list())
        out.append({"kpi": "days_of_cover", "severity": "critical",
                    "message": f"{low.height} SKU{'s' if low.height > 1 else ''} at or below "
                               f"{warehouse.get_setting(con, 'low_stock_days')} days of cover: {names}"
                               + (" …" if low.height > 5 else "")})
    order = {"critical": 0, "warning": 1, "info": 2}
    return sorted(out, key=lambda a: order[a["severity"]])
