"""metrics/analyses.py and metrics/stock.py: tiny hand-computed warehouses, then the demo warehouse.

Each fixture inserts a handful of rows by SQL into a fresh warehouse; the expected values are
written out with their arithmetic. The demo checks look at shape and invariants (shares sum to 1,
trends add up to the KPI, cohort month 0 is 100%).
"""
from datetime import date, datetime

import polars as pl
import pytest

from data import demo, warehouse
from metrics import analyses as a
from metrics import stock
from metrics.compute import kpis
from metrics.filters import Filters

Z95 = 1.959963984540054


def L(order, at, customer, channel, status, sku, qty, price, discount=0.0, refund=0.0, line=1):
    return (order, line, datetime.fromisoformat(at), customer, channel, status, sku, sku, float(qty), float(price),
            float(discount), float(refund))


def make(tmp_path, lines=(), traffic=(), nps=(), products=(), inventory=()):
    """A fresh warehouse with the rows inserted by SQL."""
    con = warehouse.connect(tmp_path / "w.duckdb")
    tables = [
        ("order_lines", "order_id, line_no, ordered_at, customer_id, channel, status, sku, product_name, quantity, "
                        "unit_price, discount, refund_amount", lines),
        ("traffic", "date, channel, visitors, add_to_cart", traffic),
        ("nps_responses", "response_id, responded_at, score, channel", nps),
        ("products", "sku, name, category", products),
        ("inventory", "snapshot_date, sku, location, on_hand, on_order", inventory),
    ]
    for table, cols, rows in tables:
        if rows:
            one = "(" + ", ".join("?" * len(rows[0])) + ")"
            con.execute(f"insert into {table} ({cols}) values {', '.join([one] * len(rows))}",
                        [v for r in rows for v in r])
    return con


def rows(df: pl.DataFrame, *cols) -> list[tuple]:
    return df.select(cols).rows() if cols else df.rows()


# --------------------------------------------------------------------------------------------
# A small shop: weeks start Monday 4, 11 and 18 March 2024

BASE = [
    L("O0", "2024-02-20 10:00", "c2", "web", "paid", "A", 1, 10),        # c2's first order: before the range
    L("O1", "2024-03-04 09:00", "c1", "web", "paid", "A", 2, 10),        # c1's first order
    L("O2", "2024-03-05 12:00", "c2", "app", "paid", "B", 1, 30, discount=5),
    L("O6", "2024-03-06 18:00", "c1", "web", "paid", "A", 1, 10),
    L("O3", "2024-03-12 08:00", "c1", "web", "paid", "A", 1, 10),
    L("O4", "2024-03-13 08:00", "c3", "web", "cancelled", "A", 5, 10),   # not a sale
]
TRAFFIC = [(date(2024, 3, 4), "web", 100, 10), (date(2024, 3, 5), "app", 50, 5)]
MARCH = Filters(date(2024, 3, 4), date(2024, 3, 24))
WEEKS = [date(2024, 3, 4), date(2024, 3, 11), date(2024, 3, 18)]


@pytest.fixture
def shop(tmp_path):
    return make(tmp_path, lines=BASE, traffic=TRAFFIC)


def test_trend_by_week_zero_fills_and_nulls_ratios(shop):
    gmv = a.trend(shop, MARCH, "gmv", "week")
    assert gmv.columns == ["bucket", "value"] and gmv["bucket"].to_list() == WEEKS
    assert gmv["value"].to_list() == [60.0, 10.0, 0.0]      # 20 + 30 + 10; O3 10; nothing (O4 cancelled)
    assert a.trend(shop, MARCH, "orders", "week")["value"].to_list() == [3, 1, 0]
    aov = a.trend(shop, MARCH, "aov", "week")["value"].to_list()
    assert aov[0] == pytest.approx((60 - 5) / 3) and aov[1:] == [10.0, None]
    # c1 is new in week 1 (first order 4 March), c2 returning (20 February); c1 returning in week 2
    assert a.trend(shop, MARCH, "new_customer_share", "week")["value"].to_list() == [0.5, 0.0, None]
    assert a.trend(shop, MARCH, "repurchase_rate", "week")["value"].to_list() == [0.5, 0.0, None]  # c1: O1, O6
    assert a.trend(shop, MARCH, "buyers", "week")["value"].to_list() == [2, 1, 0]
    assert a.trend(shop, MARCH, "active_skus", "week")["value"].to_list() == [2, 1, 0]    # {A, B}, {A}
    # daily buyers 4 (c1), 5 (c2), 6 (c1) over 150 visitors; week 2 has no traffic
    assert a.trend(shop, MARCH, "conversion_rate", "week")["value"].to_list() == [3 / 150, None, None]


