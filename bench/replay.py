"""Replay: our restock policy vs the manuals' rule of thumb on past demand, at matched fill rate.

Data (each loaded through the real pipeline into a temporary warehouse, demand from
``forecasting.series.demand``: daily units of sales orders, zero-filled; days the shop was out of
stock are replayed as recorded, i.e. as zero demand, for both policies):

- ``demo``: ``data.demo.build`` (≈300 SKUs × 730 days), lead times from products (5–20 days),
  unit costs from products; the last 365 days are replayed.
- ``online retail``: UCI Online Retail (../shared/realdata/online_retail.parquet via
  ``data.ingest``), the 500 SKUs with most units; no lead times in the data, so the setting
  ``default_lead_time_days`` (7) for all; money at the mean selling price (no costs in the data);
  the days after the first 120 are replayed. The series nets cancellations (a C invoice of the
  same SKU and customer within a day, e.g. the record 80,995- and 74,215-unit orders undone minutes
  later; forecasting/series.py).

Both policies start from the same stock (trailing 30-day average × (L + 7) days) and the first
28 replayed days are a warm-up, left out of the measures (forecasting/simulate.py defines them).
Compared at equal review cadence (both policies look at stock on the same days):
- daily: ours with setting review_period_days = 1 against the rule checked every day, as the
  manuals use it (3 days' cover → order 15 days);
- weekly: ours with the default review_period_days = 7 against the same rule checked once a week;
each with ours at a 95% service level, the rule as written, and the rule with its trigger raised by
bisection until its fill rate reaches ours; curves: ours over service levels 0.5–0.999, the rule
over triggers 3–50 days.
"""
from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from bench import ROOT, Config, register

REALDATA = ROOT.parent / "shared" / "realdata"
TOP_SKUS = 500
TARGET_FILL = 0.95
TARGET_CUT = 0.15   # ours holds ≥ 15% less average inventory than the rule tuned to our fill rate
WARMUP = 28


def _matrix(series: pl.DataFrame, skus: list[str]) -> tuple[np.ndarray, list]:
    """SKUs × days of units (0 before a SKU's first sale)."""
    s = series.filter(pl.col("sku").is_in(skus))
    first = s["date"].min()
    days = (s["date"].max() - first).days + 1
    idx = {k: i for i, k in enumerate(skus)}
    out = np.zeros((len(skus), days))
    rows = s["sku"].replace_strict(idx, return_dtype=pl.Int64).to_numpy()
    cols = (s["date"] - first).dt.total_days().to_numpy()
    out[rows, cols] = s["units"].to_numpy()
    return out, [first, s["date"].max()]


def _dataset(name: str, con, skus: list[str], lead: np.ndarray, cost: np.ndarray, start_days: int | None) -> dict:
    from forecasting import series
    d = series.demand(con)
    demand, span = _matrix(d, skus)
    start = demand.shape[1] - 365 if start_days is None else start_days
    trailing = demand[:, max(start - 30, 0):start].mean(axis=1)
    return {"name": name, "demand": demand, "lead": lead, "init": np.ceil(trailing * (lead + 7)), "cost": cost,
            "start": start, "span": span}


def _demo(tmp: Path, log) -> dict:
    from data import demo, warehouse
    path = tmp / "demo.duckdb"
    t = time.perf_counter()
    demo.build(path)
    log(f"replay: demo warehouse built in {time.perf_counter() - t:.0f} s")
    con = warehouse.connect(path)
    p = con.execute("select sku, coalesce(lead_time_days, 7), coalesce(unit_cost, 0) from products "
                    "where sku in (select distinct sku from order_lines) order by sku").fetchall()
    try:
        return _dataset("demo", con, [r[0] for r in p], np.array([r[1] for r in p]), np.array([r[2] for r in p]), None)
    finally:
        con.close()


def _online_retail(tmp: Path, log) -> list[dict]:
    from data import warehouse
    from data.ingest import ingest_file
    con = warehouse.connect(tmp / "uci.duckdb")
    t = time.perf_counter()
    r = ingest_file(con, REALDATA / "online_retail.parquet")
    if r.status != "loaded":
        raise RuntimeError(f"online_retail.parquet not loaded: {r.message}")
    log(f"replay: Online Retail loaded in {time.perf_counter() - t:.0f} s")
    from forecasting import series
    from metrics.registry import ORDER
    units = series.demand(con).group_by("sku").agg(pl.col("units").sum())  # net of cancellations
    con.register("_units", units.to_arrow())
    top = con.execute(f"""select sku, avg(unit_price) from order_lines join _units using (sku)
                          where {ORDER} and quantity > 0 group by sku, _units.units
                          order by _units.units desc, sku limit {TOP_SKUS}""").fetchall()
    con.unregister("_units")
    top.sort()
    lead = np.full(len(top), int(warehouse.get_setting(con, "default_lead_time_days")))
    skus, cost = [r[0] for r in top], np.array([r[1] for r in top])
    try:
        return [_dataset("online retail", con, skus, lead, cost, 120)]
    finally:
        con.close()


CADENCES = {"daily": 1, "weekly": 7}  # review_period_days of both policies


