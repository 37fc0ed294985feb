"""Inventory cover: how long each SKU's stock lasts at its recent selling rate (DESIGN §3).

One vectorised query over the inventory snapshots and the order lines; no loop per SKU.
"""
from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from data import warehouse
from metrics.compute import _d
from metrics.registry import SALE

WINDOW = 30        # in-stock days behind the velocity, and calendar days behind sell-through
LOOKBACK = 365     # how far back the 30 in-stock days are looked for
COVER_CAP = 365    # days of cover are capped here
OVERSTOCK_DAYS = 90


def cover(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> pl.DataFrame:
    """Days of cover per SKU as of ``as_of`` (default: the latest inventory snapshot), one row per
    SKU with a snapshot on or before it, lowest cover first.

    - on_hand, on_order: each location's latest snapshot on or before ``as_of``, summed over
      locations (on_order null when the export has none); available = max(on_hand, 0).
    - avg_daily_units: units sold (sales orders: paid, partially refunded, refunded) per day over
      the SKU's last 30 in-stock days up to ``as_of``, looked for within 365 days and not before the
      SKU's first snapshot or sale. A day is out of stock when its snapshots (summed over
      locations) show on_hand ≤ 0; a day without a snapshot counts as in stock.
    - days_of_cover = available / avg_daily_units, capped at 365; null when nothing sold.
    - sell_through = units sold / (units sold + available), over the 30 calendar days ending
      ``as_of``; null when both are 0.
    - low_stock: days_of_cover ≤ setting ``low_stock_days`` (default 3);
      overstock: days_of_cover > 90, or units available and nothing sold (dead stock).
    """
    cur = con.cursor()
    try:
        if as_of is None:
            as_of = cur.execute("select max(snapshot_date) from inventory").fetchall()[0][0]
        low_days = warehouse.get_setting(cur, "low_stock_days")
        end = _d(as_of or date(1, 1, 1))
        sql = f"""
            with snaps as (select * from inventory where snapshot_date <= {end}),
            stock as (  -- one row per SKU: each location's latest snapshot, summed
                select sku, sum(on_hand) as on_hand, sum(on_order) as on_order from (
                    select sku, location, arg_max(on_hand, snapshot_date) as on_hand,
                           arg_max(on_order, snapshot_date) as on_order
                    from snaps group by sku, location)
                group by sku),
            daily_stock as (
                select sku, snapshot_date as day, sum(on_hand) <= 0 as is_out from snaps
                where snapshot_date > {end} - {LOOKBACK} group by all),
            sales as (
                select sku, cast(ordered_at as date) as day, sum(quantity) as units from order_lines
                where {SALE} and sku is not null
                  and cast(ordered_at as date) between {end} - {LOOKBACK - 1} and {end}
                group by all),
            first_sale as (
                select sku, cast(min(ordered_at) as date) as day from order_lines
                where {SALE} and sku is not null and cast(ordered_at as date) <= {end} group by sku),
            first_seen as (  -- least() skips nulls: the first snapshot or sale, whichever came first
                select s.sku, least(min(s.snapshot_date), any_value(f.day)) as first_day
                from snaps s left join first_sale f using (sku) group by s.sku),
            in_stock as (  -- the SKU's in-stock days, newest first
                select d.sku, d.day, coalesce(sa.units, 0) as units,
                       row_number() over (partition by d.sku order by d.day desc) as nth
                from (select sku, {end} - cast(i as integer) as day from stock, range(0, {LOOKBACK}) t(i)) d
                join first_seen fs on fs.sku = d.sku and d.day >= fs.first_day
                left join daily_stock ds on ds.sku = d.sku and ds.day = d.day
                left join sales sa on sa.sku = d.sku and sa.day = d.day
                where not coalesce(ds.is_out, false)),
            velocity as (select sku, sum(units) / count(*) as avg_daily_units from in_stock
                         where nth <= {WINDOW} group by sku),
            recent as (select sku, sum(units) as units from sales where day > {end} - {WINDOW} group by sku),
            final as (
                select s.sku, coalesce(p.name, n.product_name) as name,
                       s.on_hand, s.on_order, cast(v.avg_daily_units as double) as avg_daily_units,
                       case when v.avg_daily_units > 0
                            then least(greatest(s.on_hand, 0) / v.avg_daily_units, {COVER_CAP}) end as days_of_cover,
                       coalesce(r.units, 0) / nullif(coalesce(r.units, 0) + greatest(s.on_hand, 0), 0) as sell_through,
                       greatest(s.on_hand, 0) > 0 and v.avg_daily_units = 0 as is_dead
                from stock s left join products p using (sku) left join velocity v using (sku)
                left join (select sku, max(product_name) as product_name from order_lines
                           where sku in (select sku from stock) group by sku) n using (sku)
                left join recent r using (sku))
            select sku, name, on_hand, on_order, avg_daily_units, days_of_cover, sell_through,
                   coalesce(days_of_cover <= ?, false) as low_stock,
                   coalesce(days_of_cover > {OVERSTOCK_DAYS} or is_dead, false) as overstock
            from final order by days_of_cover nulls last, sku"""
        return cur.sql(sql, params=[low_days]).pl()
    finally:
        cur.close()