def test_trend_by_day_and_month(shop):
    day = a.trend(shop, MARCH, "gmv", "day")
    assert day.height == 21 and day["value"].sum() == 70.0
    assert rows(day.filter(pl.col("value") > 0)) == [(date(2024, 3, 4), 20.0), (date(2024, 3, 5), 30.0),
                                                      (date(2024, 3, 6), 10.0), (date(2024, 3, 12), 10.0)]
    month = a.trend(shop, Filters(date(2024, 2, 15), date(2024, 3, 24)), "gmv", "month")
    assert rows(month) == [(date(2024, 2, 1), 10.0), (date(2024, 3, 1), 70.0)]   # O0; 60 + 10


def test_partial_buckets_start_on_the_range(shop):
    """Range Wed 6 – Tue 12 March: bucket 4 March holds 6–10 March, and c1 (first order on 4 March)
    is a returning customer there, as kpis() says for 6–10 March."""
    f = Filters(date(2024, 3, 6), date(2024, 3, 12))
    assert rows(a.trend(shop, f, "gmv", "week")) == [(date(2024, 3, 4), 10.0), (date(2024, 3, 11), 10.0)]
    share = a.trend(shop, f, "new_customer_share", "week")["value"].to_list()
    assert share == [0.0, 0.0]
    assert kpis(shop, Filters(date(2024, 3, 6), date(2024, 3, 10)), ["new_customer_share"])[
        "new_customer_share"].value == share[0]


def test_trend_by_channel(shop):
    t = a.trend_by_channel(shop, MARCH, "gmv", "week")
    assert t.columns == ["bucket", "channel", "value"]
    assert rows(t.sort("channel", "bucket")) == [
        (WEEKS[0], "app", 30.0), (WEEKS[1], "app", 0.0), (WEEKS[2], "app", 0.0),
        (WEEKS[0], "web", 30.0), (WEEKS[1], "web", 10.0), (WEEKS[2], "web", 0.0)]   # web: 20 + 10; 10
    conv = a.trend_by_channel(shop, MARCH, "conversion_rate", "week").filter(pl.col("bucket") == WEEKS[0])
    assert rows(conv.sort("channel"), "channel", "value") == [("app", 1 / 50), ("web", 2 / 100)]
    only_web = a.trend_by_channel(shop, Filters(MARCH.start, MARCH.end, channels=("web",)), "orders", "week")
    assert rows(only_web, "channel", "value") == [("web", 2), ("web", 1), ("web", 0)]


def test_unknown_kpi_or_grain(shop):
    with pytest.raises(ValueError, match="unknown KPI"):
        a.trend(shop, MARCH, "revenue")
    with pytest.raises(ValueError, match="grain"):
        a.trend(shop, MARCH, "gmv", "quarter")


def test_channel_mix(tmp_path):
    con = make(tmp_path, lines=BASE + [L("O7", "2024-03-08 10:00", "c4", "pos", "paid", "B", 1, 30)],
               traffic=TRAFFIC + [(date(2024, 3, 7), "social", 20, 1)])
    mix = a.channel_mix(con, MARCH)
    assert mix.columns == ["channel", "gmv", "orders", "buyers", "visitors", "conversion_rate", "aov", "share_of_gmv"]
    # total GMV 40 + 30 + 30 = 100; web: O1 20, O6 10, O3 10, 3 orders of c1 on 3 days / 100 visitors
    assert rows(mix) == [
        ("web", 40.0, 3, 1, 100.0, 3 / 100, 40 / 3, 0.4),
        ("app", 30.0, 1, 1, 50.0, 1 / 50, (30 - 5) / 1, 0.3),
        ("pos", 30.0, 1, 1, None, None, 30.0, 0.3),          # no traffic: visitors and conversion null
        ("social", 0.0, 0, 0, 20.0, 0.0, None, 0.0)]         # traffic only


def test_funnel(shop):
    fun = a.funnel(shop, MARCH)
    # 150 visitors, 10 + 5 added to cart, daily buyers 4 (c1), 5 (c2), 6 (c1), 12 (c1) = 4
    assert rows(fun) == [("visitors", 150, 1.0, 1.0), ("added to cart", 15, 0.1, 0.1),
                         ("buyers", 4, 4 / 15, 4 / 150)]


