"""Overview KPIs on a large warehouse: Storeboard's registry vs plain DuckDB SQL vs pandas.

The warehouse is the ingest benchmark's orders CSV loaded through ``data.ingest`` (kept under
``bench/out/db``). For a one-year range ending on the last day with data we time:
- ``storeboard cold``: ``metrics.compute.kpis`` right after the load (builds the order facts);
- ``storeboard warm``: the same call again (facts built, DuckDB buffers hot; no result cache);
- ``duckdb daily GMV``: a plain daily-by-channel GMV query over the order lines (the reference
  the issue gives for scale);
- ``pandas``: the order KPIs with both comparisons recomputed from a DataFrame of the lines
  (the time to load the lines into pandas is reported apart).
"""
from __future__ import annotations

import statistics
import time
from datetime import timedelta

from bench import Config, gen, register

SIZES = [1_000_000, 5_000_000]
TARGET_MS = 250


def _warehouse(cfg: Config, lines: int):
    from data import warehouse
    from data.ingest import ingest_file
    path = cfg.out / "db" / f"metrics-{lines}-v{gen.VERSION}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        con = warehouse.connect(tmp)
        r = ingest_file(con, gen.orders_csv(lines, cfg.out))
        con.close()
        if r.status != "loaded":
            raise RuntimeError(r.message)
        tmp.rename(path)
    return warehouse.connect(path)


def _timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _pandas_kpis(df, periods) -> dict:
    sale = df["status"].isin(["paid", "partially_refunded", "refunded"])
    order = sale & ~df["is_return"]
    out = {}
    for name, (s, e) in periods.items():
        p = df[(df["day"] >= s) & (df["day"] <= e)]
        ps, po = p[sale.loc[p.index]], p[order.loc[p.index]]
        gmv = (ps["quantity"] * ps["unit_price"]).sum()
        orders = po["order_id"].nunique()
        buyers = po["customer_id"].fillna("#" + po["order_id"]).nunique()
        out[name] = {"gmv": gmv, "orders": orders, "buyers": buyers,
                     "aov": (gmv - ps["discount"].sum()) / orders if orders else None}
    return out


@register("metrics", sizes=SIZES, summary=lambda rows, cfg: summary(rows, cfg))
def metrics(cfg: Config) -> list[dict]:
    """Overview KPIs with both comparisons for a one-year range (DESIGN §3, issue: ≤ 250 ms warm)."""
    from metrics import compute
    from metrics.filters import Filters
    rows = []
    for lines in sorted(cfg.sizes or SIZES):
        cfg.log(f"metrics: warehouse of {lines:,} lines")
        con = _warehouse(cfg, lines)
        con.execute("drop table if exists facts_built")
        last = con.execute("select max(ordered_at)::date from order_lines").fetchall()[0][0]
        f = Filters(last - timedelta(days=364), last)
        cold = _timed(lambda: compute.kpis(con, f), 1)[0]
        warm = _timed(lambda: compute.kpis(con, f), max(cfg.repeats, 5))
        daily = _timed(lambda: con.execute(
            "select cast(ordered_at as date) d, channel, sum(quantity * unit_price) from order_lines "
            "where status in ('paid', 'partially_refunded', 'refunded') group by all").fetchall(), 3)
        t = time.perf_counter()
        df = con.execute("select order_id, cast(ordered_at as date) as day, customer_id, status, is_return, quantity, "
                         "unit_price, discount from order_lines").df()
        load = time.perf_counter() - t
        periods = {p: (g.start, g.end) for p, g in
                   {"current": f, "previous": f.previous(), "year_ago": f.year_ago()}.items()}
        import pandas as pd
        df["day"] = pd.to_datetime(df["day"]).dt.date
        pandas_s = _timed(lambda: _pandas_kpis(df, periods), 1)[0]
        ours = compute.kpis(con, f, ["gmv", "orders", "buyers"])
        ref = _pandas_kpis(df, periods)["current"]
        same = abs(ours["gmv"].value - ref["gmv"]) < 0.01 * max(1, ref["gmv"]) / 1e4 and \
            ours["orders"].value == ref["orders"] and ours["buyers"].value == ref["buyers"]
        con.close()
        for contender, secs, note in [
            ("storeboard cold (facts built)", [cold], f"{len(compute.KPIS)} KPIs × 3 periods"),
            ("storeboard warm", warm, f"{len(compute.KPIS)} KPIs × 3 periods"),
            ("duckdb daily×channel GMV, 2 years", daily, "one measure, no comparisons"),
            ("pandas (gmv, orders, buyers, aov)", [pandas_s], f"+ {load:.1f} s to load the lines"),
        ]:
            rows.append({"lines": lines, "contender": contender, "median ms": round(1000 * statistics.median(secs)),
                         "best ms": round(1000 * min(secs)), "runs": len(secs), "note": note,
                         "_same_as_pandas": same})
        cfg.log(f"  warm {1000 * statistics.median(warm):.0f} ms, cold {cold:.2f} s, pandas {pandas_s:.2f} s")
    return rows


def summary(rows: list[dict], cfg: Config) -> str:
    big = max((r["lines"] for r in rows), default=0)
    warm = next((r for r in rows if r["lines"] == big and r["contender"] == "storeboard warm"), None)
    if warm is None:
        return ""
    ok = warm["median ms"] <= TARGET_MS
    agree = all(r["_same_as_pandas"] for r in rows)
    return (f"Target: all Overview KPIs with both comparisons for a one-year range in ≤ {TARGET_MS} ms warm "
            f"at 5,000,000 lines. Measured at {big:,} lines: {warm['median ms']} ms median — "
            f"**{'met' if ok else 'missed'}**. GMV, orders and buyers agree with the pandas recomputation: "
            f"{'yes' if agree else 'NO'}.")
