"""Daily demand series per SKU, built in bulk in DuckDB (DESIGN §5).

One row per (sku, date) from the SKU's first sale to ``as_of`` (zero-filled):

- ``units``: Σ quantity of the SKU's sales-order lines that day (metrics.registry ORDER: paid,
  partially refunded or refunded orders, not return documents; cancelled and pending are not
  demand), less the units *cancelled*: a return document (``is_return``) of the same SKU and
  customer within ``CANCEL_DAYS`` (1) calendar day of that customer's latest earlier sale of the SKU
  undoes it — the goods never left (UCI Online Retail's ``C`` invoices minutes after a
  wholesale order). Returned units are the line's quantity, else refund_amount / unit_price (UCI
  return lines carry the value only); they are taken off that sale's day, at most what the
  customer bought of the SKU that day. Later returns, refunds and returns without a customer are
  not subtracted: the goods were demanded and shipped (a return is a stock receipt, not negative
  demand).
- ``in_stock``: False on days the inventory snapshots (summed over locations) show on_hand ≤ 0;
  those days are *censored* — the shop could not sell, so their zero is not zero demand. A day
  without a snapshot counts as in stock (as metrics.stock does).
- ``promo``: a promotion ran that day for the SKU or store-wide (promotions.sku NULL).

``as_of`` defaults to the last day of order data (any status). A SKU with no sale on or before
``as_of`` (none at all, only returns, or only sales cancelled) has no series. Days are calendar days of ``ordered_at``
(naive timestamps in the store's time zone).
"""
from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from metrics.registry import ORDER

CANCEL_DAYS = 1  # a return this many calendar days after the sale, or sooner, cancels it
SCHEMA = {"sku": pl.String, "date": pl.Date, "units": pl.Float64, "in_stock": pl.Boolean, "promo": pl.Boolean}


def last_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The last calendar day with order lines (any status), or None for an empty warehouse."""
    cur = con.cursor()
    try:
        return cur.execute("select cast(max(ordered_at) as date) from order_lines").fetchall()[0][0]
    finally:
        cur.close()


def demand(con: duckdb.DuckDBPyConnection, as_of: date | None = None, skus: tuple[str, ...] = ()) -> pl.DataFrame:
    """The zero-filled daily demand of every SKU with a sale (or of ``skus`` only; columns: see the
    module docstring), sorted by sku and date."""
    as_of = as_of or last_day(con)
    if as_of is None:
        return pl.DataFrame(schema=SCHEMA)
    sql = f"""
        with lines as (
            select sku, customer_id, ordered_at, quantity from order_lines
            where {ORDER} and sku is not null and quantity > 0 and cast(ordered_at as date) <= $as_of
              and (len($skus) = 0 or list_contains($skus, sku))),
        returned as (  -- return documents of a known customer, in units
            select sku, customer_id, ordered_at,
                   coalesce(nullif(quantity, 0), refund_amount / nullif(unit_price, 0)) as units
            from order_lines
            where is_return and sku is not null and customer_id is not null
              and cast(ordered_at as date) <= $as_of and (len($skus) = 0 or list_contains($skus, sku))),
        bought as (  -- what those customers bought of those SKUs, per sale time
            select l.sku, l.customer_id, l.ordered_at, sum(l.quantity) as units from lines l
            semi join (select distinct sku, customer_id from returned) r using (sku, customer_id)
            group by all),
        cancelled as (  -- returns within CANCEL_DAYS of the latest earlier sale, on that sale's day
            select b.sku, cast(b.ordered_at as date) as date, b.customer_id, sum(r.units) as units
            from returned r asof join bought b
              on r.sku = b.sku and r.customer_id = b.customer_id and r.ordered_at >= b.ordered_at
            where cast(r.ordered_at as date) - cast(b.ordered_at as date) <= {CANCEL_DAYS} and r.units > 0
            group by all),
        cut as (  -- per sku and day; per customer at most what they bought of the SKU that day
            select sku, date, sum(units) as units from (
                select c.sku, c.date, least(any_value(c.units), sum(b.units)) as units from cancelled c
                join bought b on b.sku = c.sku and b.customer_id = c.customer_id and cast(b.ordered_at as date) = c.date
                group by c.sku, c.date, c.customer_id)
            group by all),
        sales as (  -- one row per sku and day with sales
            select sku, cast(ordered_at as date) as date, sum(quantity) as units from lines group by all),
        net as (
            select s.sku, s.date, greatest(s.units - coalesce(c.units, 0), 0) as units
            from sales s left join cut c using (sku, date)),
        first_sale as (select sku, min(date) as first_day from net where units > 0 group by sku),
        grid as (
            select f.sku, cast(unnest(generate_series(f.first_day, $as_of, interval 1 day)) as date) as date
            from first_sale f),
        out_days as (  -- days a snapshot shows the sku out of stock
            select sku, snapshot_date as date from inventory where snapshot_date <= $as_of
            group by all having sum(on_hand) <= 0),
        sku_promo as (  -- equi-joins (a range join per promotion is slow on large grids)
            select distinct sku, cast(unnest(generate_series(start_date, end_date, interval 1 day)) as date) as date
            from promotions where sku is not null),
        store_promo as (
            select distinct cast(unnest(generate_series(start_date, end_date, interval 1 day)) as date) as date
            from promotions where sku is null),
        final as (
            select g.sku, g.date, cast(coalesce(s.units, 0) as double) as units,
                   o.sku is null as in_stock, (sp.sku is not null or st.date is not null) as promo
            from grid g
            left join net s using (sku, date)
            left join out_days o using (sku, date)
            left join sku_promo sp using (sku, date)
            left join store_promo st on st.date = g.date)
        select * from final order by sku, date"""
    cur = con.cursor()
    try:
        df = cur.sql(sql, params={"as_of": as_of, "skus": list(skus)}).pl()
    finally:
        cur.close()
    return df.cast(SCHEMA) if df.height else pl.DataFrame(schema=SCHEMA)


def promo_days(con: duckdb.DuckDBPyConnection, skus: list[str], start: date, end: date) -> pl.DataFrame:
    """(sku, date) pairs of ``skus`` with a promotion (theirs or store-wide) between ``start`` and
    ``end`` inclusive: the promotion feature of future days (promotions are planned ahead)."""
    sql = """
        with s as (select unnest($skus) as sku),
        d as (select cast(unnest(generate_series($start, $end, interval 1 day)) as date) as date)
        select distinct s.sku, d.date from s cross join d join promotions p
          on d.date between p.start_date and p.end_date and (p.sku is null or p.sku = s.sku)"""
    cur = con.cursor()
    try:
        df = cur.sql(sql, params={"skus": list(skus), "start": start, "end": end}).pl()
    finally:
        cur.close()
    return df.cast({"sku": pl.String, "date": pl.Date}) if df.height else pl.DataFrame(
        schema={"sku": pl.String, "date": pl.Date})