def test_funnel_without_add_to_cart(tmp_path):
    con = make(tmp_path, lines=BASE, traffic=[(date(2024, 3, 4), "web", 100, None)])
    assert rows(a.funnel(con, MARCH)) == [("visitors", 100, 1.0, 1.0), ("added to cart", None, None, None),
                                          ("buyers", 4, None, 4 / 100)]


# --------------------------------------------------------------------------------------------
# Cohorts

COHORT_LINES = [
    L("D1", "2023-12-30 10:00", "c4", "web", "paid", "A", 1, 10),   # December cohort: outside
    L("D2", "2024-01-05 10:00", "c4", "web", "paid", "A", 1, 10),
    L("J1", "2024-01-10 10:00", "c1", "web", "paid", "A", 1, 10),   # c1: January cohort
    L("J2", "2024-01-15 10:00", None, "web", "paid", "A", 1, 10),   # anonymous: not a customer
    L("J3", "2024-01-20 10:00", "c1", "web", "paid", "A", 1, 10),
    L("J4", "2024-01-25 10:00", "c2", "app", "paid", "A", 1, 10),   # c2: January cohort (on app)
    L("F1", "2024-02-03 10:00", "c3", "web", "paid", "A", 1, 10),   # c3: February cohort
    L("F2", "2024-02-05 10:00", "c1", "web", "paid", "A", 1, 10),
    L("F3", "2024-02-20 10:00", "c3", "web", "paid", "A", 1, 10),
    L("M1", "2024-03-01 10:00", "c1", "web", "paid", "A", 1, 10),
    L("M2", "2024-03-03 10:00", "c3", "web", "cancelled", "A", 1, 10),  # not a sale
    L("M3", "2024-03-15 10:00", "c2", "web", "paid", "A", 1, 10),   # latest order: March is the last month
]


def test_cohorts(tmp_path):
    con = make(tmp_path, lines=COHORT_LINES)
    f = Filters(date(2024, 1, 15), date(2024, 2, 10))   # January and February, taken whole
    c = a.cohorts(con, f)
    assert c.columns == ["cohort", "month_index", "customers", "active", "retention"]
    jan, feb = date(2024, 1, 1), date(2024, 2, 1)
    assert rows(c) == [
        (jan, 0, 2, 2, 1.0),    # c1, c2
        (jan, 1, 2, 1, 0.5),    # February: c1
        (jan, 2, 2, 2, 1.0),    # March: c1 (M1), c2 (M3)
        (feb, 0, 1, 1, 1.0),    # c3
        (feb, 1, 1, 0, 0.0)]    # March: c3's order was cancelled
    assert rows(a.cohorts(con, f, months=1), "cohort", "month_index") == [(jan, 0), (jan, 1), (feb, 0), (feb, 1)]
    # web only: c2's first month was on app, so January keeps c1 alone
    web = a.cohorts(con, Filters(f.start, f.end, channels=("web",)))
    assert rows(web.filter(pl.col("cohort") == jan), "month_index", "customers", "active") == [
        (0, 1, 1), (1, 1, 1), (2, 1, 1)]


# --------------------------------------------------------------------------------------------
# RFM as of 30 June 2024: the last 30 days start 1 June, the last 365 days 2 July 2023

def _rfm_lines():
    one = lambda cid, at, amount, **kw: L(f"{cid}-{at}", f"{at} 10:00", cid, "web", "paid", "A", 1, amount, **kw)
    return [
        one("n1", "2024-06-01", 50),                 # first order 29 days ago: new
        L("n1-later", "2024-07-05 10:00", "n1", "web", "paid", "A", 1, 999),   # after the snapshot: ignored
        one("h1", "2024-03-01", 500, refund=100),    # h1: 2 orders, 500 − 100 + 500 = 900
        one("h1", "2024-06-01", 500),
        one("a1", "2023-09-01", 100), one("a1", "2024-05-15", 100),   # 200, 2 orders, 46 days ago
        one("x1", "2024-05-01", 2000),               # the top spender, but one order
        one("r1", "2024-02-15", 80),                 # 136 days ago
        one("d1", "2023-10-01", 60),                 # 273 days ago
        one("d2", "2023-01-10", 70),                 # 537 days ago, outside the 365 days
        one("b89", "2024-04-02", 10), one("b90", "2024-04-01", 10),
        one("b179", "2024-01-03", 10), one("b180", "2024-01-02", 10),
        L("anon", "2024-06-10 10:00", None, "web", "paid", "A", 1, 10),   # no customer id
    ]


