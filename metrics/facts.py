"""Derived tables the metric SQL reads: one row per order, and each customer's first order.

``order_facts`` (one row per order) holds what every order KPI needs, so queries scan orders,
not lines (with 64-bit hash keys of buyers and customers: distinct counts over integers are several
times faster than over text, and a collision among a few million keys is about 1 in 10⁷); ``customer_first`` holds each identified customer's first sales order ever; ``daily_orders``
pre-aggregates every summable order measure per day and channel, so sums over a year read a
few thousand rows. Both are
rebuilt when the warehouse has new ingests (tracked in ``facts_built`` with the facts' VERSION), so a page or the CLI
never reads stale facts. A SKU or category filter reads the same columns straight from the order
lines (:func:`orders_sql`), restricted to those lines.

Sales statuses are paid, partially_refunded and refunded (DESIGN §3); a return document (UCI
``C`` invoice, ``is_return``) carries refunds but is not an order.
"""
from __future__ import annotations

import duckdb

from data.warehouse import scalar
from metrics.registry import MEASURES, ORDER

VERSION = 5  # bump when the facts' columns change: stored facts are then rebuilt

_ORDER_COLUMNS = """
    l.order_id,
    cast(min(l.ordered_at) as date) as day,
    any_value(l.channel) as channel,
    any_value(l.customer_id) as customer_id,
    coalesce(any_value(l.customer_id), '#order ' || l.order_id) as buyer,
    hash(coalesce(any_value(l.customer_id), '#order ' || l.order_id)) as buyer_key,
    hash(cast(min(l.ordered_at) as date), coalesce(any_value(l.customer_id), '#order ' || l.order_id)) as day_buyer_key,
    hash(any_value(l.customer_id)) as customer_key,
    any_value(l.status) as status,
    bool_and(l.is_return) as is_return,
    sum(l.quantity * l.unit_price) as gmv,
    sum(l.discount) as discounts,
    sum(l.refund_amount) as refunds,
    sum(l.quantity) as units,
    sum(l.shipping) as shipping,
    sum(l.quantity * coalesce(l.unit_cost, p.unit_cost)) as cogs,
    bool_and(coalesce(l.unit_cost, p.unit_cost) is not null or l.quantity = 0) as is_costed"""


def orders_sql(skus: tuple[str, ...] = (), categories: tuple[str, ...] = ()) -> tuple[str, list]:
    """SQL (and parameters) of the per-order relation; with a product filter, from the lines."""
    if not skus and not categories:
        return "order_facts", []
    where, params = [], []
    if skus:
        where.append(f"l.sku in ({', '.join('?' * len(skus))})")
        params += list(skus)
    if categories:
        where.append(f"p.category in ({', '.join('?' * len(categories))})")
        params += list(categories)
    return (f"(select {_ORDER_COLUMNS} from order_lines l left join products p using (sku) "
            f"where {' and '.join(where)} group by l.order_id)"), params


def daily_sql() -> str:
    """One row per (day, channel): every summable order measure of the registry, pre-aggregated."""
    cols = [f"{m.sql()} as \"{name}\"" if m.agg == "sum" else f"count(*) filter (where {m.cond}) as \"{name}\""
            for name, m in MEASURES.items() if m.source == "orders" and m.agg in ("sum", "count")]
    return f"select day, channel, {', '.join(cols)} from order_facts group by all order by day"


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild the facts if an ingest happened since they were built (one transaction).
    Callers serialise it (``metrics.compute`` holds a lock)."""
    con.execute("create table if not exists facts_built (ingest_id integer, version integer)")
    latest = scalar(con, "select coalesce(max(id), 0) from ingest_log")
    if con.execute("select ingest_id, version from facts_built").fetchall() == [(latest, VERSION)]:
        return
    con.execute("begin transaction")
    try:
        con.execute(f"""create or replace table order_facts as
            select {_ORDER_COLUMNS} from order_lines l left join products p using (sku)
            group by l.order_id order by day""")
        con.execute(f"""create or replace table customer_first as
            select customer_key, min(day) as first_day from order_facts
            where {ORDER} and customer_id is not null group by 1""")
        con.execute(f"create or replace table daily_orders as {daily_sql()}")
        con.execute("delete from facts_built")
        con.execute("insert into facts_built values (?, ?)", [latest, VERSION])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
