"""Evaluate the registry: every KPI for a period, with the previous period and a year earlier.

Measures are computed source by source, one query each, every period in the same scan
(``FILTER`` clauses), so a KPI card's three numbers cost one pass. A comparison period is
reported only where the KPI's sources have data in or before it ("where data exists"); a
period before the first data gives None, not zero.
Values are plain Python numbers: money in the store currency, ratios as fractions (0.034 = 3.4%).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date

import duckdb

from data import warehouse
from metrics import facts
from metrics.filters import Filters
from metrics.registry import KPIS, MEASURES, ORDER

PERIODS = ("current", "previous", "year_ago")
_facts_lock = threading.Lock()


@dataclass(frozen=True)
class KpiValue:
    key: str
    value: float | None
    previous: float | None
    year_ago: float | None
    delta: float | None          # value − previous
    delta_pct: float | None      # (value − previous) / |previous|
    target: str | None           # e.g. "≥ 25%" or "100–300"
    target_status: str | None    # met | below | above | None (no target or no value)

    def as_dict(self) -> dict:
        return asdict(self)


def _d(day: date) -> str:
    return f"date '{day.isoformat()}'"  # a date object, never user text


def _between(col: str, f: Filters) -> str:
    return f"{col} between {_d(f.start)} and {_d(f.end)}"


def _in(col: str, values: tuple[str, ...], params: list) -> str:
    params.extend(values)
    return f"{col} in ({', '.join('?' * len(values))})"


def _source(name: str, f: Filters, span: Filters, params: list) -> tuple[str, str]:
    """(relation SQL, day column) of a source, restricted to ``span`` and the slices of ``f``."""
    if name == "orders":
        rel, p = facts.orders_sql(f.skus, f.categories)
        params.extend(p)
        where = [_between("day", span)] + ([_in("channel", f.channels, params)] if f.channels else [])
        return f"(select * from {rel} o where {' and '.join(where)})", "day"
    if name == "lines":
        where = [_between("cast(l.ordered_at as date)", span)]
        if f.channels:
            where.append(_in("l.channel", f.channels, params))
        if f.skus:
            where.append(_in("l.sku", f.skus, params))
        if f.categories:
            where.append(_in("p.category", f.categories, params))
        return (f"(select l.*, cast(l.ordered_at as date) as day from order_lines l left join products p "
                f"using (sku) where {' and '.join(where)})"), "day"
    if name == "traffic":
        where = ["page = ''", _between("date", span)] + ([_in("channel", f.channels, params)] if f.channels else [])
        return f"(select * from traffic where {' and '.join(where)})", "date"
    if name == "nps":
        where = [_between("cast(responded_at as date)", span)] + \
            ([_in("channel", f.channels, params)] if f.channels else [])
        return (f"(select *, cast(responded_at as date) as day from nps_responses "
                f"where {' and '.join(where)})"), "day"
    raise ValueError(name)


def ensure_facts(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild the derived facts if an ingest happened since (serialised: threads share one warehouse)."""
    with _facts_lock:
        facts.ensure(con)


def _span(periods: dict[str, Filters]) -> Filters:
    first = min(p.start for p in periods.values())
    last = max(p.end for p in periods.values())
    return Filters(first, last)


def measures(con: duckdb.DuckDBPyConnection, periods: dict[str, Filters], names: set[str] | None = None) -> dict:
    """{period: {measure: value}} for the named measures (all by default)."""
    names = set(MEASURES) if names is None else names
    with _facts_lock:
        facts.ensure(con)
    out = {p: {} for p in periods}
    span = _span(periods)
    any_filters = next(iter(periods.values()))
    by_source: dict[str, list[str]] = {}
    for n in sorted(names):
        by_source.setdefault(MEASURES[n].source, []).append(n)
    queries = []
    for source, ms in by_source.items():
        if source == "customers":
            params: list = []
            queries.append((_customers_sql(any_filters, periods, ms, params), params))
            continue
        plain = [m for m in ms if MEASURES[m].agg != "count_distinct"]
        if plain and source == "orders" and not any_filters.by_product:  # from the daily rollup
            params = []
            where = [_between("day", span)] + ([_in("channel", any_filters.channels, params)]
                                                if any_filters.channels else [])
            cols = [f"coalesce(sum(\"{m}\") filter (where {_between('day', f)}), 0) as \"{m}|{p}\""
                    for p, f in periods.items() for m in plain]
            queries.append((f"select {', '.join(cols)} from daily_orders where {' and '.join(where)}", params))
        elif plain:
            params = []
            rel, day = _source(source, any_filters, span, params)
            cols = [f"{MEASURES[m].sql(_between(day, f))} as \"{m}|{p}\"" for p, f in periods.items() for m in plain]
            queries.append((f"select {', '.join(cols)} from {rel}", params))
        for m in ms:
            if MEASURES[m].agg == "count_distinct":
                params = []
                rel, day = _source(source, any_filters, span, params)
                queries.append((_distinct_sql(m, rel, day, periods), params))
    with ThreadPoolExecutor(max_workers=4) as pool:  # each on its own cursor; DuckDB runs them side by side
        for names_, row in pool.map(lambda q: _one_row(con, *q), queries):
            for col, value in zip(names_, row):
                m, p = col.split("|")
                out[p][m] = value
    return out