def _rows(ds: dict, log) -> list[dict]:
    from forecasting.simulate import compare
    n, days = ds["demand"].shape
    measured = days - ds["start"] - WARMUP
    m = ds["demand"][:, ds["start"] + WARMUP:]
    mean = m.mean(axis=1, keepdims=True)
    spikes = float(m[m > 10 * mean].sum() / m.sum())  # units on days above 10× the SKU's mean day
    top_day = float(m.max() / m.sum())
    args = (ds["demand"], ds["lead"], ds["init"], ds["start"], WARMUP, ds["cost"])
    rows = []
    for cadence, R in CADENCES.items():
        t = time.perf_counter()
        c = compare(*args, service_level=TARGET_FILL, review_period_days=R)
        secs = time.perf_counter() - t
        log(f"replay: {ds['name']}, {cadence} review: compared in {secs:.1f} s")
        ours, tuned, written = c["ours"], c["tuned"], c["written"]
        rule_curve = [p for p in c["curve"] if p["policy"] == "rule of thumb"]
        for label, r in [(f"ours, service level {TARGET_FILL}", ours), ("rule as written (3 d → 15 d)", written),
                         (f"rule tuned to our fill rate (trigger {c['tuned_trigger']:.1f} d)", tuned)]:
            rows.append({"table": "replay", "data": ds["name"], "review": f"{cadence} (R = {R})", "policy": label,
                         "fill rate": round(r.fill_rate, 4), "stock-out SKU-days": r.stockout_days,
                         "avg on hand (units)": round(r.avg_on_hand), "avg on hand (money)": round(r.avg_value),
                         "orders": r.orders, "vs tuned rule (units)": f"{r.avg_on_hand / tuned.avg_on_hand - 1:+.1%}",
                         "vs tuned rule (money)": f"{r.avg_value / tuned.avg_value - 1:+.1%}",
                         "_skus": n, "_measured_days": measured, "_seconds": round(secs, 1), "_cadence": cadence,
                         "_span": [str(x) for x in ds["span"]], "_fill": r.fill_rate,
                         "_cut_units": 1 - r.avg_on_hand / tuned.avg_on_hand,
                         "_cut_money": 1 - r.avg_value / tuned.avg_value, "_spikes": spikes, "_top_day": top_day,
                         "_orders_ratio": ours.orders / tuned.orders,
                         "_rule_best": max(p["fill_rate"] for p in rule_curve),
                         "_ours_best": max(p["fill_rate"] for p in c["curve"] if p["policy"] == "forecast policy")})
        for p in c["curve"]:
            rows.append({"table": "inventory vs fill rate", "data": ds["name"], "review": f"{cadence} (R = {R})",
                         "policy": p["policy"], "setting": p["setting"], "fill rate": p["fill_rate"],
                         "stock-out SKU-days": p["stockout_days"], "avg on hand (units)": round(p["avg_on_hand"]),
                         "avg on hand (money)": round(p["avg_value"])})
    return rows


@register("replay", sizes=[TOP_SKUS], summary=lambda rows, cfg: summary(rows, cfg))
def replay(cfg: Config) -> list[dict]:
    """Restock replay: our policy vs the rule of thumb (3 days' cover → 15 days), at matched fill rate."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="storeboard-replay-") as tmp:
        for ds in [_demo(Path(tmp), cfg.log), *_online_retail(Path(tmp), cfg.log)]:
            rows += _rows(ds, cfg.log)
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    for r in rows:
        r["_uptime_after"] = up
    return rows


def summary(rows: list[dict], cfg: Config) -> str:
    out = ["Sizes: the demo's SKUs and the 500 Online Retail SKUs with most units (the `sizes` line above "
           "is the latter); the replay is deterministic, so each figure comes from one run. Columns: fill rate = "
           "units served / units demanded; stock-out SKU-days = SKU-days with lost demand; average on hand = "
           "end-of-day units (money: demo at unit cost, Online Retail at mean selling price) summed over SKUs, "
           "mean over the measured days. Both policies review stock on the same days (daily, or weekly).", ""]

    def cut(x: float) -> str:
        return f"{abs(x):.1%} {'below' if x >= 0 else 'above'}"

    def met(ok: bool) -> str:
        return "**met**" if ok else "**missed**"
    for name in dict.fromkeys(r["data"] for r in rows):
        mine = [r for r in rows if r["data"] == name and r["table"] == "replay"]
        first = mine[0]
        out.append(f"- **{name}** ({first['_skus']} SKUs, {first['_measured_days']} days measured of "
                   f"{first['_span'][0]} → {first['_span'][1]}; demand on spike days, above 10× the SKU's mean "
                   f"day: {first['_spikes']:.1%} of units; the largest single SKU-day: {first['_top_day']:.1%}):")
        for ours in (r for r in mine if r["policy"].startswith("ours")):
            out.append(
                f"  - {ours['_cadence']} review ({ours['_seconds']} s): fill rate {ours['_fill']:.1%} against "
                f"95% ± 1 point — {met(abs(ours['_fill'] - TARGET_FILL) <= 0.01)}; average inventory "
                f"{cut(ours['_cut_units'])} the rule tuned to the same fill rate in units "
                f"({cut(ours['_cut_money'])} in money), target ≥ 15% less — {met(ours['_cut_units'] >= TARGET_CUT)} "
                f"in units, {met(ours['_cut_money'] >= TARGET_CUT)} in money; orders placed "
                f"{ours['_orders_ratio']:.1f}× the tuned rule's; best fill on the curves: ours "
                f"{ours['_ours_best']:.1%} (service level 0.999), the rule {ours['_rule_best']:.1%} (trigger 50 days).")
    out += ["", "Reading: the simulator has no ordering cost, MOQ or packs, so more frequent, smaller orders "
            "cost nothing here. A unit fill rate is dominated by the largest orders: on Online Retail's wholesale "
            "demand, single orders many times a SKU's usual day — larger than anything in its recent history — "
            "are served only by stocks of many weeks on every SKU (the rule's trigger of 30+ days), so our "
            "policy's curve flattens below 95% while it holds less than the rule at every fill rate it reaches."]
    out.append("")
    out.append(f"Load: `uptime` after the run: {rows[0]['_uptime_after'] if rows else ''}")
    return "\n".join(out)
