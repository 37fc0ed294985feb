"""Analyses behind the dashboards: each returns a tidy Polars frame with a stated grain.

Every function takes the warehouse connection and :class:`Filters` (an inclusive range of days plus
channel/SKU/category slices), rebuilds the derived facts when an ingest happened, and runs its SQL
in DuckDB. User values (channels, SKUs, categories, limits) are query parameters; only dates, from
``date`` objects, are written into the SQL text. Money is in the store currency, ratios are
fractions (0.034 = 3.4%), days are calendar days in the store's time zone.

Shared conventions (DESIGN §3, metrics/registry.py): sales orders are paid, partially refunded and
refunded orders; a return document carries refunds but is not an order; customer analyses count
identified customers only; traffic is never sliced by product (only by channel).
"""
from __future__ import annotations

from datetime import date, timedelta

import duckdb
import polars as pl

from metrics import compute
from metrics.alerts import THIN_NPS
from metrics.compute import _d, _source
from metrics.filters import Filters
from metrics.registry import KPIS, MEASURES, ORDER, SALE, Kpi, ratio

GRAINS = ("day", "week", "month")
SEGMENTS = ("new", "high value", "active", "at risk", "dormant")  # priority order of rfm()
LINE_VALUES = {"gmv": "quantity * unit_price", "units": "quantity",
               "net_sales": "quantity * unit_price - discount - refund_amount"}
_EPS = 1e-9  # float tolerance of share boundaries and "no change"


# ------------------------------------------------------------------------------------ helpers

def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | tuple = ()) -> pl.DataFrame:
    cur = con.cursor()  # one cursor per query: the app's threads share one connection
    try:
        return cur.sql(sql, params=list(params)).pl()
    finally:
        cur.close()


