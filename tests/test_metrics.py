"""Every KPI of the registry on a tiny hand-built shop, with each expected value written out as
arithmetic from DESIGN §3 (tests/metrics_helpers.py:shop() holds the rows; read them beside this).

The shop: products MUG (kitchen, cost 4) and TEE (apparel, cost 8); channels web and app.
Current week 2024-03-01..07 — O1 alice web paid: MUG 2×15 + TEE 1×90 (discount 10, shipping 5);
O2 bob app partially refunded: TEE 90, refund 20; O3 alice web refunded: MUG 15, refund 15;
O4 (no customer) web paid: MUG 3×15, discount 5; O5 carol app cancelled; O6 dave web pending;
R1 erin web: a return document (quantity 0, refund 30); O7 erin app paid: TEE 90.
Previous week 2024-02-23..29 — P1 erin web paid: TEE 90 + MUG 2×15; P2 (no customer) app paid on
29 February 23:59: MUG 4×15, discount 10; P3 gina web cancelled.
Same week of 2023 — Y1 alice web paid: TEE 2×80 with a line cost of 7; Y2 hal app refunded: MUG 12,
refund 12.
"""
import math
from datetime import date

import pytest

from data import warehouse
from metrics.compute import kpis
from metrics.filters import Filters
from tests import metrics_helpers as h

Z = 1.959963984540054  # the normal 97.5% quantile (scipy.stats.norm.ppf(0.975))
WEEK = Filters(date(2024, 3, 1), date(2024, 3, 7))
FIELDS = ("value", "previous", "year_ago", "delta", "delta_pct")


def nps_ci(promoters: int, detractors: int, n: int) -> tuple[float, float]:
    p, d = promoters / n, detractors / n
    se = math.sqrt((p + d - (p - d) ** 2) / n)   # variance of the +1/0/−1 score
    return 100 * (p - d - Z * se), 100 * (p - d + Z * se)