def test_rfm_segments_and_cut_offs(tmp_path):
    con = make(tmp_path, lines=_rfm_lines())
    r = a.rfm(con, Filters(date(2024, 6, 1), date(2024, 6, 30)))
    assert r.columns == ["customer_id", "recency_days", "frequency", "monetary", "segment"]
    got = {row[0]: row[1:] for row in r.rows()}
    # ranked by monetary among the 10 customers who ordered in the last 365 days (d2 did not):
    # x1 2000 (cume_dist 0.1), h1 900 (0.2: top 20%), a1 200 (0.3), ...
    assert got == {
        "n1": (29, 1, 50.0, "new"),
        "h1": (29, 2, 900.0, "high value"),
        "x1": (60, 1, 2000.0, "active"),        # top spender with one order
        "a1": (46, 2, 200.0, "active"),          # two orders, outside the top 20%
        "b89": (89, 1, 10.0, "active"),
        "b90": (90, 1, 10.0, "at risk"),
        "r1": (136, 1, 80.0, "at risk"),
        "b179": (179, 1, 10.0, "at risk"),
        "b180": (180, 1, 10.0, "dormant"),
        "d1": (273, 1, 60.0, "dormant"),
        "d2": (537, 0, 0.0, "dormant"),
    }


def test_rfm_summary(tmp_path):
    con = make(tmp_path, lines=_rfm_lines())
    s = a.rfm_summary(con, Filters(date(2024, 6, 1), date(2024, 6, 30)))
    assert s.equals(a.summarise_rfm(a.rfm(con, Filters(date(2024, 6, 1), date(2024, 6, 30)))))
    assert rows(s) == [
        ("new", 1, 1 / 11, 50.0),
        ("high value", 1, 1 / 11, 900.0),
        ("active", 3, 3 / 11, 2210.0),           # x1 2000 + a1 200 + b89 10
        ("at risk", 3, 3 / 11, 100.0),           # r1 80 + b90 10 + b179 10
        ("dormant", 3, 3 / 11, 70.0)]            # d1 60 + d2 0 + b180 10
    empty = a.rfm_summary(con, Filters(date(2020, 1, 1), date(2020, 1, 31)))
    assert rows(empty, "customers") == [(0,)] * 5 and empty["share"].null_count() == 5


# --------------------------------------------------------------------------------------------
# Products: current week 8–14 March 2024, previous 1–7 March

PRODUCTS = [("A", "Alpha", "x"), ("B", "Beta", "y"), ("C", "Gamma", "x"), ("D", "Delta", "y"),
            ("E", "Epsilon", "x"), ("H", "Eta", "x")]
SKU_LINES = [
    # current: A 70, B 20, C 5, D 4, H 1 = 100
    L("c1", "2024-03-08 10:00", None, "web", "paid", "A", 7, 10),
    L("c2", "2024-03-09 10:00", None, "web", "paid", "B", 2, 10),
    L("c2", "2024-03-09 10:00", None, "web", "paid", "C", 1, 5, line=2),
    L("c3", "2024-03-14 23:00", None, "app", "refunded", "D", 2, 2, refund=4),
    L("c4", "2024-03-10 10:00", None, "web", "paid", "H", 1, 1),
    L("c5", "2024-03-11 10:00", None, "web", "cancelled", "E", 9, 9),   # not a sale: E stays U
    # previous: A 50, B 25, C 4, D 10, H 1
    L("p1", "2024-03-02 10:00", None, "web", "paid", "A", 5, 10),
    L("p2", "2024-03-03 10:00", None, "web", "paid", "B", 1, 25),
    L("p2", "2024-03-03 10:00", None, "web", "paid", "C", 1, 4, line=2),
    L("p3", "2024-03-07 10:00", None, "web", "paid", "D", 5, 2),
    L("p4", "2024-03-01 10:00", None, "web", "paid", "H", 1, 1),
    L("f1", "2024-02-27 10:00", None, "web", "paid", "F", 1, 3),       # F: not in products, sold before
]
WEEK = Filters(date(2024, 3, 8), date(2024, 3, 14))


