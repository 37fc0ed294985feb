"""Helpers of the metric tests (tests/test_metrics*.py): tiny warehouses loaded by SQL inserts, and an
independent pandas recomputation of every KPI straight from DESIGN §3 (it never imports metrics/).

Conventions the recomputation follows where DESIGN §3 leaves a choice (each is written down in
metrics/ docstrings too, DESIGN asks for that):
- an order's day is the calendar day of its first line's ``ordered_at``; a SKU or category filter
  restricts the order lines first, and an order is then made of its matching lines;
- a return document (``is_return`` lines, UCI ``C`` invoices) carries refunds but is not an order;
- customer rates look at each customer's first sales order *ever* (all channels and products);
- traffic is read from the channel-level rows (``page = ''``) and is not sliced by product;
- pages per visit and bounce rate divide by sessions, by visitors when no sessions are exported;
- gross margin is taken over orders whose goods lines all have a unit cost (line, else product), and
  is None when no goods sold in the period have a cost (refunds alone give no margin);
- a comparison period (previous, year ago) is reported only when every source the KPI reads has
  data in or before it ("where data exists"); a period wholly before the first data gives None.
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd

from data import warehouse

SALE = ("paid", "partially_refunded", "refunded")
KEYS = ["gmv", "net_sales", "orders", "buyers", "aov", "sales_per_buyer", "units", "active_skus", "visitors",
        "pageviews", "pages_per_visit", "bounce_rate", "add_to_cart_rate", "conversion_rate",
        "order_conversion_rate", "repurchase_rate", "returning_customer_rate", "new_customer_share",
        "refund_rate", "gross_margin", "nps", "nps_responses", "nps_ci_low", "nps_ci_high"]
COUNTS = ["orders", "buyers", "units", "active_skus", "visitors", "pageviews", "nps_responses"]
MONEY = ["gmv", "net_sales"]
RATIOS = [k for k in KEYS if k not in COUNTS + MONEY]
ORDER_KPIS = ["gmv", "net_sales", "orders", "buyers", "aov", "sales_per_buyer", "units", "active_skus",
              "repurchase_rate", "returning_customer_rate", "new_customer_share", "refund_rate", "gross_margin"]
TRAFFIC_KPIS = ["visitors", "pageviews", "pages_per_visit", "bounce_rate", "add_to_cart_rate"]
BOTH_KPIS = ["conversion_rate", "order_conversion_rate"]
NPS_KPIS = ["nps", "nps_responses", "nps_ci_low", "nps_ci_high"]
SOURCES = {**{k: ("orders",) for k in ORDER_KPIS}, **{k: ("traffic",) for k in TRAFFIC_KPIS},
           **{k: ("orders", "traffic") for k in BOTH_KPIS}, **{k: ("nps",) for k in NPS_KPIS}}

LINE_COLUMNS = ["order_id", "line_no", "ordered_at", "customer_id", "channel", "status", "sku", "product_name",
                "quantity", "unit_price", "discount", "refund_amount", "shipping", "unit_cost", "currency",
                "is_return"]
TRAFFIC_COLUMNS = ["date", "channel", "page", "visitors", "sessions", "pageviews", "add_to_cart", "bounces"]
NPS_COLUMNS = ["response_id", "responded_at", "score", "customer_id", "channel", "comment"]
PRODUCT_COLUMNS = ["sku", "name", "category", "unit_price", "unit_cost"]


# ---------------------------------------------------------------------------------------------
# Building warehouses

def line(order_id, line_no, at, customer, channel, status, sku, quantity, unit_price, discount=0.0, refund=0.0,
         shipping=0.0, unit_cost=None, is_return=False) -> dict:
    """One order_lines row (``at``: a datetime, or an ISO text)."""
    at = datetime.fromisoformat(at) if isinstance(at, str) else at
    return {"order_id": order_id, "line_no": line_no, "ordered_at": at, "customer_id": customer,
            "channel": channel, "status": status, "sku": sku, "product_name": sku, "quantity": float(quantity),
            "unit_price": float(unit_price), "discount": float(discount), "refund_amount": float(refund),
            "shipping": float(shipping), "unit_cost": unit_cost, "currency": "EUR", "is_return": is_return}


def visit(day, channel, visitors, sessions=None, pageviews=0, add_to_cart=None, bounces=None, page="") -> dict:
    day = date.fromisoformat(day) if isinstance(day, str) else day
    return {"date": day, "channel": channel, "page": page, "visitors": visitors, "sessions": sessions,
            "pageviews": pageviews, "add_to_cart": add_to_cart, "bounces": bounces}


def answer(response_id, at, score, channel=None, customer=None) -> dict:
    at = datetime.fromisoformat(at) if isinstance(at, str) else at
    return {"response_id": response_id, "responded_at": at, "score": score, "customer_id": customer,
            "channel": channel, "comment": None}


def product(sku, category, unit_cost, unit_price=None) -> dict:
    return {"sku": sku, "name": sku.title(), "category": category, "unit_price": unit_price, "unit_cost": unit_cost}


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list[dict]) -> None:
    """One multi-row ``insert … values (…), (…)`` statement (much faster than executemany)."""
    if rows:
        one = f"({', '.join('?' * len(columns))})"
        con.execute(f"insert into {table} ({', '.join(columns)}) values {', '.join([one] * len(rows))}",
                    [r[c] for r in rows for c in columns])


def load(con: duckdb.DuckDBPyConnection, lines=(), traffic=(), nps=(), products=()) -> duckdb.DuckDBPyConnection:
    """Insert the rows with plain SQL, then log an ingest (as data.ingest does) so derived facts rebuild."""
    _insert(con, "order_lines", LINE_COLUMNS, list(lines))
    _insert(con, "traffic", TRAFFIC_COLUMNS, list(traffic))
    _insert(con, "nps_responses", NPS_COLUMNS, list(nps))
    _insert(con, "products", PRODUCT_COLUMNS, list(products))
    con.execute("insert into ingest_log (file_name, kind, status) values ('tests', 'orders', 'loaded')")
    return con


def warehouse_with(path=":memory:", **rows) -> duckdb.DuckDBPyConnection:
    return load(warehouse.connect(path), **rows)


def frames(lines=(), traffic=(), nps=(), products=()) -> dict[str, pd.DataFrame]:
    """The same rows as pandas frames, for the recomputation."""
    return {"lines": pd.DataFrame(list(lines), columns=LINE_COLUMNS),
            "traffic": pd.DataFrame(list(traffic), columns=TRAFFIC_COLUMNS),
            "nps": pd.DataFrame(list(nps), columns=NPS_COLUMNS),
            "products": pd.DataFrame(list(products), columns=PRODUCT_COLUMNS)}


# ---------------------------------------------------------------------------------------------
# The recomputation (pandas, from DESIGN §3)

def year_back(d: date) -> date:
    """The same calendar day a year earlier; 29 February becomes 28 February."""
    return d.replace(year=d.year - 1) if not (d.month == 2 and d.day == 29) else date(d.year - 1, 2, 28)


def div(a, b):
    if a is None or b is None or pd.isna(a) or pd.isna(b) or b == 0:
        return None
    return a / b


def _sum_or_none(s: pd.Series):
    """Σ of a column that may be absent from the export: None when no row has it."""
    s = s.dropna()
    return None if s.empty else float(s.sum())


def period_values(t: dict[str, pd.DataFrame], start: date, end: date, channels=(), skus=(), categories=()) -> dict:
    """Every KPI for [start, end] from the raw rows, by DESIGN §3's definitions."""
    lines = t["lines"].merge(t["products"][["sku", "category", "unit_cost"]].rename(
        columns={"unit_cost": "product_cost"}), on="sku", how="left")
    lines["cost"] = lines["unit_cost"].astype(float).fillna(lines["product_cost"].astype(float))
    first_at = lines.groupby("order_id")["ordered_at"].transform("min")
    lines["day"] = pd.to_datetime(first_at).dt.date
    lines["sale"] = lines["status"].isin(SALE)
    lines["is_return"] = lines["is_return"].astype(bool)
    # each identified customer's first sales order ever (all channels, all products)
    ever = lines[lines["sale"] & ~lines["is_return"] & lines["customer_id"].notna()]
    first_day = ever.groupby("customer_id")["day"].min()

    sel = lines[(lines["day"] >= start) & (lines["day"] <= end)]
    if channels:
        sel = sel[sel["channel"].isin(channels)]
    if skus:
        sel = sel[sel["sku"].isin(skus)]
    if categories:
        sel = sel[sel["category"].isin(categories)]
    sel = sel.assign(amount=sel["quantity"] * sel["unit_price"],
                     goods_cost=sel["quantity"] * sel["cost"],
                     costed=sel["cost"].notna() | (sel["quantity"] == 0))
    o = sel.groupby("order_id").agg(day=("day", "first"), customer=("customer_id", "first"),
                                    status=("status", "first"), is_return=("is_return", "all"),
                                    gmv=("amount", "sum"), discounts=("discount", "sum"),
                                    refunds=("refund_amount", "sum"), units=("quantity", "sum"),
                                    cogs=("goods_cost", "sum"), costed=("costed", "all")).reset_index()
    sales = o[o["status"].isin(SALE)]
    real = sales[~sales["is_return"]]                    # orders proper
    buyer = real["customer"].where(real["customer"].notna(), "#order " + real["order_id"])
    gmv, discounts, refunds = sales["gmv"].sum(), sales["discounts"].sum(), sales["refunds"].sum()
    n_orders, n_buyers = len(real), buyer.nunique()
    v = {"gmv": gmv, "net_sales": gmv - discounts - refunds, "orders": n_orders, "buyers": n_buyers,
         "aov": div(gmv - discounts, n_orders), "sales_per_buyer": div(gmv - discounts, n_buyers),
         "units": sales["units"].sum(),
         "active_skus": sel[sel["sale"] & (sel["quantity"] > 0)]["sku"].dropna().nunique(),
         "refund_rate": div(refunds, gmv)}
    costed = sales[sales["costed"]]
    net_c = (costed["gmv"] - costed["discounts"] - costed["refunds"]).sum()
    # No goods with a known cost: no margin (a return document alone is no evidence of a 100% margin).
    has_cost = (costed["units"] > 0).any()
    v["gross_margin"] = div(net_c - costed["cogs"].sum(), net_c) if has_cost else None
    # customers
    per = real[real["customer"].notna()].groupby("customer").size()
    firsts = first_day.reindex(per.index)
    v["repurchase_rate"] = div((per >= 2).sum(), len(per))
    v["returning_customer_rate"] = div((firsts < start).sum(), len(per))
    v["new_customer_share"] = div((firsts >= start).sum(), len(per))
    # traffic (channel rows only)
    tr = t["traffic"]
    tr = tr[(tr["page"] == "") & (tr["date"] >= start) & (tr["date"] <= end)]
    if channels:
        tr = tr[tr["channel"].isin(channels)]
    visitors, pageviews = float(tr["visitors"].sum()), float(tr["pageviews"].sum())
    sessions, atc, bounces = (_sum_or_none(tr[c]) for c in ("sessions", "add_to_cart", "bounces"))
    per_visit = sessions or visitors
    daily_buyers = len(set(zip(real["day"], buyer)))
    v |= {"visitors": visitors, "pageviews": pageviews, "pages_per_visit": div(pageviews, per_visit),
          "bounce_rate": div(bounces, per_visit), "add_to_cart_rate": div(atc, visitors),
          "conversion_rate": div(daily_buyers, visitors), "order_conversion_rate": div(n_orders, sessions)}
    # NPS
    ns = t["nps"]
    days = pd.to_datetime(ns["responded_at"]).dt.date
    ns = ns[(days >= start) & (days <= end)]
    if channels:
        ns = ns[ns["channel"].isin(channels)]
    v |= nps_values(list(ns["score"]))
    return v