CURRENT = {
    "gmv": 2 * 15 + 90 + 90 + 15 + 3 * 15 + 90,                   # 360: shipping 5 kept apart, O5/O6 out
    "net_sales": 360 - (10 + 5) - (20 + 15 + 30),                  # 280
    "orders": 5,                                                   # O1 O2 O3 O4 O7 (R1 is no order)
    "buyers": 4,                                                   # alice, bob, erin, O4 as its own buyer
    "aov": (360 - 15) / 5,
    "sales_per_buyer": (360 - 15) / 4,
    "units": 2 + 1 + 1 + 1 + 3 + 1,
    "active_skus": 2,
    "visitors": 100 + 50 + 50,                                     # the /mug page row is not channel traffic
    "pageviews": 300 + 90 + 110,
    "pages_per_visit": 500 / (120 + 60 + 70),
    "bounce_rate": (48 + 12 + 20) / 250,
    "add_to_cart_rate": (10 + 5 + 6) / 200,
    "conversion_rate": (1 + 1 + 2 + 1) / 200,                      # daily buyers: alice, bob, alice+O4, erin
    "order_conversion_rate": 5 / 250,
    "repurchase_rate": 1 / 3,                                      # alice (2 orders) of alice, bob, erin
    "returning_customer_rate": 2 / 3,                              # alice (2023), erin (25 Feb)
    "new_customer_share": 1 / 3,                                   # bob
    "refund_rate": (20 + 15 + 30) / 360,
    "gross_margin": (280 - (2 * 4 + 8 + 8 + 4 + 3 * 4 + 8)) / 280,
    "nps": 100 * (3 - 2) / 6,                                      # 10 9 8 6 3 10
    "nps_responses": 6,
    "nps_ci_low": nps_ci(3, 2, 6)[0],
    "nps_ci_high": nps_ci(3, 2, 6)[1],
}
PREVIOUS = {
    "gmv": 90 + 2 * 15 + 4 * 15,                                   # 180
    "net_sales": 180 - 10 - 0,
    "orders": 2,
    "buyers": 2,                                                   # erin, P2 as its own buyer
    "aov": (180 - 10) / 2,
    "sales_per_buyer": (180 - 10) / 2,
    "units": 1 + 2 + 4,
    "active_skus": 2,
    "visitors": 80,
    "pageviews": 200,
    "pages_per_visit": 200 / 100,
    "bounce_rate": 30 / 100,
    "add_to_cart_rate": 8 / 80,
    "conversion_rate": (1 + 1) / 80,                               # 25 Feb erin, 29 Feb P2
    "order_conversion_rate": 2 / 100,
    "repurchase_rate": 0 / 1,
    "returning_customer_rate": 0 / 1,
    "new_customer_share": 1 / 1,                                   # erin's first order ever
    "refund_rate": 0 / 180,
    "gross_margin": (170 - (8 + 2 * 4 + 4 * 4)) / 170,
    "nps": 100 * (2 - 1) / 4,                                      # 9 9 7 0
    "nps_responses": 4,
    "nps_ci_low": nps_ci(2, 1, 4)[0],
    "nps_ci_high": nps_ci(2, 1, 4)[1],
}
YEAR_AGO = {
    "gmv": 2 * 80 + 12,
    "net_sales": 172 - 0 - 12,
    "orders": 2,
    "buyers": 2,
    "aov": 172 / 2,
    "sales_per_buyer": 172 / 2,
    "units": 2 + 1,
    "active_skus": 2,
    "visitors": 40,
    "pageviews": 100,
    "pages_per_visit": 100 / 50,
    "bounce_rate": 25 / 50,
    "add_to_cart_rate": 4 / 40,
    "conversion_rate": 2 / 40,
    "order_conversion_rate": 2 / 50,
    "repurchase_rate": 0 / 2,
    "returning_customer_rate": 0 / 2,
    "new_customer_share": 2 / 2,
    "refund_rate": 12 / 172,
    "gross_margin": (160 - (2 * 7 + 1 * 4)) / 160,                # the line cost 7 wins over the product's 8
    "nps": 100 * (1 - 1) / 2,                                      # 10 5
    "nps_responses": 2,
    "nps_ci_low": nps_ci(1, 1, 2)[0],
    "nps_ci_high": nps_ci(1, 1, 2)[1],
}


@pytest.fixture(scope="module")
def con():
    c = h.warehouse_with(**h.shop())
    yield c
    c.close()


@pytest.fixture(scope="module")
def week(con):
    return kpis(con, WEEK)


def values(got: dict, field: str = "value") -> dict:
    return {k: getattr(v, field) for k, v in got.items()}


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == pytest.approx(b, rel=1e-12, abs=1e-12)


def diff(got: dict, expected: dict) -> dict:
    """{kpi: (expected, actual)} where they disagree (None only equals None); {} when all agree."""
    assert set(got) == set(expected)
    return {k: (expected[k], got[k]) for k in expected if not same(got[k], expected[k])}


def test_the_registry_has_every_kpi_of_the_contract(week):
    assert list(week) == h.KEYS


def test_current_week(week):
    assert diff(values(week), CURRENT) == {}


def test_previous_week_ends_on_29_february(week):
    assert WEEK.previous() == Filters(date(2024, 2, 23), date(2024, 2, 29))
    assert diff(values(week, "previous"), PREVIOUS) == {}


def test_same_week_a_year_earlier(week):
    assert WEEK.year_ago() == Filters(date(2023, 3, 1), date(2023, 3, 7))
    assert diff(values(week, "year_ago"), YEAR_AGO) == {}