@pytest.fixture
def catalog(tmp_path):
    return make(tmp_path, lines=SKU_LINES, products=PRODUCTS)


def test_abc_classes_and_roles(catalog):
    r = a.abc(catalog, WEEK)
    assert r.columns == ["sku", "name", "category", "revenue", "units", "share", "cum_share", "abc", "role",
                         "previous_revenue"]
    # running share before each SKU: A 0, B .70 (crosses 80%: still A), C .90 (B), D .95 (C), H .99 (C)
    assert rows(r.drop("share", "cum_share")) == [
        ("A", "Alpha", "x", 70.0, 7.0, "A", "best seller", 50.0),
        ("B", "Beta", "y", 20.0, 2.0, "A", "best seller", 25.0),
        ("C", "Gamma", "x", 5.0, 1.0, "B", "potential", 4.0),     # 5 ≥ 1.2 × 4
        ("D", "Delta", "y", 4.0, 2.0, "C", "laggard", 10.0),      # 4 < 10
        ("H", "Eta", "x", 1.0, 1.0, "C", "steady", 1.0),
        ("E", "Epsilon", "x", 0.0, 0.0, "U", "laggard", 0.0),     # only a cancelled order
        ("F", "F", None, 0.0, 0.0, "U", "laggard", 0.0)]          # name from the order lines
    assert r["share"].to_list() == pytest.approx([0.70, 0.20, 0.05, 0.04, 0.01, 0, 0])
    assert r["cum_share"].to_list() == pytest.approx([0.70, 0.90, 0.95, 0.99, 1, 1, 1])


def test_abc_with_a_category(catalog):
    r = a.abc(catalog, Filters(WEEK.start, WEEK.end, categories=("y",)))
    # B 20 and D 4 of 24: D's running share before it is 20/24 = .83 → B; 4 < 1.2 × 10 and B → steady
    assert rows(r, "sku", "abc", "role") == [("B", "A", "best seller"), ("D", "B", "steady")]
    assert r["share"].to_list() == pytest.approx([20 / 24, 4 / 24])


def test_top_movers(catalog):
    m = a.top_movers(catalog, WEEK, n=2)
    assert m.columns == ["sku", "name", "current", "previous", "change", "change_pct"]
    # A +20 (20/50), C +1 (1/4); D −6 (−6/10), B −5 (−5/25); H unchanged
    assert rows(m) == [("A", "Alpha", 70.0, 50.0, 20.0, 0.4), ("C", "Gamma", 5.0, 4.0, 1.0, 0.25),
                       ("D", "Delta", 4.0, 10.0, -6.0, -0.6), ("B", "Beta", 20.0, 25.0, -5.0, -0.2)]
    units = a.top_movers(catalog, WEEK, key="units")
    assert rows(units, "sku", "change") == [("A", 2.0), ("B", 1.0), ("D", -3.0)]   # 7−5, 2−1, 2−5
    # 1–7 March against 23–29 February: everything new (no change %) except F, which stopped
    first = a.top_movers(catalog, Filters(date(2024, 3, 1), date(2024, 3, 7)), n=1)
    assert rows(first) == [("A", "Alpha", 50.0, 0.0, 50.0, None), ("F", "F", 0.0, 3.0, -3.0, -1.0)]
    with pytest.raises(ValueError, match="key"):
        a.top_movers(catalog, WEEK, key="aov")


# --------------------------------------------------------------------------------------------
# NPS

NPS = [(f"r{i}", datetime(2024, 3, 4, 9), s, "web") for i, s in enumerate([10, 9, 8, 6, 0])] + \
      [("r9", datetime(2024, 3, 12, 9), 10, "app")]


def test_nps_distribution(tmp_path):
    con = make(tmp_path, nps=NPS)
    d = a.nps_distribution(con, MARCH)
    assert d.columns == ["score", "responses", "share"] and d["score"].to_list() == list(range(11))
    assert d["responses"].to_list() == [1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 2]
    assert d["share"].to_list() == pytest.approx([1 / 6, 0, 0, 0, 0, 0, 1 / 6, 0, 1 / 6, 1 / 6, 2 / 6])
    web = a.nps_distribution(con, Filters(MARCH.start, MARCH.end, channels=("web",)))
    assert web["responses"].sum() == 5
    none = a.nps_distribution(con, Filters(date(2024, 1, 1), date(2024, 1, 31)))
    assert none["responses"].sum() == 0 and none["share"].null_count() == 11