def _kpi(key: str) -> Kpi:
    if key not in KPIS:
        raise ValueError(f"unknown KPI {key!r}; use one of: {', '.join(KPIS)}")
    return KPIS[key]


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _buckets(f: Filters, grain: str | None) -> list[date]:
    """Calendar start of every bucket that overlaps the range (``None``: the range as one bucket)."""
    if grain is None:
        return [f.start]
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {', '.join(GRAINS)}, not {grain!r}")
    if grain == "month":
        out = [_month_start(f.start)]
        while (d := out[-1]) < _month_start(f.end):
            out.append(date(d.year + d.month // 12, d.month % 12 + 1, 1))
        return out
    step = 1 if grain == "day" else 7
    first = f.start - timedelta(days=0 if grain == "day" else f.start.weekday())
    return [first + timedelta(days=i) for i in range(0, (f.end - first).days + 1, step)]


def _product_where(f: Filters, params: list, sku_col: str) -> str:
    """Condition of the SKU/category slices on a relation joined to ``products p``."""
    where = ["true"]
    if f.skus:
        where.append(compute._in(sku_col, f.skus, params))
    if f.categories:
        where.append(compute._in("p.category", f.categories, params))
    return " and ".join(where)


def _grouped_sql(f: Filters, source: str, ms: list[str], grain: str | None, by_channel: bool) -> tuple[str, list]:
    """One query per source: the measures grouped by bucket (and channel), with a row count."""
    params: list = []
    rel, day = _source("orders" if source == "customers" else source, f, f, params)
    bucket = f"cast(date_trunc('{grain}', {day}) as date)" if grain else _d(f.start)
    keys = f"{bucket} as bucket" + (", channel" if by_channel else "")
    out_keys = "bucket" + (", channel" if by_channel else "")
    if source == "customers":
        # per-customer order counts per bucket; a bucket's period starts at its first day in the range
        start = f"greatest(bucket, {_d(f.start)})"
        cols = ", ".join(f"count(*) filter (where {MEASURES[m].cond.replace('period_start', start)}) as \"{m}\""
                         for m in ms)
        return (f"with c as (select {keys}, customer_key, count(*) as n from {rel} "
                f"where {ORDER} and customer_id is not null group by all) "
                f"select {out_keys}, count(*) as _rows_customers, {cols} "
                f"from c join customer_first using (customer_key) group by all"), params
    cols = []
    for m in ms:
        sql = MEASURES[m].sql()
        if MEASURES[m].agg == "sum":
            # traffic columns an export may lack (sessions, add-to-cart, bounces) stay null
            sql = f"cast({sql} as double)" if source == "traffic" else f"coalesce(cast({sql} as double), 0)"
        cols.append(f"{sql} as \"{m}\"")
    return f"select {keys}, count(*) as _rows_{source}, {', '.join(cols)} from {rel} group by all", params


def _measure_table(con: duckdb.DuckDBPyConnection, f: Filters, names: set[str], grain: str | None,
                   by_channel: bool) -> pl.DataFrame:
    """One row per bucket (and channel) of the range, a column per measure; a bucket without rows of
    a source gets 0 for that source's measures (its ``_rows_<source>`` column is null)."""
    buckets = _buckets(f, grain)
    compute.ensure_facts(con)
    by_source: dict[str, list[str]] = {}
    for n in sorted(names):
        by_source.setdefault(MEASURES[n].source, []).append(n)
    frames = {s: _frame(con, *_grouped_sql(f, s, ms, grain, by_channel)) for s, ms in by_source.items()}
    grid = pl.DataFrame({"bucket": buckets}, schema={"bucket": pl.Date})
    keys = ["bucket"]
    if by_channel:
        keys.append("channel")
        seen = {c for fr in frames.values() for c in fr["channel"].to_list()}
        channels = list(f.channels) or sorted(seen, key=lambda c: (c is None, c or ""))
        grid = grid.join(pl.DataFrame({"channel": channels}, schema={"channel": pl.String}), how="cross")
    for source, fr in frames.items():
        grid = grid.join(fr, on=keys, how="left", nulls_equal=True)
        missing = pl.col(f"_rows_{source}").is_null()
        grid = grid.with_columns(pl.when(missing).then(0).otherwise(pl.col(m)).alias(m) for m in by_source[source])
    return grid


def _values(t: pl.DataFrame, kpi: Kpi) -> pl.Series:
    return pl.Series(kpi.key, [kpi.compute(r) for r in t.iter_rows(named=True)], dtype=pl.Float64, strict=False)


# ------------------------------------------------------------------------------------ trends

def trend(con: duckdb.DuckDBPyConnection, f: Filters, key: str, grain: str = "day") -> pl.DataFrame:
    """KPI ``key`` per bucket: one row per day, ISO week (Monday) or calendar month of the range.

    ``bucket`` is the bucket's calendar start; the first and last buckets may be partial, and each
    bucket's value is the KPI over its days inside the range (so a one-bucket range equals
    ``kpis``). Computed from the registry's measures, one grouped query per source; for customer
    rates the period of a bucket starts on its first day in the range. Every bucket appears: sums
    and counts of a bucket without data are 0, ratios there are null. Unit: the KPI's.
    """
    kpi = _kpi(key)
    t = _measure_table(con, f, set(kpi.inputs), grain, by_channel=False)
    return t.select("bucket", _values(t, kpi).alias("value"))


def trend_by_channel(con: duckdb.DuckDBPyConnection, f: Filters, key: str, grain: str = "day") -> pl.DataFrame:
    """:func:`trend` per channel: one row per (bucket, channel), every bucket for every channel of
    the slice (the filter's channels, else every channel with data in the KPI's sources; a null
    channel is rows without one). Distinct counts (buyers) are per channel, so they do not add up."""
    kpi = _kpi(key)
    t = _measure_table(con, f, set(kpi.inputs), grain, by_channel=True)
    return t.select("bucket", "channel", _values(t, kpi).alias("value"))


# ------------------------------------------------------------------------------------ channels and funnel

MIX = ("gmv", "orders", "buyers", "visitors", "conversion_rate", "aov")


def channel_mix(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """One row per channel with orders or traffic in the range: GMV, orders, buyers, visitors (null:
    no traffic rows for the channel), conversion rate (Σ daily buyers / Σ daily visitors; null
    without traffic), AOV ((GMV − discounts) / orders), and share of GMV (of the slice's total).
    Buyers are distinct per channel: one buying in two channels counts in both. Sorted by GMV,
    largest first."""
    names = {m for k in MIX for m in KPIS[k].inputs}
    t = _measure_table(con, f, names, None, by_channel=True)
    out = t.select("channel", *(_values(t, KPIS[k]).alias(k) for k in MIX), pl.col("_rows_traffic"))
    total = out["gmv"].sum()
    return out.with_columns(
        pl.col("orders").cast(pl.Int64), pl.col("buyers").cast(pl.Int64),
        pl.when(pl.col("_rows_traffic").is_null()).then(None).otherwise(pl.col("visitors")).alias("visitors"),
        (pl.col("gmv") / total if total else pl.lit(None, pl.Float64)).alias("share_of_gmv"),
    ).drop("_rows_traffic").sort(["gmv", "channel"], descending=[True, False], nulls_last=True)


def funnel(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Visitors → added to cart → buyers over the range, one row per step.

    Visitors and add-to-cart are Σ daily values of the channel traffic rows; buyers are Σ daily
    buyers (as in the conversion rate). ``rate_from_previous`` = users / the step above,
    ``rate_from_top`` = users / visitors (the top step has 1.0); null where a step is missing
    (add-to-cart not exported) or a denominator is 0. With a product slice only buyers are sliced.
    """
    m = compute.measures(con, {"current": f}, {"visitors", "add_to_cart", "daily_buyers"})["current"]
    steps = [("visitors", m["visitors"] or 0), ("added to cart", m["add_to_cart"]), ("buyers", m["daily_buyers"] or 0)]
    rows, top, prev = [], steps[0][1], steps[0][1]
    for step, users in steps:
        rows.append({"step": step, "users": users, "rate_from_previous": ratio(users, prev),
                     "rate_from_top": ratio(users, top)})
        prev = users
    return pl.DataFrame(rows, schema={"step": pl.String, "users": pl.Int64, "rate_from_previous": pl.Float64,
                                      "rate_from_top": pl.Float64})


# ------------------------------------------------------------------------------------ customers

def cohorts(con: duckdb.DuckDBPyConnection, f: Filters, months: int = 12) -> pl.DataFrame:
    """Monthly retention: one row per (cohort, month_index).

    A cohort is the identified customers whose first sales order ever falls in a calendar month
    (``customer_first``); the cohorts are every month overlapping the range, taken whole. With a
    channel or product slice, a cohort keeps the customers who bought in the slice in that first
    month, and activity counts orders in the slice. ``active`` = cohort customers with a sales
    order in month ``month_index`` = k after the cohort's month (k = 0 … ``months``; k = 0 is the
    first month, retention 1.0 by definition); ``retention`` = active / customers. Months are shown
    up to the month of the latest order in the warehouse (the latest month may still be running).
    """
    if months < 0:
        raise ValueError(f"months must be 0 or more, not {months}")
    compute.ensure_facts(con)
    last = _frame(con, "select max(day) as last from order_facts")["last"][0]
    first_month = _month_start(f.start)
    params: list = []
    span = Filters(first_month, max(last or first_month, first_month))
    rel, _ = _source("orders", f, span, params)
    end_month = _month_start(f.end)
    params.append(months)
    sql = f"""
        with activity as (  -- one row per customer and month with a sales order in the slice
            select distinct customer_key, cast(date_trunc('month', day) as date) as month
            from {rel} where {ORDER} and customer_id is not null),
        members as (
            select customer_key, cast(date_trunc('month', first_day) as date) as cohort from customer_first
            where date_trunc('month', first_day) between {_d(first_month)} and {_d(end_month)}),
        joined as (
            select m.cohort, date_diff('month', m.cohort, a.month) as k, m.customer_key
            from members m join activity a using (customer_key) where a.month >= m.cohort),
        active as (  -- members who bought (in the slice) in their first month
            select * from joined where customer_key in (select customer_key from joined where k = 0)),
        sizes as (select cohort, count(*) as customers from active where k = 0 group by cohort),
        grid as (
            select s.cohort, t.k, s.customers from sizes s cross join range(0, ? + 1) t(k)
            where t.k <= date_diff('month', s.cohort, {_d(last or first_month)})),
        final as (
            select g.cohort, g.k as month_index, g.customers, count(a.customer_key) as active
            from grid g left join active a on a.cohort = g.cohort and a.k = g.k group by all)
        select cohort, month_index, customers, active, active / customers as retention
        from final order by cohort, month_index"""
    return _frame(con, sql, params)


def rfm(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """One row per identified customer with a sales order on or before ``f.end`` (in the slice).

    A snapshot as of ``f.end`` (the range's start is not used; "the last N days" are the N
    calendar days ending on ``f.end``):
    - recency_days = f.end − day of the last sales order;
    - frequency = sales orders in the last 365 days;
    - monetary = net sales (GMV − discounts − refunds, return documents included) of the last 365 days.
    Segment, the first rule that holds (exhaustive and exclusive):
    1. new: first sales order ever (any channel or product) in the last 30 days;
    2. high value: recency ≤ 89 days, frequency ≥ 2, and monetary among the top 20% of the customers
       who ordered in the last 365 days (cume_dist by monetary, descending, ≤ 0.2; ties share a rank);
    3. active: recency ≤ 89 days (ordered in the last 90 days);
    4. at risk: recency 90–179 days;
    5. dormant: recency ≥ 180 days.
    """
    compute.ensure_facts(con)
    params: list = []
    rel, _ = _source("orders", f, Filters(date(1, 1, 1), f.end), params)
    year, month = _d(f.end - timedelta(days=364)), _d(f.end - timedelta(days=29))
    sql = f"""
        with per_customer as (
            select customer_id, any_value(customer_key) as customer_key,
                   max(day) filter (where not is_return) as last_day,
                   count(*) filter (where not is_return and day >= {year}) as frequency,
                   coalesce(sum(gmv - discounts - refunds) filter (where day >= {year}), 0) as monetary
            from {rel} where {SALE} and customer_id is not null
            group by customer_id having count(*) filter (where not is_return) > 0),
        ranked as (
            select *, date_diff('day', last_day, {_d(f.end)}) as recency_days,
                   case when frequency > 0 then cume_dist() over (partition by frequency > 0 order by monetary desc)
                   end as top_share
            from per_customer)
        select customer_id, recency_days, frequency, cast(monetary as double) as monetary,
               case when c.first_day >= {month} then 'new'
                    when recency_days <= 89 and frequency >= 2 and top_share <= 0.2 then 'high value'
                    when recency_days <= 89 then 'active'
                    when recency_days <= 179 then 'at risk'
                    else 'dormant' end as segment
        from ranked join customer_first c using (customer_key)
        order by monetary desc, customer_id"""
    return _frame(con, sql, params)


def rfm_summary(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """One row per RFM segment (all five, in priority order): customers, share of customers, and
    revenue (Σ monetary: net sales of the last 365 days). See :func:`rfm` for the rules."""
    return summarise_rfm(rfm(con, f))


def summarise_rfm(r: pl.DataFrame) -> pl.DataFrame:
    """:func:`rfm_summary` of an :func:`rfm` frame already at hand (no second query)."""
    total = r.height
    got = r.group_by("segment").agg(pl.len().cast(pl.Int64).alias("customers"),
                                    pl.col("monetary").sum().alias("revenue"))
    return (pl.DataFrame({"segment": list(SEGMENTS)}).join(got, on="segment", how="left", maintain_order="left")
            .with_columns(pl.col("customers").fill_null(0), pl.col("revenue").fill_null(0.0))
            .with_columns((pl.col("customers") / total if total else pl.lit(None, pl.Float64)).alias("share"))
            .select("segment", "customers", "share", "revenue"))


# ------------------------------------------------------------------------------------ products

def _sku_values_sql(f: Filters, value: str, params: list) -> str:
    """Per SKU: ``current`` and ``previous`` (f.previous()) sums of ``value`` over sales lines, and units."""
    prev = f.previous()
    rel, day = _source("lines", f, Filters(prev.start, f.end), params)
    cur_p, prev_p = compute._between(day, f), compute._between(day, prev)
    return (f"select sku, coalesce(sum({value}) filter (where {cur_p}), 0) as current, "
            f"coalesce(sum({value}) filter (where {prev_p}), 0) as previous, "
            f"coalesce(sum(quantity) filter (where {cur_p}), 0) as units "
            f"from {rel} where {SALE} and sku is not null group by sku")


_NAMES = ("left join products p using (sku) left join (select sku, max(product_name) as product_name "
          "from order_lines where sku is not null group by sku) n using (sku)")


def abc(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """ABC classes and roles: one row per SKU of the slice (in products, or sold on or before f.end).

    revenue = GMV of the SKU's sales lines in the range (Σ quantity × unit price), units = Σ quantity;
    share = revenue / the slice's revenue; cum_share = running share, SKUs by revenue descending
    (ties by SKU). Class by the running share *before* the SKU: A below 80%, B below 95%, C the
    rest (so the SKU crossing 80% is A and the top seller is always A); U = no revenue in the range.
    Role, the first that holds: best seller = A; potential = B or C with revenue ≥ 1.2 × the previous
    period's (f.previous(); includes SKUs that did not sell then); laggard = U, or C with revenue
    below the previous period's; steady = the rest. ``previous_revenue`` is that period's revenue.
    """
    params: list = []
    sales = _sku_values_sql(f, LINE_VALUES["gmv"], params)
    in_products = _product_where(f, params, "p.sku")
    in_lines = _product_where(f, params, "l.sku")
    sql = f"""
        with sales as ({sales}),
        universe as (
            select p.sku from products p where {in_products}
            union
            select distinct l.sku from order_lines l left join products p using (sku)
            where l.sku is not null and cast(l.ordered_at as date) <= {_d(f.end)} and {in_lines})
        select u.sku, coalesce(p.name, n.product_name) as name, p.category,
               cast(coalesce(s.current, 0) as double) as revenue, cast(coalesce(s.units, 0) as double) as units,
               cast(coalesce(s.previous, 0) as double) as previous_revenue
        from universe u left join sales s using (sku) {_NAMES}
        order by revenue desc, u.sku"""
    df = _frame(con, sql, params)
    total = df["revenue"].sum()
    rev, prev = pl.col("revenue"), pl.col("previous_revenue")
    before = (pl.col("cum") - rev) / total if total else pl.lit(0.0)
    cls = (pl.when(rev <= 0).then(pl.lit("U")).when(before < 0.80 - _EPS).then(pl.lit("A"))
           .when(before < 0.95 - _EPS).then(pl.lit("B")).otherwise(pl.lit("C")))
    df = df.with_columns(rev.cum_sum().alias("cum")).with_columns(cls.alias("abc"))
    abc_ = pl.col("abc")
    role = (pl.when(abc_ == "A").then(pl.lit("best seller"))
            .when(abc_.is_in(["B", "C"]) & (rev >= 1.2 * prev - _EPS)).then(pl.lit("potential"))
            .when((abc_ == "U") | ((abc_ == "C") & (rev < prev - _EPS))).then(pl.lit("laggard"))
            .otherwise(pl.lit("steady")))
    share = (lambda e: e / total) if total else (lambda e: pl.lit(None, pl.Float64))
    return df.with_columns(share(rev).alias("share"), share(pl.col("cum")).alias("cum_share"), role.alias("role")) \
        .select("sku", "name", "category", "revenue", "units", "share", "cum_share", "abc", "role", "previous_revenue")


def top_movers(con: duckdb.DuckDBPyConnection, f: Filters, n: int = 10, key: str = "gmv") -> pl.DataFrame:
    """SKUs whose ``key`` (gmv, units or net_sales of their sales lines) moved most between the
    previous equal-length period (f.previous(); for a week: week over week) and the range.

    Up to ``n`` risers (largest increase first) then up to ``n`` fallers (largest drop first);
    unchanged SKUs are left out. change = current − previous; change_pct = change / |previous|
    (null when previous is 0).
    """
    if key not in LINE_VALUES:
        raise ValueError(f"key must be one of {', '.join(LINE_VALUES)}, not {key!r}")
    if n < 0:
        raise ValueError(f"n must be 0 or more, not {n}")
    params: list = []
    sales = _sku_values_sql(f, LINE_VALUES[key], params)
    params.append(n)
    sql = f"""
        with sales as ({sales}),
        moved as (
            select sku, cast(current as double) as current, cast(previous as double) as previous,
                   cast(current - previous as double) as change
            from sales where abs(current - previous) > {_EPS}),
        ranked as (select *, row_number() over (partition by change > 0 order by abs(change) desc, sku) as rank
                   from moved)
        select r.sku, coalesce(p.name, n.product_name) as name, r.current, r.previous, r.change,
               case when r.previous <> 0 then r.change / abs(r.previous) end as change_pct
        from ranked r {_NAMES} where r.rank <= ?
        order by r.change > 0 desc, abs(r.change) desc, r.sku"""
    return _frame(con, sql, params)


# ------------------------------------------------------------------------------------ NPS

def nps_distribution(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Survey answers per score: one row per score 0–10 (zero-filled); share = responses / all
    responses in the range (null when there are none)."""
    params: list = []
    rel, _ = _source("nps", f, f, params)
    sql = f"""
        with answers as (select score, count(*) as responses from {rel} group by score)
        select cast(s.score as integer) as score, coalesce(a.responses, 0) as responses,
               coalesce(a.responses, 0) / nullif(sum(coalesce(a.responses, 0)) over (), 0) as share
        from range(0, 11) s(score) left join answers a on a.score = s.score order by s.score"""
    return _frame(con, sql, params)


def nps_comments(con: duckdb.DuckDBPyConnection, f: Filters, search: str = "") -> pl.DataFrame:
    """Answers with a (non-blank) comment in the range and channels, newest first; ``search``: a
    case-insensitive substring of the comment ("" = all)."""
    params: list = []
    rel, _ = _source("nps", f, f, params)
    sql = f"""select responded_at, score, channel, comment from {rel}
              where trim(coalesce(comment, '')) <> '' and contains(lower(comment), lower(?))
              order by responded_at desc"""
    return _frame(con, sql, [*params, search])


def nps_trend(con: duckdb.DuckDBPyConnection, f: Filters, grain: str = "week") -> pl.DataFrame:
    """NPS per bucket (as :func:`trend`): responses, NPS (% promoters 9–10 − % detractors 0–6, × 100)
    with its 95% interval (normal approximation of the +1/0/−1 score), null without responses;
    ``thin_sample`` when fewer than 30 responses (DESIGN §3)."""
    t = _measure_table(con, f, {"responses", "promoters", "detractors"}, grain, by_channel=False)
    return t.select(
        "bucket", pl.col("responses").cast(pl.Int64), _values(t, KPIS["nps"]).alias("nps"),
        _values(t, KPIS["nps_ci_low"]).alias("ci_low"), _values(t, KPIS["nps_ci_high"]).alias("ci_high"),
        (pl.col("responses") < THIN_NPS).alias("thin_sample"))
