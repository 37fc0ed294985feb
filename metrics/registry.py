"""The KPI registry: every KPI declared once, read by the pages, the CLI and the weekly review.

A *measure* is one SQL aggregate over a source relation (``orders``: one row per order;
``traffic``: daily traffic rows; ``customers``: one row per identified customer with their
orders in the period; ``nps``: survey answers). A *KPI* names the measures it needs and
how to combine them, plus its label, unit, direction, target and metric passport (formula, the
convention followed, and how common alternatives differ — DESIGN §3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

SALE = "status in ('paid', 'partially_refunded', 'refunded')"
ORDER = f"{SALE} and not is_return"  # a sales order with goods (not a return document)


@dataclass(frozen=True)
class Measure:
    """``agg(expr) filter (where cond)`` over ``source``; ``agg`` is sum, count or count_distinct."""
    source: str
    agg: str
    expr: str = "*"
    cond: str = "true"

    def sql(self, period: str = "true") -> str:
        where = f"({self.cond}) and ({period})"
        if self.agg == "count_distinct":
            return f"count(distinct {self.expr}) filter (where {where})"
        if self.agg == "sum":  # over no rows 0; over rows that all lack the value (not exported) null
            return (f"coalesce(sum({self.expr}) filter (where {where}), "
                    f"case when count(*) filter (where {where}) = 0 then 0 end)")
        return f"{self.agg}({self.expr}) filter (where {where})"


MEASURES: dict[str, Measure] = {
    # orders (order_facts): money in the store currency, shipping kept apart
    "gmv": Measure("orders", "sum", "gmv", SALE),
    "discounts": Measure("orders", "sum", "discounts", SALE),
    "refunds": Measure("orders", "sum", "refunds", SALE),
    "units": Measure("orders", "sum", "units", SALE),
    "orders": Measure("orders", "count", "*", ORDER),
    "buyers": Measure("orders", "count_distinct", "buyer_key", ORDER),
    "daily_buyers": Measure("orders", "count_distinct", "day_buyer_key", ORDER),
    "costed_net": Measure("orders", "sum", "gmv - discounts - refunds", f"{SALE} and is_costed"),
    "costed_cogs": Measure("orders", "sum", "cogs", f"{SALE} and is_costed"),
    "costed_units": Measure("orders", "sum", "units", f"{SALE} and is_costed"),
    # traffic: the channel-level rows (page = '')
    "visitors": Measure("traffic", "sum", "visitors"),
    "sessions": Measure("traffic", "sum", "sessions"),
    "pageviews": Measure("traffic", "sum", "pageviews"),
    "add_to_cart": Measure("traffic", "sum", "add_to_cart"),
    "bounces": Measure("traffic", "sum", "bounces"),
    # customers: identified customers with at least one order in the period
    "customers": Measure("customers", "count", "*", "n >= 1"),
    "repeat_customers": Measure("customers", "count", "*", "n >= 2"),
    "returning_customers": Measure("customers", "count", "*", "n >= 1 and first_day < period_start"),
    "new_customers": Measure("customers", "count", "*", "n >= 1 and first_day >= period_start"),
    # nps
    "responses": Measure("nps", "count", "*"),
    "promoters": Measure("nps", "count", "*", "score >= 9"),
    "detractors": Measure("nps", "count", "*", "score <= 6"),
}


def ratio(a, b):
    """a / b, or None when either is missing or b is zero."""
    return None if a is None or b is None or b == 0 else a / b


def _nps(m: dict) -> float | None:
    n = m["responses"]
    return None if not n else 100 * (m["promoters"] - m["detractors"]) / n


def _nps_bound(sign: int) -> Callable[[dict], float | None]:
    """95% interval of NPS from the variance of the +1/0/−1 score (normal approximation)."""
    def bound(m: dict) -> float | None:
        n = m["responses"]
        if not n:
            return None
        p, d = m["promoters"] / n, m["detractors"] / n
        se = math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n)
        return 100 * ((p - d) + sign * 1.959963984540054 * se)
    return bound


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    unit: str                      # money | count | ratio | number | score
    higher_is_better: bool | None  # None: neither (e.g. AOV has a band)
    inputs: tuple[str, ...]
    compute: Callable[[dict], float | None]
    formula: str
    convention: str = ""
    alternatives: str = ""
    target: str | None = None      # key in the "targets" setting (a minimum, or *_min/*_max band)
    overview: bool = True

    @property
    def passport(self) -> dict:
        return {"formula": self.formula, "convention": self.convention, "alternatives": self.alternatives}


def _m(name: str) -> Callable[[dict], float | None]:
    return lambda m: m[name]


KPIS: dict[str, Kpi] = {k.key: k for k in [
    Kpi("gmv", "GMV", "money", True, ("gmv",), _m("gmv"),
        "Σ quantity × unit price over lines of paid, partially refunded and refunded orders",
        "Gross merchandise value before discounts and refunds; shipping kept apart; cancelled and "
        "pending orders excluded.",
        "Shopify's 'gross sales' is the same; some tools add shipping and taxes ('total sales')."),
    Kpi("net_sales", "Net sales", "money", True, ("gmv", "discounts", "refunds"),
        lambda m: None if m["gmv"] is None else m["gmv"] - (m["discounts"] or 0) - (m["refunds"] or 0),
        "GMV − discounts − refunds", "Shopify's net sales (without shipping and taxes).",
        "Refunds count in the period of the order, not of the refund."),
    Kpi("orders", "Orders", "count", True, ("orders",), _m("orders"),
        "distinct orders among paid, partially refunded and refunded orders",
        "Return documents (UCI 'C' invoices) carry refunds but are not orders."),
    Kpi("buyers", "Buyers", "count", True, ("buyers",), _m("buyers"),
        "distinct customers with a sales order; an order without a customer is its own buyer",
        "生意参谋's 支付买家数.", "Customer rates below count identified customers only."),
    Kpi("aov", "Average order value", "money", None, ("gmv", "discounts", "orders"),
        lambda m: ratio(None if m["gmv"] is None else m["gmv"] - (m["discounts"] or 0), m["orders"]),
        "(GMV − discounts) / orders", "Shopify's AOV: per order, returns not subtracted.",
        "Not 客单价: sales per buyer divides by buyers, not orders.", target="aov"),
    Kpi("sales_per_buyer", "Sales per buyer (客单价)", "money", True, ("gmv", "discounts", "buyers"),
        lambda m: ratio(None if m["gmv"] is None else m["gmv"] - (m["discounts"] or 0), m["buyers"]),
        "(GMV − discounts) / buyers", "生意参谋's and 京东商智's 客单价: per buyer.",
        "Not AOV, which divides by orders; a buyer with two orders counts once here."),
    Kpi("units", "Units sold", "count", True, ("units",), _m("units"),
        "Σ quantity over lines of sales orders"),
    Kpi("active_skus", "Active SKUs", "count", True, ("active_skus",), _m("active_skus"),
        "distinct SKUs with units sold in the period"),
    Kpi("visitors", "Visitors (UV)", "count", True, ("visitors",), _m("visitors"),
        "Σ daily unique visitors over the channel rows of the traffic table",
        "生意参谋's 访客数 / GA's users, summed over days (a visitor on two days counts twice)."),
    Kpi("pageviews", "Page views (PV)", "count", True, ("pageviews",), _m("pageviews"), "Σ page views"),
    Kpi("pages_per_visit", "Pages per visit", "number", True, ("pageviews", "sessions", "visitors"),
        lambda m: ratio(m["pageviews"], m["sessions"] or m["visitors"]),
        "page views / sessions (visitors when sessions are not exported)", "GA's views per session.",
        "生意参谋's 人均浏览量 divides by visitors."),
    Kpi("bounce_rate", "Bounce rate", "ratio", False, ("bounces", "sessions", "visitors"),
        lambda m: ratio(m["bounces"], m["sessions"] or m["visitors"]),
        "bounces / sessions (visitors when sessions are not exported)", "Universal Analytics' bounce rate.",
        "GA4 reports engagement rate instead (1 − bounce rate); 生意参谋's 跳失率 is per visitor."),
    Kpi("add_to_cart_rate", "Add-to-cart rate", "ratio", True, ("add_to_cart", "visitors"),
        lambda m: ratio(m["add_to_cart"], m["visitors"]), "add-to-cart visitors / visitors",
        "Funnel step visitors → add to cart.", "Shopify's 'added to cart' rate is per session."),
    Kpi("conversion_rate", "Conversion rate", "ratio", True, ("daily_buyers", "visitors"),
        lambda m: ratio(m["daily_buyers"], m["visitors"]) if m["visitors"] else None,
        "Σ daily buyers / Σ daily visitors", "生意参谋's 支付转化率 = 支付买家数 / 访客数, per day, summed.",
        "Shopify's conversion is converted sessions / sessions; GA's is purchases / sessions.",
        target="conversion_rate"),
    Kpi("order_conversion_rate", "Order conversion rate", "ratio", True, ("orders", "sessions"),
        lambda m: ratio(m["orders"], m["sessions"]) if m["sessions"] else None,
        "orders / sessions (only where sessions are exported)", "GA's transactions per session.",
        "Shopify counts converted sessions, so two orders in one session count once."),
    Kpi("repurchase_rate", "Repurchase rate (复购率)", "ratio", True, ("repeat_customers", "customers"),
        lambda m: ratio(m["repeat_customers"], m["customers"]),
        "customers with ≥ 2 orders in the period / customers with ≥ 1", "Identified customers only.",
        "Not the returning customer rate, which asks whether they had ordered before the period.",
        target="repurchase_rate"),
    Kpi("returning_customer_rate", "Returning customer rate", "ratio", True, ("returning_customers", "customers"),
        lambda m: ratio(m["returning_customers"], m["customers"]),
        "customers in the period who had ordered before it / customers in it",
        "Shopify's returning customer rate; identified customers only.",
        "Repurchase counts customers ordering twice inside the period."),
    Kpi("new_customer_share", "New customer share", "ratio", True, ("new_customers", "customers"),
        lambda m: ratio(m["new_customers"], m["customers"]),
        "customers whose first order ever falls in the period / customers in it", "Identified customers only.",
        target="new_customer_share"),
    Kpi("refund_rate", "Refund rate", "ratio", False, ("refunds", "gmv"), lambda m: ratio(m["refunds"], m["gmv"]),
        "refunded amount / GMV", "Refunds of orders placed in the period."),
    Kpi("gross_margin", "Gross margin", "ratio", True, ("costed_net", "costed_cogs", "costed_units"),
        lambda m: ratio(m["costed_net"] - m["costed_cogs"], m["costed_net"]) if m["costed_units"] else None,
        "(net sales − COGS) / net sales, over orders whose goods all have a unit cost",
        "Unit cost from the order line, else from products; orders without costs are left out; no "
        "costed goods sold, no margin (refunds alone are no evidence of one).",
        "Some tools count missing costs as zero, which overstates the margin.", target="gross_margin"),
    Kpi("nps", "NPS", "score", True, ("responses", "promoters", "detractors"), _nps,
        "% promoters (9–10) − % detractors (0–6), × 100", "Bain's Net Promoter Score.",
        "Fewer than 30 responses carry a thin-sample warning."),
    Kpi("nps_responses", "NPS responses", "count", True, ("responses",), _m("responses"), "survey answers"),
    Kpi("nps_ci_low", "NPS 95% low", "score", True, ("responses", "promoters", "detractors"), _nps_bound(-1),
        "NPS − 1.96 × standard error of the +1/0/−1 score × 100", overview=False),
    Kpi("nps_ci_high", "NPS 95% high", "score", True, ("responses", "promoters", "detractors"), _nps_bound(+1),
        "NPS + 1.96 × standard error of the +1/0/−1 score × 100", overview=False),
]}

# active_skus needs order lines: a measure of its own source.
MEASURES["active_skus"] = Measure("lines", "count_distinct", "sku", f"{SALE} and quantity > 0")