def nps_values(scores: list[int]) -> dict:
    """NPS and its 95% interval from the variance of the +1/0/−1 score (normal approximation)."""
    from scipy.stats import norm
    n = len(scores)
    if n == 0:
        return {"nps": None, "nps_responses": 0, "nps_ci_low": None, "nps_ci_high": None}
    s = pd.Series([1 if x >= 9 else -1 if x <= 6 else 0 for x in scores], dtype=float)
    half = norm.ppf(0.975) * math.sqrt(s.var(ddof=0) / n)
    return {"nps": 100 * s.mean(), "nps_responses": n, "nps_ci_low": 100 * (s.mean() - half),
            "nps_ci_high": 100 * (s.mean() + half)}


def first_days(t: dict[str, pd.DataFrame]) -> dict[str, date | None]:
    """First day with data, per source."""
    def first(values):
        values = [x for x in values if x is not None and not pd.isna(x)]
        return min(values) if values else None
    return {"orders": first(pd.to_datetime(t["lines"]["ordered_at"]).dt.date),
            "traffic": first(t["traffic"]["date"]),
            "nps": first(pd.to_datetime(t["nps"]["responded_at"]).dt.date)}


def expected(t: dict[str, pd.DataFrame], start: date, end: date, channels=(), skus=(), categories=()) -> dict:
    """{kpi: {value, previous, year_ago, delta, delta_pct}} with both comparisons."""
    n = (end - start).days + 1
    periods = {"value": (start, end), "previous": (start - timedelta(days=n), start - timedelta(days=1)),
               "year_ago": (year_back(start), year_back(end))}
    vals = {p: period_values(t, a, b, channels, skus, categories) for p, (a, b) in periods.items()}
    cover = first_days(t)
    out = {}
    for k in KEYS:
        row = {"value": vals["value"][k]}
        for p in ("previous", "year_ago"):
            covered = all(cover[s] is not None and cover[s] <= periods[p][1] for s in SOURCES[k])
            row[p] = vals[p][k] if covered else None
        v, prev = row["value"], row["previous"]
        row["delta"] = None if v is None or prev is None else v - prev
        row["delta_pct"] = None if row["delta"] is None or not prev else row["delta"] / abs(prev)
        out[k] = {x: (None if y is None else float(y)) for x, y in row.items()}
    return out