def test_nps_comments(tmp_path):
    con = make(tmp_path, nps=NPS)
    con.execute("""update nps_responses set comment = case response_id
                   when 'r0' then 'Fast DELIVERY' when 'r3' then '  ' when 'r4' then 'late delivery, broken'
                   when 'r9' then 'great app' end""")
    # r3's blank comment and the answers without one are left out; newest first, then by the filter
    assert a.nps_comments(con, MARCH)["comment"].to_list()[0] == "great app"
    assert sorted(a.nps_comments(con, MARCH)["comment"]) == ["Fast DELIVERY", "great app", "late delivery, broken"]
    assert sorted(a.nps_comments(con, MARCH, "Delivery")["comment"]) == ["Fast DELIVERY", "late delivery, broken"]
    assert a.nps_comments(con, Filters(MARCH.start, MARCH.end, channels=("app",)))["comment"].to_list() == ["great app"]
    assert a.nps_comments(con, Filters(date(2024, 1, 1), date(2024, 1, 31))).height == 0


def test_nps_trend(tmp_path):
    con = make(tmp_path, nps=NPS)
    t = a.nps_trend(con, MARCH, "week")
    assert t.columns == ["bucket", "responses", "nps", "ci_low", "ci_high", "thin_sample"]
    # week 1: 2 promoters, 2 detractors of 5 → NPS 0; variance .4 + .4 − 0² = .8, se √(.8/5) = .4
    # week 2: one promoter → 100, variance 1 − 1 = 0; week 3: no answers
    assert rows(t, "bucket", "responses", "thin_sample") == [(WEEKS[0], 5, True), (WEEKS[1], 1, True),
                                                              (WEEKS[2], 0, True)]
    assert t["nps"].to_list() == [0.0, 100.0, None]
    assert t["ci_low"].to_list()[:2] == pytest.approx([-Z95 * 40, 100]) and t["ci_low"][2] is None
    assert t["ci_high"].to_list()[:2] == pytest.approx([Z95 * 40, 100])


# --------------------------------------------------------------------------------------------
# Stock as of 10 March 2024: the last 30 calendar days are 10 February – 10 March