def test_deltas_against_the_previous_week(week):
    assert diff(values(week, "delta"), {k: CURRENT[k] - PREVIOUS[k] for k in h.KEYS}) == {}
    assert diff(values(week, "delta_pct"), 
        {k: (CURRENT[k] - PREVIOUS[k]) / abs(PREVIOUS[k]) if PREVIOUS[k] else None for k in h.KEYS}) == {}
    # spelled out for a few: GMV doubled, AOV fell by 16 of 85, NPS lost a third of its 25 points
    assert week["gmv"].delta_pct == pytest.approx((360 - 180) / 180)
    assert week["aov"].delta == pytest.approx(69 - 85) and week["aov"].delta_pct == pytest.approx(-16 / 85)
    assert week["nps"].delta_pct == pytest.approx((100 / 6 - 25) / 25)
    assert week["repurchase_rate"].delta_pct is None           # from 0: no percentage


def test_the_values_are_the_recomputation_too(week):
    """The hand values and the pandas recomputation of tests/metrics_helpers.py agree (so the
    random tests check the same definitions)."""
    exp = h.expected(h.frames(**h.shop()), WEEK.start, WEEK.end)
    for field in FIELDS:
        assert diff(values(week, field), {k: exp[k][field] for k in h.KEYS}) == {}, field


def test_targets_of_the_manuals(week):
    got = {k: (week[k].target, week[k].target_status) for k in h.KEYS if week[k].target is not None}
    assert got.pop("aov") == ("100–300", "below")                  # 69 under the 100–300 band
    assert got.pop("repurchase_rate") == ("≥ 25%", "met")          # 33% ≥ 25%
    assert got.pop("new_customer_share") == ("≥ 30%", "met")       # 33% ≥ 30%
    assert got.pop("gross_margin") == ("≥ 35%", "met")             # 83% ≥ 35%
    assert set(got) <= {"conversion_rate"}                         # a benchmark, not a default target
    assert all(week[k].target_status is None for k in h.KEYS
               if k not in ("aov", "repurchase_rate", "new_customer_share", "gross_margin"))


def test_targets_in_the_previous_week(con):
    got = kpis(con, WEEK.previous())
    assert got["repurchase_rate"].target_status == "below"        # 0 < 25%
    assert got["new_customer_share"].target_status == "met"       # 100%
    assert got["aov"].target_status == "below"                    # 85 < 100


def test_targets_are_settings(tmp_path):
    con = h.warehouse_with(tmp_path / "w.duckdb", **h.shop())
    warehouse.set_setting(con, "targets", {"repurchase_rate": 0.5, "new_customer_share": 0.3, "gross_margin": 0.9,
                                           "aov_min": 50, "aov_max": 60})
    got = kpis(con, WEEK)
    assert (got["aov"].target, got["aov"].target_status) == ("50–60", "above")     # 69 > 60
    assert got["repurchase_rate"].target_status == "below"                        # 33% < 50%
    assert got["gross_margin"].target_status == "below"                           # 83% < 90%
    assert got["new_customer_share"].target_status == "met"
    warehouse.set_setting(con, "targets", {"aov_min": 60, "aov_max": 70})
    got = kpis(con, WEEK)
    assert got["aov"].target_status == "met" and got["repurchase_rate"].target is None
    con.close()


def test_web_channel(con):
    got = kpis(con, Filters(WEEK.start, WEEK.end, channels=("web",)))
    assert diff(values(got), {
        "gmv": 120 + 15 + 45, "net_sales": 180 - 15 - (15 + 30), "orders": 3, "buyers": 2,
        "aov": (180 - 15) / 3, "sales_per_buyer": (180 - 15) / 2, "units": 3 + 1 + 3, "active_skus": 2,
        "visitors": 100 + 50, "pageviews": 300 + 110, "pages_per_visit": 410 / (120 + 70),
        "bounce_rate": (48 + 20) / 190, "add_to_cart_rate": (10 + 6) / 150,
        "conversion_rate": (1 + 2) / 150, "order_conversion_rate": 3 / 190,
        "repurchase_rate": 1 / 1, "returning_customer_rate": 1 / 1, "new_customer_share": 0 / 1,
        "refund_rate": 45 / 180, "gross_margin": (120 - (8 + 8 + 4 + 12)) / 120,
        "nps": 100 * (2 - 1) / 4, "nps_responses": 4,                        # 10 8 3 10 (the unlabelled 6 is out)
        "nps_ci_low": nps_ci(2, 1, 4)[0], "nps_ci_high": nps_ci(2, 1, 4)[1]}) == {}