# ---------------------------------------------------------------------------------------------
# The hand-computed shop of tests/test_metrics.py (expected values are written out there)

def shop() -> dict[str, list[dict]]:
    """Two channels (web, app), a week 2024-03-01..07, its previous week (ending on 29 February)
    and the same week of 2023; every status, a return document, orders without a customer."""
    L = line
    lines = [
        # --- current week 2024-03-01 .. 2024-03-07
        L("O1", 1, "2024-03-01 10:00", "alice", "web", "paid", "MUG", 2, 15, shipping=5),
        L("O1", 2, "2024-03-01 10:00", "alice", "web", "paid", "TEE", 1, 90, discount=10),
        L("O2", 1, "2024-03-02 11:00", "bob", "app", "partially_refunded", "TEE", 1, 90, refund=20),
        L("O3", 1, "2024-03-03 09:00", "alice", "web", "refunded", "MUG", 1, 15, refund=15),
        L("O4", 1, "2024-03-03 18:30", None, "web", "paid", "MUG", 3, 15, discount=5),
        L("O5", 1, "2024-03-04 12:00", "carol", "app", "cancelled", "TEE", 2, 90),
        L("O6", 1, "2024-03-05 08:00", "dave", "web", "pending", "MUG", 1, 15),
        L("R1", 1, "2024-03-06 15:00", "erin", "web", "refunded", "MUG", 0, 15, refund=30, is_return=True),
        L("O7", 1, "2024-03-07 20:00", "erin", "app", "paid", "TEE", 1, 90),
        # --- previous week 2024-02-23 .. 2024-02-29
        L("P1", 1, "2024-02-25 10:00", "erin", "web", "paid", "TEE", 1, 90),
        L("P1", 2, "2024-02-25 10:00", "erin", "web", "paid", "MUG", 2, 15),
        L("P2", 1, "2024-02-29 23:59", None, "app", "paid", "MUG", 4, 15, discount=10),
        L("P3", 1, "2024-02-27 13:00", "gina", "web", "cancelled", "MUG", 1, 15),
        # --- a year earlier 2023-03-01 .. 2023-03-07 (line cost 7 overrides the product's 8)
        L("Y1", 1, "2023-03-01 10:00", "alice", "web", "paid", "TEE", 2, 80, unit_cost=7.0),
        L("Y2", 1, "2023-03-06 10:00", "hal", "app", "refunded", "MUG", 1, 12, refund=12),
    ]
    traffic = [
        visit("2024-03-01", "web", 100, 120, 300, 10, 48),
        visit("2024-03-01", "web", 40, 40, 90, 4, 10, page="/mug"),   # a page row: not channel traffic
        visit("2024-03-02", "app", 50, 60, 90, 5, 12),
        visit("2024-03-05", "web", 50, 70, 110, 6, 20),
        visit("2024-02-29", "web", 80, 100, 200, 8, 30),
        visit("2023-03-01", "web", 40, 50, 100, 4, 25),
    ]
    nps = [
        answer("n1", "2024-03-02 09:00", 10, "web"), answer("n2", "2024-03-02 09:05", 9, "app"),
        answer("n3", "2024-03-02 10:00", 8, "web"), answer("n4", "2024-03-03 10:00", 6, None),
        answer("n5", "2024-03-04 10:00", 3, "web"), answer("n6", "2024-03-07 23:00", 10, "web"),
        answer("p1", "2024-02-26 10:00", 9), answer("p2", "2024-02-26 11:00", 9),
        answer("p3", "2024-02-27 10:00", 7), answer("p4", "2024-02-28 10:00", 0),
        answer("y1", "2023-03-01 10:00", 10), answer("y2", "2023-03-03 10:00", 5),
    ]
    products = [product("MUG", "kitchen", 4.0, 15), product("TEE", "apparel", 8.0, 90)]
    return {"lines": lines, "traffic": traffic, "nps": nps, "products": products}


# ---------------------------------------------------------------------------------------------
# Comparing

FIELDS = ("value", "previous", "year_ago", "delta", "delta_pct")


def agree(e, a) -> bool:
    """None only equals None; numbers to 1e-9 (and an actual value must be a plain finite number)."""
    import pytest
    if e is None or a is None:
        return e is None and a is None
    return type(a) in (int, float) and math.isfinite(a) and a == pytest.approx(e, rel=1e-9, abs=1e-9)


def mismatches(exp: dict, got: dict, keys) -> list[tuple]:
    """(kpi, field, expected, actual) for every disagreement between :func:`expected` and
    ``metrics.compute.kpis`` (a sum over no rows is 0, never None)."""
    return [(k, field, exp[k][field], getattr(got[k], field)) for k in keys for field in FIELDS
            if not agree(exp[k][field], getattr(got[k], field))]