def test_cover(tmp_path):
    d = date.fromisoformat
    lines = [
        L("s1a", "2024-02-28 10:00", None, "web", "paid", "S1", 3, 1),    # before S1's first snapshot
        L("s1b", "2024-03-05 10:00", None, "web", "paid", "S1", 10, 1),   # an out-of-stock day: left out
        L("s1c", "2024-03-08 10:00", None, "web", "paid", "S1", 6, 1),
        L("s1d", "2024-03-10 10:00", None, "web", "paid", "S1", 3, 1),
        L("s2a", "2024-03-09 10:00", None, "web", "paid", "S2", 4, 1),
        L("s2b", "2024-03-09 11:00", None, "web", "cancelled", "S2", 100, 1),
        L("s3a", "2024-01-01 10:00", None, "web", "paid", "S3", 1, 1),    # older than the 30 in-stock days
        L("s4a", "2024-03-01 10:00", None, "web", "paid", "S4", 30, 1),
        L("s5a", "2024-03-10 10:00", None, "web", "paid", "S5", 1, 1),
        L("s7a", "2024-03-10 10:00", None, "web", "paid", "S7", 3, 1),
        L("s8a", "2024-02-08 10:00", None, "web", "paid", "S8", 100, 1),  # 31st in-stock day back: left out
        L("s8b", "2024-02-09 10:00", None, "web", "paid", "S8", 31, 1),   # 30th in-stock day back
    ]
    inventory = [
        (d("2024-03-01"), "S1", "a", 50, None), (d("2024-03-01"), "S1", "b", 0, None),
        (d("2024-03-05"), "S1", "a", 0, None), (d("2024-03-05"), "S1", "b", 0, None),   # out of stock
        (d("2024-03-10"), "S1", "a", 20, 5), (d("2024-03-10"), "S1", "b", 10, None),
        (d("2024-03-10"), "S2", "", -2, None),      # negative: available 0, and an out-of-stock day
        (d("2024-03-10"), "S3", "", 100, None),
        (d("2024-03-10"), "S4", "", 500, None),
        (d("2024-03-10"), "S5", "", 10000, None),
        (d("2024-03-11"), "S6", "", 5, None),       # after as_of: not listed
        (d("2024-03-10"), "S7", "", 9, None),
        (d("2024-02-01"), "S8", "", 10, None), (d("2024-03-09"), "S8", "", 0, None),
        (d("2024-03-10"), "S8", "", 5, None),
    ]
    con = make(tmp_path, lines=lines, products=[("S1", "One", "x")], inventory=inventory)
    c = stock.cover(con, date(2024, 3, 10))
    assert c.columns == ["sku", "name", "on_hand", "on_order", "avg_daily_units", "days_of_cover", "sell_through",
                         "low_stock", "overstock"]
    got = {r[0]: r[1:] for r in c.rows()}
    # S1: in stock 28 Feb – 10 March except 5 March = 11 days, 3 + 6 + 3 = 12 units; 30 available;
    #     sold 3 + 10 + 6 + 3 = 22 in the 30 days
    assert got["S1"] == pytest.approx(("One", 30.0, 5.0, 12 / 11, 30 / (12 / 11), 22 / 52, False, False))
    # S2: 9 March in stock (4 units), 10 March out (−2): cover 0 / 4 = 0
    assert got["S2"] == ("S2", -2.0, None, 4.0, 0.0, 1.0, True, False)
    # S3: the last 30 in-stock days (10 Feb – 10 March) sold nothing: no cover, dead stock
    assert got["S3"] == ("S3", 100.0, None, 0.0, None, 0.0, False, True)
    # S4: 1–10 March, 30 units = 3 a day; 500 / 3 days
    assert got["S4"] == pytest.approx(("S4", 500.0, None, 3.0, 500 / 3, 30 / 530, False, True))
    assert got["S5"] == pytest.approx(("S5", 10000.0, None, 1.0, 365.0, 1 / 10001, False, True))   # capped
    assert got["S7"] == pytest.approx(("S7", 9.0, None, 3.0, 3.0, 3 / 12, True, False))            # 3 ≤ 3
    # S8: skipping 9 March, the 30 in-stock days reach back to 9 February: 31 units / 30 days
    assert got["S8"] == pytest.approx(("S8", 5.0, None, 31 / 30, 5 / (31 / 30), 0.0, False, False))
    assert "S6" not in got
    assert c["sku"].to_list() == ["S2", "S7", "S8", "S1", "S4", "S5", "S3"]   # lowest cover first
    warehouse.set_setting(con, "low_stock_days", 2)
    assert stock.cover(con, date(2024, 3, 10)).filter(pl.col("sku") == "S7")["low_stock"][0] is False
    # default: as of the latest snapshot (S6, 11 March); 11 March has no snapshot of the others, so it
    # counts as in stock: S7 3 units / 2 days → 9 / 1.5 = 6; S1 12 units / 12 days → 30; S8's window
    # now starts 10 February, after its sales → no cover
    assert stock.cover(con)["sku"].to_list() == ["S2", "S7", "S1", "S4", "S5", "S3", "S6", "S8"]
    assert stock.cover(con, date(2020, 1, 1)).height == 0


def test_an_empty_warehouse_gives_empty_or_zero_frames(tmp_path):
    con = make(tmp_path)
    assert a.trend(con, MARCH, "gmv", "week")["value"].to_list() == [0.0, 0.0, 0.0]
    assert a.trend(con, MARCH, "aov", "week")["value"].null_count() == 3
    assert a.trend_by_channel(con, MARCH, "gmv").height == 0
    assert a.channel_mix(con, MARCH).height == 0
    assert rows(a.funnel(con, MARCH), "users") == [(0,), (0,), (0,)]  # no rows at all: counts are 0 (a column missing from rows that exist is None)
    for frame in (a.cohorts(con, MARCH), a.rfm(con, MARCH), a.abc(con, MARCH), a.top_movers(con, MARCH),
                  stock.cover(con)):
        assert frame.height == 0
    assert a.rfm_summary(con, MARCH)["customers"].sum() == 0
    assert a.nps_distribution(con, MARCH)["responses"].sum() == 0
    assert a.nps_trend(con, MARCH, "week")["nps"].null_count() == 3


# --------------------------------------------------------------------------------------------
# The demo warehouse