def test_app_channel(con):
    got = kpis(con, Filters(WEEK.start, WEEK.end, channels=("app",)))
    assert diff(values(got), {
        "gmv": 90 + 90, "net_sales": 180 - 0 - 20, "orders": 2, "buyers": 2,
        "aov": 180 / 2, "sales_per_buyer": 180 / 2, "units": 2, "active_skus": 1,
        "visitors": 50, "pageviews": 90, "pages_per_visit": 90 / 60, "bounce_rate": 12 / 60,
        "add_to_cart_rate": 5 / 50, "conversion_rate": 2 / 50, "order_conversion_rate": 2 / 60,
        "repurchase_rate": 0 / 2, "returning_customer_rate": 1 / 2,          # erin ordered on the web before
        "new_customer_share": 1 / 2, "refund_rate": 20 / 180, "gross_margin": (160 - 16) / 160,
        "nps": 100.0, "nps_responses": 1, "nps_ci_low": 100.0, "nps_ci_high": 100.0}) == {}
    both = kpis(con, Filters(WEEK.start, WEEK.end, channels=("web", "app")))
    assert diff(values(both), CURRENT | {"nps": 100 * (3 - 1) / 5, "nps_responses": 5,
                                             "nps_ci_low": nps_ci(3, 1, 5)[0], "nps_ci_high": nps_ci(3, 1, 5)[1]}) == {}


ORDER_KEYS = [k for k in h.KEYS if h.SOURCES[k] == ("orders",)]


def test_sku_filter(con):
    got = kpis(con, Filters(WEEK.start, WEEK.end, skus=("MUG",)), ORDER_KEYS)
    assert diff(values(got), {
        "gmv": 2 * 15 + 15 + 3 * 15, "net_sales": 90 - 5 - (15 + 30), "orders": 3, "buyers": 2,   # O1 O3 O4
        "aov": (90 - 5) / 3, "sales_per_buyer": (90 - 5) / 2, "units": 2 + 1 + 3, "active_skus": 1,
        "repurchase_rate": 1 / 1, "returning_customer_rate": 1 / 1, "new_customer_share": 0 / 1,
        "refund_rate": 45 / 90, "gross_margin": (40 - (2 * 4 + 4 + 3 * 4)) / 40}) == {}
    assert got["gmv"].previous == pytest.approx(2 * 15 + 4 * 15) and got["gmv"].year_ago == pytest.approx(12)


def test_category_filter(con):
    got = kpis(con, Filters(WEEK.start, WEEK.end, categories=("apparel",)), ORDER_KEYS)
    assert diff(values(got), {
        "gmv": 90 * 3, "net_sales": 270 - 10 - 20, "orders": 3, "buyers": 3,                     # O1 O2 O7
        "aov": (270 - 10) / 3, "sales_per_buyer": (270 - 10) / 3, "units": 3, "active_skus": 1,
        "repurchase_rate": 0 / 3, "returning_customer_rate": 2 / 3, "new_customer_share": 1 / 3,
        "refund_rate": 20 / 270, "gross_margin": (240 - 3 * 8) / 240}) == {}


@pytest.mark.parametrize("f", [Filters(WEEK.start, WEEK.end, skus=("TEE", "MUG")),
                               Filters(WEEK.start, WEEK.end, ("web",), skus=("MUG",)),
                               Filters(date(2024, 2, 20), date(2024, 3, 7), categories=("kitchen",)),
                               Filters(WEEK.start, WEEK.end, skus=("MUG", "TEE"), categories=("apparel",))])