def _one_row(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> tuple[list[str], tuple]:
    cur = con.cursor()
    try:
        row = cur.execute(sql, params).fetchall()[0]
        return [d[0] for d in cur.description], row
    finally:
        cur.close()


def _distinct_sql(m: str, rel: str, day: str, periods: dict[str, Filters]) -> str:
    """Distinct count per period as a grouped query: one pass of a parallel hash aggregate, about
    three times faster than ``count(distinct …) filter`` once per period."""
    measure = MEASURES[m]
    flags = ", ".join(f"bool_or({_between(day, f)}) as in_{p}" for p, f in periods.items())
    counts = ", ".join(f"count(*) filter (where in_{p}) as \"{m}|{p}\"" for p in periods)
    return (f"select {counts} from (select {measure.expr} as k, {flags} from {rel} "
            f"where {measure.cond} and {measure.expr} is not null group by k)")


def _customers_sql(f: Filters, periods: dict[str, Filters], ms: list[str], params: list) -> str:
    """Identified customers with their order count in each period and their first order ever."""
    rel, _ = _source("orders", f, _span(periods), params)
    counts = ", ".join(f"count(*) filter (where {_between('day', pf)}) as n_{p}" for p, pf in periods.items())
    cols = []
    for p, pf in periods.items():
        for m in ms:
            cond = MEASURES[m].cond.replace("n >=", f"n_{p} >=").replace("period_start", _d(pf.start))
            cols.append(f"count(*) filter (where {cond}) as \"{m}|{p}\"")
    return (f"with c as (select customer_key, {counts} from {rel} where {ORDER} and customer_id is not null "
            f"group by 1) select {', '.join(cols)} from c join customer_first using (customer_key)")


def _coverage(con: duckdb.DuckDBPyConnection) -> dict[str, date | None]:
    """First day with data, per source."""
    row = con.execute("""select (select min(day) from order_facts), (select min(date) from traffic),
                                (select cast(min(responded_at) as date) from nps_responses)""").fetchall()[0]
    return {"orders": row[0], "lines": row[0], "customers": row[0], "traffic": row[1], "nps": row[2]}


def _target(con: duckdb.DuckDBPyConnection, key: str | None, value: float | None,
            unit: str = "number") -> tuple[str | None, str | None]:
    if key is None:
        return None, None
    targets = warehouse.get_setting(con, "targets") or {}
    low, high = targets.get(key, targets.get(f"{key}_min")), targets.get(f"{key}_max")
    if low is None and high is None:
        return None, None
    show = (lambda x: f"{x:.0%}") if unit == "ratio" else (lambda x: f"{x:g}")
    text = f"{show(low)}–{show(high)}" if low is not None and high is not None else \
        (f"≥ {show(low)}" if low is not None else f"≤ {show(high)}")
    if value is None:
        return text, None
    if low is not None and value < low:
        return text, "below"
    if high is not None and value > high:
        return text, "above"
    return text, "met"


def kpis(con: duckdb.DuckDBPyConnection, f: Filters, keys: list[str] | None = None) -> dict[str, KpiValue]:
    """Every KPI (or ``keys``) for ``f`` with both comparisons, deltas and target status."""
    keys = list(KPIS) if keys is None else keys
    periods = {"current": f, "previous": f.previous(), "year_ago": f.year_ago()}
    needed = {m for k in keys for m in KPIS[k].inputs}
    m = measures(con, periods, needed)
    covered = _coverage(con)
    out = {}
    for k in keys:
        kpi = KPIS[k]
        sources = {MEASURES[i].source for i in kpi.inputs}
        vals = {}
        for p, pf in periods.items():
            has_data = all(covered[s] is not None and covered[s] <= pf.end for s in sources)
            vals[p] = kpi.compute(m[p]) if (p == "current" or has_data) else None
        v, prev = vals["current"], vals["previous"]
        delta = None if v is None or prev is None else v - prev
        delta_pct = None if delta is None or not prev else delta / abs(prev)
        target, status = _target(con, kpi.target, v, kpi.unit)
        out[k] = KpiValue(k, v, prev, vals["year_ago"], delta, delta_pct, target, status)
    return out