@pytest.fixture(scope="module")
def dem(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    demo.build(path, seed=42, scale=0.1, today=date(2026, 1, 1))
    con = warehouse.connect(path)
    yield con
    con.close()


DEMO = Filters(date(2025, 9, 1), date(2025, 11, 30))


@pytest.mark.parametrize("key,grain", [("gmv", "day"), ("orders", "week"), ("units", "month"), ("visitors", "week")])
def test_demo_trend_adds_up_to_the_kpi(dem, key, grain):
    t = a.trend(dem, DEMO, key, grain)
    assert t["value"].null_count() == 0 and t["bucket"].is_sorted() and t["bucket"].n_unique() == t.height
    assert t["value"].sum() == pytest.approx(kpis(dem, DEMO, [key])[key].value)


def test_demo_trend_by_channel_adds_up(dem):
    t = a.trend_by_channel(dem, DEMO, "gmv", "week")
    assert t.height == t["bucket"].n_unique() * t["channel"].n_unique()
    assert t["value"].sum() == pytest.approx(kpis(dem, DEMO, ["gmv"])["gmv"].value)
    assert a.trend(dem, DEMO, "conversion_rate", "week")["value"].is_between(0, 1).all()


def test_demo_channel_mix(dem):
    mix = a.channel_mix(dem, DEMO)
    assert mix.height >= 3
    assert mix.select(pl.exclude("visitors", "conversion_rate").null_count()).sum_horizontal()[0] == 0
    assert mix["share_of_gmv"].sum() == pytest.approx(1)
    assert mix["gmv"].sum() == pytest.approx(kpis(dem, DEMO, ["gmv"])["gmv"].value)


def test_demo_funnel_narrows(dem):
    f = a.funnel(dem, DEMO)
    assert f["users"].null_count() == 0 and f["users"].is_sorted(descending=True)
    assert f["users"][0] == kpis(dem, DEMO, ["visitors"])["visitors"].value


def test_demo_cohorts(dem):
    c = a.cohorts(dem, DEMO, months=6)
    assert c.null_count().sum_horizontal()[0] == 0
    assert c.filter(pl.col("month_index") == 0)["retention"].to_list() == [1.0] * 3   # September–November
    assert c["retention"].is_between(0, 1).all() and c["month_index"].max() <= 6


def test_demo_rfm(dem):
    r = a.rfm(dem, DEMO)
    assert r["customer_id"].n_unique() == r.height and r.select(pl.all().null_count()).sum_horizontal()[0] == 0
    assert set(r["segment"]) == set(a.SEGMENTS)
    s = a.rfm_summary(dem, DEMO)
    assert s["share"].sum() == pytest.approx(1) and s["customers"].sum() == r.height


def test_demo_abc(dem):
    r = a.abc(dem, DEMO)
    assert r["sku"].n_unique() == r.height and r["share"].sum() == pytest.approx(1)
    assert r["cum_share"].is_sorted() and r["cum_share"][-1] == pytest.approx(1)
    assert r.select("revenue", "units", "share", "cum_share", "abc", "role").null_count().sum_horizontal()[0] == 0
    assert set(r["abc"]) <= {"A", "B", "C", "U"} and r["abc"][0] == "A"


def test_demo_top_movers(dem):
    m = a.top_movers(dem, Filters(date(2025, 11, 24), date(2025, 11, 30)), n=5)
    assert 0 < m.height <= 10 and (m["change"] == m["current"] - m["previous"]).all()
    up = m.filter(pl.col("change") > 0)["change"]
    assert up.is_sorted(descending=True)


def test_demo_nps(dem):
    d = a.nps_distribution(dem, DEMO)
    assert d.height == 11 and d["share"].sum() == pytest.approx(1)
    t = a.nps_trend(dem, DEMO, "month")
    assert t.height == 3 and t["responses"].sum() == d["responses"].sum()
    assert t.filter(pl.col("responses") > 0)["nps"].is_between(-100, 100).all()
    assert ((t["ci_low"] <= t["nps"]) & (t["nps"] <= t["ci_high"])).all()


def test_demo_cover(dem):
    c = stock.cover(dem)
    assert c["sku"].n_unique() == c.height > 0
    assert c.select("sku", "on_hand", "low_stock", "overstock").null_count().sum_horizontal()[0] == 0
    cover = c["days_of_cover"].drop_nulls()
    assert cover.is_between(0, 365).all() and c["sell_through"].drop_nulls().is_between(0, 1).all()
    assert (c["low_stock"] == (c["days_of_cover"] <= 3).fill_null(False)).all()
    assert (c.filter(pl.col("days_of_cover") > 90)["overstock"]).all()