def test_product_filters_match_the_recomputation(con, f):
    """All five fields of every order KPI, against the recomputation."""
    got = kpis(con, f, ORDER_KEYS)
    exp = h.expected(h.frames(**h.shop()), f.start, f.end, f.channels, f.skus, f.categories)
    assert h.mismatches(exp, got, ORDER_KEYS) == []


def test_single_day(con):
    got = kpis(con, Filters(date(2024, 3, 3), date(2024, 3, 3)))
    assert diff(values(got), {
        "gmv": 15 + 45, "net_sales": 60 - 5 - 15, "orders": 2, "buyers": 2, "aov": 55 / 2,
        "sales_per_buyer": 55 / 2, "units": 4, "active_skus": 1,
        "visitors": 0, "pageviews": 0,                   # no traffic row that day
        "pages_per_visit": None, "bounce_rate": None, "add_to_cart_rate": None, "conversion_rate": None,
        "order_conversion_rate": None, "repurchase_rate": 0 / 1, "returning_customer_rate": 1 / 1,
        "new_customer_share": 0 / 1, "refund_rate": 15 / 60, "gross_margin": (40 - 16) / 40,
        "nps": -100.0, "nps_responses": 1, "nps_ci_low": -100.0, "nps_ci_high": -100.0}) == {}
    # the previous period is the day before (O2 on 2 March), the year-ago one 3 March 2023 (no sale)
    assert got["gmv"].previous == pytest.approx(90) and got["orders"].previous == 1
    assert got["visitors"].previous == 50 and got["conversion_rate"].previous == pytest.approx(1 / 50)
    assert got["buyers"].year_ago == 0 and got["aov"].year_ago is None


def test_29_february_a_year_back_is_28_february(con):
    f = Filters(date(2024, 2, 29), date(2024, 3, 1))
    assert f.year_ago() == Filters(date(2023, 2, 28), date(2023, 3, 1))
    got = kpis(con, f)
    assert got["gmv"].value == pytest.approx(60 + 120) and got["orders"].value == 2
    assert got["gmv"].year_ago == pytest.approx(160)            # Y1 on 1 March 2023, the data's first day


COUNTS_AND_MONEY = {"gmv": 0, "net_sales": 0, "orders": 0, "buyers": 0, "units": 0, "active_skus": 0,
                    "visitors": 0, "pageviews": 0, "nps_responses": 0}


def test_empty_range_counts_are_zero_and_ratios_none(con):
    """10–12 March: no order, visit or answer. Counts and money are 0, ratios None (never NaN);
    against the previous three days (O7: 90 on 7 March) GMV fell by 90, −100%."""
    got = kpis(con, Filters(date(2024, 3, 10), date(2024, 3, 12)))
    assert diff(values(got), COUNTS_AND_MONEY | {k: None for k in h.RATIOS}) == {}
    assert got["gmv"].previous == pytest.approx(90)
    assert (got["gmv"].delta, got["gmv"].delta_pct) == (pytest.approx(-90), pytest.approx(-1.0))
    assert (got["orders"].delta, got["orders"].delta_pct) == (-1, pytest.approx(-1.0))


def test_empty_warehouse():
    con = h.warehouse_with()
    got = kpis(con, WEEK)
    assert diff(values(got), COUNTS_AND_MONEY | {k: None for k in h.RATIOS}) == {}
    assert all(v.previous is None and v.year_ago is None and v.delta is None for v in got.values())
    con.close()


def test_day_with_visits_but_no_sales(con):
    """5 March: 50 visitors in 70 sessions, only a pending order → 0 orders, conversion 0 (not None)."""
    got = kpis(con, Filters(date(2024, 3, 5), date(2024, 3, 5)))
    assert (got["orders"].value, got["buyers"].value, got["gmv"].value) == (0, 0, 0)
    assert got["conversion_rate"].value == 0
    assert got["order_conversion_rate"].value == 0                 # 0 orders / 70 sessions
    assert got["aov"].value is None and got["sales_per_buyer"].value is None


