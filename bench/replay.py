"""Replay: our restock policy vs the manuals' rule of thumb on past demand, at matched fill rate.

Data (each loaded through the real pipeline into a temporary warehouse, demand from
``forecasting.series.demand``: daily units of sales orders, zero-filled; days the shop was out of
stock are replayed as recorded, i.e. as zero demand, for both policies):

- ``demo``: ``data.demo.build`` (≈300 SKUs × 730 days), lead times from products (5–20 days),
  unit costs from products; the last 365 days are replayed.
- ``online retail``: UCI Online Retail (../shared/realdata/online_retail.parquet via
  ``data.ingest``), the 500 SKUs with most units; no lead times in the data, so the setting
  ``default_lead_time_days`` (7) for all; money at the mean selling price (no costs in the data);
  the days after the first 120 are replayed. The data holds record orders cancelled in full
  minutes later (80,995 units of 23843 on 2011-12-09, 74,215 of 23166 on 2011-01-18: a C invoice
  refunding the whole line); the series counts them as demand (refunds are not subtracted), so
- ``online retail, full cancellations removed`` replays the same SKUs with every sales line that a
  return of the same SKU and customer refunded in full that day or the next taken out.

Both policies start from the same stock (trailing 30-day average × (L + 7) days) and the first
28 replayed days are a warm-up, left out of the measures (forecasting/simulate.py defines them).
Compared: ours at a 95% service level (R = 7, the default), the rule as written (3 days' cover →
order 15 days), and the rule with its trigger raised by bisection until its fill rate reaches
ours; the same for ours with daily review (setting review_period_days = 1: the rule is checked
daily, so this compares equal review cadences); curves: ours over service levels 0.5–0.995, the
rule over triggers 3–50 days.
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


def _dataset(name: str, con, skus: list[str], lead: np.ndarray, cost: np.ndarray, start_days: int | None,
             minus: pl.DataFrame | None = None) -> dict:
    from forecasting import series
    d = series.demand(con)
    if minus is not None:  # units to take out of the series (sku, date, units)
        d = (d.join(minus.rename({"units": "minus"}), on=["sku", "date"], how="left")
             .with_columns(units=(pl.col("units") - pl.col("minus").fill_null(0)).clip(lower_bound=0)).drop("minus"))
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


CANCELLED = """  -- sales lines refunded in full by a return of the same SKU and customer that day or the next
    select s.sku, cast(s.ordered_at as date) as date, sum(s.quantity) as units from order_lines s
    where not s.is_return and s.quantity > 0 and exists (
        select 1 from order_lines r where r.is_return and r.sku = s.sku and r.customer_id = s.customer_id
          and cast(r.ordered_at as date) between cast(s.ordered_at as date) and cast(s.ordered_at as date) + 1
          and r.refund_amount >= 0.99 * s.quantity * s.unit_price)
    group by all"""


def _online_retail(tmp: Path, log) -> list[dict]:
    from data import warehouse
    from data.ingest import ingest_file
    con = warehouse.connect(tmp / "uci.duckdb")
    t = time.perf_counter()
    r = ingest_file(con, REALDATA / "online_retail.parquet")
    if r.status != "loaded":
        raise RuntimeError(f"online_retail.parquet not loaded: {r.message}")
    log(f"replay: Online Retail loaded in {time.perf_counter() - t:.0f} s")
    from metrics.registry import ORDER
    top = con.execute(f"""select sku, avg(unit_price) from order_lines where {ORDER} and sku is not null
                          and quantity > 0 group by sku order by sum(quantity) desc, sku limit {TOP_SKUS}""").fetchall()
    top.sort()
    lead = np.full(len(top), int(warehouse.get_setting(con, "default_lead_time_days")))
    skus, cost = [r[0] for r in top], np.array([r[1] for r in top])
    try:
        cancelled = con.sql(CANCELLED).pl().cast({"date": pl.Date, "units": pl.Float64})
        log(f"replay: {cancelled['units'].sum():,.0f} units of sales cancelled in full "
            f"({cancelled.filter(pl.col('sku').is_in(skus))['units'].sum():,.0f} among the top SKUs)")
        return [_dataset("online retail", con, skus, lead, cost, 120),
                _dataset("online retail, full cancellations removed", con, skus, lead, cost, 120, cancelled)]
    finally:
        con.close()


def _rows(ds: dict, log) -> list[dict]:
    from forecasting.simulate import ForecastPolicy, compare, simulate, tune_trigger
    t = time.perf_counter()
    args = (ds["demand"], ds["lead"], ds["init"], ds["start"], WARMUP, ds["cost"])
    c = compare(*args, service_level=TARGET_FILL)
    daily = simulate(ForecastPolicy(TARGET_FILL, review_period_days=1), *args)
    daily_rule, daily_tuned = tune_trigger(daily.fill_rate, *args)
    secs = time.perf_counter() - t
    log(f"replay: {ds['name']}: compared in {secs:.1f} s")
    n, days = ds["demand"].shape
    ours, tuned, written = c["ours"], c["tuned"], c["written"]
    measured = days - ds["start"] - WARMUP
    m = ds["demand"][:, ds["start"] + WARMUP:]
    mean = m.mean(axis=1, keepdims=True)
    spikes = float(m[m > 10 * mean].sum() / m.sum())  # units on days above 10× the SKU's mean day
    top_day = float(m.max() / m.sum())
    rows = []
    for label, r in [("ours, service level 0.95", ours), ("rule as written (3 d → 15 d)", written),
                     (f"rule tuned to our fill rate (trigger {c['tuned_trigger']:.1f} d)", tuned),
                     ("ours, daily review (review_period_days = 1)", daily),
                     (f"rule tuned to that fill rate (trigger {daily_rule.trigger_days:.1f} d)", daily_tuned)]:
        ref = daily_tuned if r is daily or r is daily_tuned else tuned
        rows.append({"table": "replay", "data": ds["name"], "policy": label, "fill rate": round(r.fill_rate, 4),
                     "stock-out SKU-days": r.stockout_days, "avg on hand (units)": round(r.avg_on_hand),
                     "avg on hand (money)": round(r.avg_value), "orders": r.orders,
                     "vs tuned rule (units)": f"{r.avg_on_hand / ref.avg_on_hand - 1:+.1%}",
                     "vs tuned rule (money)": f"{r.avg_value / ref.avg_value - 1:+.1%}",
                     "_skus": n, "_measured_days": measured, "_seconds": round(secs, 1),
                     "_span": [str(x) for x in ds["span"]], "_fill": r.fill_rate,
                     "_cut_units": 1 - r.avg_on_hand / ref.avg_on_hand,
                     "_cut_money": 1 - r.avg_value / ref.avg_value, "_spikes": spikes, "_top_day": top_day})
    for p in c["curve"]:
        rows.append({"table": "inventory vs fill rate", "data": ds["name"], "policy": p["policy"],
                     "setting": p["setting"], "fill rate": p["fill_rate"], "stock-out SKU-days": p["stockout_days"],
                     "avg on hand (units)": round(p["avg_on_hand"]), "avg on hand (money)": round(p["avg_value"])})
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
           "is the latter); the replay is deterministic, so each figure comes from one run. Columns: fill rate = units served / units demanded; stock-out SKU-days = "
           "SKU-days with lost demand; average on hand = end-of-day units (money: demo at unit cost, "
           "Online Retail at mean selling price) summed over SKUs, mean over the measured days.", ""]
    def cut(x: float) -> str:
        return f"{abs(x):.1%} {'below' if x >= 0 else 'above'}"
    for name in dict.fromkeys(r["data"] for r in rows):
        mine = [r for r in rows if r["data"] == name and r["table"] == "replay"]
        ours, daily = mine[0], mine[3]
        fill_ok = abs(ours["_fill"] - TARGET_FILL) <= 0.01
        cut_ok = ours["_cut_units"] >= TARGET_CUT
        out.append(
            f"- **{name}** ({ours['_skus']} SKUs, {ours['_measured_days']} days measured of "
            f"{ours['_span'][0]} → {ours['_span'][1]}, {ours['_seconds']} s): our fill rate "
            f"{ours['_fill']:.1%} against the target of 95% ± 1 point — **{'met' if fill_ok else 'missed'}**; "
            f"average inventory {cut(ours['_cut_units'])} the rule tuned to the same fill rate in units "
            f"({cut(ours['_cut_money'])} in money), target ≥ 15% less — **{'met' if cut_ok else 'missed'}** in units, "
            f"**{'met' if ours['_cut_money'] >= TARGET_CUT else 'missed'}** in money. "
            f"With daily review: fill {daily['_fill']:.1%}, inventory {cut(daily['_cut_units'])} its tuned rule "
            f"in units ({cut(daily['_cut_money'])} in money). Demand on spike days (above 10× the SKU's mean "
            f"day): {ours['_spikes']:.1%} of units; the largest single SKU-day: {ours['_top_day']:.1%}. "
            f"Orders placed: ours {ours['orders'] / mine[2]['orders']:.1f}× the tuned rule's (daily review "
            f"{daily['orders'] / mine[4]['orders']:.1f}×); the best fill rate on the rule's curve is "
            f"{max(r['fill rate'] for r in rows if r['data'] == name and r['policy'] == 'rule of thumb'):.1%} "
            f"(trigger 50 days).")
    out += ["", "Reading: the simulator has no ordering cost, MOQ or packs, so more frequent, smaller orders "
            "cost nothing here; the default weekly review (R = 7) is the like-for-like figure for purchasing, "
            "daily review shows what the same forecasts do at the rule's cadence. A unit fill rate is "
            "dominated by the largest orders: on Online Retail's wholesale demand, single orders of thousands "
            "of units that only stocks of many weeks cover keep both policies well below 95% at ordinary "
            "stock levels (see the curves), and the normal "
            "z·σ_L safety stock then sits mostly on the SKUs with the wildest spikes."]
    out.append("")
    out.append(f"Load: `uptime` after the run: {rows[0]['_uptime_after'] if rows else ''}")
    return "\n".join(out)