def test_channel_without_traffic_has_no_conversion():
    con = h.warehouse_with(
        lines=[h.line("S1", 1, "2024-03-02 10:00", "k1", "store", "paid", "MUG", 1, 20),
               h.line("W1", 1, "2024-03-02 11:00", "k2", "web", "paid", "MUG", 1, 30)],
        traffic=[h.visit("2024-03-02", "web", 10, 12, 30)])
    store = kpis(con, Filters(date(2024, 3, 2), date(2024, 3, 2), ("store",)))
    assert (store["orders"].value, store["buyers"].value, store["gmv"].value) == (1, 1, 20)
    assert store["conversion_rate"].value is None and store["order_conversion_rate"].value is None
    assert store["pages_per_visit"].value is None and store["bounce_rate"].value is None
    web = kpis(con, Filters(date(2024, 3, 2), date(2024, 3, 2), ("web",)))
    assert web["conversion_rate"].value == pytest.approx(1 / 10)
    assert web["order_conversion_rate"].value == pytest.approx(1 / 12)
    everything = kpis(con, Filters(date(2024, 3, 2), date(2024, 3, 2)))
    assert everything["conversion_rate"].value == pytest.approx(2 / 10)    # Σ daily buyers / Σ daily UV
    con.close()


def test_orders_without_customers_are_buyers_not_customers():
    L = h.line
    con = h.warehouse_with(lines=[
        L("G1", 1, "2024-03-01 10:00", None, "web", "paid", "MUG", 1, 100),
        L("G2", 1, "2024-03-01 11:00", None, "web", "paid", "MUG", 1, 200),
        L("G3", 1, "2024-03-02 11:00", None, "app", "paid", "MUG", 1, 300),
        L("K1", 1, "2024-03-02 12:00", "k1", "web", "paid", "MUG", 1, 50),
        L("K2", 1, "2024-03-03 12:00", "k1", "web", "paid", "MUG", 1, 50)])
    got = kpis(con, Filters(date(2024, 3, 1), date(2024, 3, 3)))
    assert (got["orders"].value, got["buyers"].value) == (5, 3 + 1)
    assert got["sales_per_buyer"].value == pytest.approx(700 / 4)
    assert got["aov"].value == pytest.approx(700 / 5)
    # customer rates see k1 alone: two orders, first ever in the window
    assert got["repurchase_rate"].value == pytest.approx(1 / 1)
    assert got["new_customer_share"].value == pytest.approx(1 / 1)
    assert got["returning_customer_rate"].value == pytest.approx(0 / 1)
    con.close()


def test_guests_only_have_no_customer_rates():
    con = h.warehouse_with(lines=[h.line("G1", 1, "2024-03-01 10:00", None, "web", "paid", "MUG", 1, 100)])
    got = kpis(con, Filters(date(2024, 3, 1), date(2024, 3, 1)))
    assert got["buyers"].value == 1
    assert [got[k].value for k in ("repurchase_rate", "returning_customer_rate", "new_customer_share")] == \
        [None, None, None]
    con.close()


def test_refunds_larger_than_the_periods_sales():
    """A return of last month's goods (50) in a week that sold 20: net sales −30, refund rate 2.5."""
    L = h.line
    con = h.warehouse_with(lines=[
        L("S1", 1, "2024-04-03 10:00", "k1", "web", "paid", "MUG", 1, 20),
        L("C1", 1, "2024-05-02 10:00", "k2", "web", "paid", "MUG", 5, 10),
        L("R1", 1, "2024-05-03 10:00", "k2", "web", "refunded", "MUG", 0, 10, refund=50, is_return=True),
        L("S2", 1, "2024-05-04 10:00", "k3", "web", "paid", "TEE", 1, 20)], products=h.shop()["products"])
    got = kpis(con, Filters(date(2024, 5, 3), date(2024, 5, 9)))
    assert got["gmv"].value == pytest.approx(20)
    assert got["net_sales"].value == pytest.approx(20 - 0 - 50)
    assert got["refund_rate"].value == pytest.approx(50 / 20)
    assert (got["orders"].value, got["buyers"].value) == (1, 1)            # the return is no order, k2 no buyer
    assert got["aov"].value == pytest.approx(20)                           # returns not subtracted
    assert got["units"].value == 1 and got["active_skus"].value == 1
    con.close()


def test_range_before_any_data_has_no_comparisons(con):
    got = kpis(con, Filters(date(2023, 2, 20), date(2023, 2, 28)))
    for k in h.KEYS:
        assert (got[k].previous, got[k].year_ago, got[k].delta, got[k].delta_pct) == (None,) * 4, k
    assert all(got[k].value is None for k in h.RATIOS)


def test_lines_without_a_sku_are_not_skus():
    """Order-level exports have one line per order and no SKU (DESIGN §2): no SKU is active for them."""
    L = h.line
    con = h.warehouse_with(lines=[L("T1", 1, "2024-03-01 10:00", "k1", "web", "paid", None, 1, 40),
                                  L("T2", 1, "2024-03-01 11:00", "k2", "web", "paid", None, 2, 10),
                                  L("T3", 1, "2024-03-01 12:00", "k3", "web", "paid", "MUG", 1, 15)])
    got = kpis(con, Filters(date(2024, 3, 1), date(2024, 3, 1)))
    assert got["units"].value == 1 + 2 + 1 and got["gmv"].value == pytest.approx(40 + 20 + 15)
    assert got["active_skus"].value == 1                                    # MUG
    con.close()


def test_gross_margin_leaves_out_orders_without_costs():
    """Documented choice (registry passport): orders whose goods have no unit cost are left out."""
    L = h.line
    con = h.warehouse_with(lines=[L("M1", 1, "2024-03-01 10:00", "k1", "web", "paid", "MUG", 2, 15),
                                  L("M2", 1, "2024-03-01 11:00", "k2", "web", "paid", "BAG", 1, 50),
                                  L("M3", 1, "2024-03-01 12:00", "k3", "web", "paid", "BAG", 1, 50,
                                    unit_cost=20.0)], products=h.shop()["products"])
    got = kpis(con, Filters(date(2024, 3, 1), date(2024, 3, 1)))
    assert got["gross_margin"].value == pytest.approx(((30 + 50) - (2 * 4 + 20)) / (30 + 50))
    con.close()


def test_no_costs_no_margin():
    """Refunds alone say nothing about margin: with no unit cost anywhere (the UCI data), a week
    with sales and a return has no gross margin — not 100%."""
    L = h.line
    con = h.warehouse_with(lines=[
        L("A1", 1, "2024-03-01 10:00", "k1", "web", "paid", "X", 2, 15),
        L("A2", 1, "2024-03-02 10:00", "k2", "web", "refunded", "X", 0, 15, refund=15, is_return=True)])
    got = kpis(con, Filters(date(2024, 3, 1), date(2024, 3, 7)))
    assert got["net_sales"].value == pytest.approx(30 - 15)
    assert got["gross_margin"].value is None
    assert got["gross_margin"].target_status is None
    con.close()


def test_values_are_plain_finite_numbers(con):
    for f in [WEEK, Filters(date(2024, 3, 3), date(2024, 3, 3)), Filters(date(2024, 3, 10), date(2024, 3, 12)),
              Filters(date(2020, 1, 1), date(2030, 12, 31)), Filters(WEEK.start, WEEK.end, ("nowhere",)),
              Filters(WEEK.start, WEEK.end, skus=("NOPE",))]:
        for k, v in kpis(con, f).items():
            for field in FIELDS:
                x = getattr(v, field)
                assert x is None or (type(x) in (int, float) and math.isfinite(x)), (f, k, field, x)


def test_a_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="before it starts"):
        Filters(date(2024, 3, 7), date(2024, 3, 1))
    assert Filters(date(2024, 3, 1), date(2024, 3, 1)).days == 1
